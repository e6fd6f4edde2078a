"""The order page and the orders list in the admin, as store staff see them.

The page names what was sold (product and variant), how it is paid, who moved the order
when, and links to its returns; the pickup code appears on no staff screen; the list runs
the same number of queries for two orders as for eight; a GET writes nothing.
"""

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory.models import Transfer, TransferLeadTime
from inventory.services import transfer_lead_time_save, transfer_receive
from orders import services
from orders.domain import Actor, Status
from returns.services import return_create
from tests.factories.catalog import VariantFactory
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.inventory import StockLevelFactory
from tests.factories.orders import CARD
from tests.factories.pricing import PriceFactory
from tests.staff import conftest as staff_fixtures

pytestmark = pytest.mark.django_db

# member(role, *locations): a logged-in admin browser of a new member of staff in that role.
member = staff_fixtures.member

ORDERS = "/admin/orders/order/"
QUEUE = "/admin/orders/order/pickups/"


def _stocked(shop, product: str, variant: str, price: str = "4.50"):
    item = VariantFactory(product__name=product, name=variant)
    PriceFactory(variant=item, amount=Decimal(price))
    for location in (shop.store, shop.other_store):
        StockLevelFactory(variant=item, location=location, on_hand=20)
    return item


def _pickup(shop, lines, *, customer=None, store=None, payment=CARD):
    customer = customer or CustomerWithLoginFactory()
    cart = services.cart_get_current(customer=customer, channel="web")
    for item, quantity in lines:
        services.cart_line_add(cart=cart, sku=item.sku, quantity=quantity)
    return services.checkout_place(
        cart=cart,
        customer=customer,
        fulfilment={"type": "pickup", "location": (store or shop.store).code},
        payment=payment,
    )


def _text(html: str) -> str:
    """The page's text: tags dropped, white space collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _change_url(order) -> str:
    return f"{ORDERS}{order.pk}/change/"


def _shows_code(html: str, code: str) -> bool:
    """The six digits as a number of their own (not inside a longer run of digits)."""
    return re.search(rf"(?<!\d){re.escape(code)}(?!\d)", html) is not None


def _collected(shop, associate, lines):
    order = _pickup(shop, lines)
    services.order_transition(
        order=order, target=Status.READY_FOR_PICKUP, actor=Actor.STAFF, user=associate.user
    )
    return services.order_transition(
        order=order,
        target=Status.COLLECTED,
        actor=Actor.STAFF,
        user=associate.user,
        pickup_code=order.pickup_code,
    )


def test_the_order_page_names_product_and_variant_the_tenders_and_who_moved_it_when(shop, member):
    beans = _stocked(shop, "Espresso beans", "250 g")
    tea = _stocked(shop, "Green tea", "45 g", price="3.00")
    order = _pickup(shop, [(beans, 2), (tea, 1)])
    associate = member("store_associate", shop.store)
    services.order_transition(
        order=order,
        target=Status.READY_FOR_PICKUP,
        actor=Actor.STAFF,
        user=associate.user,
        note="shelf B",
    )

    page = associate.get(_change_url(order))

    assert page.status_code == 200
    html = page.content.decode()
    assert "Espresso beans — 250 g" in html and "Green tea — 45 g" in html
    # the tender: kind, amount and where it stands (authorized until the handover)
    tenders = html[html.index("Payment (tenders)") :]
    assert "card 12.00 EUR Authorized test" in _text(tenders)
    history = _text(html[html.index("Status history") :])
    assert f"placed ready_for_pickup staff {associate.user.email} shelf B" in history


def test_the_order_page_links_to_the_returns_of_the_order_which_list_them(shop, member):
    beans = _stocked(shop, "Espresso beans", "250 g")
    associate = member("store_associate", shop.store)
    order = _collected(shop, associate, [(beans, 2)])
    other = _collected(shop, associate, [(beans, 1)])
    taken = return_create(
        order=order,
        location=shop.store,
        reason="changed_mind",
        lines=[{"sku": beans.sku, "quantity": 1}],
    )
    return_create(
        order=other,
        location=shop.store,
        reason="changed_mind",
        lines=[{"sku": beans.sku, "quantity": 1}],
    )

    html = associate.get(_change_url(order)).content.decode()
    link = f"/admin/returns/return/?q={order.number}"
    assert f'href="{link}"' in html

    returns = associate.get(link).content.decode()
    assert taken.number in returns
    assert other.number not in returns


def test_the_returns_link_is_left_out_for_staff_who_may_not_see_returns(shop, member):
    beans = _stocked(shop, "Espresso beans", "250 g")
    order = _pickup(shop, [(beans, 1)])
    associate = member("store_associate", shop.store)
    associate.user.groups.clear()
    from django.contrib.auth.models import Permission

    associate.user.user_permissions.add(
        Permission.objects.get(codename="view_order", content_type__app_label="orders")
    )

    html = associate.get(_change_url(order)).content.decode()

    assert "Espresso beans" in html
    assert "/admin/returns/return/" not in html


def test_no_staff_page_shows_the_pickup_code(shop, member):
    beans = _stocked(shop, "Espresso beans", "250 g")
    order = _pickup(shop, [(beans, 1)])
    waiting = _pickup(shop, [(beans, 1)])
    associate = member("store_associate", shop.store)
    services.order_transition(
        order=waiting, target=Status.READY_FOR_PICKUP, actor=Actor.STAFF, user=associate.user
    )
    head_office = member("head_office")
    pages = [
        ORDERS,
        f"{ORDERS}?q={order.number}",
        _change_url(order),
        _change_url(waiting),
        f"{ORDERS}{order.pk}/history/",
        QUEUE,
        f"{QUEUE}?q={order.number}",
        f"{QUEUE}?q={waiting.contact_phone}",
        f"{QUEUE}{order.number}/slip/",
        f"{QUEUE}{waiting.number}/slip/",
    ]
    for browser in (associate, head_office):
        for url in pages:
            page = browser.get(url)
            if browser is head_office and url.startswith(QUEUE):
                assert page.status_code == 403, url  # head office reads; it works no desk
                continue
            assert page.status_code == 200, url
            html = page.content.decode()
            assert order.number in html or waiting.number in html, url
            assert not _shows_code(html, order.pickup_code), url
            assert not _shows_code(html, waiting.pickup_code), url
            assert "Pickup code:" not in html, url


def test_another_stores_order_page_is_not_found(shop, member):
    beans = _stocked(shop, "Espresso beans", "250 g")
    theirs = _pickup(shop, [(beans, 1)], store=shop.other_store)
    associate = member("store_associate", shop.store)

    page = associate.get(_change_url(theirs), follow=True)

    assert theirs.number not in page.content.decode()
    assert "doesn’t exist" in page.content.decode()


def _changelist_queries(browser) -> int:
    with CaptureQueriesContext(connection) as queries:
        page = browser.get(ORDERS)
    assert page.status_code == 200
    return len(queries)


def test_the_orders_list_runs_the_same_queries_for_two_orders_as_for_eight(shop, member):
    beans = _stocked(shop, "Espresso beans", "250 g")
    for _ in range(2):
        _pickup(shop, [(beans, 1)])
    associate = member("store_associate", shop.store)
    _changelist_queries(associate)  # warm caches (content types, permissions)
    with_two = _changelist_queries(associate)

    for _ in range(6):
        _pickup(shop, [(beans, 1)])
    page = associate.get(ORDERS).content.decode()
    with_eight = _changelist_queries(associate)

    assert page.count('class="field-number"') == 8
    assert with_eight == with_two


def test_opening_the_order_pages_writes_nothing(shop, member):
    beans = _stocked(shop, "Espresso beans", "250 g")
    order = _pickup(shop, [(beans, 1)])
    associate = member("store_associate", shop.store)
    urls = [
        ORDERS,
        f"{ORDERS}?q={order.number}",
        _change_url(order),
        f"{ORDERS}{order.pk}/history/",
    ]
    associate.get(ORDERS)  # the first request of a session may store its messages

    with CaptureQueriesContext(connection) as queries:
        for url in urls:
            assert associate.get(url).status_code == 200, url

    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert writes == []


def test_a_ship_to_store_order_whose_transfer_arrived_short_says_why_on_its_page(shop, member):
    coat = VariantFactory(product__name="Winter coat", name="M")
    PriceFactory(variant=coat, amount=Decimal("120.00"))
    StockLevelFactory(variant=coat, location=shop.warehouse, on_hand=3)
    transfer_lead_time_save(
        lead_time=TransferLeadTime(source=shop.warehouse, destination=shop.store, days=2)
    )
    customer = CustomerWithLoginFactory()
    cart = services.cart_get_current(customer=customer, channel="web")
    services.cart_line_add(cart=cart, sku=coat.sku, quantity=2)
    order = services.checkout_place(
        cart=cart,
        customer=customer,
        fulfilment={"type": "pickup", "location": shop.store.code, "allow_transfer": True},
        payment=CARD,
    )
    manager = member("store_manager", shop.store)
    assert "Staff must act:" not in manager.get(_change_url(order)).content.decode()

    transfer_receive(
        transfer=Transfer.objects.get(reference=order.reference), received={coat.pk: 1}
    )
    services.order_transfer_arrived(number=order.number)

    page = _text(manager.get(_change_url(order)).content.decode())
    assert "Staff must act: Transfer" in page
    assert "arrived 1 unit(s) short: cancel the order or find them." in page
    listed = _text(manager.get(ORDERS, {"needs_attention__exact": "1"}).content.decode())
    assert order.number in listed
