"""Earning: rate, exclusions, once per sale, lines validation, merged profiles."""

from datetime import timedelta
from decimal import Decimal

import pytest

from core.errors import ValidationFailed
from loyalty.errors import InvalidEarnLines
from loyalty.models import LoyaltyEntry
from loyalty.selectors import balance_get, points_earn_preview
from loyalty.services import points_earn, verify
from tests.factories.catalog import CategoryFactory, ProductFactory, VariantFactory
from tests.factories.customers import CustomerFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.loyalty.helpers import days_ago, paid

pytestmark = pytest.mark.django_db


def test_a_completed_sale_earns_the_rate_times_the_amount_paid_rounded_down(rules, customer):
    entry = points_earn(
        customer=customer, reference="order:W-1", channel="web", lines=paid("123.45")
    )
    assert entry.points == 123
    assert entry.remaining == 123
    assert entry.amount_paid == Decimal("123.45")
    assert entry.rules == rules
    assert entry.expires_at == entry.occurred_at + timedelta(days=rules.points_lifetime_days)
    assert balance_get(customer=customer) == 123
    assert verify() == []


def test_earning_twice_for_the_same_sale_returns_the_first_entry(rules, customer):
    first = points_earn(
        customer=customer, reference="pos-sale:abc", channel="pos", lines=paid("50")
    )
    again = points_earn(
        customer=customer, reference="pos-sale:abc", channel="pos", lines=paid("5000")
    )
    assert again.pk == first.pk
    assert LoyaltyEntry.objects.filter(reference="pos-sale:abc").count() == 1
    assert balance_get(customer=customer) == 50


def test_excluded_variants_and_sub_categories_earn_nothing_but_count_as_spend(customer):
    rules = LoyaltyRulesFactory()
    tobacco = CategoryFactory()
    cigars = CategoryFactory(parent=tobacco)
    gift_card = VariantFactory()
    rules.excluded_categories.add(tobacco)
    rules.excluded_variants.add(gift_card)
    cigar = VariantFactory(product=ProductFactory(category=cigars))
    shirt = VariantFactory()

    entry = points_earn(
        customer=customer,
        reference="order:W-2",
        channel="app",
        lines=[
            {"variant_id": cigar.pk, "category_id": cigars.pk, "amount_paid": Decimal("30")},
            {"variant_id": gift_card.pk, "category_id": None, "amount_paid": Decimal("25")},
            # No category given: it is looked up from the variant.
            {"variant_id": shirt.pk, "amount_paid": Decimal("19.99")},
        ],
    )
    assert entry.points == 19
    assert entry.amount_paid == Decimal("74.99")
    assert entry.details["eligible_amount"] == "19.99"


def test_a_category_is_looked_up_from_the_variant_so_exclusions_still_apply(customer):
    rules = LoyaltyRulesFactory()
    excluded = CategoryFactory()
    rules.excluded_categories.add(excluded)
    variant = VariantFactory(product=ProductFactory(category=excluded))
    entry = points_earn(
        customer=customer,
        reference="order:W-3",
        channel="web",
        lines=[{"variant_id": variant.pk, "amount_paid": Decimal("40")}],
    )
    assert entry.points == 0
    assert balance_get(customer=customer) == 0


@pytest.mark.parametrize(
    "lines",
    [
        [{"variant_id": 1}],
        [{"amount_paid": "-1.00"}],
        [{"amount_paid": "abc"}],
        [{"amount_paid": "NaN"}],
        [{"amount_paid": "1", "variant_id": "x"}],
    ],
)
def test_malformed_lines_are_refused_and_nothing_is_written(rules, customer, lines):
    with pytest.raises(InvalidEarnLines) as exc:
        points_earn(customer=customer, reference="order:bad", channel="web", lines=lines)
    assert exc.value.http_status == 400
    assert LoyaltyEntry.objects.count() == 0


def test_an_unknown_channel_or_empty_reference_is_refused(rules, customer):
    with pytest.raises(ValidationFailed) as exc:
        points_earn(customer=customer, reference="order:1", channel="fax", lines=paid("1"))
    assert exc.value.code == "invalid_channel"
    with pytest.raises(ValidationFailed) as exc:
        points_earn(customer=customer, reference="  ", channel="web", lines=paid("1"))
    assert exc.value.code == "invalid_reference"


def test_nothing_is_earned_without_rules_in_force_or_without_payment(customer):
    assert points_earn(customer=customer, reference="a", channel="web", lines=paid("10")) is None
    LoyaltyRulesFactory(effective_from=days_ago(1))
    early = points_earn(
        customer=customer, reference="b", channel="web", lines=paid("10"), at=days_ago(2)
    )
    assert early is None
    assert points_earn(customer=customer, reference="c", channel="web", lines=paid("0")) is None
    assert LoyaltyEntry.objects.count() == 0


def test_a_merged_duplicate_earns_into_the_survivors_account(rules):
    survivor = CustomerFactory()
    duplicate = CustomerFactory(merged_into=survivor)
    points_earn(customer=duplicate, reference="order:W-9", channel="web", lines=paid("10"))
    assert balance_get(customer=survivor) == 10
    assert balance_get(customer=duplicate) == 10  # the duplicate resolves to its survivor


def test_the_preview_shows_what_a_sale_would_earn_without_writing(rules, customer):
    assert points_earn_preview(customer=customer, lines=paid("42.90")) == 42
    assert points_earn_preview(customer=None, lines=paid("10")) == 10
    assert LoyaltyEntry.objects.count() == 0
