"""Payment is a fact: authorized at checkout, captured on handover or shipping, voided on
cancel and expiry, paid at the desk for pay-in-store pickups; points only on captured money."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from loyalty.selectors import balance_get
from orders import services
from orders.errors import PaymentFailed, PaymentRequired
from orders.models import Order, Tender, TestProviderCharge
from orders.payments import payment_provider
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.orders import CARD, order_staff

pytestmark = pytest.mark.django_db


def _place(customer, shop, *, payment=CARD, delivery=False, price="40.00"):
    variant = shop.sku(price=price, store=5, warehouse=5)
    cart = services.cart_get_current(customer=customer, channel="web")
    services.cart_line_add(cart=cart, sku=variant.sku, quantity=1)
    fulfilment = (
        {"type": "delivery", "address": {"line1": "Main St 1"}}
        if delivery
        else {"type": "pickup", "location": shop.store.code}
    )
    return services.checkout_place(
        cart=cart, customer=customer, fulfilment=fulfilment, payment=payment
    )


def _charge(order) -> TestProviderCharge:
    tender = Tender.objects.get(order=order, kind="card")
    return TestProviderCharge.objects.get(reference=tender.provider_reference)


def _collect(order, **extra):
    services.order_transition(order=order, target="ready_for_pickup", actor="staff")
    return services.order_transition(
        order=order, target="collected", actor="staff", pickup_code=order.pickup_code, **extra
    )


def test_checkout_authorizes_and_handover_captures_the_amount_due(customer, shop):
    order = _place(customer, shop)
    assert _charge(order).status == "authorized"
    assert _charge(order).amount == Decimal("40.00")
    _collect(order)
    tender = Tender.objects.get(order=order, kind="card")
    assert tender.status == "captured" and tender.captured_at is not None
    assert (_charge(order).status, _charge(order).captured) == ("captured", Decimal("40.00"))


def test_shipping_captures_and_cancelling_before_voids(customer, shop):
    shipped = _place(customer, shop, delivery=True)
    services.order_transition(order=shipped, target="shipped", actor="staff")
    assert _charge(shipped).status == "captured"
    cancelled = _place(customer, shop, delivery=True)
    services.order_transition(order=cancelled, target="cancelled", actor="customer")
    assert _charge(cancelled).status == "voided"
    assert Tender.objects.get(order=cancelled, kind="card").status == "voided"


def test_an_expired_pickup_voids_its_authorization(customer, shop):
    order = _place(customer, shop)
    services.order_transition(order=order, target="ready_for_pickup", actor="staff")
    services.order_transition(order=order, target="expired", actor="system")
    assert _charge(order).status == "voided"


def test_a_pay_in_store_order_is_handed_over_only_with_the_desk_payment(customer, shop):
    LoyaltyRulesFactory()  # 1 point per EUR paid
    order = _place(customer, shop, payment=services.PAY_IN_STORE)
    services.order_transition(order=order, target="ready_for_pickup", actor="staff")
    with pytest.raises(PaymentRequired) as refused:
        services.order_transition(
            order=order, target="collected", actor="staff", pickup_code=order.pickup_code
        )
    assert refused.value.code == "desk_payment_required"
    assert Order.objects.get(pk=order.pk).status == "ready_for_pickup"
    assert balance_get(customer=customer) == 0  # nothing earned on money not taken
    services.order_transition(
        order=order,
        target="collected",
        actor="staff",
        pickup_code=order.pickup_code,
        desk_payment=services.DeskPayment(kind="cash"),
    )
    desk = Tender.objects.get(order=order)
    assert (desk.kind, desk.amount, desk.status) == ("cash", Decimal("40.00"), "captured")
    assert balance_get(customer=customer) == 40


def test_the_staff_api_takes_the_desk_payment_at_handover(customer, shop):
    order = _place(customer, shop, payment=services.PAY_IN_STORE)
    staff = APIClient()
    staff.force_authenticate(order_staff(shop.store))
    url = f"/api/v1/staff/orders/{order.number}/"
    assert staff.post(url + "ready/", {}, format="json").status_code == 200
    unpaid = staff.post(url + "handover/", {"pickup_code": order.pickup_code}, format="json")
    assert unpaid.status_code == 422
    assert unpaid.json()["error"]["code"] == "desk_payment_required"
    paid = staff.post(
        url + "handover/",
        {"pickup_code": order.pickup_code, "desk_payment": {"kind": "card", "reference": "T-1"}},
        format="json",
    )
    assert paid.status_code == 200, paid.content
    assert [(t["kind"], t["status"]) for t in paid.json()["tenders"]] == [("card", "captured")]


def test_points_are_earned_on_captured_money_only(customer, shop):
    LoyaltyRulesFactory()
    order = _place(customer, shop, delivery=True)
    services.order_transition(order=order, target="shipped", actor="staff")
    # The capture is undone at the provider's side (a chargeback); our tender says
    # authorized again: delivery must not earn on it.
    Tender.objects.filter(order=order).update(status="authorized")
    services.order_transition(order=order, target="delivered", actor="staff")
    assert balance_get(customer=customer) == 0


def test_the_test_provider_refuses_what_a_real_provider_refuses(db):
    provider = payment_provider("test")
    auth = provider.authorize(
        token="tok_ok", amount=Decimal("10.00"), currency="EUR", reference="r"
    )
    with pytest.raises(PaymentFailed):
        provider.capture(authorization=auth, amount=Decimal("10.01"))
    provider.capture(authorization=auth, amount=Decimal("10.00"))
    with pytest.raises(PaymentFailed):
        provider.capture(authorization=auth, amount=Decimal("10.00"))
    with pytest.raises(PaymentFailed):
        provider.void(authorization=auth)
    provider.refund(authorization=auth, amount=Decimal("4.00"))
    with pytest.raises(PaymentFailed):
        provider.refund(authorization=auth, amount=Decimal("6.01"))
    assert TestProviderCharge.objects.get(reference=auth).refunded == Decimal("4.00")


def test_a_capture_the_provider_refuses_leaves_the_order_ready(customer, shop):
    order = _place(customer, shop)
    services.order_transition(order=order, target="ready_for_pickup", actor="staff")
    TestProviderCharge.objects.filter(reference=_charge(order).reference).update(status="voided")
    with pytest.raises(PaymentFailed):
        services.order_transition(
            order=order, target="collected", actor="staff", pickup_code=order.pickup_code
        )
    assert Order.objects.get(pk=order.pk).status == "ready_for_pickup"
    assert Tender.objects.get(order=order).status == "authorized"


@pytest.mark.django_db(transaction=True)
def test_a_checkout_refused_after_authorizing_leaves_no_charge_and_logs_no_error(
    customer, shop, caplog
):
    """Through the API (on PostgreSQL the test provider's row waits in the checkout's batch
    of appends): a checkout refused for want of stock after the card was authorized rolls
    its authorization back with it — no charge, no order — and the void attempted on the
    way out does not fail (it used to log an error for every such checkout)."""
    variant = shop.sku(price="40.00", store=1)
    cart = services.cart_get_current(customer=customer, channel="web")
    services.cart_line_add(cart=cart, sku=variant.sku, quantity=1)
    other = services.cart_get_current(customer=None, channel="web")
    services.cart_line_add(cart=other, sku=variant.sku, quantity=1)
    services.checkout_place(
        cart=other,
        fulfilment={"type": "pickup", "location": shop.store.code},
        payment=CARD,
        contact={"email": "first@example.com"},
    )  # the last unit goes first
    client = APIClient()
    client.force_authenticate(customer.user)
    charges = TestProviderCharge.objects.count()
    response = client.post(
        "/api/v1/checkout/",
        {
            "cart": str(cart.token),
            "fulfilment": {"type": "pickup", "location": shop.store.code},
            "payment": {"provider": "test", "token": "tok_ok"},
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="short-of-stock",
    )
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "insufficient_stock"
    assert "could not void" not in caplog.text
    assert TestProviderCharge.objects.count() == charges
    assert not Order.objects.filter(customer=customer).exists()


@pytest.mark.postgres
def test_an_authorization_waiting_in_a_batch_is_found_by_its_own_transaction():
    """Inside a checkout's batch of appends the test provider's row waits to be sent; a
    capture or void in the same transaction sends it first, and finds it."""
    from django.db import transaction

    from core.db import batched_writes

    provider = payment_provider("test")
    with transaction.atomic(), batched_writes():
        auth = provider.authorize(
            token="tok_ok", amount=Decimal("12.00"), currency="EUR", reference="order:x"
        )
        assert not TestProviderCharge.objects.filter(reference=auth).exists()  # queued
        provider.void(authorization=auth)
    assert TestProviderCharge.objects.get(reference=auth).status == "voided"
