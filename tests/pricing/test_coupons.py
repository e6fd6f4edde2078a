"""Coupon uses: total and per-customer limits, idempotency per reference, giving back,
and the total limit holding under concurrent checkouts on PostgreSQL."""

import threading

import pytest
from django.db import connection

from pricing import services
from pricing.errors import (
    CouponCustomerRequired,
    CouponLimitReached,
    CouponNotFound,
    InvalidCoupon,
)
from pricing.models import Coupon, CouponRedemption
from tests.factories.pricing import CouponFactory, PromotionFactory

pytestmark = pytest.mark.django_db


def _active(coupon) -> int:
    return CouponRedemption.objects.filter(coupon=coupon, released_at__isnull=True).count()


def test_recording_a_use_counts_it_and_the_total_limit_then_refuses_more():
    coupon = CouponFactory(code="TWICE", usage_limit=2)
    services.coupon_redemption_record(code="twice", customer_id=None, reference="order:1")
    services.coupon_redemption_record(code="TWICE", customer_id=3, reference="order:2")
    with pytest.raises(CouponLimitReached) as error:
        services.coupon_redemption_record(code="TWICE", customer_id=4, reference="order:3")
    assert error.value.http_status == 422
    assert error.value.details["limit"] == "total"
    assert _active(coupon) == 2


def test_the_per_customer_limit_counts_only_that_customers_uses():
    coupon = CouponFactory(usage_limit_per_customer=1)
    services.coupon_redemption_record(code=coupon.code, customer_id=1, reference="order:1")
    with pytest.raises(CouponLimitReached) as error:
        services.coupon_redemption_record(code=coupon.code, customer_id=1, reference="order:2")
    assert error.value.details["limit"] == "per_customer"
    services.coupon_redemption_record(code=coupon.code, customer_id=2, reference="order:3")
    assert _active(coupon) == 2


def test_a_per_customer_coupon_needs_a_customer():
    coupon = CouponFactory(usage_limit_per_customer=1)
    with pytest.raises(CouponCustomerRequired):
        services.coupon_redemption_record(code=coupon.code, customer_id=None, reference="o:1")


def test_recording_the_same_reference_again_counts_once():
    coupon = CouponFactory(usage_limit=1)
    first = services.coupon_redemption_record(code=coupon.code, customer_id=1, reference="o:1")
    again = services.coupon_redemption_record(code=coupon.code, customer_id=1, reference="o:1")
    assert first.pk == again.pk and _active(coupon) == 1


def test_releasing_gives_the_use_back_once_and_the_coupon_can_be_used_again():
    coupon = CouponFactory(usage_limit=1)
    services.coupon_redemption_record(code=coupon.code, customer_id=1, reference="o:1")
    assert services.coupon_redemption_release(reference="o:1") == 1
    assert services.coupon_redemption_release(reference="o:1") == 0
    assert _active(coupon) == 0
    services.coupon_redemption_record(code=coupon.code, customer_id=2, reference="o:2")
    with pytest.raises(CouponLimitReached):
        # The released use cannot come back while the limit is taken by another order.
        services.coupon_redemption_record(code=coupon.code, customer_id=1, reference="o:1")


def test_recording_a_released_reference_makes_it_count_again():
    coupon = CouponFactory(usage_limit=5)
    services.coupon_redemption_record(code=coupon.code, customer_id=1, reference="o:1")
    services.coupon_redemption_release(reference="o:1")
    use = services.coupon_redemption_record(code=coupon.code, customer_id=1, reference="o:1")
    assert use.released_at is None and CouponRedemption.objects.count() == 1


def test_recording_an_unknown_code_is_an_error():
    with pytest.raises(CouponNotFound):
        services.coupon_redemption_record(code="NOPE", customer_id=1, reference="o:1")


def test_coupon_codes_are_stored_upper_case_and_unique_in_any_case():
    promotion = PromotionFactory()
    coupon = services.coupon_create(promotion=promotion, code=" summer-25 ")
    assert coupon.code == "SUMMER-25"
    with pytest.raises(InvalidCoupon):
        services.coupon_create(promotion=promotion, code="Summer-25")
    with pytest.raises(InvalidCoupon):
        services.coupon_create(promotion=promotion, code="no spaces!")
    assert Coupon.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_checkouts_never_use_a_coupon_more_than_its_total_limit():
    coupon = CouponFactory(usage_limit=3)
    workers = 8
    barrier = threading.Barrier(workers)
    outcomes: list[str] = []
    lock = threading.Lock()

    def checkout(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            services.coupon_redemption_record(
                code=coupon.code, customer_id=n, reference=f"order:{n}"
            )
            result = "recorded"
        except CouponLimitReached:
            result = "refused"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=checkout, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["recorded"] * 3 + ["refused"] * 5
    assert _active(coupon) == 3
