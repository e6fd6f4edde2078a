"""The holes found by trying the admin as store staff with limited rights: each is a class
of problem (a custom view or action that checked `is_staff` or nothing, an import that
trusted the file's store column) with the test that failed on the code before the fix."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from customers.models import Customer, CustomerMerge
from inventory.models import StockLevel
from orders import services as order_services
from orders.domain import Actor
from orders.models import Order
from tests.factories.customers import CustomerFactory, CustomerWithLoginFactory, UserFactory
from tests.factories.inventory import LocationStaffFactory, StockLevelFactory
from tests.factories.orders import CARD
from tests.staff.conftest import view_only_user

pytestmark = pytest.mark.django_db

QUEUE = "/admin/orders/order/pickups/"
ORDERS = "/admin/orders/order/"
CUSTOMERS = "/admin/customers/customer/"
IMPORT = "/admin/inventory/stocklevel/import-counts/"


def _pickup(shop, *, ready: bool = False) -> Order:
    customer = CustomerWithLoginFactory()
    cart = order_services.cart_get_current(customer=customer, channel="web")
    order_services.cart_line_add(cart=cart, sku=shop.sku(store=5).sku, quantity=1)
    order = order_services.checkout_place(
        cart=cart,
        customer=customer,
        fulfilment={"type": "pickup", "location": shop.store.code},
        payment=CARD,
    )
    if ready:
        order_services.order_transition(order=order, target="ready_for_pickup", actor=Actor.STAFF)
    return Order.objects.get(pk=order.pk)


def _browser(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


# --- custom views check the operation's permission, not only is_staff ---------------------


def test_staff_without_the_pickup_permission_can_neither_open_the_queue_nor_hand_over(shop):
    order = _pickup(shop, ready=True)
    nobody = _browser(LocationStaffFactory(location=shop.store).user)  # staff, no permission

    assert nobody.get(QUEUE).status_code == 403
    response = nobody.post(
        QUEUE, {"number": order.number, "action": "handover", "pickup_code": order.pickup_code}
    )
    assert response.status_code == 403
    assert Order.objects.get(pk=order.pk).status == "ready_for_pickup"


def test_the_pickup_code_is_never_shown_on_a_staff_screen(shop, member):
    order = _pickup(shop, ready=True)
    manager = member("store_manager", shop.store)
    for url in (QUEUE, ORDERS, f"{ORDERS}{order.pk}/change/"):
        page = manager.get(url)
        assert page.status_code == 200, url
        assert order.pickup_code not in page.content.decode(), url


# --- admin actions check the permission of the operation ----------------------------------


def test_a_view_only_user_cannot_cancel_an_order(shop):
    order = _pickup(shop)
    viewer = _browser(view_only_user(shop.store))
    viewer.post(ORDERS, {"action": "cancel_orders", ACTION_CHECKBOX_NAME: [order.pk]})
    assert Order.objects.get(pk=order.pk).status == "placed"


def test_a_view_only_user_cannot_merge_customers(db):
    first, second = CustomerFactory(), CustomerFactory()
    viewer = _browser(view_only_user())
    viewer.post(
        CUSTOMERS,
        {
            "action": "merge_customers",
            ACTION_CHECKBOX_NAME: [first.pk, second.pk],
            "apply": "1",
            "survivor": first.pk,
        },
    )
    assert not CustomerMerge.objects.exists()
    assert Customer.objects.get(pk=second.pk).merged_into_id is None


def test_a_store_manager_cancels_an_order_of_their_store_and_an_associate_cannot(shop, member):
    first, second = _pickup(shop), _pickup(shop)
    associate = member("store_associate", shop.store)
    associate.post(ORDERS, {"action": "cancel_orders", ACTION_CHECKBOX_NAME: [first.pk]})
    assert Order.objects.get(pk=first.pk).status == "placed"

    manager = member("store_manager", shop.store)
    manager.post(ORDERS, {"action": "cancel_orders", ACTION_CHECKBOX_NAME: [second.pk]})
    assert Order.objects.get(pk=second.pk).status == "cancelled"


# --- store scoping: a file's store column is checked against the user's stores ---------------


def test_a_store_x_users_count_import_cannot_change_store_y_stock(db, member):
    mine = StockLevelFactory(on_hand=5)
    theirs = StockLevelFactory(on_hand=5)
    associate = member("store_associate", mine.location)
    text = (
        "location,sku,counted\n"
        f"{mine.location.code},{mine.variant.sku},4\n"
        f"{theirs.location.code},{theirs.variant.sku},0\n"
    )
    upload = SimpleUploadedFile("count.csv", text.encode(), content_type="text/csv")
    response = associate.post(IMPORT, {"file": upload})

    assert response.status_code == 200
    assert any(theirs.location.code in str(error) for error in response.context["errors"])
    assert StockLevel.objects.get(pk=theirs.pk).on_hand == 5
    assert StockLevel.objects.get(pk=mine.pk).on_hand == 5  # all or nothing


def test_a_store_x_user_cannot_pick_store_y_as_the_import_default(db, member):
    mine = StockLevelFactory(on_hand=5)
    theirs = StockLevelFactory(on_hand=5)
    associate = member("store_associate", mine.location)
    upload = SimpleUploadedFile(
        "count.csv", f"sku,counted\n{theirs.variant.sku},0\n".encode(), content_type="text/csv"
    )
    response = associate.post(IMPORT, {"file": upload, "location": theirs.location.pk})
    assert response.status_code == 200
    assert StockLevel.objects.get(pk=theirs.pk).on_hand == 5


def test_staff_without_a_stock_permission_cannot_open_the_count_import(db):
    level = StockLevelFactory(on_hand=5)
    staff = UserFactory(is_staff=True)
    from inventory.services import location_staff_assign

    location_staff_assign(user=staff, location=level.location)
    assert _browser(staff).get(IMPORT).status_code == 403
