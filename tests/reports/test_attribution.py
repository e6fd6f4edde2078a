"""The attribution report: carts created with known UTM values through the cart service,
checked out on known days, till sales without any, and every figure of the answer
checked for last and first touch, by source and by campaign, and for a store manager."""

import uuid
from contextlib import contextmanager
from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone

from orders import services as order_services
from orders.domain import Actor, Status
from reports import registry
from reports.registry import ReportParams
from tests.factories.customers import CustomerFactory, CustomerWithLoginFactory
from tests.factories.orders import CARD
from tests.factories.pos import make_terminal, terminal_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/attribution/"
APRIL = {"from": "2026-04-01", "to": "2026-04-30"}
GOOGLE = {"utm_source": "Google", "utm_medium": "cpc", "utm_campaign": "spring"}


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
        with clock(monkeypatch, at("2026-01-01")):
            self.skus = {
                price: shop.sku(price=f"{price}.00", store=20, warehouse=20, other=20).sku
                for price in (10, 20, 30, 50)
            }
            _terminal, self.till_token = make_terminal(shop.store)

    def online(self, customer, day, *, price=10, channel="web", store=None, utm=None, guest=""):
        """A pickup ordered at 10:00 UTC on `day` from a cart created with `utm`."""
        store = store or self.shop.store
        with clock(self.monkeypatch, at(day)):
            cart = order_services.cart_create(channel=channel, customer=customer, attribution=utm)
            order_services.cart_line_add(cart=cart, sku=self.skus[price], quantity=1)
            return order_services.checkout_place(
                cart=cart,
                customer=customer,
                contact={"email": guest, "name": "Guest"} if guest else None,
                fulfilment={"type": "pickup", "location": store.code},
                payment=CARD,
            )

    def till(self, customer, day, *, price):
        sale = {
            "id": str(uuid.uuid4()),
            "occurred_at": at(day).isoformat(),
            "lines": [{"sku": self.skus[price], "quantity": 1, "unit_price": f"{price}.00"}],
            "tenders": [{"kind": "cash", "amount": f"{price}.00"}],
        }
        if customer is not None:
            sale["customer"] = {"id": customer.pk}
        with clock(self.monkeypatch, at(day) + timedelta(minutes=5)):
            response = terminal_client(self.till_token).post(
                "/api/v1/pos/sync/sales/", {"sales": [sale]}, format="json"
            )
        assert response.json()["results"][0]["status"] == "created"

    def cancel(self, order, day):
        with clock(self.monkeypatch, at(day)):
            order_services.order_transition(order=order, target=Status.CANCELLED, actor=Actor.STAFF)


@pytest.fixture
def history(shop, monkeypatch):
    """Seven sales in April (10:00 UTC, Berlin stores), 140.00 in all:

    - Anna came first through Google's spring campaign (web, 10 March); in April she
      buys 20.00 on the web from the April newsletter and 30.00 at the till.
    - Ben's first order is an app pickup at Hamburg from Google's spring campaign on
      2 April (10.00); he buys again on the web without UTM (10.00); an order from the
      campaign he cancels does not count.
    - Cara's first order (20 March, from Instagram's launch campaign) was cancelled; she
      buys 10.00 in April without UTM.
    - A guest (linked to a new profile by email) buys 10.00 from Facebook, no campaign.
    - A till sale to nobody identified (50.00); a Google order in May, after the period.
    """
    h = History(shop, monkeypatch)
    anna, ben, cara = (CustomerWithLoginFactory() for _ in range(3))
    h.online(anna, "2026-03-10", utm=GOOGLE)
    h.online(
        anna,
        "2026-04-05",
        price=20,
        utm={"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "april"},
    )
    h.till(anna, "2026-04-06", price=30)
    h.online(ben, "2026-04-02", channel="app", store=shop.other_store, utm=GOOGLE)
    h.online(ben, "2026-04-10")
    h.cancel(h.online(ben, "2026-04-11", utm=GOOGLE), "2026-04-11")
    h.cancel(
        h.online(cara, "2026-03-20", utm={"utm_source": "instagram", "utm_campaign": "launch"}),
        "2026-03-21",
    )
    h.online(cara, "2026-04-07")
    h.online(
        None,
        "2026-04-04",
        utm={"utm_source": "facebook", "utm_medium": "social"},
        guest="g@example.com",
    )
    h.till(None, "2026-04-03", price=50)
    h.online(CustomerFactory(), "2026-05-02", utm=GOOGLE)


def credit(value, key, last, first):
    """A row: `last` and `first` are (orders, revenue)."""
    return {
        key: value,
        "last_touch_orders": last[0],
        "last_touch_revenue": last[1],
        "first_touch_orders": first[0],
        "first_touch_revenue": first[1],
    }


TOTALS = {
    "last_touch_orders": 7,
    "last_touch_revenue": "140.00",
    "first_touch_orders": 7,
    "first_touch_revenue": "140.00",
}


def test_orders_and_revenue_by_source_last_and_first_touch(member, history):
    data = member("head_office").get(URL, APRIL).json()
    assert data["group_by"] == "source"
    assert data["rows"] == [
        credit("(none)", "source", (4, "100.00"), (1, "50.00")),
        credit("facebook", "source", (1, "10.00"), (1, "10.00")),
        credit("google", "source", (1, "10.00"), (4, "70.00")),
        credit("instagram", "source", (0, "0.00"), (1, "10.00")),
        credit("newsletter", "source", (1, "20.00"), (0, "0.00")),
    ]
    assert data["totals"] == TOTALS


def test_orders_and_revenue_by_campaign_and_medium(member, history):
    head = member("head_office")
    by_campaign = head.get(URL, {**APRIL, "group_by": "campaign"}).json()
    assert by_campaign["rows"] == [
        credit("(none)", "campaign", (5, "110.00"), (2, "60.00")),
        credit("april", "campaign", (1, "20.00"), (0, "0.00")),
        credit("launch", "campaign", (0, "0.00"), (1, "10.00")),
        credit("spring", "campaign", (1, "10.00"), (4, "70.00")),
    ]
    assert by_campaign["totals"] == TOTALS
    by_medium = head.get(URL, {**APRIL, "group_by": "medium"}).json()
    assert by_medium["rows"] == [
        credit("(none)", "medium", (4, "100.00"), (2, "60.00")),
        credit("cpc", "medium", (1, "10.00"), (4, "70.00")),
        credit("email", "medium", (1, "20.00"), (0, "0.00")),
        credit("social", "medium", (1, "10.00"), (1, "10.00")),
    ]


def test_a_store_manager_sees_the_orders_of_their_store(member, shop, history):
    hamburg = member("store_manager", shop.other_store)
    data = hamburg.get(URL, APRIL).json()
    assert data["rows"] == [credit("google", "source", (1, "10.00"), (1, "10.00"))]
    assert data["totals"] == {
        "last_touch_orders": 1,
        "last_touch_revenue": "10.00",
        "first_touch_orders": 1,
        "first_touch_revenue": "10.00",
    }
    assert hamburg.get(URL, {**APRIL, "location": "BER-MITTE"}).status_code == 403


def test_the_report_runs_in_two_queries_whatever_the_number_of_orders(
    shop, monkeypatch, django_assert_max_num_queries
):
    h = History(shop, monkeypatch)
    for index in range(5):
        customer = CustomerWithLoginFactory()
        h.online(customer, f"2026-04-0{index + 1}", utm={"utm_source": f"s{index % 3}"})
        h.till(customer, f"2026-04-1{index}", price=10)
    params = ReportParams(date_from=date(2026, 4, 1), date_to=date(2026, 4, 30), group_by="source")
    with django_assert_max_num_queries(2):
        result = registry.report_get("attribution").run(params)
    assert result.totals["first_touch_orders"] == 10
    assert [row["first_touch_orders"] for row in result.rows] == [0, 4, 4, 2]
