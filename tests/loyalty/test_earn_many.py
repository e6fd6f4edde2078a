"""`points_earn_many`: the same points as `points_earn` item by item — rules at each sale's
time, tiers (earlier sales of the batch count), exclusions, once per reference — with a
number of statements that does not grow with the batch."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from loyalty.models import EntryKind, LoyaltyEntry
from loyalty.selectors import balance_get
from loyalty.services import points_earn, points_earn_many, verify
from tests.factories.catalog import CategoryFactory, VariantFactory
from tests.factories.customers import CustomerFactory
from tests.factories.loyalty import LoyaltyRulesFactory, TierFactory
from tests.loyalty.helpers import days_ago

pytestmark = pytest.mark.django_db


def _history(customer, excluded_variant, now):
    """Four sales over three weeks, across a rules change, one line of them excluded."""
    return [
        {
            "customer": customer,
            "reference": f"order:{customer.pk}-1",
            "channel": "pos",
            "lines": [{"variant_id": None, "category_id": None, "amount_paid": "150.00"}],
            "at": now - timedelta(days=20),
        },
        {
            "customer": customer,
            "reference": f"order:{customer.pk}-2",
            "channel": "pos",
            "lines": [
                {"variant_id": None, "category_id": None, "amount_paid": "40.00"},
                {"variant_id": excluded_variant.pk, "category_id": None, "amount_paid": "99.00"},
            ],
            "at": now - timedelta(days=15),
        },
        {
            "customer": customer,
            "reference": f"order:{customer.pk}-3",
            "channel": "web",
            "lines": [{"variant_id": None, "category_id": None, "amount_paid": "10.00"}],
            "at": now - timedelta(days=5),  # under the second rules version
        },
        {
            "customer": customer,
            "reference": f"order:{customer.pk}-4",
            "channel": "pos",
            "lines": [{"variant_id": None, "category_id": None, "amount_paid": "0.00"}],
            "at": now - timedelta(days=1),
        },
    ]


@pytest.fixture
def programme():
    first = LoyaltyRulesFactory(effective_from=days_ago(400))
    TierFactory(rules=first, name="Gold", min_spend=Decimal("100"), multiplier=Decimal("2"))
    excluded = VariantFactory(product__category=CategoryFactory())
    first.excluded_variants.add(excluded)
    second = LoyaltyRulesFactory(effective_from=days_ago(10), earn_rate=Decimal("3"))
    second.excluded_variants.add(excluded)
    return first, second, excluded


def _fingerprint(entry):
    if entry is None:
        return None
    return (
        entry.points,
        entry.remaining,
        entry.amount_paid,
        entry.channel,
        entry.rules_id,
        entry.occurred_at,
        entry.expires_at,
        {k: v for k, v in entry.details.items()},
    )


def test_a_batch_earns_exactly_what_the_sales_earn_one_by_one(programme):
    _first, _second, excluded = programme
    one_by_one, batched = CustomerFactory(), CustomerFactory()
    now = timezone.now()

    singles = [
        points_earn(**{k: v for k, v in item.items()})
        for item in _history(one_by_one, excluded, now)
    ]
    many = points_earn_many(items=_history(batched, excluded, now))

    assert [_fingerprint(e) for e in many] == [_fingerprint(e) for e in singles]
    # 150 (no tier yet); 40 × 2 once Gold (the 99.00 line is excluded); 10 × 3 under the
    # second version, which has no tiers; nothing paid, nothing earned.
    assert [e.points if e else None for e in many] == [150, 80, 30, None]
    assert balance_get(customer=batched) == balance_get(customer=one_by_one) == 260
    assert verify() == []


def test_an_earn_is_made_once_per_reference_across_calls_and_within_a_batch(programme):
    customer = CustomerFactory()
    item = {
        "customer": customer,
        "reference": "order:P-1",
        "channel": "pos",
        "lines": [{"amount_paid": "20.00"}],
        "at": days_ago(1),
    }
    earlier = points_earn(**item)

    again = points_earn_many(items=[item, item | {"reference": "order:P-2"}, item])

    assert again[0] == earlier and again[2] == earlier
    assert again[1].points == 60  # 20.00 at 3 points per unit (the second version)
    assert LoyaltyEntry.objects.filter(kind=EntryKind.EARN).count() == 2
    assert balance_get(customer=customer) == 120
    assert verify() == []


def test_without_rules_in_force_a_batch_earns_nothing(db):
    customer = CustomerFactory()
    items = [
        {
            "customer": customer,
            "reference": "order:N-1",
            "channel": "pos",
            "lines": [{"amount_paid": "20.00"}],
        }
    ]
    assert points_earn_many(items=items) == [None]
    assert balance_get(customer=customer) == 0


def test_a_bad_line_names_its_item_and_line_and_writes_nothing(programme):
    customer = CustomerFactory()
    good = {"customer": customer, "reference": "order:G", "channel": "pos", "lines": []}
    bad = good | {"reference": "order:B", "lines": [{"amount_paid": "1"}, {"amount_paid": "-1"}]}
    from loyalty.errors import InvalidEarnLines

    with pytest.raises(InvalidEarnLines) as exc:
        points_earn_many(items=[good | {"lines": [{"amount_paid": "5"}]}, bad])
    assert exc.value.details == {"items": {"1": {"1": "amount_paid must not be negative"}}}
    assert not LoyaltyEntry.objects.exists()


def _batch(count):
    return [
        {
            "customer": CustomerFactory(),
            "reference": f"order:Q-{count}-{i}",
            "channel": "pos",
            "lines": [{"variant_id": None, "category_id": None, "amount_paid": "12.00"}],
            "at": days_ago(i % 30 + 1),
        }
        for i in range(count)
    ]


def _statements(captured) -> list[str]:
    sqls = [q["sql"][:60] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    return [
        sql
        for i, sql in enumerate(sqls)
        if not (i and sql.startswith("INSERT") and sql == sqls[i - 1])
    ]


def test_the_statements_of_a_batch_do_not_grow_with_its_size(programme):
    small, large = _batch(3), _batch(60)
    with CaptureQueriesContext(connection) as few:
        points_earn_many(items=small)
    with CaptureQueriesContext(connection) as many:
        points_earn_many(items=large)
    # SQLite caps the parameters of one statement, so Django splits a large bulk insert
    # into consecutive batches of the same statement: those count once.
    assert _statements(many) == _statements(few), [q["sql"][:80] for q in many.captured_queries]
    assert len(_statements(few)) <= 14
    assert LoyaltyEntry.objects.filter(kind=EntryKind.EARN).count() == 63
    assert verify() == []
