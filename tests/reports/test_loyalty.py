"""The loyalty report on a small known history made by the services: two customers, web and
app pickups in Berlin and Lisbon, points redeemed, given back on a cancellation, taken back
on a return, expired, and a staff adjustment, each dated on purpose.

Order 2 (Lisbon) and order 3 (Berlin) are dated the same UTC instant, 22:30 on 31 March:
still March in Lisbon, already 1 April in Berlin.
"""

from datetime import UTC, datetime

import pytest
from django.db.models import Sum
from django.utils import timezone

from loyalty.models import EntryKind, LoyaltyAccount, LoyaltyEntry
from loyalty.services import points_adjust, points_expire_due, verify
from orders import services as order_services
from orders.domain import Actor, Status
from reports import services as report_services
from reports.registry import ReportParams, report_get
from returns import services as return_services
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.orders import CARD, CartFactory, make_shop, order_staff

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/loyalty/"
SPRING = {"from": "2026-03-01", "to": "2026-04-30"}
ZERO = {"earned": 0, "redeemed": 0, "given_back": 0, "reversed": 0, "expired": 0, "adjusted": 0}


def at(day: int, month: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def _placed(customer, lines, *, location, channel="web", redeem_points=0):
    cart = CartFactory(customer=customer, channel=channel)
    for variant, quantity in lines:
        order_services.cart_line_add(cart=cart, sku=variant.sku, quantity=quantity)
    return order_services.checkout_place(
        cart=cart,
        fulfilment={"type": "pickup", "location": location.code},
        payment=CARD,
        customer=customer,
        redeem_points=redeem_points,
        user=customer.user,
    )


def _collected(customer, lines, *, location, channel="web", redeem_points=0):
    order = _placed(
        customer, lines, location=location, channel=channel, redeem_points=redeem_points
    )
    staff = order_staff(location)
    order_services.order_transition(
        order=order, target=Status.READY_FOR_PICKUP, actor=Actor.STAFF, user=staff
    )
    order.refresh_from_db()
    order_services.order_transition(
        order=order,
        target=Status.COLLECTED,
        actor=Actor.STAFF,
        user=staff,
        pickup_code=order.pickup_code,
    )
    return order


def _dated(when: datetime, **lookup) -> None:
    assert LoyaltyEntry.objects.filter(**lookup).update(occurred_at=when) == 1


@pytest.fixture
def history(db):
    shop = make_shop()  # BER-MITTE (Europe/Berlin), HAM-01 — here in Lisbon's time zone
    shop.other_store.time_zone = "Europe/Lisbon"
    shop.other_store.save(update_fields=["time_zone"])
    LoyaltyRulesFactory()  # 1 point per unit paid, a point pays 0.10
    coat = shop.sku(price="50.00", store=10, other=10)
    scarf = shop.sku(price="40.00", store=10)
    anna, ben = CustomerWithLoginFactory(), CustomerWithLoginFactory()

    first = _collected(anna, [(coat, 2)], location=shop.store)  # earns 100
    second = _collected(  # pays 48.00 after 20 points (2.00): earns 48
        anna, [(coat, 1)], location=shop.other_store, channel="app", redeem_points=20
    )
    third = _placed(anna, [(coat, 1)], location=shop.store, redeem_points=10)
    order_services.order_transition(order=third, target=Status.CANCELLED, actor=Actor.CUSTOMER)
    return_services.return_create(  # one coat back: 50 of the 100 points go
        order=first,
        location=shop.store,
        reason="changed_mind",
        lines=[{"sku": coat.sku, "quantity": 1, "condition": "resaleable"}],
    )
    points_adjust(customer=anna, points=30, reason="welcome back", actor=None)
    fourth = _collected(ben, [(scarf, 1)], location=shop.store)  # earns 40, left to expire

    _dated(at(10, 3, 12), kind=EntryKind.EARN, reference=first.reference)
    _dated(at(31, 3, 22, 30), kind=EntryKind.EARN, reference=second.reference)
    _dated(at(31, 3, 22, 30), kind=EntryKind.REDEEM, reference=second.reference)
    _dated(at(31, 3, 22, 30), kind=EntryKind.REDEEM, reference=third.reference)
    _dated(at(3, 4), kind=EntryKind.REVERSE, reference=third.reference)
    _dated(at(15, 4), kind=EntryKind.REVERSE, reverses__reference=first.reference)
    _dated(at(20, 4), kind=EntryKind.ADJUST)
    _dated(at(5, 3), kind=EntryKind.EARN, reference=fourth.reference)
    LoyaltyEntry.objects.filter(kind=EntryKind.EARN, reference=fourth.reference).update(
        expires_at=at(29, 4)
    )
    assert points_expire_due(at=at(30, 4, 10)) == 40
    assert verify() == []
    # The ledger was dated back behind the services' backs: the report rows are rebuilt
    # from it, as after a bulk load.
    report_services.facts_rebuild()
    return shop


def test_points_by_channel_with_the_outstanding_liability(member, history):
    data = member("head_office").get(URL, SPRING).json()
    assert data["group_by"] == "channel"
    assert data["rows"] == [
        {"channel": "admin", **ZERO, "adjusted": 30, "net": 30},
        {"channel": "app", **ZERO, "earned": 48, "redeemed": 20, "net": 28},
        {
            "channel": "web",
            "earned": 140,
            "redeemed": 10,
            "given_back": 10,
            "reversed": 50,
            "expired": 40,
            "adjusted": 0,
            "net": 50,
        },
    ]
    assert data["totals"] == {
        "earned": 188,
        "redeemed": 30,
        "given_back": 10,
        "reversed": 50,
        "expired": 40,
        "adjusted": 30,
        "net": 108,
        "outstanding_points": 108,
        "liability": "10.80",
        "currency": "EUR",
        "as_of": "2026-05-01T00:00:00+00:00",
    }
    balances = LoyaltyAccount.objects.aggregate(s=Sum("balance"))["s"]
    assert balances == 108


def test_points_by_local_month_put_the_same_instant_in_two_months(member, history):
    data = member("head_office").get(URL, {**SPRING, "group_by": "month"}).json()
    assert data["rows"] == [
        {"month": "2026-03-01", **ZERO, "earned": 188, "redeemed": 20, "net": 168},
        {
            "month": "2026-04-01",
            "earned": 0,
            "redeemed": 10,
            "given_back": 10,
            "reversed": 50,
            "expired": 40,
            "adjusted": 30,
            "net": -60,
        },
    ]
    assert data["totals"]["net"] == 108
    assert data["totals"]["outstanding_points"] == 108


def test_points_by_store_with_adjustments_under_no_store(member, history):
    data = member("head_office").get(URL, {**SPRING, "group_by": "store"}).json()
    assert data["rows"] == [
        {
            "store": "BER-MITTE",
            "earned": 140,
            "redeemed": 10,
            "given_back": 10,
            "reversed": 50,
            "expired": 40,
            "adjusted": 0,
            "net": 50,
        },
        {"store": "HAM-01", **ZERO, "earned": 48, "redeemed": 20, "net": 28},
        {"store": None, **ZERO, "adjusted": 30, "net": 30},
    ]


def test_outstanding_points_are_those_unspent_at_the_end_of_the_period(member, history):
    march = member("head_office").get(URL, {"from": "2026-03-01", "to": "2026-03-31"}).json()
    assert march["rows"] == [
        {"channel": "app", **ZERO, "earned": 48, "redeemed": 20, "net": 28},
        {"channel": "web", **ZERO, "earned": 140, "net": 140},
    ]
    # Until midnight UTC on 1 April: the earns of 100, 40 and 48 less the redemptions of
    # 20 and 10 made at 22:30 UTC (order 3's is on 1 April in Berlin, yet already spent).
    assert march["totals"]["outstanding_points"] == 158
    assert march["totals"]["liability"] == "15.80"
    assert march["totals"]["as_of"] == "2026-04-01T00:00:00+00:00"


def test_up_to_today_the_outstanding_points_are_the_balances(member, history):
    today = timezone.localdate().isoformat()
    data = member("head_office").get(URL, {"from": "2026-03-01", "to": today}).json()
    # Every entry is dated in spring, Anna holds 108 points and Ben none.
    assert data["totals"]["outstanding_points"] == 108
    assert data["totals"]["liability"] == "10.80"
    assert data["totals"]["as_of"] <= timezone.now().isoformat()


def test_a_store_manager_sees_their_store_and_the_points_still_unspent_from_it(member, history):
    manager = member("store_manager", history.other_store)
    data = manager.get(URL, {**SPRING, "group_by": "store"}).json()
    assert data["rows"] == [{"store": "HAM-01", **ZERO, "earned": 48, "redeemed": 20, "net": 28}]
    # Anna's redemptions and the return took points from the older Berlin lot: all 48
    # points earned in Lisbon are unspent.
    assert data["totals"] == {
        "earned": 48,
        "redeemed": 20,
        "given_back": 0,
        "reversed": 0,
        "expired": 0,
        "adjusted": 0,
        "net": 28,
        "outstanding_points": 48,
        "liability": "4.80",
        "currency": "EUR",
        "as_of": "2026-05-01T00:00:00+00:00",
    }
    refused = manager.get(URL, {**SPRING, "location": "BER-MITTE"})
    assert refused.status_code == 403


def test_berlin_alone_counts_the_berlin_lots_left(member, history):
    data = member("head_office").get(URL, {**SPRING, "location": "BER-MITTE"}).json()
    assert [row["channel"] for row in data["rows"]] == ["web"]
    # Anna's Berlin lot: 100 − 20 − 10 + 10 − 50 = 30; Ben's expired.
    assert data["totals"]["outstanding_points"] == 30
    assert data["totals"]["liability"] == "3.00"


def test_the_report_runs_a_fixed_number_of_queries(history, django_assert_max_num_queries):
    report = report_get("loyalty")
    for group_by in ("channel", "month", "store"):
        for scope in (None, frozenset({history.store.pk})):
            params = ReportParams(
                date_from=at(1, 3).date(),
                date_to=at(30, 4).date(),
                group_by=group_by,
                location_ids=scope,
            )
            with django_assert_max_num_queries(7):
                report.run(params)
