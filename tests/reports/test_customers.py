"""The customers report: a known history of six customers (one of them merged from two
profiles) across web, app and the till, placed through the services on known dates, and
every figure of the answer checked for each grouping and for a store manager."""

import uuid
from contextlib import contextmanager
from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone

from customers import services as customer_services
from orders import services as order_services
from orders.domain import Actor, Status
from orders.models import Order
from reports import registry
from reports.registry import ReportParams
from returns import services as return_services
from tests.factories.customers import CustomerFactory, CustomerWithLoginFactory
from tests.factories.orders import CARD, order_staff
from tests.factories.pos import make_terminal, terminal_client
from tests.factories.returns import returns_staff

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/customers/"
PERIOD = {"from": "2026-01-01", "to": "2026-09-30"}


@pytest.fixture(autouse=True)
def retailer_in_berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"


@contextmanager
def clock(monkeypatch, at: datetime):
    """The services see `at` as now (timestamps they and the models write)."""
    with monkeypatch.context() as patched:
        patched.setattr(timezone, "now", lambda: at)
        yield


def at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T10:00:00+00:00")


class History:
    def __init__(self, shop, monkeypatch):
        self.shop, self.monkeypatch = shop, monkeypatch
        with clock(monkeypatch, at("2025-09-01")):
            self.skus = {
                price: shop.sku(price=f"{price}.00", store=20, warehouse=20, other=20).sku
                for price in (10, 20, 30, 40, 50)
            }
            _terminal, self.berlin_till = make_terminal(shop.store)
            _terminal, self.hamburg_till = make_terminal(shop.other_store)

    def online(self, customer, day: str, *, price=10, channel="web", store=None, collect=False):
        """A pickup placed by `customer` at 10:00 UTC on `day` (and collected that day)."""
        store = store or self.shop.store
        with clock(self.monkeypatch, at(day)):
            cart = order_services.cart_create(channel=channel, customer=customer)
            order_services.cart_line_add(cart=cart, sku=self.skus[price], quantity=1)
            order = order_services.checkout_place(
                cart=cart,
                customer=customer,
                fulfilment={"type": "pickup", "location": store.code},
                payment=CARD,
            )
            if collect:
                staff = order_staff(store)
                for target in (Status.READY_FOR_PICKUP, Status.COLLECTED):
                    order.refresh_from_db()
                    order_services.order_transition(
                        order=order,
                        target=target,
                        actor=Actor.STAFF,
                        user=staff,
                        pickup_code=order.pickup_code,
                    )
        return order

    def till(self, customer, day: str, *, price: int, hamburg=False):
        sale = {
            "id": str(uuid.uuid4()),
            "occurred_at": at(day).isoformat(),
            "lines": [{"sku": self.skus[price], "quantity": 1, "unit_price": f"{price}.00"}],
            "tenders": [{"kind": "cash", "amount": f"{price}.00"}],
        }
        if customer is not None:
            sale["customer"] = {"id": customer.pk}
        token = self.hamburg_till if hamburg else self.berlin_till
        with clock(self.monkeypatch, at(day) + timedelta(minutes=5)):
            response = terminal_client(token).post(
                "/api/v1/pos/sync/sales/", {"sales": [sale]}, format="json"
            )
        assert response.json()["results"][0]["status"] == "created"


@pytest.fixture
def history(shop, monkeypatch):
    """Period 2026-01-01 … 2026-09-30 (Berlin time), all orders at 10:00 UTC:

    - Anna: web 20.00 on 2025-11-10 (before), till 30.00 at Berlin on 2026-02-05, web
      10.00 on 2026-10-02 (after `to`): returning, web + POS.
    - Ben: web 10.00 on 2026-01-15, collected and returned (10.00) on 2026-01-20; app
      10.00 picked up at Hamburg on 2026-03-01: new in January, back within 90 days.
    - Cara: till 40.00 at Hamburg on 2026-02-10, nothing more.
    - Dan: web on 2026-04-20, cancelled; web 10.00 on 2026-05-01.
    - Eve: app 10.00 at Hamburg on 2026-05-10; her duplicate profile bought web 10.00 on
      2026-03-05 and is merged into her on 2026-06-01: one customer, new in March.
    - Gus: web 10.00 on 2026-07-10 and 2026-09-01 (too late for a 90-day look).
    - Fay: web on 2026-10-05 only; a guest at the Berlin till (50.00) on 2026-02-10.
    """
    h = History(shop, monkeypatch)
    anna, ben, dan, eve, eve_dup, gus, fay = (CustomerWithLoginFactory() for _ in range(7))
    cara = CustomerFactory()
    h.online(anna, "2025-11-10", price=20)
    h.till(anna, "2026-02-05", price=30)
    h.online(anna, "2026-10-02")
    bought = h.online(ben, "2026-01-15", collect=True)
    with clock(monkeypatch, at("2026-01-20")):
        return_services.return_create(
            order=bought,
            location=shop.store,
            reason="wrong_size",
            lines=[{"sku": bought.lines.get().sku, "quantity": 1}],
            user=returns_staff(shop.store),
        )
    h.online(ben, "2026-03-01", channel="app", store=shop.other_store)
    h.till(cara, "2026-02-10", price=40, hamburg=True)
    cancelled = h.online(dan, "2026-04-20")
    with clock(monkeypatch, at("2026-04-21")):
        order_services.order_transition(order=cancelled, target=Status.CANCELLED, actor=Actor.STAFF)
    h.online(dan, "2026-05-01")
    h.online(eve, "2026-05-10", channel="app", store=shop.other_store)
    h.online(eve_dup, "2026-03-05")
    with clock(monkeypatch, at("2026-06-01")):
        customer_services.customer_merge(survivor=eve, duplicate=eve_dup, merged_by=None)
    h.online(gus, "2026-07-10")
    h.online(gus, "2026-09-01")
    h.online(fay, "2026-10-05")
    h.till(None, "2026-02-10", price=50)


def figures(
    customers,
    new,
    repeat_90,
    repeat_180,
    channels,
    avg_spend,
    revenue,
    ltv,
):
    """repeat_N: (eligible, repeated, rate); channels: (multi, single, share);
    avg_spend: (multi, single)."""
    return {
        "customers": customers,
        "new_customers": new,
        "returning_customers": customers - new,
        "repeat_eligible_90": repeat_90[0],
        "repeat_90": repeat_90[1],
        "repeat_rate_90": repeat_90[2],
        "repeat_eligible_180": repeat_180[0],
        "repeat_180": repeat_180[1],
        "repeat_rate_180": repeat_180[2],
        "multi_channel_customers": channels[0],
        "single_channel_customers": channels[1],
        "multi_channel_share": channels[2],
        "multi_channel_avg_spend": avg_spend[0],
        "single_channel_avg_spend": avg_spend[1],
        "revenue": revenue,
        "ltv": ltv,
    }


NONE = (0, 0, None)
TOTALS = figures(
    6,
    5,
    (4, 3, "0.7500"),
    (3, 2, "0.6667"),
    (3, 3, "0.5000"),
    ("26.67", "23.33"),
    "150.00",
    "25.00",
)


def test_customers_by_first_channel(member, history):
    data = member("head_office").get(URL, {**PERIOD, "group_by": "first_channel"}).json()
    assert data["rows"] == [
        {
            "first_channel": "pos",
            **figures(
                1,
                1,
                (1, 0, "0.0000"),
                (1, 0, "0.0000"),
                (0, 1, "0.0000"),
                (None, "40.00"),
                "40.00",
                "40.00",
            ),
        },
        {
            "first_channel": "web",
            **figures(
                5,
                4,
                (3, 3, "1.0000"),
                (2, 2, "1.0000"),
                (3, 2, "0.6000"),
                ("26.67", "15.00"),
                "110.00",
                "22.00",
            ),
        },
    ]
    assert data["totals"] == TOTALS


def test_customers_by_monthly_cohort(member, history):
    data = member("head_office").get(URL, {**PERIOD, "group_by": "cohort"}).json()
    single = (0, 1, "0.0000")
    multi = (1, 0, "1.0000")
    assert data["rows"] == [
        {
            "cohort": "2025-11-01",
            **figures(1, 0, NONE, NONE, multi, ("50.00", None), "50.00", "50.00"),
        },
        {
            "cohort": "2026-01-01",
            **figures(
                1, 1, (1, 1, "1.0000"), (1, 1, "1.0000"), multi, ("10.00", None), "10.00", "10.00"
            ),
        },
        {
            "cohort": "2026-02-01",
            **figures(
                1, 1, (1, 0, "0.0000"), (1, 0, "0.0000"), single, (None, "40.00"), "40.00", "40.00"
            ),
        },
        {
            "cohort": "2026-03-01",
            **figures(
                1, 1, (1, 1, "1.0000"), (1, 1, "1.0000"), multi, ("20.00", None), "20.00", "20.00"
            ),
        },
        {
            "cohort": "2026-04-01",
            **figures(1, 1, (1, 1, "1.0000"), NONE, single, (None, "10.00"), "10.00", "10.00"),
        },
        {
            "cohort": "2026-07-01",
            **figures(1, 1, NONE, NONE, single, (None, "20.00"), "20.00", "20.00"),
        },
    ]
    assert data["totals"] == TOTALS


def test_customers_by_month_count_each_month_they_ordered_in(member, history):
    data = member("head_office").get(URL, {**PERIOD, "group_by": "month"}).json()
    single = (0, 1, "0.0000")
    half = (1, 1, "0.5000")
    assert data["rows"] == [
        {
            "month": "2026-01-01",
            **figures(
                1,
                1,
                (1, 1, "1.0000"),
                (1, 1, "1.0000"),
                (1, 0, "1.0000"),
                ("10.00", None),
                "10.00",
                "10.00",
            ),
        },
        {
            "month": "2026-02-01",
            **figures(
                2, 1, (1, 0, "0.0000"), (1, 0, "0.0000"), half, ("50.00", "40.00"), "90.00", "45.00"
            ),
        },
        {
            "month": "2026-03-01",
            **figures(
                2,
                1,
                (1, 1, "1.0000"),
                (1, 1, "1.0000"),
                (2, 0, "1.0000"),
                ("15.00", None),
                "30.00",
                "15.00",
            ),
        },
        {
            "month": "2026-04-01",
            **figures(1, 1, (1, 1, "1.0000"), NONE, single, (None, "10.00"), "10.00", "10.00"),
        },
        {
            "month": "2026-05-01",
            **figures(2, 0, NONE, NONE, half, ("20.00", "10.00"), "30.00", "15.00"),
        },
        {
            "month": "2026-07-01",
            **figures(1, 1, NONE, NONE, single, (None, "20.00"), "20.00", "20.00"),
        },
        {
            "month": "2026-09-01",
            **figures(1, 0, NONE, NONE, single, (None, "20.00"), "20.00", "20.00"),
        },
    ]
    assert data["totals"] == TOTALS


def test_a_store_manager_sees_the_customers_who_ordered_at_their_store(member, shop, history):
    hamburg = member("store_manager", shop.other_store)
    data = hamburg.get(URL, {**PERIOD, "group_by": "first_channel"}).json()
    # Ben, Cara and Eve ordered at Hamburg. Their first orders and repeat orders are their
    # own across the chain; their channels and spend count Hamburg's orders only.
    assert data["rows"] == [
        {
            "first_channel": "pos",
            **figures(
                1,
                1,
                (1, 0, "0.0000"),
                (1, 0, "0.0000"),
                (0, 1, "0.0000"),
                (None, "40.00"),
                "40.00",
                "40.00",
            ),
        },
        {
            "first_channel": "web",
            **figures(
                2,
                2,
                (2, 2, "1.0000"),
                (2, 2, "1.0000"),
                (0, 2, "0.0000"),
                (None, "10.00"),
                "20.00",
                "10.00",
            ),
        },
    ]
    assert data["totals"] == figures(
        3,
        3,
        (3, 2, "0.6667"),
        (3, 2, "0.6667"),
        (0, 3, "0.0000"),
        (None, "20.00"),
        "60.00",
        "20.00",
    )
    refused = hamburg.get(URL, {**PERIOD, "location": "BER-MITTE"})
    assert refused.status_code == 403


def test_a_short_period_has_no_repeat_figures_yet(member, history):
    # February alone: Cara's first order is not 90 days before the end of February.
    data = member("head_office").get(URL, {"from": "2026-02-01", "to": "2026-02-28"}).json()
    assert data["totals"] == figures(
        2, 1, NONE, NONE, (1, 1, "0.5000"), ("50.00", "40.00"), "90.00", "45.00"
    )


def test_the_report_runs_in_two_queries_whatever_the_number_of_customers(
    shop, monkeypatch, django_assert_max_num_queries
):
    h = History(shop, monkeypatch)
    for index in range(6):
        customer = CustomerFactory()
        h.till(customer, f"2026-0{1 + index % 3}-1{index}", price=10)
        if index % 2:
            h.online(customer, "2026-04-01")
    report = registry.report_get("customers")
    for group_by in report.group_by:
        params = ReportParams(
            date_from=date(2026, 1, 1), date_to=date(2026, 6, 30), group_by=group_by
        )
        with django_assert_max_num_queries(2):
            result = report.run(params)
        assert result.totals["customers"] == 6


def test_a_period_that_cuts_its_months_counts_only_their_days_in_it(member, history):
    # 16 January to 3 March: Ben's first order (15 January) is before it, his app order
    # (1 March) in it; Eve's merged web order (5 March) and Dan's are after it.
    cut = {"from": "2026-01-16", "to": "2026-03-03", "group_by": "month"}
    data = member("head_office").get(URL, cut).json()
    assert data["rows"] == [
        {
            "month": "2026-02-01",
            **figures(2, 1, NONE, NONE, (1, 1, "0.5000"), ("50.00", "40.00"), "90.00", "45.00"),
        },
        {
            "month": "2026-03-01",
            **figures(1, 0, NONE, NONE, (1, 0, "1.0000"), ("10.00", None), "10.00", "10.00"),
        },
    ]
    assert data["totals"] == figures(
        3, 1, NONE, NONE, (2, 1, "0.6667"), ("30.00", "40.00"), "100.00", "33.33"
    )


def test_a_past_period_keeps_its_figures_when_later_orders_and_refunds_come(
    member, shop, history, monkeypatch
):
    head_office = member("head_office")
    before = {
        group_by: head_office.get(URL, {**PERIOD, "group_by": group_by}).json()
        for group_by in ("month", "first_channel", "cohort")
    }
    h = History(shop, monkeypatch)
    anna = Order.objects.filter(channel="pos", customer__isnull=False).earliest("placed_at")
    customer = anna.customer
    h.online(customer, "2026-10-20", channel="app", price=20)  # a new channel, later
    later = h.online(customer, "2026-10-21", price=30, collect=True)
    with clock(monkeypatch, at("2026-10-25")):
        return_services.return_create(
            order=later,
            location=shop.store,
            reason="wrong_size",
            lines=[{"sku": later.lines.get().sku, "quantity": 1}],
            user=returns_staff(shop.store),
        )
    for group_by, answer in before.items():
        assert head_office.get(URL, {**PERIOD, "group_by": group_by}).json() == answer
