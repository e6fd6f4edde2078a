"""Attribution: where a cart and its order came from (device, app version, UTM values,
referrer, given at cart creation and checked at the edge) and the store of a sale."""

import importlib
import json
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps as django_apps
from django.utils import timezone

from orders import domain, services
from orders.errors import InvalidAttribution
from orders.models import Cart, Order
from pos import services as pos_services
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.orders import CARD
from tests.factories.pos import make_terminal

pytestmark = pytest.mark.django_db

CARTS = "/api/v1/carts/"
CHECKOUT = "/api/v1/checkout/"
PAY = {"provider": "test", "token": "tok_ok"}
BLANK = dict.fromkeys(domain.ATTRIBUTION_FIELDS, "")
CAMPAIGN = {
    "device": "ios",
    "app_version": "4.12.0 (881)",
    "utm_source": "  Newsletter ",
    "utm_medium": "EMAIL",
    "utm_campaign": "Spring-Sale 2026",
    "referrer": "https://mail.example.com/inbox?id=Ü",
}
# CAMPAIGN as stored: stripped; source and medium lower-case; the campaign as given.
STORED = CAMPAIGN | {"utm_source": "newsletter", "utm_medium": "email"}


def _create(client, attribution=None, channel="app"):
    body = {"channel": channel}
    if attribution is not None:
        body["attribution"] = attribution
    return client.post(CARTS, body, format="json")


def _create_raw(client, attribution):
    """POST the body as escaped JSON text, as a client would (the test client's own
    encoder cannot send a lone surrogate)."""
    body = json.dumps({"channel": "web", "attribution": attribution})
    return client.post(CARTS, body, content_type="application/json")


def _guest_checkout(client, token, shop, **fulfilment):
    body = {
        "cart": token,
        "fulfilment": fulfilment or {"type": "pickup", "location": shop.store.code},
        "contact": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "payment": PAY,
    }
    response = client.post(CHECKOUT, body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code == 201, response.content
    return response.json()


def _place(customer, variant, **fulfilment):
    cart = services.cart_get_current(customer=customer, channel="web")
    services.cart_line_add(cart=cart, sku=variant.sku, quantity=1)
    return services.checkout_place(
        cart=cart, customer=customer, fulfilment=fulfilment, payment=CARD
    )


# --- the rule, without a database ---------------------------------------------------------


def test_attribution_values_are_stripped_and_utm_source_and_medium_lower_cased():
    assert domain.attribution_clean(CAMPAIGN) == STORED
    assert domain.attribution_clean(None) == BLANK
    assert domain.attribution_clean({"device": "web"}) == BLANK | {"device": "web"}


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("utm_source", "news\x00letter", "not_printable"),
        ("utm_campaign", "spring\nsale", "not_printable"),
        ("referrer", "https://example.com/\r\n", "not_printable"),
        ("device", "\x1b[31mios", "not_printable"),
        ("app_version", "4.1\u200b", "not_printable"),  # zero-width space
        ("utm_medium", "\ud800", "not_printable"),  # a lone surrogate
        ("device", "x" * 33, "too_long"),
        ("utm_source", "x" * 101, "too_long"),
        ("referrer", "x" * 501, "too_long"),
        ("utm_campaign", 2026, "not_a_string"),
        ("device", None, "not_a_string"),
        ("utm_term", "spring", "unknown_field"),
    ],
)
def test_attribution_values_that_cannot_be_stored_are_refused_with_the_reason(field, value, reason):
    with pytest.raises(domain.AttributionRefused) as refused:
        domain.attribution_clean({field: value})
    assert (refused.value.field, refused.value.reason) == (field, reason)


def test_the_longest_values_the_columns_hold_are_accepted():
    longest = {name: "x" * limit for name, limit in domain.ATTRIBUTION_LIMITS.items()}
    assert domain.attribution_clean(longest) == longest
    for name, limit in domain.ATTRIBUTION_LIMITS.items():
        assert Cart._meta.get_field(name).max_length == limit
        assert Order._meta.get_field(name).max_length == limit


# --- carts and orders -------------------------------------------------------------------


def test_attribution_given_at_cart_creation_is_shown_on_the_cart_and_reaches_the_order(
    api_client, shop
):
    beans = shop.sku(price="8.50", store=3)
    created = _create(api_client, CAMPAIGN)
    assert created.status_code == 201, created.content
    assert created.json()["attribution"] == STORED
    token = created.json()["token"]
    api_client.post(f"{CARTS}{token}/lines/", {"sku": beans.sku, "quantity": 1}, format="json")
    assert api_client.get(f"{CARTS}{token}/").json()["attribution"] == STORED

    placed = _guest_checkout(api_client, token, shop)

    assert placed["attribution"] == STORED
    assert placed["channel"] == "app"
    order = Order.objects.get(number=placed["number"])
    assert order.attribution == STORED
    assert Cart.objects.get(token=token).attribution == STORED


def test_a_cart_created_without_attribution_shows_it_blank_and_its_order_has_none(
    customer, customer_client, shop
):
    beans = shop.sku(store=3)
    created = _create(customer_client, channel="web")
    assert created.status_code == 201
    assert created.json()["attribution"] == BLANK

    order = _place(customer, beans, type="pickup", location=shop.store.code)

    assert order.attribution == BLANK
    shown = customer_client.get(f"/api/v1/orders/{order.number}/")
    assert shown.status_code == 200, shown.content
    assert shown.json()["attribution"] == BLANK
    listed = customer_client.get("/api/v1/me/orders/").json()
    assert [o["attribution"] for o in listed["results"]] == [BLANK]


@pytest.mark.parametrize(
    "attribution",
    [
        {"utm_campaign": "spring\nsale"},
        {"device": "\x07ios"},
        {"referrer": "https://example.com/\x7f"},
        {"utm_medium": "\ud83d"},  # half of a surrogate pair
        {"device": "d" * 33},
        {"app_version": "1." * 17},
        {"utm_source": "s" * 101},
        {"utm_medium": "m" * 101},
        {"utm_campaign": "c" * 101},
        {"referrer": "https://example.com/" + "r" * 481},
        {"utm_source": 42},
        {"utm_campaign": ["spring"]},
        {"referrer": {"url": "https://example.com"}},
        {"device": None},
        {"device": True},
        "ios",
        ["ios"],
    ],
)
def test_bad_attribution_is_a_400_validation_error_and_creates_no_cart(api_client, attribution):
    response = _create_raw(api_client, attribution)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "validation_error"
    assert Cart.objects.count() == 0


def test_a_nul_in_attribution_is_a_400_and_creates_no_cart(api_client):
    # The API's JSON parser refuses a NUL anywhere in a body (PostgreSQL cannot store it).
    response = _create_raw(api_client, {"utm_source": "news\x00letter"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert Cart.objects.count() == 0


def test_bad_attribution_from_a_logged_in_customer_leaves_their_cart_as_it_was(
    customer, customer_client
):
    cart = services.cart_get_current(customer=customer, channel="web")

    response = _create_raw(customer_client, {"utm_source": "x\ty"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert Cart.objects.count() == 1
    cart.refresh_from_db()
    assert cart.attribution == BLANK


def test_the_service_refuses_what_the_api_refuses_with_the_same_error_shape(db):
    with pytest.raises(InvalidAttribution) as refused:
        services.cart_create(channel="web", attribution={"referrer": "a\x00b"})
    assert refused.value.code == "validation_error" and refused.value.http_status == 400
    assert refused.value.details == {"fields": {"attribution": {"referrer": ["not_printable"]}}}
    with pytest.raises(InvalidAttribution):
        services.cart_create(channel="web", attribution={"gclid": "abc"})
    assert Cart.objects.count() == 0


def test_a_customers_cart_keeps_its_attribution_and_one_without_takes_the_first_given(db):
    customer = CustomerWithLoginFactory()
    plain = services.cart_create(channel="web", customer=customer)
    assert plain.attribution == BLANK

    taken = services.cart_create(channel="app", customer=customer, attribution=CAMPAIGN)
    again = services.cart_create(
        channel="web", customer=customer, attribution={"utm_source": "google"}
    )

    assert taken.pk == plain.pk == again.pk
    assert Cart.objects.get(pk=plain.pk).attribution == STORED
    assert again.attribution == STORED


def test_an_anonymous_carts_attribution_goes_to_the_customers_cart_only_when_it_has_none(
    shop,
):
    beans = shop.sku(store=3)
    customer, other = CustomerWithLoginFactory(), CustomerWithLoginFactory()
    theirs = services.cart_create(channel="web", customer=customer)
    attributed = services.cart_create(
        channel="web", customer=other, attribution={"utm_source": "google"}
    )
    for target in (theirs, attributed):
        anonymous = services.cart_create(channel="app", attribution=CAMPAIGN)
        services.cart_line_add(cart=anonymous, sku=beans.sku, quantity=1)
        assert services.cart_merge(source=anonymous, target=target).merged

    assert Cart.objects.get(pk=theirs.pk).attribution == STORED
    assert Cart.objects.get(pk=attributed.pk).attribution == BLANK | {"utm_source": "google"}


# --- the store of a sale --------------------------------------------------------------------


def test_a_pickup_belongs_to_its_store_and_a_delivery_to_none(customer, shop):
    beans = shop.sku(store=3, warehouse=3)

    pickup = _place(customer, beans, type="pickup", location=shop.store.code)
    delivery = _place(
        customer, beans, type="delivery", address={"line1": "Unter den Linden 1", "city": "Berlin"}
    )

    assert Order.objects.get(pk=pickup.pk).store_id == shop.store.pk
    assert delivery.location_id == shop.warehouse.pk
    assert Order.objects.get(pk=delivery.pk).store_id is None


def test_a_rerouted_pickup_belongs_to_the_store_that_hands_it_over(customer, shop):
    beans = shop.sku(store=3, other=3)
    order = _place(customer, beans, type="pickup", location=shop.store.code)

    services.order_reroute(order=order, location=shop.other_store.code)

    order.refresh_from_db()
    assert (order.location_id, order.store_id) == (shop.other_store.pk, shop.other_store.pk)


def test_a_till_sale_belongs_to_the_tills_store(shop):
    beans = shop.sku(price="4.00", store=3)
    terminal, _token = make_terminal(shop.store)
    sale = {
        "id": str(uuid.uuid4()),
        "occurred_at": (timezone.now() - timedelta(minutes=3)).isoformat(),
        "cashier": "C1",
        "customer": None,
        "lines": [{"sku": beans.sku, "quantity": 1, "unit_price": "4.00", "discount": "0.00"}],
        "tenders": [{"kind": "cash", "amount": "4.00", "points": 0}],
    }

    (result,) = pos_services.sales_sync(terminal=terminal, sales=[sale])

    order = Order.objects.get(number=result.order)
    assert (order.channel, order.store_id) == ("pos", shop.store.pk)
    assert order.attribution == BLANK
    assert order.total == Decimal("4.00")


def test_the_migration_gives_existing_till_sales_and_pickups_their_store(customer, shop):
    beans = shop.sku(store=3, warehouse=3)
    pickup = _place(customer, beans, type="pickup", location=shop.store.code)
    delivery = _place(customer, beans, type="delivery", address={"line1": "x", "city": "Berlin"})
    Order.objects.update(store=None)  # as the orders were before the column
    migration = importlib.import_module("orders.migrations.0007_order_attribution_and_store")

    migration.backfill_store(django_apps, None)

    assert dict(Order.objects.values_list("number", "store_id")) == {
        pickup.number: shop.store.pk,
        delivery.number: None,
    }
