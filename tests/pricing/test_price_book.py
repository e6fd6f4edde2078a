"""The price book: effective dating, overlap rejection (services and the PostgreSQL
constraint), scheduled changes, history kept, one default price list."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from pricing import selectors, services
from pricing.errors import InvalidPrice, NoPrice, PriceHistoryImmutable, PriceOverlap
from pricing.models import Price, PriceList
from tests.factories.catalog import VariantFactory
from tests.factories.pricing import PriceFactory, PriceListFactory

pytestmark = pytest.mark.django_db

D = Decimal


def _unit_price(variant, at):
    return selectors.quote([{"sku": variant.sku, "quantity": 1}], at=at).lines[0].unit_price


def test_the_price_in_effect_changes_exactly_at_the_boundary():
    now = timezone.now()
    change = now + timedelta(days=2)
    old = PriceFactory(amount=D("10.00"), valid_from=now - timedelta(days=5), valid_until=change)
    PriceFactory(variant=old.variant, amount=D("12.50"), valid_from=change)

    assert _unit_price(old.variant, change - timedelta(microseconds=1)) == D("10.00")
    assert _unit_price(old.variant, change) == D("12.50")
    assert _unit_price(old.variant, change + timedelta(days=400)) == D("12.50")


def test_before_its_first_price_a_variant_is_not_sellable():
    start = timezone.now() + timedelta(hours=1)
    price = PriceFactory(valid_from=start)
    with pytest.raises(NoPrice) as error:
        selectors.quote(
            [{"sku": price.variant.sku, "quantity": 1}], at=start - timedelta(seconds=1)
        )
    assert error.value.details["lines"] == [
        {"index": 0, "sku": price.variant.sku, "code": "no_price"}
    ]
    assert _unit_price(price.variant, start) == D("10.00")


def test_after_its_last_price_ends_a_variant_is_not_sellable():
    end = timezone.now() - timedelta(seconds=1)
    price = PriceFactory(valid_from=end - timedelta(days=3), valid_until=end)
    with pytest.raises(NoPrice):
        selectors.quote([{"sku": price.variant.sku, "quantity": 1}])


def test_only_the_default_price_list_prices_the_basket():
    default = PriceListFactory()
    other = PriceListFactory(name="Outlet", is_default=False)
    variant = VariantFactory()
    PriceFactory(price_list=other, variant=variant, amount=D("1.00"))
    with pytest.raises(NoPrice):
        selectors.quote([{"sku": variant.sku, "quantity": 1}])
    PriceFactory(price_list=default, variant=variant, amount=D("5.00"))
    assert _unit_price(variant, timezone.now()) == D("5.00")


def test_an_overlapping_price_is_refused_with_the_conflict_in_details():
    existing = PriceFactory(valid_from=timezone.now() - timedelta(days=1))
    with pytest.raises(PriceOverlap) as error:
        services.price_create(
            price_list=existing.price_list,
            variant=existing.variant,
            amount="11.00",
            valid_from=timezone.now() + timedelta(days=3),
        )
    assert error.value.http_status == 409
    assert "Overlaps" in error.value.details["rows"][0]["errors"][0]
    assert Price.objects.count() == 1


def test_adjacent_periods_are_accepted():
    start = timezone.now() + timedelta(days=1)
    first = PriceFactory(valid_from=start, valid_until=start + timedelta(days=5))
    second = services.price_create(
        price_list=first.price_list,
        variant=first.variant,
        amount="9.00",
        valid_from=start + timedelta(days=5),
    )
    assert second.pk and Price.objects.count() == 2


def test_the_same_period_in_another_price_list_is_not_an_overlap():
    price = PriceFactory()
    outlet = PriceListFactory(name="Outlet", is_default=False)
    services.price_create(
        price_list=outlet, variant=price.variant, amount="8.00", valid_from=price.valid_from
    )
    assert Price.objects.filter(variant=price.variant).count() == 2


def test_scheduling_a_change_ends_the_open_ended_price_there():
    current = PriceFactory(amount=D("20.00"))
    change = timezone.now() + timedelta(days=7)
    services.price_schedule(
        price_list=current.price_list, variant=current.variant, amount="18.00", valid_from=change
    )
    current.refresh_from_db()
    assert current.valid_until == change
    assert _unit_price(current.variant, change - timedelta(seconds=1)) == D("20.00")
    assert _unit_price(current.variant, change) == D("18.00")


def test_scheduling_into_the_past_is_refused_because_it_rewrites_history():
    current = PriceFactory(valid_from=timezone.now() - timedelta(days=10))
    with pytest.raises(PriceHistoryImmutable):
        services.price_schedule(
            price_list=current.price_list,
            variant=current.variant,
            amount="18.00",
            valid_from=timezone.now() - timedelta(days=1),
        )
    current.refresh_from_db()
    assert current.valid_until is None


def test_a_price_in_effect_keeps_its_amount_but_may_be_ended_from_now_on():
    price = PriceFactory()
    with pytest.raises(PriceHistoryImmutable):
        services.price_update(price=price, amount="99.00")
    with pytest.raises(PriceHistoryImmutable):
        services.price_update(price=price, valid_until=timezone.now() - timedelta(hours=1))
    end = timezone.now() + timedelta(days=1)
    services.price_update(price=price, valid_until=end)
    price.refresh_from_db()
    assert price.valid_until == end and price.amount == D("10.00")


def test_a_scheduled_price_may_be_changed_or_deleted_but_not_a_started_one():
    started = PriceFactory()
    scheduled = PriceFactory(valid_from=timezone.now() + timedelta(days=3))
    services.price_update(price=scheduled, amount="7.77")
    scheduled.refresh_from_db()
    assert scheduled.amount == D("7.77")
    services.price_delete(price=scheduled)
    with pytest.raises(PriceHistoryImmutable):
        services.price_delete(price=started)
    assert list(Price.objects.values_list("pk", flat=True)) == [started.pk]


@pytest.mark.parametrize("amount", ["10.005", "-1", "abc", "NaN"])
def test_an_amount_that_is_not_money_of_the_currency_is_refused(amount):
    price_list = PriceListFactory()
    with pytest.raises(InvalidPrice):
        services.price_create(
            price_list=price_list,
            variant=VariantFactory(),
            amount=amount,
            valid_from=timezone.now(),
        )


def test_a_batch_reports_every_bad_row_and_writes_nothing():
    price_list = PriceListFactory()
    stored = PriceFactory(price_list=price_list)
    fresh = VariantFactory()
    now = timezone.now()
    rows = [
        services.PriceRow(price_list.pk, fresh.pk, D("5.00"), now),
        services.PriceRow(price_list.pk, stored.variant_id, D("6.00"), now - timedelta(days=40)),
        services.PriceRow(price_list.pk, fresh.pk, D("5.50"), now + timedelta(days=1)),
    ]
    with pytest.raises(PriceOverlap) as error:
        services.prices_save(rows=rows)
    assert [r["row"] for r in error.value.details["rows"]] == [0, 1, 2]
    assert Price.objects.count() == 1


def test_making_a_price_list_the_default_takes_the_flag_from_the_previous_one():
    first = services.price_list_create(name="Retail", currency="eur", is_default=True)
    second = services.price_list_create(name="Retail 2025", currency="EUR", is_default=True)
    first.refresh_from_db()
    assert not first.is_default and second.is_default and second.currency == "EUR"
    services.price_list_update(price_list=first, is_default=True)
    assert list(PriceList.objects.filter(is_default=True)) == [first]
    assert selectors.price_list_default() == first


def test_the_database_allows_only_one_default_price_list():
    PriceListFactory(name="A")
    with pytest.raises(IntegrityError), transaction.atomic():
        PriceList.objects.create(name="B", currency="EUR", is_default=True)


def test_the_database_refuses_an_empty_period_or_a_negative_amount():
    price = PriceFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Price.objects.filter(pk=price.pk).update(valid_until=price.valid_from)
    with pytest.raises(IntegrityError), transaction.atomic():
        Price.objects.filter(pk=price.pk).update(amount=D("-1"))


def test_price_history_lists_every_price_of_the_variant():
    old = PriceFactory(
        valid_from=timezone.now() - timedelta(days=60),
        valid_until=timezone.now() - timedelta(days=30),
    )
    PriceFactory(variant=old.variant, valid_from=timezone.now() - timedelta(days=30))
    PriceFactory()  # another variant
    assert len(selectors.price_history(variant_id=old.variant_id)) == 2


@pytest.mark.postgres
def test_postgresql_itself_refuses_overlapping_prices_written_around_the_services():
    price = PriceFactory()
    with pytest.raises(IntegrityError) as error, transaction.atomic():
        Price.objects.create(
            price_list=price.price_list,
            variant=price.variant,
            amount=D("1.00"),
            valid_from=timezone.now() + timedelta(days=10),
        )
    assert "price_no_overlap" in str(error.value)
    # Touching periods are fine for the constraint too: [from, until) is half-open.
    Price.objects.filter(pk=price.pk).update(valid_until=timezone.now() + timedelta(days=10))
    Price.objects.create(
        price_list=price.price_list,
        variant=price.variant,
        amount=D("1.00"),
        valid_from=timezone.now() + timedelta(days=10),
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_writers_of_overlapping_prices_end_with_one_price():
    price_list = PriceListFactory()
    variant = VariantFactory()
    start = timezone.now() + timedelta(days=1)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def write(amount: str) -> None:
        try:
            barrier.wait(timeout=10)
            services.price_create(
                price_list=price_list, variant=variant, amount=amount, valid_from=start
            )
            outcomes.append("created")
        except PriceOverlap:
            outcomes.append("overlap")
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(f"{n}.00",)) for n in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["created", "overlap", "overlap", "overlap"]
    assert Price.objects.filter(variant=variant).count() == 1
