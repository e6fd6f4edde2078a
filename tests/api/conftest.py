"""A small shop for the whole-API tests: catalog, prices, stock, a customer with an order.

Built with factories and, for the cart and the order, through the public API itself, so
the data is what real clients would leave behind. `known` maps path parameter names to
values that exist, so generated requests also reach real objects, not only 404s.
"""

from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.cache import cache
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client, override_settings
from rest_framework.test import APIClient

from customers.services import auth_login
from inventory import services as stock
from pos.services import terminal_register
from tests.factories.catalog import BarcodeFactory
from tests.factories.customers import CustomerWithLoginFactory, UserFactory
from tests.factories.inventory import LocationStaffFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.orders import make_shop
from tests.factories.pricing import CouponFactory, PromotionFactory

PASSWORD = "secret-pass-123"  # the factories' password


@dataclass
class World:
    customer_profile: object
    staff_user: object
    terminal_token: str = ""
    known: dict[str, list] = field(default_factory=dict)

    def anonymous(self) -> dict[str, dict[str, str]]:
        return {}

    def customer(self) -> dict[str, dict[str, str]]:
        """A fresh device token: a logout run by one request never breaks the next."""
        token = auth_login(
            login=self.customer_profile.email, password=PASSWORD, device="fuzz"
        ).token
        return {"headers": {"Authorization": f"Token {token}"}}

    def terminal(self) -> dict[str, dict[str, str]]:
        """A till of the shop's store, as the POS endpoints expect it."""
        return {"headers": {"Authorization": f"Terminal {self.terminal_token}"}}

    def staff(self) -> dict[str, dict[str, str]]:
        """A staff session cookie and a matching CSRF token, as the admin's browser has."""
        client = Client()
        client.force_login(self.staff_user)
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        csrf = _get_new_csrf_string()
        return {
            "cookies": {settings.SESSION_COOKIE_NAME: session, settings.CSRF_COOKIE_NAME: csrf},
            "headers": {"X-CSRFToken": csrf},
        }


@pytest.fixture
def unthrottled():
    """Every throttle scope at a rate no test reaches, and an empty throttle history."""
    rates = {
        scope: "100000/second"
        for scope in settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {})
    }
    rest = settings.REST_FRAMEWORK | {"DEFAULT_THROTTLE_RATES": rates}
    cache.clear()
    with override_settings(REST_FRAMEWORK=rest, PICKUP_HANDOVER_RATE="100000/second"):
        yield
    cache.clear()


@pytest.fixture
def world(db, unthrottled) -> World:
    shop = make_shop()
    LoyaltyRulesFactory()
    shirt = shop.sku(price="19.99", store=5, warehouse=20)
    mug = shop.sku(price="7.50", store=3, warehouse=3)
    shop.sku(price="3.00", store=0, warehouse=1)
    barcode = BarcodeFactory(variant=shirt)
    promotion = PromotionFactory(value=Decimal("5"))
    coupon = CouponFactory(code="WELCOME10")

    customer = CustomerWithLoginFactory()
    staff = UserFactory(is_staff=True, is_superuser=True)
    LocationStaffFactory(user=staff, location=shop.store)
    transfer = stock.stock_transfer(
        lines=[(mug.pk, 1)], source=shop.warehouse, destination=shop.store, reference="fuzz"
    )

    client = APIClient()
    client.force_authenticate(customer.user)
    ordered = client.post("/api/v1/carts/", {"channel": "web"}, format="json").json()["token"]
    client.post(f"/api/v1/carts/{ordered}/lines/", {"sku": shirt.sku, "quantity": 1}, format="json")
    order = client.post(
        "/api/v1/checkout/",
        {
            "cart": ordered,
            "fulfilment": {"type": "pickup", "location": shop.store.code},
            "payment": {"provider": "test", "token": "tok_ok"},
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="fuzz-order",
    )
    assert order.status_code == 201, order.content
    cart = client.post("/api/v1/carts/", {"channel": "app"}, format="json").json()["token"]
    _terminal, terminal_token = terminal_register(code="FUZZ-1", location=shop.store)
    client.post(f"/api/v1/carts/{cart}/lines/", {"sku": mug.sku, "quantity": 2}, format="json")

    known = {
        "pk": [shirt.product_id, mug.product_id],
        "code": [shop.store.code, barcode.code],
        "number": [order.json()["number"], transfer.number],
        "token": [cart],
        "sku": [mug.sku, shirt.sku],
        "action": ["ready", "handover", "cancel"],
        "id": [promotion.pk, coupon.pk],
        "body.sku": [shirt.sku, mug.sku],
        "body.location": [shop.store.code, shop.warehouse.code],
        "body.source": [shop.warehouse.code],
        "body.destination": [shop.store.code],
        "body.cart": [cart],
        "body.order": [order.json()["number"]],
        "body.coupon": [coupon.code],
        "body.barcode": [barcode.code],
        "phone": [customer.phone],
    }
    return World(
        customer_profile=customer, staff_user=staff, terminal_token=terminal_token, known=known
    )
