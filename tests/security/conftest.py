"""The cast and the objects of the authorization matrix: two stores, two customers, their tills
and one member of staff per role, with real objects each of them owns.

Store X (BER-MITTE) and store Y (HAM-01) are the shop's two stores. Everything the matrix
reaches belongs to customer A or to store X, so every other actor is an outsider to it:
A's orders, cart, returns, login session and pending contact change; X's pickups,
transfer and till hold. Everything is made through the services (orders by checkout,
returns by the return services, points by an adjustment), as in production.
"""

from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import transaction
from django.test import override_settings
from rest_framework.test import APIClient

from customers.services import auth_login, contact_change_start, registration_start
from inventory import services as stock
from loyalty.services import hold_create, points_adjust
from orders import services as order_services
from orders.domain import Actor, Status
from staff.roles import ROLES
from tests.factories.catalog import BarcodeFactory
from tests.factories.customers import CustomerWithLoginFactory, UserFactory
from tests.factories.inventory import LocationStaffFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.orders import CARD, CartFactory, make_shop, order_staff
from tests.factories.pos import make_terminal
from tests.factories.returns import collected_order

PASSWORD = "secret-pass-123"  # the factories' password

# The columns of the matrix, in its order.
ACTORS = (
    "anonymous",
    "customer_a",
    "customer_b",
    "terminal_x",
    "terminal_y",
    "associate_x",
    "manager_y",
    "merchandiser",
    "head_office",
)


@dataclass
class World:
    shop: object
    customer_a: object
    customer_b: object
    shirt: object
    mug: object
    barcode: str
    placed_x: object  # A's pickup at X, placed
    ready_x: object  # A's pickup at X, ready for pickup (has a pickup code)
    placed_y: object  # A's pickup at Y, placed
    collected_x: object  # A's pickup at X, collected (shirt and mug)
    request_x: object  # A's return request of the mug of collected_x, goods to come to X
    cart_a: object  # A's open cart (shirt)
    guest_cart: object  # an anonymous cart (shirt)
    session_a: int  # A's login session (device)
    verification_signup: str  # someone's pending registration
    verification_a: str  # A's pending change of email
    transfer: object  # warehouse → X, not yet received
    hold_x: object  # points of A held by X's till (needs the customer's code)
    terminal_x: object
    clients: dict

    @property
    def store_x(self):
        return self.shop.store

    @property
    def store_y(self):
        return self.shop.other_store


def _staff(role: str, location=None):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=ROLES[role].group))
    if location is not None:
        LocationStaffFactory(user=user, location=location)
    return type(user).objects.get(pk=user.pk)


def _pickup(customer, lines, location):
    cart = CartFactory(customer=customer, channel="web")
    for variant, quantity in lines:
        order_services.cart_line_add(cart=cart, sku=variant.sku, quantity=quantity)
    return order_services.checkout_place(
        cart=cart,
        fulfilment={"type": "pickup", "location": location.code},
        payment=CARD,
        customer=customer,
        contact={},
        user=customer.user,
    )


def _token_client(keyword: str, token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {token}")
    return client


def _session_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def unthrottled():
    """Every throttle at a rate no test reaches: the matrix asks about permission, not rate."""
    rates = {scope: "100000/second" for scope in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]}
    rest = settings.REST_FRAMEWORK | {"DEFAULT_THROTTLE_RATES": rates}
    cache.clear()
    with override_settings(REST_FRAMEWORK=rest, PICKUP_HANDOVER_RATE="100000/second"):
        yield
    cache.clear()


@pytest.fixture(scope="module")
def world_built(django_db_setup, django_db_blocker):
    """The world, built once per module in a transaction rolled back after the module's
    last test. Each test runs in a savepoint inside it (the `db` fixture), so every test
    starts from the same world, as with Django's `setUpTestData`."""
    fast = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=fast):
        with transaction.atomic():
            yield _build_world()
            transaction.set_rollback(True)


@pytest.fixture
def world(world_built, db, unthrottled) -> World:
    return world_built


def _build_world() -> World:
    shop = make_shop()
    LoyaltyRulesFactory()
    shirt = shop.sku(price="19.99", store=5, warehouse=20, other=5)
    mug = shop.sku(price="7.50", store=5, warehouse=5, other=5)
    barcode = BarcodeFactory(variant=shirt).code
    x, y = shop.store, shop.other_store

    a = CustomerWithLoginFactory()
    b = CustomerWithLoginFactory()
    points_adjust(customer=a, points=1000, reason="welcome", actor=None)

    placed_x = _pickup(a, [(shirt, 1)], x)
    ready_x = _pickup(a, [(mug, 1)], x)
    order_services.order_transition(
        order=ready_x, target=Status.READY_FOR_PICKUP, actor=Actor.STAFF, user=order_staff(x)
    )
    ready_x.refresh_from_db()
    placed_y = _pickup(a, [(shirt, 1)], y)
    collected_x = collected_order(shop, a, [(shirt, 1), (mug, 1)])

    from returns.services import return_request

    request_x = return_request(
        order=collected_x,
        customer=a,
        location=x,
        reason="wrong_size",
        lines=[{"sku": mug.sku, "quantity": 1}],
    )

    cart_a = CartFactory(customer=a, channel="app")
    order_services.cart_line_add(cart=cart_a, sku=shirt.sku, quantity=1)
    # B has an open cart of their own, so "my current cart" is an answer, not a 404.
    order_services.cart_line_add(
        cart=CartFactory(customer=b, channel="web"), sku=mug.sku, quantity=1
    )
    guest_cart = CartFactory(customer=None, channel="web")
    order_services.cart_line_add(cart=guest_cart, sku=shirt.sku, quantity=1)

    login_a = auth_login(login=a.email, password=PASSWORD, device="phone")
    login_b = auth_login(login=b.email, password=PASSWORD, device="phone")
    signup = registration_start(email="newcomer@example.com", password="An0ther-secret-pass")
    change = contact_change_start(customer=a, field_name="email", value="a.new@example.com")

    transfer = stock.stock_transfer(
        lines=[(shirt.pk, 1)], source=shop.warehouse, destination=x, reference="matrix"
    )
    terminal_x, token_x = make_terminal(x)
    _terminal_y, token_y = make_terminal(y)
    hold = hold_create(
        customer=a, points=600, order_total=Decimal("200.00"), terminal_code=terminal_x.code
    )

    clients = {
        "anonymous": APIClient(),
        "customer_a": _token_client("Token", login_a.token),
        "customer_b": _token_client("Token", login_b.token),
        "terminal_x": _token_client("Terminal", token_x),
        "terminal_y": _token_client("Terminal", token_y),
        "associate_x": _session_client(_staff("store_associate", x)),
        "manager_y": _session_client(_staff("store_manager", y)),
        "merchandiser": _session_client(_staff("merchandiser")),
        "head_office": _session_client(_staff("head_office")),
    }
    assert set(clients) == set(ACTORS)
    return World(
        shop=shop,
        customer_a=a,
        customer_b=b,
        shirt=shirt,
        mug=mug,
        barcode=barcode,
        placed_x=placed_x,
        ready_x=ready_x,
        placed_y=placed_y,
        collected_x=collected_x,
        request_x=request_x,
        cart_a=cart_a,
        guest_cart=guest_cart,
        session_a=login_a.session.pk,
        verification_signup=str(signup.id),
        verification_a=str(change.id),
        transfer=transfer,
        hold_x=hold,
        terminal_x=terminal_x,
        clients=clients,
    )
