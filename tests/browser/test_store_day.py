"""A store associate's day in the admin, in a real browser (see conftest.py).

Anna works at Berlin Mitte. She logs in and lands on her start page; opens the pickup desk
from it, scans a customer's order number, marks the order ready and hands it over with
the code the customer was sent (a wrong code first: refused); takes back goods a walk-in
customer brings with the receipt, and completes a customer's return request; scans a
delivery in. After each step the database shows what happened. Then Olaf of the Hamburg
store logs in: none of Anna's orders, returns or stock shows on his pages, and their
addresses are refused. Every step leaves a screenshot ("store-day-NN-…").
"""

import re
from dataclasses import dataclass

import pytest
from django.core import mail
from playwright.sync_api import expect

from inventory.models import StockLevel, StockMovement
from orders.models import Order, PickupCodeAttempt
from returns import services as return_services
from returns.models import Return
from staff.services import staff_member_create
from tests.backoffice.conftest import place_pickup
from tests.browser.conftest import PASSWORD, log_in
from tests.factories.catalog import BarcodeFactory
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.orders import make_shop
from tests.factories.returns import collected_order

pytestmark = pytest.mark.django_db(transaction=True)

ANNA = "anna@staff.example.com"  # Berlin Mitte
OLAF = "olaf@staff.example.com"  # Hamburg


@dataclass
class Day:
    """What Berlin Mitte has to do today, and one pickup of Hamburg's own."""

    shop: object
    pickup: Order  # placed online, to prepare
    coat: object  # its variant
    walk_in: Order  # collected; its customer brings a pair of boots back at the desk
    boots: object
    requested: Return  # a customer's request to bring a scarf back
    scarf: object
    mug: object  # arrives with today's delivery
    mug_barcode: str
    hamburg_pickup: Order


def _associate(email: str, store, full_name: str) -> None:
    staff_member_create(
        email=email,
        password=PASSWORD,
        role="store_associate",
        locations=[store],
        full_name=full_name,
    )


def _day() -> Day:
    shop = make_shop()
    _associate(ANNA, shop.store, "Anna Associate")
    _associate(OLAF, shop.other_store, "Olaf Associate")
    coat = shop.sku(price="49.90", store=3)
    boots = shop.sku(price="79.00", store=2)
    scarf = shop.sku(price="19.00", store=2)
    mug = shop.sku(price="8.00", store=4)
    walk_in = collected_order(shop, CustomerWithLoginFactory(), [(boots, 1)])
    scarf_customer = CustomerWithLoginFactory()
    scarf_order = collected_order(shop, scarf_customer, [(scarf, 1)])
    requested = return_services.return_request(
        order=scarf_order,
        customer=scarf_customer,
        location=shop.store,
        reason="wrong_size",
        lines=[{"sku": scarf.sku, "quantity": 1}],
    )
    hamburg_only = shop.sku(price="12.00", store=0, other=2)
    return Day(
        shop=shop,
        pickup=place_pickup(coat, shop.store),
        coat=coat,
        walk_in=walk_in,
        boots=boots,
        requested=requested,
        scarf=scarf,
        mug=mug,
        mug_barcode=BarcodeFactory(variant=mug).code,
        hamburg_pickup=place_pickup(hamburg_only, shop.other_store),
    )


def _level(variant, location) -> tuple[int, int]:
    level = StockLevel.objects.get(variant=variant, location=location)
    return level.on_hand, level.reserved


def _code_sent_for(order: Order) -> str:
    """The pickup code as the customer reads it in the "ready for pickup" message."""
    subject = f"Order {order.number} is ready for pickup"
    sent = [message for message in mail.outbox if message.subject == subject]
    assert len(sent) == 1, [message.subject for message in mail.outbox]
    assert sent[0].to == [order.customer.email]
    found = re.search(r"Pickup code: (\d{6})", sent[0].body)
    assert found, sent[0].body
    return found.group(1)


def _codes_tried(order: Order) -> list[bool]:
    attempts = PickupCodeAttempt.objects.filter(order=order).order_by("at", "id")
    return list(attempts.values_list("succeeded", flat=True))


def _wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_a_store_associates_day_and_another_store_sees_none_of_it(page, shot):
    day = _day()
    store = day.shop.store

    # 1. Log in: the start page of Berlin Mitte, with the day's work counted.
    log_in(page, ANNA)
    expect(page.locator("h1.bo-title")).to_have_text("Today at Berlin Mitte")
    expect(page.locator("#tile-pickups .bo-figures li").first).to_contain_text("1 to prepare")
    expect(page.locator("#tile-returns .bo-figures li").first).to_contain_text(
        "1 requested by customers"
    )
    shot(page, "store-day-01-start-page")

    _pickup_at_the_desk(page, shot, day)
    _returns_at_the_desk(page, shot, day)
    _goods_received_by_scanning(page, shot, day)

    # Nothing of the day is left undone at the store's own pages.
    page.goto("/admin/")
    expect(page.locator("#tile-pickups .bo-figures li").first).to_contain_text("0 to prepare")
    expect(page.locator("#tile-returns .bo-figures li").first).to_contain_text(
        "0 requested by customers"
    )
    shot(page, "store-day-12-start-page-at-the-end")
    assert _level(day.coat, store) == (2, 0)

    # 2. Olaf of Hamburg logs in on the same tablet.
    page.context.clear_cookies()
    log_in(page, OLAF)
    _another_store_sees_none_of_it(page, shot, day)


def _pickup_at_the_desk(page, shot, day: Day) -> None:
    """From the start page to the desk; the number scanned; ready; handed over."""
    order = day.pickup
    store = day.shop.store
    assert _level(day.coat, store) == (3, 1)

    page.click("#tile-pickups .bo-links a.button >> nth=0")  # Open the pickup queue
    page.wait_for_url("**/admin/orders/order/pickups/**")
    expect(page.locator("h1")).to_have_text("Pickup desk")
    # A scanner types what the barcode holds into the focused box and presses Enter.
    find = page.locator("input[name=q]")
    expect(find).to_be_focused()
    find.press_sequentially(order.number)
    find.press("Enter")
    page.wait_for_url(f"**q={order.number}**")
    found = page.locator(".pickup-desk table").first.locator("tr", has_text=order.number)
    expect(found).to_have_count(1)
    expect(found).to_contain_text("placed")
    expect(page.locator(".pickup-desk")).not_to_contain_text(day.hamburg_pickup.number)
    shot(page, "store-day-02-pickup-found-by-scan")

    found.get_by_role("button", name="Ready for pickup").click()
    expect(page.locator(".messagelist")).to_contain_text(f"{order.number}: ready for pickup")
    order.refresh_from_db()
    assert order.status == "ready_for_pickup"
    shot(page, "store-day-03-pickup-ready")

    # The customer comes with the code they were sent; a mistyped one is refused first.
    code = _code_sent_for(order)
    found = page.locator(".pickup-desk table").first.locator("tr", has_text=order.number)
    found.locator("input[name=pickup_code]").fill(_wrong(code))
    found.get_by_role("button", name="Handed over").click()
    expect(page.locator(".messagelist .error")).to_contain_text(
        "The pickup code does not match this order."
    )
    order.refresh_from_db()
    assert order.status == "ready_for_pickup"
    assert _codes_tried(order) == [False]  # the try is recorded
    assert code not in page.content()  # no staff screen shows the code
    shot(page, "store-day-04-pickup-wrong-code")

    found = page.locator(".pickup-desk table").first.locator("tr", has_text=order.number)
    found.locator("input[name=pickup_code]").fill(code)
    found.get_by_role("button", name="Handed over").click()
    expect(page.locator(".messagelist")).to_contain_text(f"{order.number}: collected")
    order.refresh_from_db()
    assert order.status == "collected"
    assert _codes_tried(order) == [False, True]
    assert _level(day.coat, store) == (2, 0)  # the coat left the shelf, nothing reserved
    found = page.locator(".pickup-desk table").first.locator("tr", has_text=order.number)
    expect(found).to_contain_text("collected")
    shot(page, "store-day-05-pickup-handed-over")


def _returns_at_the_desk(page, shot, day: Day) -> None:
    """A walk-in return by receipt, then a customer's request, both through the desk."""
    store = day.shop.store
    assert _level(day.boots, store) == (1, 0)
    page.goto("/admin/")
    page.click("#tile-returns .bo-links a.button >> nth=0")  # Open the returns desk
    page.wait_for_url("**/admin/returns/return/desk/")
    expect(page.locator("table").last).to_contain_text(day.requested.number)

    # The customer's receipt: its order number typed (or scanned) at the desk.
    page.fill("input[name=q]", day.walk_in.number)
    page.click("input[type=submit][value=Find]")
    page.wait_for_url(f"**/desk/order/{day.walk_in.number}/")
    line = day.walk_in.lines.get()
    page.fill(f"input[name=qty_{line.pk}]", "1")
    page.select_option(f"select[name=cond_{line.pk}]", "resaleable")
    page.select_option("select[name=reason]", "wrong_size")
    expect(page.locator("select[name=location] option:checked")).to_contain_text("Berlin Mitte")
    page.get_by_role("button", name="Preview the refund").click()
    expect(page.locator("#preview")).to_contain_text("79.00")
    assert not Return.objects.filter(order=day.walk_in).exists()  # a preview writes nothing
    shot(page, "store-day-06-return-preview")

    page.get_by_role("button", name="Confirm the return").click()
    page.wait_for_url("**/admin/returns/return/receipt/**")
    ret = Return.objects.get(order=day.walk_in)
    expect(page.locator(".messagelist")).to_contain_text(f"Return {ret.number} recorded")
    assert (ret.status, ret.source, ret.location_id) == ("completed", "desk", store.pk)
    assert ret.processed_by.email == ANNA
    assert ret.refund_amount == line.line_total
    assert _level(day.boots, store) == (2, 0)  # back on the shelf
    shot(page, "store-day-07-return-receipt")

    # The customer's request: the scarf arrived at the desk.
    assert _level(day.scarf, store) == (1, 0)
    page.click("text=Back to the desk")
    page.click(f"a:text-is('{day.requested.number}')")
    page.wait_for_url(f"**/desk/request/{day.requested.number}/")
    page.get_by_role("button", name="Preview the refund").click()
    expect(page.locator("#preview")).to_contain_text("19.00")
    shot(page, "store-day-08-request-preview")
    page.get_by_role("button", name="Goods received: complete the return").click()
    page.wait_for_url("**/admin/returns/return/receipt/**")
    day.requested.refresh_from_db()
    assert day.requested.status == "completed"
    assert day.requested.processed_by.email == ANNA
    assert _level(day.scarf, store) == (2, 0)
    shot(page, "store-day-09-request-completed")


def _goods_received_by_scanning(page, shot, day: Day) -> None:
    """Today's delivery: three mugs scanned one by one and two typed by SKU."""
    store = day.shop.store
    assert _level(day.mug, store) == (4, 0)
    page.goto("/admin/inventory/stocklevel/")
    page.click("text=Receive goods")
    page.wait_for_url("**/admin/inventory/stocklevel/receive/")
    expect(page.locator("select[name=location] option:checked")).to_contain_text("Berlin Mitte")
    scans = page.locator("textarea[name=scans]")
    expect(scans).to_be_focused()
    for _unit in range(3):
        scans.press_sequentially(day.mug_barcode)
        scans.press("Enter")
    scans.press_sequentially(f"{day.mug.sku} x 2")
    page.fill("input[name=reference]", "DN-20417")
    page.click("input[name=check]")
    preview = page.locator("#receipt-preview")
    expect(preview).to_contain_text("To receive at BER-MITTE: 5 unit(s)")
    expect(preview.locator("tbody tr")).to_have_count(1)
    assert _level(day.mug, store) == (4, 0)  # checking writes nothing
    shot(page, "store-day-10-goods-receipt-checked")

    page.click("input[name=confirm]")
    page.wait_for_url(f"**/admin/inventory/stocklevel/?location__id__exact={store.pk}")
    expect(page.locator(".messagelist")).to_contain_text(
        "Received 5 unit(s) of 1 SKU(s) at BER-MITTE."
    )
    assert _level(day.mug, store) == (9, 0)
    movement = StockMovement.objects.get(level__variant=day.mug, reference="DN-20417")
    assert (movement.kind, movement.on_hand_delta, movement.actor.email) == ("receipt", 5, ANNA)
    shot(page, "store-day-11-goods-received")


def _lists_nothing(page) -> None:
    """A list page (searched) with no row: the paginator counts none."""
    expect(page.locator("#result_list tbody tr")).to_have_count(0)
    expect(page.locator("#changelist .paginator")).to_have_text(re.compile(r"^\s*0 "))


def _refused(page, url: str) -> None:
    """An address of Berlin's that Hamburg's associate opens: not found (404), or the
    admin's "doesn't exist" back on the start page — never the page itself."""
    response = page.goto(url)
    if response.status == 404:
        return
    assert response.status == 200, (url, response.status)
    assert page.url.endswith("/admin/"), (url, page.url)
    expect(page.locator(".messagelist")).to_contain_text("Perhaps it was deleted?")


def _another_store_sees_none_of_it(page, shot, day: Day) -> None:
    store = day.shop.store
    pickup, walk_in = day.pickup, day.walk_in
    desk_return = Return.objects.get(order=walk_in)
    berlin_numbers = [
        pickup.number,
        walk_in.number,
        day.requested.order.number,
        desk_return.number,
        day.requested.number,
    ]

    def shows_none_of_berlin(locator) -> None:
        for number in berlin_numbers:
            expect(locator).not_to_contain_text(number)
        expect(locator).not_to_contain_text("Berlin Mitte")
        expect(locator).not_to_contain_text("BER-MITTE")

    expect(page.locator("h1.bo-title")).to_have_text("Today at Hamburg")
    # Hamburg's own pickup is counted (Berlin has none left to prepare by now).
    expect(page.locator("#tile-pickups .bo-figures li").first).to_contain_text("1 to prepare")
    shows_none_of_berlin(page.locator("#content"))
    shot(page, "store-day-13-other-store-start-page")

    # The pickup desk: Hamburg's own pickup, none of Berlin's, and Berlin's not found.
    page.goto("/admin/orders/order/pickups/")
    expect(page.locator(".pickup-desk")).to_contain_text(day.hamburg_pickup.number)
    shows_none_of_berlin(page.locator(".pickup-desk"))
    page.fill("input[name=q]", pickup.number)
    page.press("input[name=q]", "Enter")
    page.wait_for_url(f"**q={pickup.number}**")
    expect(page.locator(".pickup-desk table").first).to_contain_text(
        "No pickup order at your stores matches."
    )
    shot(page, "store-day-14-other-store-pickup-desk")

    # The orders list, searched by Berlin's numbers: nothing.
    for number in (pickup.number, walk_in.number):
        page.goto(f"/admin/orders/order/?q={number}")
        _lists_nothing(page)
    shot(page, "store-day-15-other-store-orders")

    # The returns list: none of Berlin's returns (a search finds nothing either).
    page.goto("/admin/returns/return/")
    shows_none_of_berlin(page.locator("#changelist"))
    page.goto(f"/admin/returns/return/?q={desk_return.number}")
    _lists_nothing(page)
    page.goto("/admin/returns/return/desk/")
    shows_none_of_berlin(page.locator("#content"))
    shot(page, "store-day-16-other-store-returns")

    # Stock: Hamburg's levels only; Berlin's mug is not found by its barcode.
    page.goto("/admin/inventory/stocklevel/")
    expect(page.locator("#result_list")).to_contain_text("HAM-01")
    shows_none_of_berlin(page.locator("#result_list"))
    page.goto(f"/admin/inventory/stocklevel/?q={day.mug_barcode}")
    _lists_nothing(page)
    page.goto("/admin/inventory/stockmovement/?q=DN-20417")
    _lists_nothing(page)
    shot(page, "store-day-17-other-store-stock")

    # Berlin's pages by their addresses: refused.
    mug_level = StockLevel.objects.get(variant=day.mug, location=store)
    for url in (
        f"/admin/orders/order/{pickup.pk}/change/",
        f"/admin/orders/order/{walk_in.pk}/change/",
        f"/admin/orders/order/pickups/{pickup.number}/slip/",
        f"/admin/returns/return/{desk_return.pk}/change/",
        f"/admin/returns/return/receipt/{desk_return.number}/",
        f"/admin/returns/return/desk/request/{day.requested.number}/",
        f"/admin/inventory/stocklevel/{mug_level.pk}/change/",
    ):
        _refused(page, url)
    shot(page, "store-day-18-other-store-refused")

    # Receiving goods: only Hamburg to choose; a form doctored to name Berlin is refused.
    page.goto("/admin/inventory/stocklevel/receive/")
    options = page.locator("select[name=location] option")
    expect(options.filter(has_text="Berlin")).to_have_count(0)
    page.evaluate(
        """(pk) => {
            const select = document.querySelector("select[name=location]");
            select.add(new Option("Berlin Mitte", String(pk), true, true));
        }""",
        store.pk,
    )
    page.fill("textarea[name=scans]", day.mug_barcode)
    page.click("input[name=check]")
    expect(page.locator(".errorlist")).to_contain_text("Select a valid choice")
    expect(page.locator("#receipt-preview")).to_have_count(0)
    assert _level(day.mug, store) == (9, 0)
    shot(page, "store-day-19-other-store-cannot-receive-for-berlin")
