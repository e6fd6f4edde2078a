"""The funnel report: carts made through the cart services on known days, some taken to a
pickup store, some checked out, one merged away, and every figure of the answer checked."""

from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from django.utils import timezone

from orders import services as order_services
from reports import registry
from reports.registry import ReportParams
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.orders import CARD

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/funnel/"
PRICED = datetime(2026, 1, 1, tzinfo=UTC)  # prices in effect from then on
PERIOD = {"from": "2026-04-01", "to": "2026-04-30"}


@pytest.fixture(autouse=True)
def retailer_in_berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"


@contextmanager
def clock(monkeypatch, at: datetime):
    """The services see `at` as now (timestamps they and the models write)."""
    with monkeypatch.context() as patched:
        patched.setattr(timezone, "now", lambda: at)
        yield


def _cart(channel, sku, *, customer=None):
    cart = order_services.cart_create(channel=channel, customer=customer)
    order_services.cart_line_add(cart=cart, sku=sku, quantity=1)
    return cart


def _pickup_chosen(cart, store):
    return order_services.cart_update(cart=cart, pickup_location=store.code)


def _checkout(cart, fulfilment):
    return order_services.checkout_place(
        cart=cart,
        fulfilment=fulfilment,
        payment=CARD,
        contact={"email": f"guest{cart.pk}@example.com", "name": "Guest"},
    )


@pytest.fixture
def history(shop, monkeypatch):
    """In Berlin time (UTC+2 in April):

    - 1 April, web: a cart abandoned with lines only; a cart with the Berlin store chosen
      for pickup and left; a cart with delivery chosen and left (it reached checkout); a
      cart collected at the Berlin store (checked out); a delivery
      checked out (from the warehouse). An anonymous cart merged at login into a
      customer's cart (the merged one does not count; the customer's, a web cart, does).
    - 1 April at 23:30 UTC (2 April in Berlin), app: a cart picked up at Hamburg (checked
      out) and an abandoned cart.
    - 14 April (week of 13 April), app: a cart with the Berlin store chosen, left.
    - a POS cart and a cart of 31 March at 21:59 UTC (still March in Berlin): not counted.
    """
    with clock(monkeypatch, PRICED):
        sku = shop.sku(price="10.00", store=10, warehouse=10, other=10).sku
    berlin, hamburg = shop.store, shop.other_store
    with clock(monkeypatch, datetime(2026, 4, 1, 9, 0, tzinfo=UTC)):
        _cart("web", sku)
        _pickup_chosen(_cart("web", sku), berlin)
        order_services.cart_update(cart=_cart("web", sku), fulfilment_type="delivery")
        _checkout(
            _pickup_chosen(_cart("web", sku), berlin), {"type": "pickup", "location": "BER-MITTE"}
        )
        _checkout(_cart("web", sku), {"type": "delivery", "address": {"line1": "Main St 1"}})
        anonymous = _cart("web", sku)
        customer = CustomerWithLoginFactory()
        own = _cart("web", sku, customer=customer)
        assert order_services.cart_merge(source=anonymous, target=own).merged
        _cart("pos", sku)
    with clock(monkeypatch, datetime(2026, 4, 1, 23, 30, tzinfo=UTC)):
        _checkout(
            _pickup_chosen(_cart("app", sku), hamburg), {"type": "pickup", "location": "HAM-01"}
        )
        _cart("app", sku)
    with clock(monkeypatch, datetime(2026, 4, 14, 10, 0, tzinfo=UTC)):
        _pickup_chosen(_cart("app", sku), berlin)
    with clock(monkeypatch, datetime(2026, 3, 31, 21, 59, tzinfo=UTC)):
        _checkout(_cart("web", sku), {"type": "delivery", "address": {"line1": "Main St 1"}})


def _figures(carts, checkouts, completed, checkout_rate, completion_rate, abandonment_rate):
    return {
        "carts": carts,
        "checkouts": checkouts,
        "completed": completed,
        "abandoned": carts - completed,
        "checkout_rate": checkout_rate,
        "completion_rate": completion_rate,
        "abandonment_rate": abandonment_rate,
    }


def test_carts_checkouts_and_orders_per_channel_with_the_abandonment(member, history):
    data = member("head_office").get(URL, PERIOD).json()
    assert data["group_by"] == "channel"
    assert data["rows"] == [
        {"channel": "app", **_figures(3, 2, 1, "0.6667", "0.5000", "0.6667")},
        {"channel": "web", **_figures(6, 4, 2, "0.6667", "0.5000", "0.6667")},
    ]
    assert data["totals"] == _figures(9, 6, 3, "0.6667", "0.5000", "0.6667")


def test_carts_count_on_their_local_day_and_week(member, history):
    head = member("head_office")
    by_day = head.get(URL, {**PERIOD, "group_by": "day"}).json()
    assert by_day["rows"] == [
        {"day": "2026-04-01", **_figures(6, 4, 2, "0.6667", "0.5000", "0.6667")},
        {"day": "2026-04-02", **_figures(2, 1, 1, "0.5000", "1.0000", "0.5000")},
        {"day": "2026-04-14", **_figures(1, 1, 0, "1.0000", "0.0000", "1.0000")},
    ]
    assert by_day["totals"] == _figures(9, 6, 3, "0.6667", "0.5000", "0.6667")
    by_week = head.get(URL, {**PERIOD, "group_by": "week"}).json()
    assert by_week["rows"] == [
        {"week": "2026-03-30", **_figures(8, 5, 3, "0.6250", "0.6000", "0.6250")},
        {"week": "2026-04-13", **_figures(1, 1, 0, "1.0000", "0.0000", "1.0000")},
    ]
    by_month = head.get(URL, {"from": "2026-03-01", "to": "2026-04-30", "group_by": "month"})
    assert by_month.json()["rows"] == [
        {"month": "2026-03-01", **_figures(1, 1, 1, "1.0000", "1.0000", "0.0000")},
        {"month": "2026-04-01", **_figures(9, 6, 3, "0.6667", "0.5000", "0.6667")},
    ]


def test_a_store_manager_sees_the_carts_picked_up_or_ordered_at_their_store(member, shop, history):
    berlin = member("store_manager", shop.store).get(URL, PERIOD).json()
    # Berlin: the pickup chosen and left, the pickup checked out (web), the pickup chosen in
    # the app on 14 April. The delivery order went to the warehouse.
    assert berlin["rows"] == [
        {"channel": "app", **_figures(1, 1, 0, "1.0000", "0.0000", "1.0000")},
        {"channel": "web", **_figures(2, 2, 1, "1.0000", "0.5000", "0.5000")},
    ]
    assert berlin["totals"] == _figures(3, 3, 1, "1.0000", "0.3333", "0.6667")
    refused = member("store_manager", shop.store).get(URL, {**PERIOD, "location": "HAM-01"})
    assert refused.status_code == 403
    hamburg = member("head_office").get(URL, {**PERIOD, "location": "HAM-01"}).json()
    assert hamburg["totals"] == _figures(1, 1, 1, "1.0000", "1.0000", "0.0000")


def test_an_empty_period_has_no_rows_and_no_rates(member, history):
    data = member("head_office").get(URL, {"from": "2026-06-01", "to": "2026-06-30"}).json()
    assert data["rows"] == []
    assert data["totals"] == _figures(0, 0, 0, None, None, None)


def test_the_report_runs_in_one_query_whatever_the_number_of_carts(
    shop, monkeypatch, django_assert_max_num_queries
):
    report = registry.report_get("funnel")
    params = ReportParams(
        date_from=datetime(2026, 4, 1).date(), date_to=datetime(2026, 4, 30).date(), group_by="day"
    )
    with clock(monkeypatch, PRICED):
        sku = shop.sku(store=50).sku
    for day in (1, 2, 3):
        with clock(monkeypatch, datetime(2026, 4, day, 9, 0, tzinfo=UTC)):
            for _ in range(day * 3):
                _pickup_chosen(_cart("web", sku), shop.store)
    scoped = ReportParams(**{**params.__dict__, "location_ids": frozenset({shop.store.pk})})
    with django_assert_max_num_queries(1):
        assert len(report.run(params).rows) == 3
    with django_assert_max_num_queries(1):
        assert report.run(scoped).totals["carts"] == 18
