"""The sales report on a small known history made by the services: a web pickup partly paid
with points and partly returned at another store, an app pickup placed just after local
midnight, a till sale with a discount, a cancelled order and an earlier sale outside the
period. Every figure of the answer is asserted."""

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders import services as order_services
from orders.domain import Actor, Status
from orders.models import Order
from reports import services as report_services
from reports.registry import ReportParams, report_get
from returns import services as return_services
from returns.models import Return
from tests.backoffice.conftest import place_pickup
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.pos import make_terminal, terminal_client
from tests.factories.returns import collected_order, returns_staff

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/sales/"
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


def _placed(order, at: datetime) -> None:
    Order.objects.filter(pk=order.pk).update(placed_at=at)


def till_sale_with_discount(store, variant, *, quantity: int, unit_price: str, discount: str):
    _terminal, token = make_terminal(store)
    paid = Decimal(unit_price) * quantity - Decimal(discount)
    sale = {
        "id": str(uuid.uuid4()),
        "occurred_at": (timezone.now() - timedelta(seconds=1)).isoformat(),
        "lines": [
            {
                "sku": variant.sku,
                "quantity": quantity,
                "unit_price": unit_price,
                "discount": discount,
            }
        ],
        "tenders": [{"kind": "cash", "amount": str(paid)}],
    }
    response = terminal_client(token).post(
        "/api/v1/pos/sync/sales/", {"sales": [sale]}, format="json"
    )
    result = response.json()["results"][0]
    assert result["status"] == "created", result
    return Order.objects.get(number=result["order"])


@pytest.fixture
def history(shop):
    """Berlin Mitte (Europe/Berlin, UTC+1 in early March) and Hamburg, here on Lisbon's
    time (UTC+0), so local days differ between the two stores."""
    berlin, hamburg = shop.store, shop.other_store
    type(hamburg).objects.filter(pk=hamburg.pk).update(time_zone="Europe/Lisbon")
    hamburg.refresh_from_db()
    LoyaltyRulesFactory()  # 1 point per euro, a point pays 0.10
    customer = CustomerWithLoginFactory()
    earlier = shop.sku(price="100.00")
    _placed(collected_order(shop, customer, [(earlier, 1)]), datetime(2026, 2, 15, 12, tzinfo=UTC))

    # 2 March, Berlin: two units at 10.00, 50 points (5.00) and 15.00 by card.
    shirt = shop.sku(price="10.00")
    web = collected_order(shop, customer, [(shirt, 2)], redeem_points=50)
    assert (web.total, web.points_value, web.amount_due) == (
        Decimal("20.00"),
        Decimal("5.00"),
        Decimal("15.00"),
    )
    _placed(web, datetime(2026, 3, 2, 10, tzinfo=UTC))
    # 22:30 UTC on 2 March is 23:30 in Berlin: still 2 March there …
    mug = shop.sku(price="25.00")
    app = place_pickup(mug, berlin, channel="app")
    _placed(app, datetime(2026, 3, 2, 23, 30, tzinfo=UTC))  # … but this is 3 March, 00:30
    # A till sale in Hamburg: 3 × 4.00 less 1.00, at 23:30 on 2 March local time.
    pens = shop.sku(price="4.00", other=10)
    till = till_sale_with_discount(hamburg, pens, quantity=3, unit_price="4.00", discount="1.00")
    _placed(till, datetime(2026, 3, 2, 23, 30, tzinfo=UTC))
    # Cancelled: never a sale.
    cancelled = place_pickup(shop.sku(price="99.00", other=5), hamburg)
    order_services.order_transition(order=cancelled, target=Status.CANCELLED, actor=Actor.STAFF)
    _placed(cancelled, datetime(2026, 3, 4, 12, tzinfo=UTC))

    # 9 March: one shirt of the web order comes back in Hamburg. It was worth 10.00; the
    # points go back first (5.00 as 50 points), so 5.00 goes back to the card.
    ret = return_services.return_create(
        order=web,
        location=hamburg,
        reason="wrong_size",
        lines=[{"sku": shirt.sku, "quantity": 1, "condition": "resaleable"}],
        user=returns_staff(hamburg),
    )
    assert (ret.value, ret.refund_amount, ret.points_returned) == (
        Decimal("10.00"),
        Decimal("5.00"),
        50,
    )
    Return.objects.filter(pk=ret.pk).update(completed_at=datetime(2026, 3, 9, 9, tzinfo=UTC))
    # The history was dated back behind the services' backs: the report rows are rebuilt
    # from it, as after a bulk load.
    report_services.facts_rebuild()
    return berlin, hamburg


ZERO = {
    "orders": 0,
    "units": 0,
    "revenue": "0.00",
    "returns": "0.00",
    "net_revenue": "0.00",
    "average_basket": None,
    "discounts": "0.00",
    "points_redeemed": 0,
    "points_cost": "0.00",
}
TOTALS = {
    "orders": 3,
    "units": 6,
    "revenue": "51.00",
    "returns": "5.00",
    "net_revenue": "46.00",
    "average_basket": "17.00",
    "discounts": "1.00",
    "points_redeemed": 50,
    "points_cost": "5.00",
}


def test_sales_per_local_day_count_each_order_on_its_stores_date_and_returns_on_theirs(
    member, history
):
    data = member("head_office").get(URL, MARCH).json()
    assert data["group_by"] == "day"
    assert data["rows"] == [
        {
            "day": "2026-03-02",
            "orders": 2,
            "units": 5,
            "revenue": "26.00",  # 15.00 paid by card for the shirts + 11.00 at the till
            "returns": "0.00",
            "net_revenue": "26.00",
            "average_basket": "13.00",
            "discounts": "1.00",
            "points_redeemed": 50,
            "points_cost": "5.00",
        },
        {
            "day": "2026-03-03",
            "orders": 1,
            "units": 1,
            "revenue": "25.00",
            "returns": "0.00",
            "net_revenue": "25.00",
            "average_basket": "25.00",
            "discounts": "0.00",
            "points_redeemed": 0,
            "points_cost": "0.00",
        },
        {**ZERO, "day": "2026-03-09", "returns": "5.00", "net_revenue": "-5.00"},
    ]
    assert data["totals"] == TOTALS


def test_sales_per_channel_and_per_week(member, history):
    head = member("head_office")
    by_channel = head.get(URL, {**MARCH, "group_by": "channel"}).json()
    assert by_channel["rows"] == [
        {
            **ZERO,
            "channel": "app",
            "orders": 1,
            "units": 1,
            "revenue": "25.00",
            "net_revenue": "25.00",
            "average_basket": "25.00",
        },
        {
            **ZERO,
            "channel": "pos",
            "orders": 1,
            "units": 3,
            "revenue": "11.00",
            "net_revenue": "11.00",
            "average_basket": "11.00",
            "discounts": "1.00",
        },
        {
            "channel": "web",
            "orders": 1,
            "units": 2,
            "revenue": "15.00",
            "returns": "5.00",
            "net_revenue": "10.00",
            "average_basket": "15.00",
            "discounts": "0.00",
            "points_redeemed": 50,
            "points_cost": "5.00",
        },
    ]
    assert by_channel["totals"] == TOTALS
    by_week = head.get(URL, {**MARCH, "group_by": "week"}).json()
    assert by_week["rows"] == [
        {
            "week": "2026-03-02",
            "orders": 3,
            "units": 6,
            "revenue": "51.00",
            "returns": "0.00",
            "net_revenue": "51.00",
            "average_basket": "17.00",
            "discounts": "1.00",
            "points_redeemed": 50,
            "points_cost": "5.00",
        },
        {**ZERO, "week": "2026-03-09", "returns": "5.00", "net_revenue": "-5.00"},
    ]
    by_month = head.get(URL, {**MARCH, "group_by": "month"}).json()
    assert by_month["rows"] == [{"month": "2026-03-01", **TOTALS}]


def test_sales_per_day_split_by_channel_give_a_row_per_day_and_channel(member, history):
    head = member("head_office")
    data = head.get(URL, {**MARCH, "group_by": "day", "split": "channel"}).json()
    assert data["split"] == "channel"
    assert data["rows"] == [
        {
            "day": "2026-03-02",
            "channel": "pos",
            **{
                **ZERO,
                "orders": 1,
                "units": 3,
                "revenue": "11.00",
                "net_revenue": "11.00",
                "average_basket": "11.00",
                "discounts": "1.00",
            },
        },
        {
            "day": "2026-03-02",
            "channel": "web",
            **{
                **ZERO,
                "orders": 1,
                "units": 2,
                "revenue": "15.00",
                "net_revenue": "15.00",
                "average_basket": "15.00",
                "points_redeemed": 50,
                "points_cost": "5.00",
            },
        },
        {
            "day": "2026-03-03",
            "channel": "app",
            **{
                **ZERO,
                "orders": 1,
                "units": 1,
                "revenue": "25.00",
                "net_revenue": "25.00",
                "average_basket": "25.00",
            },
        },
        {**ZERO, "day": "2026-03-09", "channel": "web", "returns": "5.00", "net_revenue": "-5.00"},
    ]
    assert data["totals"] == TOTALS
    # The same split by store; a split by the grouping itself or by anything else is refused.
    by_store = head.get(URL, {**MARCH, "group_by": "month", "split": "store"}).json()
    assert [(row["month"], row["store"], row["orders"]) for row in by_store["rows"]] == [
        ("2026-03-01", "BER-MITTE", 2),
        ("2026-03-01", "HAM-01", 1),
    ]
    for bad in ({"group_by": "channel", "split": "channel"}, {"split": "reason"}):
        refused = head.get(URL, {**MARCH, **bad})
        assert refused.status_code == 400
        assert "split" in refused.json()["error"]["details"]


BERLIN_ROW = {
    "store": "BER-MITTE",
    "orders": 2,
    "units": 3,
    "revenue": "40.00",
    # The shirt came back in Hamburg, but the sale was Berlin's: Berlin's return.
    "returns": "5.00",
    "net_revenue": "35.00",
    "average_basket": "20.00",
    "discounts": "0.00",
    "points_redeemed": 50,
    "points_cost": "5.00",
}
HAMBURG_ROW = {
    **ZERO,
    "store": "HAM-01",
    "orders": 1,
    "units": 3,
    "revenue": "11.00",
    "net_revenue": "11.00",
    "average_basket": "11.00",
    "discounts": "1.00",
}


def test_sales_per_store_and_a_store_manager_sees_their_store_only(member, history):
    berlin, hamburg = history
    by_store = member("head_office").get(URL, {**MARCH, "group_by": "store"}).json()
    assert by_store["rows"] == [BERLIN_ROW, HAMBURG_ROW]
    assert by_store["totals"] == TOTALS
    manager = member("store_manager", hamburg)
    own = manager.get(URL, {**MARCH, "group_by": "store"}).json()
    assert own["rows"] == [HAMBURG_ROW]
    assert own["totals"] == {key: value for key, value in HAMBURG_ROW.items() if key != "store"}
    assert manager.get(URL, {**MARCH, "location": "BER-MITTE"}).status_code == 403


def test_the_last_day_is_included_and_days_outside_are_not(member, history):
    data = member("head_office").get(URL, {"from": "2026-03-03", "to": "2026-03-03"}).json()
    assert [row["day"] for row in data["rows"]] == ["2026-03-03"]
    assert (data["totals"]["orders"], data["totals"]["revenue"]) == (1, "25.00")


def test_the_report_runs_two_queries_whatever_the_number_of_orders(shop, history):
    berlin, _hamburg = history
    run = report_get("sales").run
    for group_by in ("day", "channel", "store"):
        params = ReportParams(date(2026, 3, 1), date(2026, 3, 31), group_by)
        with CaptureQueriesContext(connection) as before:
            run(params)
        for _ in range(3):
            _placed(
                place_pickup(shop.sku(price="5.00"), berlin), datetime(2026, 3, 20, 9, tzinfo=UTC)
            )
        report_services.facts_rebuild()
        with CaptureQueriesContext(connection) as after:
            result = run(params)
        assert len(before) == len(after) == 2
        assert result.totals["orders"] > 3


def test_an_exchange_gives_back_its_credit_and_sells_the_new_goods_at_the_till(member, shop):
    # A 30.00 coat bought online in Berlin is exchanged in Hamburg for a 35.00 one: the
    # 30.00 is credited towards the new sale (no money leaves the till), 5.00 paid in cash.
    hamburg = shop.other_store
    coat, better = shop.sku(price="30.00"), shop.sku(price="35.00", other=1)
    bought = collected_order(shop, CustomerWithLoginFactory(), [(coat, 1)])
    _placed(bought, datetime(2026, 3, 2, 10, tzinfo=UTC))
    ret = return_services.return_create(
        order=bought,
        location=hamburg,
        reason="exchange",
        lines=[{"sku": coat.sku, "quantity": 1}],
        exchange=return_services.ExchangeInput(lines=((better.sku, 1),), payment_kind="cash"),
        user=returns_staff(hamburg),
    )
    assert ret.refund_amount == Decimal("0.00")
    assert list(ret.refunds.values_list("kind", "amount")) == [("exchange", Decimal("30.00"))]
    nine_march = datetime(2026, 3, 9, 9, tzinfo=UTC)
    Return.objects.filter(pk=ret.pk).update(completed_at=nine_march)
    _placed(ret.exchange_order, nine_march)
    report_services.facts_rebuild()
    data = member("head_office").get(URL, {**MARCH, "group_by": "channel"}).json()
    assert data["rows"] == [
        {
            **ZERO,
            "channel": "pos",
            "orders": 1,
            "units": 1,
            "revenue": "35.00",
            "net_revenue": "35.00",
            "average_basket": "35.00",
        },
        {
            **ZERO,
            "channel": "web",
            "orders": 1,
            "units": 1,
            "revenue": "30.00",
            "returns": "30.00",
            "net_revenue": "0.00",
            "average_basket": "30.00",
        },
    ]
    # What the customer paid in all: 30.00 for the first coat, 5.00 more for the second.
    assert data["totals"]["net_revenue"] == "35.00"
