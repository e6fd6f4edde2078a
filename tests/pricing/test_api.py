"""Pricing API: the quote endpoint, live promotions, and the catalog showing the same prices."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pricing import selectors
from pricing.models import Promotion
from tests.factories.catalog import BarcodeFactory, CategoryFactory, ProductFactory, VariantFactory
from tests.factories.pricing import CouponFactory, PriceFactory, PromotionFactory

pytestmark = pytest.mark.django_db

QUOTE = "/api/v1/pricing/quote/"
PROMOTIONS = "/api/v1/pricing/promotions/"
PRODUCTS = "/api/v1/catalog/products/"
D = Decimal


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def test_the_quote_endpoint_returns_the_engines_quote_as_json(api_client):
    price = PriceFactory(amount=D("33.33"), variant__vat_rate=D("20.00"))
    PromotionFactory(name="Spring", value=D("10"))
    response = api_client.post(
        QUOTE, {"lines": [{"sku": price.variant.sku, "quantity": 3}]}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["currency"] == "EUR"
    assert body["subtotal"] == "99.99" and body["discount_total"] == "10.00"
    assert body["total"] == "89.99"
    line = body["lines"][0]
    assert line["unit_price"] == "33.33" and line["line_total"] == "89.99"
    assert line["discounts"] == [
        {
            "promotion_id": line["discounts"][0]["promotion_id"],
            "promotion_name": "Spring",
            "kind": "percent_off",
            "amount": "10.00",
        }
    ]
    assert body["vat"] == [{"rate": "20.00", "base": "74.99", "amount": "15.00", "gross": "89.99"}]
    assert body["coupon"] is None


def test_a_coupon_in_the_request_is_applied_and_reported(api_client):
    price = PriceFactory(amount=D("40.00"))
    CouponFactory(code="HELLO5", promotion__kind="amount_off", promotion__value=D("5"))
    response = api_client.post(
        QUOTE,
        {"lines": [{"sku": price.variant.sku, "quantity": 1}], "coupon": "hello5"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["total"] == "35.00"
    assert response.json()["coupon"] == {"code": "HELLO5", "status": "applied", "reason": None}


def test_a_signed_in_customers_own_coupon_limit_is_checked(api_client):
    from customers.models import Customer, User

    user = User.objects.create(email="shopper@example.com")  # no password hashing: faster
    customer = Customer.objects.create(user=user, email=user.email)
    coupon = CouponFactory(usage_limit_per_customer=1)
    coupon.redemptions.create(customer_id=customer.pk, reference="order:1")
    price = PriceFactory()
    body = {"lines": [{"sku": price.variant.sku, "quantity": 1}], "coupon": coupon.code}
    anonymous = api_client.post(QUOTE, body, format="json").json()
    assert anonymous["coupon"]["reason"] == "customer_required"
    api_client.force_authenticate(user)
    mine = api_client.post(QUOTE, body, format="json").json()
    assert mine["coupon"]["reason"] == "customer_limit_reached"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "validation_error"),
        ({"lines": []}, 400, "validation_error"),
        ({"lines": "abc"}, 400, "validation_error"),
        ({"lines": [{"sku": "X"}]}, 400, "validation_error"),
        ({"lines": [{"sku": "X", "quantity": "two"}]}, 400, "validation_error"),
        ({"lines": [{"sku": "X", "quantity": 1.5}]}, 400, "validation_error"),
        ({"lines": [{"sku": None, "quantity": 1}]}, 400, "validation_error"),
        ({"lines": [{"sku": "X" * 65, "quantity": 1}]}, 400, "validation_error"),
        ({"lines": [{"sku": "PRICED", "quantity": 0}]}, 400, "invalid_quantity"),
        ({"lines": [{"sku": "PRICED", "quantity": -4}]}, 400, "invalid_quantity"),
        ({"lines": [{"sku": "PRICED", "quantity": 10**30}]}, 400, "invalid_quantity"),
        ({"lines": [{"sku": "NOPE", "quantity": 1}]}, 422, "unknown_sku"),
        ({"lines": [{"sku": "OFF", "quantity": 1}]}, 422, "variant_inactive"),
        ({"lines": [{"sku": "UNPRICED", "quantity": 1}]}, 422, "no_price"),
        ({"lines": [{"sku": "PRICED", "quantity": 1}], "coupon": "NOPE"}, 422, "coupon_not_found"),
        ({"lines": [{"sku": "PRICED", "quantity": 1}], "coupon": ["x"]}, 400, "validation_error"),
    ],
)
def test_bad_input_gets_the_error_shape_never_a_500(api_client, body, status, code):
    PriceFactory(variant__sku="PRICED")
    PriceFactory(variant__sku="OFF", variant__is_active=False)
    VariantFactory(sku="UNPRICED")
    response = api_client.post(QUOTE, body, format="json")
    assert response.status_code == status
    assert _error(response)["code"] == code


def test_every_bad_line_is_listed_in_the_details(api_client):
    PriceFactory(variant__sku="PRICED")
    VariantFactory(sku="UNPRICED")
    response = api_client.post(
        QUOTE,
        {
            "lines": [
                {"sku": "PRICED", "quantity": 1},
                {"sku": "UNPRICED", "quantity": 1},
                {"sku": "NOPE", "quantity": 2},
            ]
        },
        format="json",
    )
    assert response.status_code == 422
    assert _error(response)["details"]["lines"] == [
        {"index": 1, "sku": "UNPRICED", "code": "no_price"},
        {"index": 2, "sku": "NOPE", "code": "unknown_sku"},
    ]


def test_malformed_json_is_a_400_in_the_error_shape(api_client):
    response = api_client.post(QUOTE, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert _error(response)["code"] == "parse_error"


def test_promotions_endpoint_lists_only_live_promotions_without_coupon_codes(api_client):
    now = timezone.now()
    category = CategoryFactory()
    live = PromotionFactory(
        name="Live", priority=5, scope=Promotion.Scope.CATEGORIES, categories=[category]
    )
    gated = CouponFactory(code="SECRET1", promotion__name="With code").promotion
    PromotionFactory(name="Later", starts_at=now + timedelta(days=1))
    PromotionFactory(name="Over", starts_at=now - timedelta(days=9), ends_at=now)
    PromotionFactory(name="Off", is_active=False)
    PriceFactory()  # makes the default price list exist
    response = api_client.get(PROMOTIONS)
    assert response.status_code == 200
    body = response.json()
    assert [p["name"] for p in body] == ["Live", "With code"]
    assert body[0]["id"] == live.pk and body[0]["category_ids"] == [category.pk]
    assert body[0]["requires_coupon"] is False and body[0]["currency"] == "EUR"
    assert body[1]["id"] == gated.pk and body[1]["requires_coupon"] is True
    assert "SECRET1" not in response.content.decode()


def test_the_schema_documents_the_pricing_endpoints(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    paths = response.json()["paths"]
    assert "post" in paths[QUOTE] and "get" in paths[PROMOTIONS]


# --- the catalog shows the engine's prices ---------------------------------------------


def _variant_in(body: dict, variant_id: int) -> dict:
    return next(v for v in body["variants"] if v["id"] == variant_id)


def test_catalog_product_detail_shows_base_and_promotion_price_per_variant(api_client):
    product = ProductFactory()
    on_sale = PriceFactory(variant__product=product, amount=D("50.00")).variant
    plain = PriceFactory(variant__product=product, amount=D("20.00")).variant
    unpriced = VariantFactory(product=product)
    PromotionFactory(name="Half", value=D("50"), scope=Promotion.Scope.VARIANTS, variants=[on_sale])
    CouponFactory(promotion__value=D("90"))  # coupon-only: never in a listing
    body = api_client.get(f"{PRODUCTS}{product.pk}/").json()
    assert _variant_in(body, on_sale.pk)["price"] == {
        "status": "priced",
        "currency": "EUR",
        "amount": "50.00",
        "promotion_amount": "25.00",
        "promotions": [
            {
                "id": _variant_in(body, on_sale.pk)["price"]["promotions"][0]["id"],
                "name": "Half",
                "kind": "percent_off",
                "amount": "25.00",
            }
        ],
    }
    assert _variant_in(body, plain.pk)["price"]["promotion_amount"] is None
    assert _variant_in(body, plain.pk)["price"]["amount"] == "20.00"
    not_sellable = _variant_in(body, unpriced.pk)["price"]
    assert not_sellable["status"] == "no_price" and not_sellable["amount"] is None


def test_catalog_barcode_lookup_shows_the_price_too(api_client):
    barcode = BarcodeFactory(variant=PriceFactory(amount=D("7.50")).variant)
    body = api_client.get(f"/api/v1/catalog/barcodes/{barcode.code}/").json()
    assert body["price"]["amount"] == "7.50"


def test_catalog_api_quote_endpoint_and_engine_agree_on_the_same_basket(api_client):
    root = CategoryFactory()
    products = [ProductFactory(category=CategoryFactory(parent=root)) for _ in range(3)]
    variants = [
        PriceFactory(variant__product=p, amount=D(amount)).variant
        for p, amount in zip(products, ["33.33", "19.99", "5.55"], strict=True)
    ]
    PromotionFactory(value=D("15"), scope=Promotion.Scope.CATEGORIES, categories=[root])
    PromotionFactory(
        kind=Promotion.Kind.AMOUNT_OFF,
        value=D("1.10"),
        scope=Promotion.Scope.PRODUCTS,
        products=[products[1]],
        priority=3,
    )
    PromotionFactory(
        kind=Promotion.Kind.FIXED_PRICE,
        value=D("4.99"),
        scope=Promotion.Scope.VARIANTS,
        variants=[variants[2]],
        priority=9,
        is_stackable=False,
    )
    listing = api_client.get(PRODUCTS, {"page_size": 10}).json()["results"]
    shown = {
        v["sku"]: v["price"]["promotion_amount"] or v["price"]["amount"]
        for p in listing
        for v in p["variants"]
    }
    for variant in variants:
        basket = [{"sku": variant.sku, "quantity": 1}]
        endpoint = api_client.post(QUOTE, {"lines": basket}, format="json").json()
        engine = selectors.quote(basket)
        assert shown[variant.sku] == endpoint["total"] == str(engine.total)
        assert endpoint == engine.as_dict() | {"priced_at": endpoint["priced_at"]}
    assert sorted(shown.values()) == ["16.06", "28.33", "4.99"]


def _catalog_with_prices(count: int) -> None:
    category = CategoryFactory()
    for _ in range(count):
        product = ProductFactory(category=category)
        for _ in range(2):
            PriceFactory(variant=VariantFactory(product=product))
    PromotionFactory(scope=Promotion.Scope.CATEGORIES, categories=[category])
    PromotionFactory(scope=Promotion.Scope.PRODUCTS, products=[product])
    PromotionFactory(kind=Promotion.Kind.BUY_X_GET_Y, buy_quantity=1, get_quantity=1)


def _page_queries(api_client, size: int) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = api_client.get(PRODUCTS, {"page_size": size})
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == size
    assert all(v["price"]["status"] == "priced" for p in results for v in p["variants"])
    return len(ctx.captured_queries)


def test_the_product_list_with_prices_costs_the_same_queries_for_5_or_50_products(api_client):
    _catalog_with_prices(50)
    selectors.rules_cache_clear()
    cold = _page_queries(api_client, 5)  # reads the promotion rule book once
    assert _page_queries(api_client, 5) == _page_queries(api_client, 50) == cold - 1
