"""Checkout: one transaction that re-quotes, reserves, writes the order — or changes nothing."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from inventory.errors import InsufficientStock
from inventory.models import Reservation, StockLevel
from inventory.services import verify_ledger
from loyalty.selectors import balance_get
from loyalty.services import points_adjust
from orders import services
from orders.models import Cart, Order, TestProviderCharge
from orders.payments import TestPaymentProvider as BookedProvider
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.inventory import LocationFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.orders import CARD
from tests.factories.pricing import PromotionFactory

pytestmark = pytest.mark.django_db

CHECKOUT = "/api/v1/checkout/"


def _cart_with(customer, *lines):
    cart = services.cart_get_current(customer=customer, channel="web")
    for variant, quantity in lines:
        services.cart_line_add(cart=cart, sku=variant.sku, quantity=quantity)
    return cart


PAY = {"provider": "test", "token": "tok_ok"}


def _pickup(cart, location, **extra):
    body = {
        "cart": str(cart.token),
        "fulfilment": {"type": "pickup", "location": location.code},
        "payment": PAY,
    }
    return body | extra


def _post(client, body, key="key-1"):
    return client.post(CHECKOUT, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def _reprice(variant, amount: str) -> None:
    """The shop changes the variant's price right now (a fixed-price promotion starts)."""
    PromotionFactory(
        kind="fixed_price", scope="variants", value=Decimal(amount), variants=[variant]
    )


def _level(variant, location):
    return StockLevel.objects.get(variant=variant, location=location)


def test_pickup_checkout_reserves_at_the_store_and_snapshots_the_quote(
    customer, customer_client, shop
):
    shirt = shop.sku(price="19.99", store=2)
    cart = _cart_with(customer, (shirt, 2))
    response = _post(
        customer_client,
        _pickup(cart, shop.store),
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "placed"
    assert body["location"] == shop.store.code
    assert body["total"] == "39.98" and body["amount_due"] == "39.98"
    assert body["payment_method"] == "online"
    assert [(t["kind"], t["amount"], t["status"]) for t in body["tenders"]] == [
        ("card", "39.98", "authorized")
    ]
    assert len(body["number"]) == 8 and len(body["pickup_code"]) == 6
    assert body["lines"][0]["unit_price"] == "19.99"
    level = _level(shirt, shop.store)
    assert (level.on_hand, level.reserved) == (2, 2)
    assert Cart.objects.get(pk=cart.pk).state == Cart.State.CONVERTED
    # A later price change never alters the placed order.
    _reprice(shirt, "5.00")
    order = Order.objects.get(number=body["number"])
    assert order.total == Decimal("39.98")
    assert order.quote_snapshot["total"] == "39.98"
    assert verify_ledger() == []


def test_a_retry_with_the_same_key_returns_the_same_order(customer, customer_client, shop):
    cart = _cart_with(customer, (shop.sku(store=5), 1))
    first = _post(customer_client, _pickup(cart, shop.store), key="retry-me")
    second = _post(customer_client, _pickup(cart, shop.store), key="retry-me")
    assert first.status_code == second.status_code == 201
    assert first.json()["number"] == second.json()["number"]
    assert second["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1
    assert Reservation.objects.count() == 1


def test_the_same_key_with_another_body_is_refused(customer, customer_client, shop):
    cart = _cart_with(customer, (shop.sku(store=5), 1))
    assert _post(customer_client, _pickup(cart, shop.store), key="k").status_code == 201
    other = _post(customer_client, _pickup(cart, shop.other_store), key="k")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1


def test_checkout_without_an_idempotency_key_is_refused(customer, customer_client, shop):
    cart = _cart_with(customer, (shop.sku(), 1))
    response = customer_client.post(CHECKOUT, _pickup(cart, shop.store), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_required"


def _assert_nothing_happened(cart):
    assert Order.objects.count() == 0
    assert Reservation.objects.count() == 0
    assert not StockLevel.objects.filter(reserved__gt=0).exists()
    assert Cart.objects.get(pk=cart.pk).state == Cart.State.OPEN


def test_out_of_stock_at_the_pickup_store_names_every_short_line_and_changes_nothing(
    customer, customer_client, shop
):
    short_a = shop.sku(store=1, warehouse=10)
    short_b = shop.sku(store=0, warehouse=10)
    fine = shop.sku(store=10)
    cart = _cart_with(customer, (short_a, 2), (short_b, 1), (fine, 1))
    response = _post(customer_client, _pickup(cart, shop.store))
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "insufficient_stock"
    short = {line["sku"]: line for line in error["details"]["lines"]}
    assert set(short) == {short_a.sku, short_b.sku}
    assert (short[short_a.sku]["requested"], short[short_a.sku]["available"]) == (2, 1)
    _assert_nothing_happened(cart)


@pytest.mark.parametrize(
    ("fulfilment", "status", "code"),
    [
        ({"type": "pickup", "location": "NO-SUCH-STORE"}, 404, None),
        ({"type": "pickup"}, 400, "validation_error"),
        ({"type": "delivery"}, 400, "validation_error"),
        ({"type": "teleport"}, 400, "validation_error"),
    ],
)
def test_bad_fulfilment_is_refused_and_nothing_is_reserved(
    customer, customer_client, shop, fulfilment, status, code
):
    cart = _cart_with(customer, (shop.sku(), 1))
    response = _post(customer_client, {"cart": str(cart.token), "fulfilment": fulfilment})
    assert response.status_code == status
    if code:
        assert response.json()["error"]["code"] == code
    _assert_nothing_happened(cart)


def test_a_store_that_is_not_a_pickup_point_is_refused(customer, customer_client, shop):
    outlet = LocationFactory(code="OUTLET", is_pickup_point=False)
    cart = _cart_with(customer, (shop.sku(), 1))
    response = _post(customer_client, _pickup(cart, outlet))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_pickup_location"
    _assert_nothing_happened(cart)


def test_an_empty_cart_cannot_be_checked_out(customer, customer_client, shop):
    cart = _cart_with(customer)
    response = _post(customer_client, _pickup(cart, shop.store))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "cart_empty"


def test_a_price_change_since_the_cart_was_shown_is_a_409_with_the_new_quote(
    customer, customer_client, shop
):
    variant = shop.sku(price="10.00")
    cart = _cart_with(customer, (variant, 1))
    shown = customer_client.get(f"/api/v1/carts/{cart.token}/").json()["quote"]["total"]
    assert shown == "10.00"
    _reprice(variant, "8.00")
    response = _post(customer_client, _pickup(cart, shop.store, expected_total=shown))
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "price_changed"
    assert error["details"]["quote"]["total"] == "8.00"
    _assert_nothing_happened(cart)
    # The client accepts the new total by passing it.
    ok = _post(customer_client, _pickup(cart, shop.store, expected_total="8.00"), key="k2")
    assert ok.status_code == 201
    assert ok.json()["total"] == "8.00"


def test_without_expected_total_the_total_of_the_last_cart_change_is_checked(
    customer, customer_client, shop
):
    variant = shop.sku(price="10.00")
    token = customer_client.post("/api/v1/carts/", {}, format="json").json()["token"]
    customer_client.post(
        f"/api/v1/carts/{token}/lines/", {"sku": variant.sku, "quantity": 1}, format="json"
    )
    _reprice(variant, "8.00")
    cart = Cart.objects.get(token=token)
    response = _post(customer_client, _pickup(cart, shop.store))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "price_changed"


def test_a_declined_payment_is_a_402_and_reserves_and_redeems_nothing(shop):
    customer = CustomerWithLoginFactory()
    LoyaltyRulesFactory()
    points_adjust(customer=customer, points=500, reason="welcome", actor=None)
    client = APIClient()
    client.force_authenticate(customer.user)
    cart = _cart_with(customer, (shop.sku(price="100.00"), 1))
    body = _pickup(cart, shop.store, payment={"provider": "test", "token": "tok_decline"})
    response = _post(client, body | {"redeem_points": 100})
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "payment_declined"
    _assert_nothing_happened(cart)
    assert balance_get(customer=customer) == 500
    assert not TestProviderCharge.objects.exists()


def test_checkout_without_a_payment_is_refused_unless_nothing_is_due(
    customer, customer_client, shop
):
    cart = _cart_with(customer, (shop.sku(price="10.00"), 1))
    body = _pickup(cart, shop.store)
    del body["payment"]
    response = _post(customer_client, body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "payment_required"
    _assert_nothing_happened(cart)


def test_a_client_cannot_claim_a_payment_it_did_not_make(customer, customer_client, shop):
    cart = _cart_with(customer, (shop.sku(price="10.00"), 1))
    claimed = _pickup(cart, shop.store, payment={"provider": "test", "token": "paid-trust-me"})
    response = _post(customer_client, claimed)
    assert response.status_code == 402
    assert response.json()["error"]["details"] == {"reason": "invalid_token"}
    unknown = _pickup(cart, shop.store, payment={"provider": "psp", "token": "x"})
    response = _post(customer_client, unknown, key="k2")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_payment_provider"
    _assert_nothing_happened(cart)


def test_pay_in_store_is_for_pickups_only(customer, customer_client, shop):
    cart = _cart_with(customer, (shop.sku(price="10.00", store=5, warehouse=5), 1))
    pickup = _post(customer_client, _pickup(cart, shop.store, payment={"method": "pay_in_store"}))
    assert pickup.status_code == 201, pickup.content
    assert pickup.json()["payment_method"] == "pay_in_store"
    assert pickup.json()["tenders"] == []
    cart = _cart_with(customer, (shop.sku(price="10.00", store=5, warehouse=5), 1))
    body = {
        "cart": str(cart.token),
        "fulfilment": {"type": "delivery", "address": {"line1": "Main St 1"}},
        "payment": {"method": "pay_in_store"},
    }
    delivery = _post(customer_client, body, key="k2")
    assert delivery.status_code == 422
    assert delivery.json()["error"]["code"] == "payment_required"


class RecordingProvider(BookedProvider):
    """The test provider, remembering what it was asked (what a real provider would log)."""

    calls: list[tuple[str, str]] = []

    def authorize(self, **kwargs):
        authorization = super().authorize(**kwargs)
        self.calls.append(("authorize", authorization))
        return authorization

    def void(self, *, authorization):
        self.calls.append(("void", authorization))
        super().void(authorization=authorization)


@override_settings(PAYMENT_PROVIDERS={"test": f"{__name__}.RecordingProvider"})
def test_when_stock_runs_short_after_authorization_the_authorization_is_voided(customer, shop):
    RecordingProvider.calls = []
    cart = _cart_with(customer, (shop.sku(store=1), 2))
    with pytest.raises(InsufficientStock):
        services.checkout_place(
            cart=cart,
            customer=customer,
            fulfilment={"type": "pickup", "location": shop.store.code},
            payment=CARD,
        )
    # The provider was told to release the hold it had just made: a real provider's books
    # are not rolled back with ours.
    (authorized,) = [ref for call, ref in RecordingProvider.calls if call == "authorize"]
    assert RecordingProvider.calls == [("authorize", authorized), ("void", authorized)]
    assert Order.objects.count() == 0


def test_a_guest_cannot_spend_the_points_of_the_profile_whose_email_they_give(api_client, shop):
    owner = CustomerWithLoginFactory(email="owner@example.com", phone="+4915111111111")
    LoyaltyRulesFactory()
    points_adjust(customer=owner, points=1000, reason="welcome", actor=None)
    variant = shop.sku(price="20.00")
    token = api_client.post("/api/v1/carts/", {"channel": "web"}, format="json").json()["token"]
    api_client.post(
        f"/api/v1/carts/{token}/lines/", {"sku": variant.sku, "quantity": 1}, format="json"
    )
    body = {
        "cart": token,
        "fulfilment": {"type": "pickup", "location": shop.store.code},
        "contact": {"email": "owner@example.com", "phone": "+4915199999999"},
        "redeem_points": 200,
        "payment": PAY,
    }
    response = _post(api_client, body)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "authentication_required"
    assert "1000" not in response.content.decode()  # no balance disclosed
    assert balance_get(customer=owner) == 1000
    assert Order.objects.count() == 0
    # Without points the guest order is placed and linked for history, and the owner's
    # profile is left exactly as it was.
    del body["redeem_points"]
    placed = _post(api_client, body, key="k2")
    assert placed.status_code == 201, placed.content
    owner.refresh_from_db()
    assert owner.phone == "+4915111111111"
    assert placed.json()["points_redeemed"] == 0


def test_a_guest_order_linked_by_phone_reaches_only_the_contact_the_guest_gave(api_client, shop):
    owner = CustomerWithLoginFactory(
        first_name="Olga", email="olga@example.com", phone="+4915111111111"
    )
    variant = shop.sku(price="20.00")
    token = api_client.post("/api/v1/carts/", {"channel": "web"}, format="json").json()["token"]
    api_client.post(
        f"/api/v1/carts/{token}/lines/", {"sku": variant.sku, "quantity": 1}, format="json"
    )
    body = {
        "cart": token,
        "fulfilment": {"type": "pickup", "location": shop.store.code},
        "contact": {"phone": "+4915111111111"},
        "payment": PAY,
    }
    response = _post(api_client, body)
    assert response.status_code == 201, response.content
    text = response.content.decode()
    assert "olga" not in text.lower() and "Olga" not in text
    order = Order.objects.get(number=response.json()["number"])
    assert order.customer == owner  # linked for history
    assert (order.contact_name, order.contact_email) == ("", "")


def test_delivery_checkout_reserves_at_a_shipping_location(customer, customer_client, shop):
    variant = shop.sku(store=10, warehouse=3)
    cart = _cart_with(customer, (variant, 3))
    body = {
        "cart": str(cart.token),
        "fulfilment": {
            "type": "delivery",
            "address": {"line1": "Alexanderplatz 1", "city": "Berlin"},
        },
        "payment": PAY,
    }
    response = _post(customer_client, body)
    assert response.status_code == 201, response.content
    assert response.json()["location"] == shop.warehouse.code
    assert _level(variant, shop.warehouse).reserved == 3
    assert _level(variant, shop.store).reserved == 0


def test_a_guest_checks_out_with_contact_details_and_gets_a_profile(api_client, shop):
    variant = shop.sku()
    token = api_client.post("/api/v1/carts/", {"channel": "web"}, format="json").json()["token"]
    api_client.post(
        f"/api/v1/carts/{token}/lines/", {"sku": variant.sku, "quantity": 1}, format="json"
    )
    no_contact = _post(
        api_client,
        {
            "cart": token,
            "fulfilment": {"type": "pickup", "location": shop.store.code},
            "payment": PAY,
        },
    )
    assert no_contact.status_code == 400
    assert no_contact.json()["error"]["code"] == "contact_required"
    body = {
        "cart": token,
        "fulfilment": {"type": "pickup", "location": shop.store.code},
        "contact": {"name": "Ada Lovelace", "email": "Ada@Example.com", "phone": "0151 23456789"},
        "payment": PAY,
    }
    response = _post(api_client, body, key="guest-1")
    assert response.status_code == 201, response.content
    order = Order.objects.get(number=response.json()["number"])
    assert order.customer.email == "ada@example.com"
    assert order.customer.phone == "+4915123456789"


def test_checkout_uses_a_fixed_number_of_queries_whatever_the_number_of_lines(shop):
    """Budget: at most 25 queries for a 10-line cart, and no more for 20 lines."""

    def queries_for(lines: int) -> int:
        customer = CustomerWithLoginFactory()
        cart = _cart_with(customer, *[(shop.sku(store=5), 1) for _ in range(lines)])
        with CaptureQueriesContext(connection) as ctx:
            services.checkout_place(
                cart=cart,
                customer=customer,
                fulfilment={"type": "pickup", "location": shop.store.code},
                payment=CARD,
            )
        return len(ctx.captured_queries)

    ten, twenty = queries_for(10), queries_for(20)
    print(f"checkout queries: 10 lines={ten}, 20 lines={twenty}")
    assert ten <= 25, ten
    assert twenty == ten


def test_checking_out_a_cart_already_checked_out_is_a_conflict_for_its_owner_only(
    customer, customer_client, shop
):
    """A second checkout of a converted cart (a new Idempotency-Key: not a replay) is 409
    `cart_not_open` for its owner — as when two checkouts race for the cart's lock — and
    404 for anybody else, who must not learn that the cart exists."""
    shirt = shop.sku(price="19.99", store=2)
    cart = _cart_with(customer, (shirt, 1))
    assert _post(customer_client, _pickup(cart, shop.store), key="first").status_code == 201

    again = _post(customer_client, _pickup(cart, shop.store), key="second")
    assert again.status_code == 409, again.content
    assert again.json()["error"]["code"] == "cart_not_open"
    assert again.json()["error"]["details"] == {"cart": str(cart.token), "state": "converted"}

    stranger = APIClient()
    stranger.force_authenticate(CustomerWithLoginFactory().user)
    other = _post(stranger, _pickup(cart, shop.store), key="third")
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "cart_not_found"
    assert Order.objects.filter(customer=customer).count() == 1
    assert (_level(shirt, shop.store).on_hand, _level(shirt, shop.store).reserved) == (2, 1)
