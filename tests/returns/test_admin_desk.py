"""The returns desk in the admin: store staff find the order (by receipt or by the
customer), preview the refund, confirm the return through `return_create`, complete or
cancel customers' requests, and print the receipt — each page behind the permission and
the store; exchanges for new items named by SKU or barcode; the return windows head office
sets; the read-only returns list."""

import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from inventory.models import StockLevel
from loyalty import selectors as loyalty_selectors
from loyalty.services import points_adjust
from orders import services as order_services
from orders.models import Order
from pos import services as pos_services
from returns import services
from returns.models import RefundTender, Return, ReturnWindow
from staff.services import staff_member_create
from tests.factories.catalog import BarcodeFactory, CategoryFactory, VariantFactory
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.orders import CARD, CartFactory
from tests.factories.pricing import PromotionFactory
from tests.factories.returns import collected_order, returns_staff
from tests.staff.conftest import view_only_user

pytestmark = pytest.mark.django_db

DESK = "/admin/returns/return/desk/"
RETURNS = "/admin/returns/return/"
WINDOWS = "/admin/returns/returnwindow/"


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def order_page(order) -> str:
    return reverse("admin:returns_return_desk_order", args=[order.number])


def request_page(ret) -> str:
    return reverse("admin:returns_return_desk_request", args=[ret.number])


def receipt_page(ret) -> str:
    return reverse("admin:returns_return_receipt", args=[ret.number])


def member(role: str, *locations):
    """A member of staff in one of the ready-made roles, as the staff page makes them."""
    return staff_member_create(
        email=f"{role}@staff.example.com",
        password="Quiet-Harbour-4821",
        role=role,
        locations=locations,
    )


def form_data(order, picks, *, location, reason="changed_mind", **extra) -> dict:
    """The desk form: {variant: quantity or (quantity, condition)} of the order's lines."""
    data = {"reason": reason, "location": location.pk, "note": "", **extra}
    for line in order.lines.all():
        pick = picks.get(line.variant, 0)
        quantity, condition = pick if isinstance(pick, tuple) else (pick, "resaleable")
        data[f"qty_{line.pk}"] = quantity
        data[f"cond_{line.pk}"] = condition
    return data


def preview_then_confirm(client, url, data, *, confirm="confirm"):
    """Preview, then confirm what the preview showed: (preview page, confirm response)."""
    preview = client.post(url, {**data, "action": "preview"})
    confirmed = client.post(
        url, {**data, "action": confirm, "previewed": preview.context["fingerprint"]}
    )
    return preview, confirmed


def form_error_codes(response) -> list[str]:
    return [error.code for error in response.context["form"].non_field_errors().as_data()]


def on_hand(variant, location) -> int:
    level = StockLevel.objects.filter(variant=variant, location=location).first()
    return level.on_hand if level else 0


def writes(queries) -> list[str]:
    return [
        q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))
    ] + [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("DELETE")]


@pytest.fixture
def sale(shop, rules, customer):
    """A collected pickup at the shop's store: a 100.00 coat and three 5.00 socks, by card
    (earning 115 points)."""
    coat = shop.sku(price="100.00", store=5)
    socks = shop.sku(price="5.00", store=5)
    order = collected_order(shop, customer, [(coat, 1), (socks, 3)])
    return order, coat, socks


# --- finding the order ---------------------------------------------------------------------


def test_the_desk_finds_an_order_by_its_number_and_by_a_scanned_receipt(shop, sale):
    order, _coat, _socks = sale
    desk = browser(returns_staff(shop.store))
    for typed in (order.number, f"  {order.number.lower()}\r\n"):
        found = desk.get(DESK, {"q": typed})
        assert found.status_code == 302, typed
        assert found.url == order_page(order)
    page = desk.get(found.url)
    assert page.status_code == 200
    assert [row.left for row in page.context["rows"]] == [1, 3]


def test_the_desk_finds_a_till_sale_by_the_uuid_printed_on_its_receipt(shop, rules):
    socks = shop.sku(price="5.00", store=5)
    terminal, _token = pos_services.terminal_register(code="T-1", location=shop.store)
    sale_id = uuid.uuid4()
    pos_services.sales_sync(
        terminal=terminal,
        sales=[
            {
                "id": str(sale_id),
                "occurred_at": timezone.now().isoformat(),
                "lines": [{"sku": socks.sku, "quantity": 2, "unit_price": "5.00"}],
                "tenders": [{"kind": "cash", "amount": "10.00"}],
            }
        ],
    )
    till_order = Order.objects.get(till_sale=sale_id)
    desk = browser(returns_staff(shop.store))
    for printed in (str(sale_id), sale_id.hex.upper()):
        found = desk.get(DESK, {"q": printed})
        assert found.status_code == 302 and found.url == order_page(till_order), printed


def test_the_desk_finds_the_customers_returnable_orders_by_phone_card_and_email(shop, rules):
    customer = CustomerWithLoginFactory(phone="+4915123456789", card_number="OC12345678")
    socks = shop.sku(price="5.00", store=9)
    collected = collected_order(shop, customer, [(socks, 1)])
    cart = CartFactory(customer=customer, channel="web")
    order_services.cart_line_add(cart=cart, sku=socks.sku, quantity=1)
    still_placed = order_services.checkout_place(
        cart=cart,
        fulfilment={"type": "pickup", "location": shop.store.code},
        payment=CARD,
        customer=customer,
        user=customer.user,
    )
    desk = browser(returns_staff(shop.other_store))  # returns anywhere: another store

    for typed in ("0151 2345 6789", "+49 151 23456789", "oc 1234 5678", customer.email.upper()):
        page = desk.get(DESK, {"q": typed})
        assert page.status_code == 200, typed
        assert page.context["customer"].pk == customer.pk, typed
        assert [o.number for o in page.context["orders"]] == [collected.number], typed
        assert still_placed.number not in page.content.decode()

    nobody = desk.get(DESK, {"q": "0151 0000 0000"})
    assert nobody.status_code == 200 and nobody.context["not_found"] is True


# --- preview and confirm -------------------------------------------------------------------


def test_the_preview_shows_the_refund_figures_and_records_nothing(shop, sale, customer):
    order, coat, socks = sale
    desk = browser(returns_staff(shop.store))
    page = desk.post(
        order_page(order),
        {**form_data(order, {socks: 2, coat: 1}, location=shop.store), "action": "preview"},
    )
    assert page.status_code == 200
    preview = page.context["preview"]
    assert preview.plan.value == Decimal("110.00")
    assert preview.plan.points_reversed == 110
    assert preview.balance == 115 and preview.shortfall == 0
    assert preview.money_back == Decimal("110.00")
    assert [(p.label, p.amount) for p in preview.parts] == [("card (test)", Decimal("110.00"))]
    assert "110.00" in page.content.decode()
    assert not Return.objects.exists()
    assert loyalty_selectors.balance_get(customer=customer) == 115


def test_confirming_records_the_return_with_stock_back_at_the_receiving_store_and_a_card_refund(
    shop, sale, customer, django_capture_on_commit_callbacks
):
    order, coat, socks = sale
    staff = returns_staff(shop.other_store)  # bought in Berlin, brought back in Hamburg
    desk = browser(staff)
    data = form_data(
        order, {socks: (2, "resaleable"), coat: (1, "damaged")}, location=shop.other_store
    )
    with django_capture_on_commit_callbacks(execute=True):
        _preview, confirmed = preview_then_confirm(desk, order_page(order), data)

    ret = Return.objects.get()
    assert confirmed.status_code == 302 and confirmed.url == receipt_page(ret)
    assert (ret.source, ret.location, ret.processed_by) == ("desk", shop.other_store, staff)
    assert (ret.value, ret.refund_amount, ret.points_reversed) == (
        Decimal("110.00"),
        Decimal("110.00"),
        110,
    )
    assert on_hand(socks, shop.other_store) == 2
    assert on_hand(coat, shop.other_store) == 0  # damaged: returned and written off
    assert on_hand(socks, shop.store) == 2  # the selling store keeps what it had
    assert list(ret.refunds.values_list("kind", "amount", "status")) == [
        ("card", Decimal("110.00"), RefundTender.State.REFUNDED)
    ]
    assert loyalty_selectors.balance_get(customer=customer) == 5
    assert Order.objects.get(pk=order.pk).status == "partially_returned"

    receipt = desk.get(confirmed.url)
    assert receipt.status_code == 200
    text = receipt.content.decode()
    assert ret.number in text and "110.00" in text and "refunded" in text


def test_a_confirm_that_differs_from_its_preview_records_nothing_and_shows_the_new_preview(
    shop, sale
):
    order, _coat, socks = sale
    desk = browser(returns_staff(shop.store))
    preview = desk.post(
        order_page(order),
        {**form_data(order, {socks: 1}, location=shop.store), "action": "preview"},
    )
    changed = desk.post(
        order_page(order),
        {
            **form_data(order, {socks: 3}, location=shop.store),
            "action": "confirm",
            "previewed": preview.context["fingerprint"],
        },
    )
    assert changed.status_code == 200
    assert form_error_codes(changed) == ["preview_required"]
    assert changed.context["preview"].plan.value == Decimal("15.00")
    assert not Return.objects.exists()


def test_more_units_than_are_left_is_a_form_error_and_records_nothing(shop, sale):
    order, _coat, socks = sale
    services.return_create(
        order=order,
        location=shop.store,
        reason="changed_mind",
        lines=[{"sku": socks.sku, "quantity": 2}],
    )
    desk = browser(returns_staff(shop.store))
    data = form_data(order, {socks: 2}, location=shop.store)
    preview, confirmed = preview_then_confirm(desk, order_page(order), data)
    line = order.lines.get(variant=socks)
    for response in (preview, confirmed):
        assert response.status_code == 200
        errors = response.context["form"].errors.as_data()
        assert [e.code for e in errors[f"qty_{line.pk}"]] == ["max_value"]
        assert "__all__" not in errors
    assert Return.objects.count() == 1


def test_the_preview_estimates_the_points_shortfall_the_return_then_keeps_back(
    shop, sale, customer
):
    order, coat, _socks = sale
    points_adjust(customer=customer, points=-105, reason="spent at a partner", actor=None)
    desk = browser(returns_staff(shop.store))
    data = form_data(order, {coat: 1}, location=shop.store)
    preview, confirmed = preview_then_confirm(desk, order_page(order), data)

    estimate = preview.context["preview"]
    assert (estimate.balance, estimate.shortfall) == (10, 90)
    assert estimate.deduction == Decimal("9.00")  # 90 points at 0.10
    assert estimate.money_back == Decimal("91.00")
    assert [(p.label, p.amount) for p in estimate.parts] == [("card (test)", Decimal("91.00"))]
    assert confirmed.status_code == 302
    ret = Return.objects.get()
    assert (ret.points_shortfall, ret.shortfall_deduction, ret.refund_amount) == (
        90,
        Decimal("9.00"),
        Decimal("91.00"),
    )
    receipt = desk.get(receipt_page(ret)).content.decode()
    assert "90 earned points were already spent" in receipt and "9.00" in receipt


# --- permissions and stores ----------------------------------------------------------------


def test_a_store_a_user_cannot_receive_a_return_at_store_b(shop, sale):
    order, _coat, socks = sale
    desk = browser(returns_staff(shop.store))
    data = form_data(order, {socks: 1}, location=shop.other_store)
    preview, confirmed = preview_then_confirm(desk, order_page(order), data)
    for response in (preview, confirmed):
        assert response.status_code == 200
        assert [e.code for e in response.context["form"].errors.as_data()["location"]] == [
            "invalid_choice"
        ]
    assert not Return.objects.exists()
    assert on_hand(socks, shop.other_store) == 0


def test_staff_without_the_add_permission_are_refused_every_desk_page(shop, sale, customer):
    order, _coat, socks = sale
    request = services.return_request(
        order=order,
        customer=customer,
        location=shop.store,
        reason="wrong_size",
        lines=[{"sku": socks.sku, "quantity": 1}],
    )
    viewer = browser(view_only_user(shop.store))  # every view permission, no add_return
    data = {**form_data(order, {socks: 1}, location=shop.store), "action": "confirm"}
    assert viewer.get(DESK).status_code == 403
    assert viewer.get(DESK, {"q": order.number}).status_code == 403
    assert viewer.get(order_page(order)).status_code == 403
    assert viewer.post(order_page(order), data).status_code == 403
    assert viewer.post(request_page(request), {"action": "cancel"}).status_code == 403
    assert Return.objects.get().status == "requested"
    assert Return.objects.count() == 1


def test_store_staff_see_only_their_stores_returns_requests_and_receipts(shop, sale, customer):
    order, coat, socks = sale
    at_hamburg = services.return_create(
        order=order,
        location=shop.other_store,
        reason="changed_mind",
        lines=[{"sku": coat.sku, "quantity": 1}],
    )
    request = services.return_request(
        order=order,
        customer=customer,
        location=shop.other_store,
        reason="wrong_size",
        lines=[{"sku": socks.sku, "quantity": 1}],
    )
    berlin = browser(returns_staff(shop.store))
    hamburg = browser(returns_staff(shop.other_store))

    assert list(berlin.get(RETURNS).context["cl"].result_list) == []
    assert berlin.get(receipt_page(at_hamburg)).status_code == 404
    assert berlin.get(request_page(request)).status_code == 404
    assert berlin.post(request_page(request), {"action": "cancel"}).status_code == 404
    assert list(berlin.get(DESK).context["requests"]) == []
    assert Return.objects.get(pk=request.pk).status == "requested"

    listed = hamburg.get(RETURNS, {"q": order.number}).context["cl"].result_list
    assert {r.number for r in listed} == {at_hamburg.number, request.number}
    assert [r.number for r in hamburg.get(DESK).context["requests"]] == [request.number]
    assert hamburg.get(receipt_page(at_hamburg)).status_code == 200
    detail = hamburg.get(f"{RETURNS}{at_hamburg.pk}/change/")
    assert detail.status_code == 200 and "100.00" in detail.content.decode()


# --- the return window ---------------------------------------------------------------------


def test_a_closed_window_is_a_form_error_and_a_manager_accepts_it_with_a_reason(shop, sale):
    order, _coat, socks = sale
    ReturnWindow.objects.create(category=socks.product.category, days=0)
    associate = browser(returns_staff(shop.store))
    data = form_data(order, {socks: 1}, location=shop.store, override_reason="a regular")

    preview, refused = preview_then_confirm(associate, order_page(order), data)
    assert [line["sku"] for line in preview.context["preview"].plan.window_closed] == [socks.sku]
    assert "override_reason" not in refused.context["form"].fields
    assert form_error_codes(refused) == ["return_window_closed"]
    assert not Return.objects.exists()

    manager = browser(returns_staff(shop.store, manager=True))
    _preview, accepted = preview_then_confirm(manager, order_page(order), data)
    assert accepted.status_code == 302
    assert Return.objects.get().window_override_reason == "a regular"


def test_a_manager_refunds_to_another_tender_with_a_reason_and_an_associate_cannot(shop, sale):
    order, _coat, socks = sale
    data = form_data(
        order, {socks: 1}, location=shop.store, refund_to="cash", refund_to_reason="card expired"
    )
    associate = browser(returns_staff(shop.store))
    preview, confirmed = preview_then_confirm(associate, order_page(order), data)
    assert "refund_to" not in preview.context["form"].fields  # ignored, not trusted
    assert confirmed.status_code == 302
    assert list(RefundTender.objects.values_list("kind", flat=True)) == ["card"]

    manager_user = returns_staff(shop.store, manager=True)
    manager = browser(manager_user)
    no_reason = manager.post(
        order_page(order), {**data, "refund_to_reason": "", "action": "preview"}
    )
    assert no_reason.context["form"].errors["refund_to_reason"]
    preview, confirmed = preview_then_confirm(manager, order_page(order), data)
    assert [(p.label, p.amount) for p in preview.context["preview"].parts] == [
        ("cash", Decimal("5.00"))
    ]
    assert confirmed.status_code == 302
    refund = RefundTender.objects.get(ret__processed_by=manager_user)
    assert (refund.kind, refund.amount, refund.reason) == ("cash", Decimal("5.00"), "card expired")


def test_head_office_sets_a_return_window_and_store_staff_cannot(shop):
    clothing = CategoryFactory(name="Clothing")
    CategoryFactory(name="Shoes", parent=clothing)  # no window of its own: takes Clothing's
    associate = browser(member("store_associate", shop.store))
    assert associate.get(WINDOWS).status_code == 403
    assert (
        associate.post(f"{WINDOWS}add/", {"category": clothing.pk, "days": 14}).status_code == 403
    )

    head_office = browser(member("head_office"))
    added = head_office.post(f"{WINDOWS}add/", {"category": clothing.pk, "days": 14, "note": ""})
    assert added.status_code == 302
    window = ReturnWindow.objects.get()
    assert (window.category, window.days) == (clothing, 14)
    page = head_office.get(f"{WINDOWS}{window.pk}/change/")
    assert page.status_code == 200 and "Shoes" in page.content.decode()
    too_long = head_office.post(
        f"{WINDOWS}{window.pk}/change/", {"category": clothing.pk, "days": 4000}
    )
    assert too_long.status_code == 200 and ReturnWindow.objects.get().days == 14


# --- customers' requests -------------------------------------------------------------------


def test_staff_complete_a_request_with_the_units_and_condition_they_find(shop, sale, customer):
    order, _coat, socks = sale
    request = services.return_request(
        order=order,
        customer=customer,
        location=shop.store,
        reason="wrong_size",
        lines=[{"sku": socks.sku, "quantity": 3}],
    )
    desk = browser(returns_staff(shop.store))
    assert [r.number for r in desk.get(DESK).context["requests"]] == [request.number]
    line = request.lines.get()
    data = {"location": shop.store.pk, f"qty_{line.pk}": 2, f"cond_{line.pk}": "damaged"}
    preview, completed = preview_then_confirm(desk, request_page(request), data, confirm="complete")
    assert preview.context["preview"].plan.value == Decimal("10.00")
    assert completed.status_code == 302 and completed.url == receipt_page(request)
    done = Return.objects.get(pk=request.pk)
    assert done.status == "completed" and done.refund_amount == Decimal("10.00")
    assert list(done.lines.values_list("quantity", "condition")) == [(2, "damaged")]
    assert on_hand(socks, shop.store) == 2  # damaged units are written off again


def test_staff_cancel_a_request_and_its_units_are_free_again(shop, sale, customer):
    order, _coat, socks = sale
    request = services.return_request(
        order=order,
        customer=customer,
        location=shop.store,
        reason="wrong_size",
        lines=[{"sku": socks.sku, "quantity": 3}],
    )
    desk = browser(returns_staff(shop.store))
    assert [row.left for row in desk.get(order_page(order)).context["rows"]] == [1, 0]
    cancelled = desk.post(request_page(request), {"action": "cancel"})
    assert cancelled.status_code == 302
    assert Return.objects.get(pk=request.pk).status == "cancelled"
    assert [row.left for row in desk.get(order_page(order)).context["rows"]] == [1, 3]


# --- GET never writes ----------------------------------------------------------------------


def test_no_get_of_a_desk_page_writes_anything(shop, sale, customer):
    order, coat, socks = sale
    Customer.objects.filter(pk=customer.pk).update(card_number="OC99887766")
    done = services.return_create(
        order=order,
        location=shop.store,
        reason="changed_mind",
        lines=[{"sku": coat.sku, "quantity": 1}],
    )
    request = services.return_request(
        order=order,
        customer=customer,
        location=shop.store,
        reason="wrong_size",
        lines=[{"sku": socks.sku, "quantity": 1}],
    )
    desk = browser(returns_staff(shop.store, manager=True))
    desk.get(DESK)  # the session is written once, at login
    with CaptureQueriesContext(connection) as queries:
        for url, params in (
            (DESK, {}),
            (DESK, {"q": order.number}),
            (DESK, {"q": customer.phone}),
            (DESK, {"q": "OC99887766"}),
            (DESK, {"q": customer.email}),
            (DESK, {"q": "nobody@example.com"}),
            (order_page(order), {}),
            (request_page(request), {}),
            (receipt_page(done), {}),
            (RETURNS, {}),
            (f"{RETURNS}{done.pk}/change/", {}),
        ):
            assert desk.get(url, params).status_code in (200, 302), url
    assert writes(queries.captured_queries) == []


# --- exchanges -----------------------------------------------------------------------------


def exchange_data(*items, payment="") -> dict:
    """The "exchange for" rows as a browser sends them: every row, blank ones with their
    default quantity of 1; `items` are (code, quantity)."""
    data = {"exchange_payment": payment}
    for index in range(4):
        code, quantity = items[index] if index < len(items) else ("", 1)
        data[f"new_item_{index}"] = code
        data[f"new_qty_{index}"] = quantity
    return data


def snapshot(order) -> tuple:
    """Everything a refused or previewed exchange must leave as it was."""
    order.refresh_from_db()
    return (
        order.status,
        Order.objects.count(),
        sorted(StockLevel.objects.values_list("pk", "on_hand", "reserved")),
        Return.objects.count(),
        RefundTender.objects.count(),
        loyalty_selectors.balance_get(customer=order.customer),
    )


@pytest.fixture
def coat_order(shop, rules, customer):
    """A collected 100.00 coat, paid by card at the shop's store (earning 100 points)."""
    coat = shop.sku(price="100.00", store=5)
    return collected_order(shop, customer, [(coat, 1)]), coat


def test_an_exchange_for_a_cheaper_scanned_item_sells_it_where_received_and_refunds_the_rest(
    shop, coat_order, customer, django_capture_on_commit_callbacks
):
    order, coat = coat_order
    jacket = shop.sku(price="70.00", store=0, other=3)
    barcode = BarcodeFactory(variant=jacket)
    desk = browser(returns_staff(shop.other_store))  # bought in Berlin, exchanged in Hamburg
    data = {
        **form_data(order, {coat: 1}, location=shop.other_store, reason="exchange"),
        **exchange_data((f" {barcode.code} ", 1)),  # a scanner's code, blank rows ignored
    }
    with django_capture_on_commit_callbacks(execute=True):
        preview, confirmed = preview_then_confirm(desk, order_page(order), data)

    shown = preview.context["preview"]
    assert [(ln.sku, ln.quantity, ln.line_total) for ln in shown.exchange.lines] == [
        (jacket.sku, 1, Decimal("70.00"))
    ]
    assert (shown.exchange.total, shown.exchange.pays, shown.exchange.gets_back) == (
        Decimal("70.00"),
        Decimal("0.00"),
        Decimal("30.00"),
    )
    assert [(p.label, p.amount) for p in shown.parts] == [
        ("the new items (exchange)", Decimal("70.00")),
        ("card (test)", Decimal("30.00")),
    ]
    assert "Customer gets back 30.00 EUR" in preview.content.decode()

    ret = Return.objects.get()
    assert confirmed.status_code == 302 and confirmed.url == receipt_page(ret)
    assert list(ret.refunds.order_by("id").values_list("kind", "amount", "status")) == [
        ("exchange", Decimal("70.00"), RefundTender.State.REFUNDED),
        ("card", Decimal("30.00"), RefundTender.State.REFUNDED),
    ]
    assert ret.refund_amount == Decimal("30.00")
    sale = ret.exchange_order
    assert (sale.location_id, sale.total, sale.customer_id) == (
        shop.other_store.pk,
        Decimal("70.00"),
        customer.pk,
    )
    assert list(sale.lines.values_list("sku", "quantity", "line_total")) == [
        (jacket.sku, 1, Decimal("70.00"))
    ]
    assert (on_hand(coat, shop.other_store), on_hand(jacket, shop.other_store)) == (1, 2)
    assert (on_hand(coat, shop.store), on_hand(jacket, shop.store)) == (4, 0)
    assert loyalty_selectors.balance_get(customer=customer) == 70  # 100 back, 70 earned

    receipt = desk.get(confirmed.url)
    text = receipt.content.decode()
    assert f"Exchanged for order {sale.number}" in text
    assert [(ln.sku, ln.line_total) for ln in receipt.context["exchange_lines"]] == [
        (jacket.sku, Decimal("70.00"))
    ]
    assert "Total of the new items" in text and "70.00" in text


def test_an_exchange_for_a_dearer_item_paid_in_cash_takes_the_difference_at_the_desk(
    shop, coat_order
):
    order, coat = coat_order
    parka = shop.sku(price="130.00", store=2)
    desk = browser(returns_staff(shop.store))
    data = {
        **form_data(order, {coat: 1}, location=shop.store, reason="wrong_size"),
        **exchange_data(("", 1), (parka.sku, 1), payment="cash"),
    }
    preview, confirmed = preview_then_confirm(desk, order_page(order), data)

    shown = preview.context["preview"].exchange
    assert (shown.total, shown.credit, shown.pays, shown.gets_back) == (
        Decimal("130.00"),
        Decimal("100.00"),
        Decimal("30.00"),
        Decimal("0.00"),
    )
    assert form_error_codes(preview) == []
    assert "Customer pays 30.00 EUR" in preview.content.decode()
    ret = Return.objects.get()
    assert confirmed.status_code == 302
    assert (ret.value, ret.refund_amount) == (Decimal("100.00"), Decimal("0.00"))
    assert list(ret.refunds.values_list("kind", "amount")) == [("exchange", Decimal("100.00"))]
    assert sorted(ret.exchange_order.tenders.values_list("kind", "amount")) == [
        ("cash", Decimal("30.00")),
        ("exchange", Decimal("100.00")),
    ]
    assert (on_hand(coat, shop.store), on_hand(parka, shop.store)) == (5, 1)
    receipt = desk.get(confirmed.url).content.decode()
    assert ret.exchange_order.number in receipt and "Paid by cash" in receipt


def test_a_dearer_exchange_without_a_payment_kind_is_refused_by_the_service_and_writes_nothing(
    shop, coat_order
):
    order, coat = coat_order
    parka = shop.sku(price="130.00", store=2)
    desk = browser(returns_staff(shop.store))
    data = {
        **form_data(order, {coat: 1}, location=shop.store),
        **exchange_data((parka.sku, 1)),
    }
    before = snapshot(order)

    preview, refused = preview_then_confirm(desk, order_page(order), data)

    assert form_error_codes(preview) == ["exchange_payment_required"]  # said at the preview
    assert preview.context["preview"].exchange.pays == Decimal("30.00")
    assert refused.status_code == 200
    assert form_error_codes(refused) == ["exchange_payment_required"]  # the service's refusal
    assert "record how the difference is paid" in str(refused.context["form"].non_field_errors())
    assert snapshot(order) == before


def test_an_unknown_sku_in_the_exchange_is_an_error_on_its_row_and_writes_nothing(shop, coat_order):
    order, coat = coat_order
    desk = browser(returns_staff(shop.store))
    data = {
        **form_data(order, {coat: 1}, location=shop.store),
        **exchange_data(("NO-SUCH-SKU", 1)),
    }
    before = snapshot(order)
    for action in ("preview", "confirm"):
        page = desk.post(order_page(order), {**data, "action": action, "previewed": "x"})
        assert page.status_code == 200
        errors = page.context["form"].errors.as_data()
        assert [e.code for e in errors["new_item_0"]] == ["unknown_sku"]
        assert page.context["preview"] is None
    assert snapshot(order) == before


def test_an_item_without_a_price_in_the_exchange_is_a_form_error_with_the_engines_code(
    shop, coat_order
):
    order, coat = coat_order
    unpriced = VariantFactory()
    desk = browser(returns_staff(shop.store))
    data = {
        **form_data(order, {coat: 1}, location=shop.store),
        **exchange_data((unpriced.sku, 2)),
    }
    before = snapshot(order)
    page = desk.post(order_page(order), {**data, "action": "preview"})
    assert page.status_code == 200
    assert form_error_codes(page) == ["no_price"]
    assert unpriced.sku in str(page.context["form"].non_field_errors())
    assert page.context["preview"] is None
    assert snapshot(order) == before


def test_previewing_an_exchange_writes_nothing(shop, coat_order):
    order, coat = coat_order
    jacket = shop.sku(price="70.00", store=3)
    desk = browser(returns_staff(shop.store))
    data = {
        **form_data(order, {coat: 1}, location=shop.store),
        **exchange_data((jacket.sku, 2), payment="card"),
    }
    desk.get(DESK)  # the session is written once, at login
    with CaptureQueriesContext(connection) as queries:
        page = desk.get(order_page(order))
        assert page.status_code == 200 and len(page.context["form"].exchange_rows) == 4
        preview = desk.post(order_page(order), {**data, "action": "preview"})
        assert preview.status_code == 200
        assert preview.context["preview"].exchange.pays == Decimal("40.00")
        assert preview.context["fingerprint"]
    assert writes(queries.captured_queries) == []
    assert not Return.objects.exists()


def test_a_price_change_between_preview_and_confirm_shows_the_new_prices_and_records_nothing(
    shop, coat_order
):
    order, coat = coat_order
    jacket = shop.sku(price="70.00", store=3)
    desk = browser(returns_staff(shop.store))
    data = {
        **form_data(order, {coat: 1}, location=shop.store),
        **exchange_data((jacket.sku, 1)),
    }
    preview = desk.post(order_page(order), {**data, "action": "preview"})
    assert preview.context["preview"].exchange.gets_back == Decimal("30.00")
    PromotionFactory(scope="variants", variants=[jacket], value=Decimal("10"))

    changed = desk.post(
        order_page(order),
        {**data, "action": "confirm", "previewed": preview.context["fingerprint"]},
    )
    assert changed.status_code == 200
    assert form_error_codes(changed) == ["preview_required"]
    again = changed.context["preview"].exchange
    assert (again.total, again.gets_back) == (Decimal("63.00"), Decimal("37.00"))
    assert not Return.objects.exists()
