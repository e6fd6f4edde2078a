"""The pickup desk in the admin: what to pick, the picking slip, finding the customer's
order, and the handover with the code the customer presents.

Staff find an order by its number, by scanning its barcode or QR code (the scanner types
the number, or a link or reference holding it), by phone in any format or by name, and
only at their own stores; every code tried at the desk is recorded by the service.
"""

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory.models import Transfer, TransferLeadTime
from inventory.services import (
    stock_receive,
    transfer_lead_time_save,
    transfer_receive,
    verify_ledger,
)
from orders import services
from orders.domain import Actor, Status
from orders.models import Order, PickupCodeAttempt
from tests.factories.catalog import VariantFactory
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.inventory import StockLevelFactory
from tests.factories.orders import CARD
from tests.factories.pricing import PriceFactory
from tests.staff import conftest as staff_fixtures

pytestmark = pytest.mark.django_db

# member(role, *locations): a logged-in admin browser of a new member of staff in that role.
member = staff_fixtures.member

DESK = "/admin/orders/order/pickups/"


def _stocked(shop, product: str, variant: str, price: str = "4.50"):
    item = VariantFactory(product__name=product, name=variant)
    PriceFactory(variant=item, amount=Decimal(price))
    for location in (shop.store, shop.other_store):
        StockLevelFactory(variant=item, location=location, on_hand=20)
    return item


def _pickup(shop, lines, *, customer=None, store=None):
    customer = customer or CustomerWithLoginFactory()
    cart = services.cart_get_current(customer=customer, channel="web")
    for item, quantity in lines:
        services.cart_line_add(cart=cart, sku=item.sku, quantity=quantity)
    return services.checkout_place(
        cart=cart,
        customer=customer,
        fulfilment={"type": "pickup", "location": (store or shop.store).code},
        payment=CARD,
    )


def _ready(order, user):
    return services.order_transition(
        order=order, target=Status.READY_FOR_PICKUP, actor=Actor.STAFF, user=user
    )


def _text(html: str) -> str:
    """The page's text: tags dropped, white space collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _section(html: str, heading: str, until: str | None = None) -> str:
    text = _text(html)
    start = text.index(heading)
    return text[start : text.index(until, start) if until else None]


def _found(browser, text: str) -> str:
    page = browser.get(DESK, {"q": text})
    assert page.status_code == 200
    # the results table, after its header row (the heading above repeats what was typed)
    return _section(page.content.decode(), "Order Status Store Customer Placed", "To prepare")


@pytest.fixture
def beans(shop):
    return _stocked(shop, "Espresso beans", "250 g")


@pytest.fixture
def tea(shop):
    return _stocked(shop, "Green tea", "45 g", price="3.00")


def test_the_queue_lists_what_to_pick_with_product_variant_sku_and_quantity(
    shop, member, beans, tea
):
    order = _pickup(shop, [(beans, 2), (tea, 3)])
    associate = member("store_associate", shop.store)

    html = associate.get(DESK).content.decode()

    to_prepare = _section(html, "To prepare", "Waiting for the customer")
    assert order.number in to_prepare
    assert f"2 × Espresso beans — 250 g {beans.sku}" in to_prepare
    assert f"3 × Green tea — 45 g {tea.sku}" in to_prepare
    assert f'href="{DESK}{order.number}/slip/"' in html


def test_the_picking_slip_lists_the_lines_to_pick_and_prints_without_the_admin_around_it(
    shop, member, beans, tea
):
    order = _pickup(shop, [(beans, 2), (tea, 3)])
    associate = member("store_associate", shop.store)

    page = associate.get(f"{DESK}{order.number.lower()}/slip/")

    assert page.status_code == 200
    html = page.content.decode()
    slip = _section(html, "Pickup order")
    assert f"Pickup order {order.number}" in slip
    assert f"Customer: {order.contact_name}" in slip
    assert f"☐ Espresso beans — 250 g {beans.sku} 2" in slip
    assert f"☐ Green tea — 45 g {tea.sku} 3" in slip
    assert "Units 5" in slip
    assert "@media print" in html and "window.print()" in html


def test_another_stores_picking_slip_is_not_found_and_staff_without_the_desk_get_none(
    shop, member, beans
):
    theirs = _pickup(shop, [(beans, 1)], store=shop.other_store)
    mine = _pickup(shop, [(beans, 1)])
    associate = member("store_associate", shop.store)
    head_office = member("head_office")

    assert associate.get(f"{DESK}{theirs.number}/slip/").status_code == 404
    assert associate.get(f"{DESK}NOSUCH99/slip/").status_code == 404
    # head office reads every order but works no pickup desk
    assert head_office.get(f"{DESK}{mine.number}/slip/").status_code == 403
    assert head_office.get(DESK).status_code == 403


def test_the_desk_finds_an_order_by_its_number_typed_or_scanned(shop, member, beans):
    order = _pickup(shop, [(beans, 1)])
    other = _pickup(shop, [(beans, 1)])
    associate = member("store_associate", shop.store)
    scans = [
        order.number,
        f"  {order.number.lower()} ",
        f"https://shop.example.com/account/orders/{order.number}/?utm_source=qr",
        f"order:{order.number}",
    ]
    for scan in scans:
        found = _found(associate, scan)
        assert order.number in found, scan
        assert other.number not in found, scan
        assert found.split().count("placed") == 1, scan  # one order found


def test_the_desk_finds_an_order_by_phone_in_any_format(shop, member, beans):
    customer = CustomerWithLoginFactory()
    order = _pickup(shop, [(beans, 1)], customer=customer)
    other = _pickup(shop, [(beans, 1)])
    associate = member("store_associate", shop.store)
    national = customer.phone.replace("+49", "0")  # +4915120000007 -> 015120000007
    for typed in (
        customer.phone,
        f"{national[:4]} {national[4:8]} {national[8:]}",
        f"+49 ({national[1:4]}) {national[4:8]}-{national[8:]}",
        f"0049{national[1:]}",
    ):
        found = _found(associate, typed)
        assert order.number in found, typed
        assert other.number not in found, typed


def test_the_desk_finds_an_order_by_the_customers_name(shop, member, beans):
    customer = CustomerWithLoginFactory(first_name="Mathilda", last_name="Brückner")
    order = _pickup(shop, [(beans, 1)], customer=customer)
    other = _pickup(
        shop, [(beans, 1)], customer=CustomerWithLoginFactory(first_name="Ole", last_name="Berg")
    )
    associate = member("store_associate", shop.store)
    for typed in ("brückner", "Mathilda", "mathilda brü"):
        found = _found(associate, typed)
        assert order.number in found, typed
        assert other.number not in found, typed


def test_the_desk_finds_orders_only_at_the_users_stores(shop, member, beans):
    customer = CustomerWithLoginFactory(first_name="Mathilda", last_name="Brückner")
    mine = _pickup(shop, [(beans, 1)], customer=customer)
    theirs = _pickup(shop, [(beans, 1)], customer=customer, store=shop.other_store)
    associate = member("store_associate", shop.store)
    hamburg = member("store_manager", shop.other_store)

    for typed in (theirs.number, customer.phone, "Brückner"):
        found = _found(associate, typed)
        assert theirs.number not in found, typed
    assert mine.number in _found(associate, "Brückner")
    assert theirs.number in _found(hamburg, theirs.number)
    assert mine.number not in _found(hamburg, mine.number)
    assert "No pickup order at your stores matches" in _found(hamburg, mine.number)


def test_a_wrong_code_typed_at_the_desk_is_recorded_and_the_order_stays_waiting(
    shop, member, beans
):
    order = _pickup(shop, [(beans, 1)])
    associate = member("store_associate", shop.store)
    _ready(order, associate.user)
    wrong = "000000" if order.pickup_code != "000000" else "111111"

    page = associate.post(
        f"{DESK}?q={order.number}",
        {"number": order.number, "action": "handover", "pickup_code": wrong},
        follow=True,
    )

    assert page.redirect_chain == [(f"{DESK}?q={order.number}", 302)]
    assert f"{order.number}: The pickup code does not match this order." in _text(
        page.content.decode()
    )
    assert Order.objects.get(pk=order.pk).status == Status.READY_FOR_PICKUP
    attempts = list(PickupCodeAttempt.objects.filter(order=order).values("user", "succeeded"))
    assert attempts == [{"user": associate.user.pk, "succeeded": False}]

    associate.post(
        DESK, {"number": order.number, "action": "handover", "pickup_code": order.pickup_code}
    )
    assert Order.objects.get(pk=order.pk).status == Status.COLLECTED
    assert list(
        PickupCodeAttempt.objects.filter(order=order).order_by("id").values_list("succeeded")
    ) == [(False,), (True,)]


def test_after_too_many_wrong_codes_the_desk_refuses_even_the_right_one(
    shop, member, beans, settings
):
    settings.PICKUP_CODE_MAX_ATTEMPTS = 2
    order = _pickup(shop, [(beans, 1)])
    associate = member("store_associate", shop.store)
    _ready(order, associate.user)
    wrong = "000000" if order.pickup_code != "000000" else "111111"
    for _ in range(2):
        associate.post(DESK, {"number": order.number, "action": "handover", "pickup_code": wrong})

    page = associate.post(
        DESK,
        {"number": order.number, "action": "handover", "pickup_code": order.pickup_code},
        follow=True,
    )

    assert Order.objects.get(pk=order.pk).status == Status.READY_FOR_PICKUP
    assert PickupCodeAttempt.objects.filter(order=order, succeeded=False).count() == 2
    assert not PickupCodeAttempt.objects.filter(order=order, succeeded=True).exists()
    assert f"{order.number}: Too many wrong pickup codes for this order" in _text(
        page.content.decode()
    )


def test_the_desk_runs_the_same_queries_for_two_orders_as_for_six(shop, member, beans, tea):
    associate = member("store_associate", shop.store)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert associate.get(DESK).status_code == 200
        return len(captured)

    for _ in range(2):
        _ready(_pickup(shop, [(beans, 1), (tea, 1)]), associate.user)
    _pickup(shop, [(beans, 1)])
    queries()  # warm caches (content types, permissions)
    few = queries()
    for _ in range(3):
        _ready(_pickup(shop, [(beans, 2), (tea, 1)]), associate.user)
        _pickup(shop, [(tea, 1)])
    for _ in range(2):
        _coming(shop, _far_away(shop))

    assert queries() == few


def test_opening_the_desk_finding_and_printing_writes_nothing(shop, member, beans):
    customer = CustomerWithLoginFactory(last_name="Brückner")
    order = _pickup(shop, [(beans, 1)], customer=customer)
    associate = member("store_associate", shop.store)
    _ready(_pickup(shop, [(beans, 1)]), associate.user)
    associate.get(DESK)
    urls = [
        DESK,
        f"{DESK}?location={shop.store.code}",
        f"{DESK}?q={order.number}",
        f"{DESK}?q={customer.phone}",
        f"{DESK}?q=Brückner",
        f"{DESK}{order.number}/slip/",
    ]

    with CaptureQueriesContext(connection) as captured:
        for url in urls:
            assert associate.get(url).status_code == 200, url

    writes = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert writes == []


def _far_away(shop):
    """A coat only the warehouse holds, on a two-day route to the shop's store."""
    coat = VariantFactory(product__name="Winter coat", name="M")
    PriceFactory(variant=coat, amount=Decimal("120.00"))
    StockLevelFactory(variant=coat, location=shop.warehouse, on_hand=5)
    if not TransferLeadTime.objects.filter(source=shop.warehouse, destination=shop.store):
        transfer_lead_time_save(
            lead_time=TransferLeadTime(source=shop.warehouse, destination=shop.store, days=2)
        )
    return coat


def _coming(shop, coat):
    """A ship-to-store pickup of `coat` at the shop's store: in transit from the warehouse."""
    customer = CustomerWithLoginFactory()
    cart = services.cart_get_current(customer=customer, channel="web")
    services.cart_line_add(cart=cart, sku=coat.sku, quantity=1)
    order = services.checkout_place(
        cart=cart,
        customer=customer,
        fulfilment={"type": "pickup", "location": shop.store.code, "allow_transfer": True},
        payment=CARD,
    )
    assert order.status == Status.IN_TRANSIT
    return order


def test_the_desk_lists_ship_to_store_orders_on_their_way_with_the_day_they_are_due(
    shop, member, beans
):
    coming = _coming(shop, _far_away(shop))
    placed = _pickup(shop, [(beans, 1)])
    associate = member("store_associate", shop.store)

    html = associate.get(DESK).content.decode()

    on_the_way = _section(html, "On their way to the store")
    assert coming.number in on_the_way
    assert timezone.localtime(coming.ready_from).strftime("%Y-%m-%d") in on_the_way
    assert "1 × Winter coat — M" in on_the_way
    assert placed.number not in on_the_way
    assert coming.number not in _section(html, "To prepare", "On their way to the store")
    # Nothing to do with it at the desk until its transfer is received.
    assert "Ready for pickup" not in on_the_way


def test_the_desk_shows_why_an_order_whose_transfer_arrived_short_needs_staff(shop, member):
    coming = _coming(shop, _far_away(shop))
    transfer = Transfer.objects.get(reference=coming.reference)
    (line,) = transfer.lines.all()
    transfer_receive(transfer=transfer, received={line.variant_id: 0}, note="box lost")
    services.order_transfer_arrived(number=coming.number)

    associate = member("store_associate", shop.store)
    html = associate.get(DESK).content.decode()

    assert "arrived 1 unit(s) short" in _section(html, "On their way to the store")
    assert "Goods are here: ready for pickup" in _section(html, "On their way to the store")

    refused = associate.post(DESK, {"number": coming.number, "action": "goods_at_store"})
    assert refused.status_code == 302
    assert Order.objects.get(pk=coming.pk).status == Status.IN_TRANSIT
    stock_receive(location=shop.store, lines=[(line.variant_id, 1)], reference="found")
    associate.post(DESK, {"number": coming.number, "action": "goods_at_store"})
    coming.refresh_from_db()
    assert (coming.status, coming.needs_attention) == (Status.READY_FOR_PICKUP, False)
    waiting = _section(associate.get(DESK).content.decode(), "Waiting for the customer")
    assert coming.number in waiting.split("On their way to the store")[0]
    assert verify_ledger() == []
