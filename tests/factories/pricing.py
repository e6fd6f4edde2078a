"""Factories for pricing: the default price list, prices, promotions and coupons.

Rows are made directly (as fixtures of the state under test); the services that write
them in production are exercised by the tests themselves.
"""

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from pricing.models import Coupon, CouponRedemption, Price, PriceList, Promotion, ShippingRate
from tests.factories.catalog import VariantFactory


class PriceListFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PriceList
        django_get_or_create = ("name",)

    name = "Retail"
    currency = "EUR"
    is_default = True
    is_active = True


class PriceFactory(factory.django.DjangoModelFactory):
    """A current, open-ended price in the default price list."""

    class Meta:
        model = Price

    price_list = factory.SubFactory(PriceListFactory)
    variant = factory.SubFactory(VariantFactory)
    amount = Decimal("10.00")
    valid_from = factory.LazyFunction(lambda: timezone.now() - timedelta(days=30))
    valid_until = None


class PromotionFactory(factory.django.DjangoModelFactory):
    """A live, stackable 10% off the whole basket; pass scope items as lists."""

    class Meta:
        model = Promotion
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Promotion {n}")
    kind = Promotion.Kind.PERCENT_OFF
    scope = Promotion.Scope.BASKET
    value = Decimal("10")
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    ends_at = None
    priority = 0
    is_stackable = True
    is_active = True

    @factory.post_generation
    def variants(self, create, extracted, **kwargs):
        if create and extracted:
            self.variants.set(extracted)

    @factory.post_generation
    def products(self, create, extracted, **kwargs):
        if create and extracted:
            self.products.set(extracted)

    @factory.post_generation
    def categories(self, create, extracted, **kwargs):
        if create and extracted:
            self.categories.set(extracted)


class CouponFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Coupon

    promotion = factory.SubFactory(PromotionFactory)
    code = factory.Sequence(lambda n: f"CODE{n:04d}")
    usage_limit = None
    usage_limit_per_customer = None
    is_active = True


class CouponRedemptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CouponRedemption

    coupon = factory.SubFactory(CouponFactory)
    customer_id = None
    reference = factory.Sequence(lambda n: f"order:{n:06d}")


class ShippingRateFactory(factory.django.DjangoModelFactory):
    """Standard delivery: 4.95 (VAT 19 % included), free from 100.00 of goods."""

    class Meta:
        model = ShippingRate
        django_get_or_create = ("code",)

    code = "standard"
    name = "Standard delivery"
    price = Decimal("4.95")
    free_above = Decimal("100.00")
    vat_rate = Decimal("19.00")
