"""The promotion rule book: cached per process, never stale.

Every write the rules depend on changes the revision token in its own transaction
(database triggers), and a quote reads the token in the statement that reads its
variants. So a quote in the statement after any write — through a service, the admin's
ORM save or a factory's plain insert — prices with the new rules, and a quote with no
change in between reads no promotion at all.
"""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog import services as catalog_services
from pricing import selectors, services
from pricing.models import Price, Promotion
from tests.factories.catalog import CategoryFactory, ProductFactory, VariantFactory
from tests.factories.pricing import PriceFactory, PriceListFactory, PromotionFactory

pytestmark = pytest.mark.django_db

D = Decimal


def _total(sku: str, quantity: int = 1, **kwargs) -> Decimal:
    return selectors.quote([{"sku": sku, "quantity": quantity}], **kwargs).total


def _queries(sku: str) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        selectors.quote([{"sku": sku, "quantity": 1}])
    return [q["sql"] for q in ctx.captured_queries]


def _priced(amount: str = "10.00", **variant):
    return PriceFactory(amount=D(amount), variant=VariantFactory(**variant)).variant


def test_a_quote_with_no_change_since_the_last_reads_no_promotion():
    variant = _priced()
    PromotionFactory(scope=Promotion.Scope.VARIANTS, variants=[variant])
    selectors.rules_cache_clear()

    cold, warm = _queries(variant.sku), _queries(variant.sku)

    assert len(cold) == 2 and "pricing_promotion" in cold[1]
    assert len(warm) == 1, warm  # the variants and the revision, in one statement
    assert "pricing_rulesrevision" in warm[0]
    assert _total(variant.sku) == D("9.00")


def test_a_price_change_shows_in_the_quote_of_the_next_statement():
    variant = _priced("10.00")
    price_list = PriceListFactory()
    assert _total(variant.sku) == D("10.00")

    starts = timezone.now() + timedelta(milliseconds=100)  # not in the past when checked
    services.price_schedule(
        price_list=price_list, variant=variant, amount="7.50", valid_from=starts
    )

    assert _total(variant.sku, at=starts) == D("7.50")
    assert _total(variant.sku, at=starts - timedelta(microseconds=1)) == D("10.00")


def test_a_promotion_saved_through_the_service_applies_to_the_next_quote():
    variant = _priced("20.00")
    assert _total(variant.sku) == D("20.00")  # the book is warm, without it

    promotion = services.promotion_create(
        name="Quarter off",
        kind=Promotion.Kind.PERCENT_OFF,
        scope=Promotion.Scope.VARIANTS,
        value=25,
        variants=[variant],
        starts_at=timezone.now() - timedelta(minutes=1),
    )
    assert _total(variant.sku) == D("15.00")

    promotion.value = D("50")
    services.promotion_save(promotion=promotion)
    assert _total(variant.sku) == D("10.00")

    promotion.is_active = False
    services.promotion_save(promotion=promotion)
    assert _total(variant.sku) == D("20.00")


def test_a_write_past_the_services_still_changes_the_revision():
    """The admin, a bulk seed or a fixture writing rows directly cannot leave a stale book."""
    variant = _priced("20.00")
    assert _total(variant.sku) == D("20.00")

    promotion = PromotionFactory(scope=Promotion.Scope.VARIANTS, variants=[variant])
    assert _total(variant.sku) == D("18.00")

    Promotion.objects.filter(pk=promotion.pk).update(value=D("50"))
    assert _total(variant.sku) == D("10.00")

    promotion.variants.clear()  # the scope table alone
    assert _total(variant.sku) == D("20.00")


def test_a_coupon_added_to_a_live_promotion_gates_it_in_the_next_quote():
    variant = _priced("20.00")
    promotion = PromotionFactory(scope=Promotion.Scope.VARIANTS, variants=[variant])
    assert _total(variant.sku) == D("18.00")

    services.coupon_create(promotion=promotion, code="LATE10")

    assert _total(variant.sku) == D("20.00")
    assert _total(variant.sku, coupon="late10") == D("18.00")


def test_a_category_moved_under_a_promoted_one_gets_its_promotion_at_once():
    promoted, elsewhere = CategoryFactory(), CategoryFactory()
    moving = catalog_services.category_create(name="Moving", parent=elsewhere)
    variant = _priced("20.00", product=ProductFactory(category=moving))
    PromotionFactory(scope=Promotion.Scope.CATEGORIES, categories=[promoted])
    assert _total(variant.sku) == D("20.00")

    catalog_services.category_move(category=moving, parent=promoted)
    assert _total(variant.sku) == D("18.00")

    new_leaf = catalog_services.category_create(name="New leaf", parent=moving)
    newcomer = _priced("30.00", product=ProductFactory(category=new_leaf))
    assert _total(newcomer.sku) == D("27.00")


def test_rules_read_inside_a_transaction_that_rolled_back_are_never_served():
    variant = _priced("20.00")
    assert _total(variant.sku) == D("20.00")

    with pytest.raises(RuntimeError), transaction.atomic():
        PromotionFactory(scope=Promotion.Scope.VARIANTS, variants=[variant])
        assert _total(variant.sku) == D("18.00")  # the book now holds the uncommitted rule
        raise RuntimeError("roll back")

    assert _total(variant.sku) == D("20.00")
    PromotionFactory(  # the next write's token is new too: the rolled-back book stays unused
        scope=Promotion.Scope.VARIANTS, variants=[variant], value=D("50")
    )
    assert _total(variant.sku) == D("10.00")


def test_the_book_applies_each_promotion_window_to_the_quoted_instant():
    variant = _priced("20.00")
    now = timezone.now()
    PromotionFactory(
        scope=Promotion.Scope.VARIANTS,
        variants=[variant],
        starts_at=now + timedelta(hours=1),
        ends_at=now + timedelta(hours=2),
    )
    assert _total(variant.sku, at=now) == D("20.00")
    assert _total(variant.sku, at=now + timedelta(hours=1)) == D("18.00")
    assert _total(variant.sku, at=now + timedelta(hours=2)) == D("20.00")


def test_an_instant_older_than_the_book_is_read_from_the_database():
    long_ago = timezone.now() - selectors.BOOK_HISTORY - timedelta(days=1)
    variant = PriceFactory(amount=D("20.00"), valid_from=long_ago - timedelta(days=2)).variant
    PromotionFactory(
        scope=Promotion.Scope.VARIANTS,
        variants=[variant],
        starts_at=long_ago - timedelta(days=1),
        ends_at=long_ago + timedelta(hours=1),
    )
    assert _total(variant.sku) == D("20.00")
    assert _total(variant.sku, at=long_ago) == D("18.00")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_change_committed_on_another_connection_shows_in_this_process_at_once():
    """Two connections, one process (one book): a promotion committed by one is in the very
    next quote of the other."""
    variant = _priced("20.00")
    promotion = PromotionFactory(scope=Promotion.Scope.VARIANTS, variants=[variant])
    assert _total(variant.sku) == D("18.00")  # this thread's connection fills the book
    errors: list[BaseException] = []

    def other_connection() -> None:
        try:
            promotion.value = D("50")
            services.promotion_save(promotion=promotion)  # commits on its own connection
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    writer = threading.Thread(target=other_connection)
    writer.start()
    writer.join()

    assert not errors
    assert _total(variant.sku) == D("10.00")


def test_listed_unit_prices_follow_a_promotion_or_price_change_at_once():
    variant = _priced("20.00")
    twin = _priced("20.00")  # the same price and rules: one engine run serves both

    def listed() -> dict:
        units = selectors.unit_prices(variant_ids=[variant.pk, twin.pk])
        return {vid: unit.final for vid, unit in units.items()}

    assert listed() == {variant.pk: D("20.00"), twin.pk: D("20.00")}
    PromotionFactory(scope=Promotion.Scope.VARIANTS, variants=[variant])
    assert listed() == {variant.pk: D("18.00"), twin.pk: D("20.00")}

    Price.objects.filter(variant=twin).update(amount=D("30.00"))
    assert listed() == {variant.pk: D("18.00"), twin.pk: D("30.00")}
