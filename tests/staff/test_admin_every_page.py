"""Every admin page opens for every role: one object of every registered admin model, then
each changelist and change page as a view-only member of staff and as each ready-made
role. Never a 500; a 403 (not a 200) where the role lacks the model's permission."""

import uuid

import pytest
from django.contrib import admin
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken

from customers.services import customer_merge
from inventory import services as inventory_services
from inventory.models import TransferLeadTime
from loyalty.services import points_adjust
from orders import services as order_services
from orders.domain import Actor
from orders.models import Order
from pos import services as pos_services
from returns.models import ReturnWindow
from returns.services import return_create
from staff.roles import ROLES
from tests.factories.catalog import BarcodeFactory, CategoryFactory
from tests.factories.customers import CustomerFactory, CustomerWithLoginFactory, UserFactory
from tests.factories.inventory import LocationStaffFactory
from tests.factories.loyalty import LoyaltyRulesFactory, TierFactory
from tests.factories.orders import CARD, CartLineFactory
from tests.factories.pricing import CouponFactory, CouponRedemptionFactory, ShippingRateFactory
from tests.staff.conftest import view_only_user

pytestmark = pytest.mark.django_db

# Admin pages with no rows behind them (a model without a table): the list page only,
# open with this permission.
ROWLESS = {"reports.report": "reports.view_reports"}


@pytest.fixture
def world(shop, member):
    """One row of every model the admin shows, made the way the system makes them."""
    rules = LoyaltyRulesFactory()
    TierFactory(rules=rules)
    variant = shop.sku(store=5, other=5)
    BarcodeFactory(variant=variant)
    CategoryFactory()
    customer = CustomerWithLoginFactory()
    cart = order_services.cart_get_current(customer=customer, channel="web")
    order_services.cart_line_add(cart=cart, sku=variant.sku, quantity=1)
    order = order_services.checkout_place(
        cart=cart,
        customer=customer,
        fulfilment={"type": "pickup", "location": shop.store.code},
        payment=CARD,
    )
    order_services.order_transition(order=order, target="ready_for_pickup", actor=Actor.STAFF)
    CartLineFactory()
    inventory_services.stock_transfer(
        lines=[(variant.pk, 1)], source=shop.warehouse, destination=shop.store, reference="T"
    )
    inventory_services.transfer_lead_time_save(
        lead_time=TransferLeadTime(source=shop.warehouse, destination=shop.store, days=2)
    )
    ShippingRateFactory()
    points_adjust(customer=customer, points=10, reason="welcome", actor=None)
    customer_merge(survivor=customer, duplicate=CustomerFactory(), merged_by=None)
    CouponRedemptionFactory(coupon=CouponFactory(), reference="order:X")
    LocationStaffFactory(location=shop.store)
    member("head_office")  # a staff member row
    AuthToken.objects.create(user=customer.user)  # a device session
    # A till of the store sells offline what the pickup had reserved, at a price the engine
    # would not charge: a terminal, a synced sale, a price discrepancy and a short pickup.
    terminal, _token = pos_services.terminal_register(code="T-1", location=shop.store)
    sale_id = uuid.uuid4()
    pos_services.sales_sync(
        terminal=terminal,
        sales=[
            {
                "id": str(sale_id),
                "occurred_at": timezone.now().isoformat(),
                "lines": [{"sku": variant.sku, "quantity": 5, "unit_price": "1.00"}],
                "tenders": [{"kind": "cash", "amount": "5.00"}],
            }
        ],
    )
    # One unit of that till sale comes back at the store's desk; head office set a window.
    return_create(
        order=Order.objects.get(till_sale=sale_id),
        location=shop.store,
        reason="changed_mind",
        lines=[{"sku": variant.sku, "quantity": 1}],
    )
    ReturnWindow.objects.create(category=variant.product.category, days=14)
    # The audit log's admin proxies the admin's own action log: one entry of it.
    LogEntry.objects.create(
        user=UserFactory(is_staff=True),
        content_type=ContentType.objects.get_for_model(variant),
        object_id=str(variant.pk),
        object_repr=str(variant),
        action_flag=ADDITION,
    )
    return {"order": order, "variant": variant}


def _pages():
    """(opts, one row its admin lists) for every registered model."""
    request = RequestFactory().get("/admin/")
    request.user = UserFactory(is_staff=True, is_superuser=True)
    for model, model_admin in admin.site._registry.items():
        yield model._meta, model_admin.get_queryset(request).order_by("pk").first()


def _can_see(user, opts) -> bool:
    return user.has_perm(f"{opts.app_label}.view_{opts.model_name}") or user.has_perm(
        f"{opts.app_label}.change_{opts.model_name}"
    )


def _open_every_page(browser: Client, user) -> list[str]:
    problems = []
    browser.raise_request_exception = False  # collect every 500, not only the first
    for opts, obj in _pages():
        if opts.label_lower in ROWLESS:
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
            status = browser.get(url).status_code
            want = 200 if user.has_perm(ROWLESS[opts.label_lower]) else 403
            if status != want:
                problems.append(f"{url}: {status} (want {want})")
            continue
        if obj is None:
            problems.append(f"no {opts.label} row: add one to the world fixture")
            continue
        allowed = _can_see(user, opts)
        urls = [
            ("changelist", reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")),
            ("change", reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])),
            ("change", reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[obj.pk])),
        ]
        for kind, url in urls:
            status = browser.get(url).status_code
            if status >= 500:
                problems.append(f"{url}: {status}")
            elif not allowed and status != 403:
                problems.append(f"{url}: {status} without the view permission (want 403)")
            elif allowed and kind == "changelist" and status != 200:
                problems.append(f"{url}: {status} with the view permission (want 200)")
            elif allowed and kind == "change" and status not in (200, 302):
                # 302: another store's row answers like a missing one (back to the index).
                problems.append(f"{url}: {status} with the view permission")
    return problems


def test_a_view_only_member_of_staff_opens_every_admin_page_without_a_server_error(world, shop):
    user = view_only_user(shop.store)
    browser = Client()
    browser.force_login(user)
    assert _open_every_page(browser, user) == []


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_role_opens_what_it_may_and_is_refused_the_rest(world, shop, member, role):
    browser = member(role, shop.store)
    assert _open_every_page(browser, browser.user) == []


def test_a_superuser_opens_every_admin_page(world, staff_user):
    browser = Client()
    browser.force_login(staff_user)
    assert _open_every_page(browser, staff_user) == []


def test_a_prices_history_button_and_its_variants_price_history_open(world, shop):
    variant = world["variant"]
    price = variant.prices.get()
    user = view_only_user(shop.store)
    browser = Client()
    browser.force_login(user)
    # The change page's "History" button: the admin's own log of this price.
    button = browser.get(f"/admin/pricing/price/{price.pk}/history/")
    assert button.status_code == 200
    page = browser.get(reverse("admin:pricing_price_variant_history", args=[variant.pk]))
    assert page.status_code == 200
    assert variant.sku in page.content.decode()


def test_a_product_page_opens_for_a_view_only_user(world, shop):
    product = world["variant"].product
    user = view_only_user(shop.store)
    browser = Client()
    browser.force_login(user)
    page = browser.get(reverse("admin:catalog_product_change", args=[product.pk]))
    assert page.status_code == 200
    assert world["variant"].sku in page.content.decode()
