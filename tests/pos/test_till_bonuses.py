"""Bonuses at the till: lookup, quote, holds with confirmation codes, and points tendered in
synced sales — a till sees only what it needs, held points are never spent twice, and the
balance never goes negative."""

import re
import threading
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from loyalty import selectors as loyalty_selectors
from loyalty.errors import InsufficientPoints
from loyalty.models import EntryKind, HoldStatus, LoyaltyEntry, LoyaltyHold
from loyalty.services import (
    holds_expire_due,
    points_adjust,
    points_earn,
    points_redeem,
    verify,
)
from orders.models import Order
from pos.models import PosSale
from tests.factories.catalog import BarcodeFactory, VariantFactory
from tests.factories.customers import CustomerFactory, CustomerWithLoginFactory
from tests.factories.inventory import LocationFactory, StockLevelFactory
from tests.factories.loyalty import LoyaltyRulesFactory, TierFactory
from tests.factories.pos import make_terminal, terminal_client
from tests.factories.pricing import PriceFactory

LOOKUP = "/api/v1/pos/customers/lookup/"
QUOTE = "/api/v1/pos/quote/"
HOLDS = "/api/v1/pos/loyalty/holds/"
SYNC = "/api/v1/pos/sync/sales/"


@pytest.fixture
def till(db):
    store = LocationFactory(code="BER-1", name="Berlin Mitte")
    terminal, token = make_terminal(store, code="BER-1-T1")
    return terminal, terminal_client(token)


@pytest.fixture
def rules(db):
    """1 point per EUR paid, 1 point pays 0.10 EUR, up to 50 % of a basket."""
    return LoyaltyRulesFactory()


def _customer_with(points: int, **fields):
    customer = CustomerFactory(**fields)
    if points:
        points_adjust(customer=customer, points=points, reason="opening balance", actor=None)
    return customer


def _hold(client, customer, points, total="100.00", key=None):
    return client.post(
        HOLDS,
        {"customer": {"phone": customer.phone}, "points": points, "total": total},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()),
    )


def _variant(location, price="10.00"):
    variant = VariantFactory()
    PriceFactory(variant=variant, amount=Decimal(price))
    StockLevelFactory(variant=variant, location=location, on_hand=100)
    return variant


def _sale(variant, *, customer=None, price="10.00", quantity=1, points=0, hold=None):
    total = Decimal(price) * quantity
    value = Decimal(points) / 10  # 1 point pays 0.10
    tenders = [{"kind": "cash", "amount": str(total - value), "points": 0}]
    if points:
        tenders.append({"kind": "points", "amount": str(value), "points": points})
    return {
        "id": str(uuid.uuid4()),
        "occurred_at": (timezone.now() - timedelta(minutes=1)).isoformat(),
        "cashier": "C1",
        "customer": customer,
        "hold": hold,
        "lines": [
            {"sku": variant.sku, "quantity": quantity, "unit_price": price, "discount": "0.00"}
        ],
        "tenders": tenders,
    }


def _push(client, sales):
    response = client.post(SYNC, {"sales": sales}, format="json")
    assert response.status_code == 200, response.content
    return {r["id"]: r for r in response.json()["results"]}


def _flags(sale):
    return PosSale.objects.get(id=sale["id"]).flags


# --- lookup -------------------------------------------------------------------------------


def test_a_lookup_shows_initials_tier_and_spendable_points_but_never_the_profile(till, rules):
    _terminal, client = till
    TierFactory(rules=rules, name="Gold", min_spend=Decimal("0"), multiplier=Decimal("2"))
    customer = _customer_with(
        300, first_name="Anna", last_name="Kowalska", card_number="2000000000015"
    )
    points_earn(customer=customer, reference="old", channel="web", lines=[{"amount_paid": "0"}])
    LoyaltyHold  # noqa: B018 - the hold below comes from the API, like a till's
    assert _hold(client, customer, 100).status_code == 201

    response = client.get(LOOKUP, {"card": "2000000000015", "total": "100.00"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["initials"] == "A. K."
    assert body["tier"] == "Gold"
    assert body["points_available"] == 200  # 300 minus the 100 held
    assert body["redeemable_points"] == 200  # 50 % of 100.00 is 500 points; 200 are there
    assert body["id"] == customer.pk
    text = response.content.decode()
    for private in ("Anna", "Kowalska", customer.phone, "email", "entries", "orders"):
        assert private not in text


def test_a_lookup_caps_the_points_of_a_basket_by_the_rules_share(till, rules):
    _terminal, client = till
    customer = _customer_with(1000)
    body = client.get(LOOKUP, {"phone": customer.phone, "total": "20.00"}).json()
    assert (body["points_available"], body["redeemable_points"]) == (1000, 100)
    assert body["redeemable_value"] == "10.00"


def test_an_unknown_customer_is_a_404_in_the_error_shape(till, rules):
    _terminal, client = till
    response = client.get(LOOKUP, {"phone": "+4915199999999"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "customer_not_found"
    assert client.get(LOOKUP).status_code == 400
    assert client.get(LOOKUP, {"phone": "x", "card": "y"}).status_code == 400


def test_only_terminals_may_look_customers_up(till, rules):
    shopper = CustomerWithLoginFactory()
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(shopper.user)
    assert client.get(LOOKUP, {"phone": shopper.phone}).status_code in (401, 403)
    assert APIClient().get(LOOKUP, {"phone": shopper.phone}).status_code in (401, 403)


def test_a_till_cannot_walk_the_customer_base(till, rules, settings):
    _terminal, client = till
    settings.REST_FRAMEWORK = settings.REST_FRAMEWORK | {
        "DEFAULT_THROTTLE_RATES": settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
        | {"pos_customer_lookup": "3/minute"}
    }
    codes = [client.get(LOOKUP, {"phone": f"+491511000000{i}"}).status_code for i in range(4)]
    assert codes == [404, 404, 404, 429]


# --- quote --------------------------------------------------------------------------------


def test_a_quote_by_barcode_for_a_customer_shows_the_points_usable_and_earned(till, rules):
    terminal, client = till
    variant = _variant(terminal.location, price="30.00")
    barcode = BarcodeFactory(variant=variant)
    customer = _customer_with(1000)

    response = client.post(
        QUOTE,
        {"lines": [{"barcode": barcode.code, "quantity": 2}], "customer": {"id": customer.pk}},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["quote"]["total"] == "60.00"
    assert body["quote"]["lines"][0]["sku"] == variant.sku
    assert body["customer"]["redeemable_points"] == 300  # 50 % of 60.00 at 0.10 a point
    assert body["points_to_earn"] == 60


def test_a_quote_without_a_customer_has_no_points_and_an_unknown_barcode_is_422(till, rules):
    terminal, client = till
    variant = _variant(terminal.location)
    body = client.post(
        QUOTE, {"lines": [{"sku": variant.sku, "quantity": 1}]}, format="json"
    ).json()
    assert (body["customer"], body["points_to_earn"]) == (None, None)
    response = client.post(
        QUOTE, {"lines": [{"barcode": "4006381333931", "quantity": 1}]}, format="json"
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_sku"


# --- holds --------------------------------------------------------------------------------


def test_a_hold_keeps_its_points_from_an_online_checkout(till, rules):
    _terminal, client = till
    customer = _customer_with(300)
    response = _hold(client, customer, 200)
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "held"

    with pytest.raises(InsufficientPoints) as refused:
        points_redeem(
            customer=customer, points=150, reference="order:W-1", order_total=Decimal(999)
        )
    assert refused.value.details["held"] == 200
    mine = loyalty_selectors.account_summary(customer=customer)  # what /me/loyalty/ shows
    assert (mine["balance"], mine["held_points"], mine["available_points"]) == (300, 200, 100)
    points_redeem(customer=customer, points=100, reference="order:W-2", order_total=Decimal(999))
    assert loyalty_selectors.spendable_balance(customer=customer) == 0
    assert loyalty_selectors.balance_get(customer=customer) == 200
    assert verify() == []


def test_a_hold_never_takes_more_than_is_available_or_the_rules_allow(till, rules):
    _terminal, client = till
    customer = _customer_with(300)
    assert _hold(client, customer, 250).status_code == 201
    short = _hold(client, customer, 100)
    assert short.status_code == 422
    assert short.json()["error"]["code"] == "insufficient_points"
    assert short.json()["error"]["details"]["available"] == 50
    too_much = _hold(client, customer, 50, total="4.00")  # 50 % of 4.00 is 20 points
    assert too_much.json()["error"]["code"] == "redemption_limit_exceeded"
    assert LoyaltyHold.objects.count() == 1


def test_a_retried_hold_request_answers_the_same_hold(till, rules):
    _terminal, client = till
    customer = _customer_with(300)
    first = _hold(client, customer, 100, key="basket-7")
    again = _hold(client, customer, 100, key="basket-7")
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert LoyaltyHold.objects.count() == 1
    missing = client.post(
        HOLDS, {"customer": {"phone": customer.phone}, "points": 1, "total": "10"}, format="json"
    )
    assert missing.json()["error"]["code"] == "idempotency_key_required"


def test_a_released_hold_gives_its_points_back_and_another_till_cannot_touch_it(till, rules):
    terminal, client = till
    _other, other_token = make_terminal(terminal.location, code="BER-1-T2")
    other = terminal_client(other_token)
    customer = _customer_with(300)
    hold = _hold(client, customer, 300).json()
    url = f"{HOLDS}{hold['id']}/"

    assert other.delete(url).status_code == 404
    assert other.get(url).json()["error"]["code"] == "hold_not_found"
    assert client.get(f"{HOLDS}not-a-uuid/").status_code == 404
    assert loyalty_selectors.spendable_balance(customer=customer) == 0

    released = client.delete(url)
    assert released.status_code == 200 and released.json()["status"] == "released"
    assert client.delete(url).json()["status"] == "released"  # twice changes nothing
    assert loyalty_selectors.spendable_balance(customer=customer) == 300


def test_holds_past_their_time_stop_counting_and_the_job_expires_each_once(till, rules, settings):
    _terminal, client = till
    customer = _customer_with(300)
    settings.LOYALTY_HOLD_MINUTES = 0  # due as soon as it is made
    hold = _hold(client, customer, 100).json()
    settings.LOYALTY_HOLD_MINUTES = 15
    _hold(client, customer, 50)

    assert loyalty_selectors.spendable_balance(customer=customer) == 250  # before the job
    assert holds_expire_due() == 1
    assert holds_expire_due() == 0
    assert LoyaltyHold.objects.get(pk=hold["id"]).status == HoldStatus.EXPIRED
    assert LoyaltyHold.objects.filter(status=HoldStatus.HELD).count() == 1


# --- confirmation codes -------------------------------------------------------------------


def _code_from_mail() -> str:
    assert mail.outbox, "no code was sent"
    return re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)


@pytest.fixture
def big_spender(rules, settings):
    settings.LOYALTY_HOLD_CONFIRM_POINTS = 100
    return _customer_with(1000, email="big@example.com")


def test_a_big_hold_needs_the_code_sent_to_the_customer(
    till, big_spender, django_capture_on_commit_callbacks
):
    _terminal, client = till
    with django_capture_on_commit_callbacks(execute=True):
        hold = _hold(client, big_spender, 300, total="100.00").json()
    assert hold["confirmation_required"] is True and hold["status"] == "held"
    assert mail.outbox[-1].to == ["big@example.com"]
    code = _code_from_mail()
    stored = LoyaltyHold.objects.get(pk=hold["id"])
    assert code not in stored.code_hash and len(stored.code_hash) == 64

    confirmed = client.post(f"{HOLDS}{hold['id']}/confirm/", {"code": code}, format="json")

    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["status"] == "confirmed"
    again = client.post(f"{HOLDS}{hold['id']}/confirm/", {"code": "000000"}, format="json")
    assert again.status_code == 200  # confirmed once is enough; no guessing afterwards
    assert len(mail.outbox) == 1


def test_wrong_codes_are_limited_and_lock_the_hold_out(
    till, big_spender, settings, django_capture_on_commit_callbacks
):
    _terminal, client = till
    settings.CUSTOMER_CODE_MAX_ATTEMPTS = 3
    with django_capture_on_commit_callbacks(execute=True):
        hold = _hold(client, big_spender, 300).json()
    code = _code_from_mail()
    wrong = "999999" if code != "999999" else "111111"
    url = f"{HOLDS}{hold['id']}/confirm/"

    first = client.post(url, {"code": wrong}, format="json")
    assert first.status_code == 400
    assert first.json()["error"] == {
        "code": "invalid_code",
        "message": first.json()["error"]["message"],
        "details": {"attempts_left": 2},
    }
    assert client.post(url, {"code": wrong}, format="json").status_code == 400
    locked = client.post(url, {"code": wrong}, format="json")
    assert (locked.status_code, locked.json()["error"]["code"]) == (410, "hold_locked")
    # The right code is too late now, and the points are free again.
    late = client.post(url, {"code": code}, format="json")
    assert (late.status_code, late.json()["error"]["code"]) == (409, "hold_not_open")
    assert LoyaltyHold.objects.get(pk=hold["id"]).attempts == 3
    assert loyalty_selectors.spendable_balance(customer=big_spender) == 1000


def test_a_code_expires(till, big_spender, settings, django_capture_on_commit_callbacks):
    _terminal, client = till
    settings.CUSTOMER_CODE_TTL_MINUTES = 0
    with django_capture_on_commit_callbacks(execute=True):
        hold = _hold(client, big_spender, 300).json()
    response = client.post(
        f"{HOLDS}{hold['id']}/confirm/", {"code": _code_from_mail()}, format="json"
    )
    assert (response.status_code, response.json()["error"]["code"]) == (410, "code_expired")


def test_a_customer_no_code_can_reach_cannot_hold_above_the_limit(till, rules, settings):
    _terminal, client = till
    settings.LOYALTY_HOLD_CONFIRM_POINTS = 100
    customer = _customer_with(1000)  # a phone only; codes go by email here
    response = _hold(client, customer, 300)
    assert response.json()["error"]["code"] == "confirmation_unreachable"
    assert _hold(client, customer, 100).status_code == 201  # at the limit: no code needed


# --- points at sync -----------------------------------------------------------------------


def test_a_synced_sale_naming_a_hold_converts_it_into_the_redemption(till, rules):
    terminal, client = till
    variant = _variant(terminal.location, price="50.00")
    customer = _customer_with(300)
    hold = _hold(client, customer, 200, total="50.00").json()
    sale = _sale(
        variant, customer={"phone": customer.phone}, price="50.00", points=150, hold=hold["id"]
    )

    result = _push(client, [sale])[sale["id"]]
    _push(client, [sale])  # a replay changes nothing

    assert result["status"] == "created"
    order = Order.objects.get(number=result["order"])
    redeem = LoyaltyEntry.objects.get(kind=EntryKind.REDEEM)
    assert (redeem.points, redeem.reference, redeem.channel) == (-150, order.reference, "pos")
    stored = LoyaltyHold.objects.get(pk=hold["id"])
    assert (stored.status, stored.redeem_entry_id) == (HoldStatus.CONVERTED, redeem.pk)
    # 300 - 150 spent + 35 earned on the 35.00 paid in cash; the 50 left of the hold are free.
    assert loyalty_selectors.balance_get(customer=customer) == 185
    assert loyalty_selectors.spendable_balance(customer=customer) == 185
    assert _flags(sale) == {}
    assert verify() == []


def test_points_without_a_hold_are_taken_up_to_the_balance_and_the_rest_is_flagged(till, rules):
    terminal, client = till
    variant = _variant(terminal.location, price="100.00")
    customer = _customer_with(80)
    sale = _sale(variant, customer={"phone": customer.phone}, price="100.00", points=120)

    assert _push(client, [sale])[sale["id"]]["status"] == "created"

    assert _flags(sale)["points"] == {"asked": 120, "redeemed": 80}
    redeem = LoyaltyEntry.objects.get(kind=EntryKind.REDEEM)
    assert redeem.points == -80
    assert LoyaltyEntry.objects.get(kind=EntryKind.EARN).remaining == 88  # its own earn untouched
    # Nothing negative: 80 - 80 + 88 earned on the 88.00 the till says was paid in cash.
    assert loyalty_selectors.balance_get(customer=customer) == 88
    assert verify() == []


def test_points_without_a_hold_leave_another_tills_hold_alone(till, rules):
    terminal, client = till
    variant = _variant(terminal.location, price="100.00")
    customer = _customer_with(100)
    _hold(client, customer, 60)
    sale = _sale(variant, customer={"phone": customer.phone}, price="100.00", points=100)

    _push(client, [sale])

    assert _flags(sale)["points"] == {"asked": 100, "redeemed": 40}
    assert LoyaltyHold.objects.get().status == HoldStatus.HELD


def test_a_hold_of_another_customer_is_not_converted_and_is_flagged(till, rules):
    terminal, client = till
    variant = _variant(terminal.location)
    owner, buyer = _customer_with(100), _customer_with(100)
    hold = _hold(client, owner, 50).json()
    sale = _sale(variant, customer={"phone": buyer.phone}, points=50, hold=hold["id"])

    _push(client, [sale])

    flag = _flags(sale)["points"]
    assert flag == {"asked": 50, "redeemed": 50, "problem": "hold_of_another_customer"}
    assert LoyaltyHold.objects.get(pk=hold["id"]).status == HoldStatus.HELD
    assert loyalty_selectors.spendable_balance(customer=owner) == 50


def test_an_unconfirmed_big_hold_is_released_at_sync_and_flagged(till, big_spender):
    terminal, client = till
    variant = _variant(terminal.location, price="100.00")
    hold = _hold(client, big_spender, 300).json()
    sale = _sale(
        variant, customer={"phone": big_spender.phone}, price="100.00", points=300, hold=hold["id"]
    )

    _push(client, [sale])

    assert _flags(sale)["points"]["problem"] == "hold_unconfirmed"
    assert LoyaltyHold.objects.get(pk=hold["id"]).status == HoldStatus.RELEASED
    assert verify() == []


def test_points_tendered_by_an_anonymous_sale_are_flagged(till, rules):
    terminal, client = till
    variant = _variant(terminal.location)
    sale = _sale(variant, points=20)
    _push(client, [sale])
    assert _flags(sale)["points"] == {"asked": 20, "redeemed": 0, "problem": "no_customer"}
    assert not LoyaltyEntry.objects.filter(kind=EntryKind.REDEEM).exists()


# --- the race -----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_holds_online_redemptions_and_a_sync_racing_on_one_account_never_overdraw_it():
    LoyaltyRulesFactory()
    store = LocationFactory(code="RACE-1")
    terminal, token = make_terminal(store, code="RACE-1-T1")
    client = terminal_client(token)
    variant = _variant(store, price="100.00")
    customer = _customer_with(1000)
    hold = _hold(client, customer, 300, total="1000.00").json()
    sale = _sale(
        variant, customer={"phone": customer.phone}, price="100.00", points=300, hold=hold["id"]
    )
    connection.close()

    barrier = threading.Barrier(9)
    outcomes: list = []

    def run(job):
        try:
            barrier.wait(timeout=30)
            outcomes.append(job())
        except Exception as exc:  # noqa: BLE001 - every outcome is inspected below
            outcomes.append(exc)
        finally:
            connection.close()

    def online(i):
        return lambda: points_redeem(
            customer=customer, points=200, reference=f"order:W-{i}", order_total=Decimal(9999)
        )

    def new_hold(i):
        return lambda: _hold(terminal_client(token), customer, 100, total="1000.00").status_code

    def sync():
        return _push(terminal_client(token), [sale])[sale["id"]]["status"]

    jobs = [online(i) for i in range(5)] + [new_hold(i) for i in range(3)] + [sync]
    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)

    assert "created" in outcomes, outcomes
    assert not [
        o for o in outcomes if isinstance(o, Exception) and not isinstance(o, InsufficientPoints)
    ]
    assert verify() == []
    account = customer.loyalty_account
    account.refresh_from_db()
    assert account.balance >= 0
    # The held points reached the sale whatever the online checkouts did meanwhile.
    order = Order.objects.get(number=PosSale.objects.get(id=sale["id"]).order_number)
    assert LoyaltyEntry.objects.get(reference=order.reference, kind=EntryKind.REDEEM).points == -300
    assert _flags(sale) == {}
    assert LoyaltyHold.objects.get(pk=hold["id"]).status == HoldStatus.CONVERTED
    online_spent = -sum(
        LoyaltyEntry.objects.filter(kind=EntryKind.REDEEM, channel="web").values_list(
            "points", flat=True
        )
    )
    still_held = sum(
        LoyaltyHold.objects.filter(status=HoldStatus.HELD).values_list("points", flat=True)
    )
    earned = sum(LoyaltyEntry.objects.filter(kind=EntryKind.EARN).values_list("points", flat=True))
    assert online_spent + still_held + 300 <= 1000 + earned
    assert online_spent <= 700 + earned
