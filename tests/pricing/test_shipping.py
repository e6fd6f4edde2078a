"""Delivery fees: the pure rule (`pricing.domain.shipping_charge`, `with_shipping`) and the
quote that adds the chosen method's fee (`pricing.selectors.quote(delivery=True)`)."""

from decimal import Decimal

import pytest

from pricing import domain, selectors, services
from pricing.errors import InvalidShippingRate, ShippingMethodUnknown
from pricing.models import ShippingRate
from tests.factories.catalog import VariantFactory
from tests.factories.pricing import PriceFactory, ShippingRateFactory

D = Decimal
STANDARD = domain.ShippingRule(
    code="standard", name="Standard", price=D("4.95"), free_above=D("50"), vat_rate=D("19")
)


def test_the_fee_is_the_rate_price_with_its_vat_included():
    charge = domain.shipping_charge(STANDARD, goods_total=D("49.99"), currency="EUR")
    assert (charge.amount, charge.vat_amount, charge.vat_rate) == (D("4.95"), D("0.79"), D("19"))


def test_the_fee_is_waived_once_the_goods_reach_the_free_threshold():
    charge = domain.shipping_charge(STANDARD, goods_total=D("50.00"), currency="EUR")
    assert (charge.amount, charge.vat_amount) == (D("0.00"), D("0.00"))


def test_the_fee_adds_to_the_total_and_to_the_vat_but_not_to_the_lines_or_subtotal():
    item = domain.BasketItem(
        sku="A",
        variant_id=1,
        product_id=1,
        category_path=(1,),
        quantity=2,
        unit_price=D("10.00"),
        vat_rate=D("19"),
    )
    goods = domain.price_basket([item], [], currency="EUR")
    charge = domain.shipping_charge(STANDARD, goods_total=goods.total, currency="EUR")
    quote = domain.with_shipping(goods, charge)
    assert (quote.subtotal, quote.discount_total, quote.total) == (D("20"), D("0"), D("24.95"))
    assert quote.goods_total == D("20.00")
    assert quote.lines == goods.lines
    (vat,) = quote.vat  # the fee joins the goods of the same rate
    assert (vat.gross, vat.amount, vat.base) == (D("24.95"), D("3.19") + D("0.79"), D("20.97"))
    assert quote.as_dict()["shipping"]["amount"] == "4.95"


@pytest.mark.django_db
def test_a_delivery_quote_adds_the_default_method_and_a_pickup_quote_none():
    variant = VariantFactory()
    PriceFactory(variant=variant, amount=D("20.00"))
    ShippingRateFactory(code="express", name="Express", price=D("9.95"), position=200)
    ShippingRateFactory()  # standard, position 100: the default
    lines = [{"sku": variant.sku, "quantity": 1}]
    assert selectors.quote(lines).shipping is None
    default = selectors.quote(lines, delivery=True)
    assert (default.shipping.method, default.total) == ("standard", D("24.95"))
    express = selectors.quote(lines, delivery=True, shipping_method="EXPRESS")
    assert (express.shipping.method, express.total) == ("express", D("29.95"))


@pytest.mark.django_db
def test_without_any_active_rate_a_delivery_is_free():
    variant = VariantFactory()
    PriceFactory(variant=variant, amount=D("20.00"))
    ShippingRateFactory(is_active=False)
    quote = selectors.quote([{"sku": variant.sku, "quantity": 1}], delivery=True)
    assert (quote.shipping, quote.total) == (None, D("20.00"))


@pytest.mark.django_db
def test_an_unknown_or_switched_off_method_is_refused():
    variant = VariantFactory()
    PriceFactory(variant=variant, amount=D("20.00"))
    ShippingRateFactory(code="courier", is_active=False)
    for method in ("pigeon", "courier"):
        with pytest.raises(ShippingMethodUnknown) as refused:
            selectors.quote(
                [{"sku": variant.sku, "quantity": 1}], delivery=True, shipping_method=method
            )
        assert refused.value.http_status == 422


@pytest.mark.django_db
def test_a_rate_change_applies_to_the_very_next_quote():
    variant = VariantFactory()
    PriceFactory(variant=variant, amount=D("20.00"))
    rate = ShippingRateFactory()
    lines = [{"sku": variant.sku, "quantity": 1}]
    assert selectors.quote(lines, delivery=True).total == D("24.95")
    rate.price = D("5.95")
    services.shipping_rate_save(rate=rate)
    assert selectors.quote(lines, delivery=True).total == D("25.95")
    rate.free_above = D("20.00")
    services.shipping_rate_save(rate=rate)
    assert selectors.quote(lines, delivery=True).total == D("20.00")


@pytest.mark.django_db
def test_saving_a_rate_refuses_every_bad_value_at_once():
    rate = ShippingRate(code=" Bad ", name="Bad", price=D("-1"), vat_rate=D("100"))
    with pytest.raises(InvalidShippingRate) as refused:
        services.shipping_rate_save(rate=rate)
    assert set(refused.value.details["fields"]) >= {"price", "vat_rate"}
    assert not ShippingRate.objects.exists()
