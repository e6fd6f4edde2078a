"""The checkout request's hot path: statements that do not grow with the cart, no savepoint
that buys nothing, and the notification sent after the response, not before it."""

import json
import re

import pytest
from celery import current_app
from django.core import mail
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken
from rest_framework.test import APIClient

from core.models import OutboxMessage
from orders import services
from orders.models import Notification, Order
from tests.factories.customers import CustomerWithLoginFactory

CHECKOUT = "/api/v1/checkout/"


def _cart(shop, customer, lines: int):
    cart = services.cart_get_current(customer=customer, channel="web")
    for _ in range(lines):
        services.cart_line_add(cart=cart, sku=shop.sku(store=5).sku, quantity=2)
    return cart


def _body(shop, cart) -> dict:
    return {
        "cart": str(cart.token),
        "fulfilment": {"type": "pickup", "location": shop.store.code},
        "payment": {"provider": "test", "token": "tok_ok"},
    }


def _checkout_statements(api_client, shop, lines: int, key: str) -> list[str]:
    customer = CustomerWithLoginFactory()
    cart = _cart(shop, customer, lines)
    api_client.force_authenticate(customer.user)
    with CaptureQueriesContext(connection) as ctx:
        response = api_client.post(
            CHECKOUT, _body(shop, cart), format="json", HTTP_IDEMPOTENCY_KEY=key
        )
    assert response.status_code == 201, response.content
    assert len(response.json()["lines"]) == lines
    return [q["sql"] for q in ctx.captured_queries]


@pytest.mark.django_db
def test_a_six_line_checkout_request_costs_the_statements_of_a_two_line_one(api_client, shop):
    _checkout_statements(api_client, shop, 1, "warm")  # the promotion rule book is read once
    two = _checkout_statements(api_client, shop, 2, "two")
    six = _checkout_statements(api_client, shop, 6, "six")
    assert len(six) == len(two), "\n".join(six)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_checkout_request_opens_no_savepoint_and_reads_no_loyalty_rules(api_client, shop):
    """Its transaction rolls back as a whole on any error (the Idempotency-Key record with
    it), so a savepoint per service would only add statements; no points, no rules read."""
    _checkout_statements(api_client, shop, 1, "warm")
    captured = _checkout_statements(api_client, shop, 2, "two")
    # The test client closes the response inside `post`: what follows the request's
    # COMMIT is the notification, sent after the response (see the next test).
    statements = captured[: [sql.upper() for sql in captured].index("COMMIT") + 1]
    upper = [sql.upper() for sql in statements]
    assert not [sql for sql in upper if sql.startswith(("SAVEPOINT", "RELEASE"))], statements
    assert [sql for sql in upper if sql.startswith(("BEGIN", "COMMIT"))] == ["BEGIN", "COMMIT"]
    assert not [sql for sql in statements if "loyalty_loyaltyrules" in sql]


def _token_checkout_statements(shop, lines: int, key: str) -> list[str]:
    """The statements of a checkout with a real token (the check reads login and profile)."""
    customer = CustomerWithLoginFactory()
    cart = _cart(shop, customer, lines)
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=customer.user)[1]}"
    )
    with CaptureQueriesContext(connection) as ctx:
        response = client.post(CHECKOUT, _body(shop, cart), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 201, response.content
    return [q["sql"] for q in ctx.captured_queries]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_checkout_sends_its_appends_in_one_statement_and_checks_its_token_in_one(shop):
    """The token, login, profile and device session are one read; the order's lines, tender
    and first transition, the stock movements, the change log, the report rows, the cart's
    conversion and the stored response go as one statement before the COMMIT."""
    _token_checkout_statements(shop, 1, "warm")
    captured = _token_checkout_statements(shop, 2, "two")
    upper = [sql.upper() for sql in captured]
    before = upper[: upper.index("BEGIN")]
    assert len(before) == 1 and "KNOX_AUTHTOKEN" in before[0] and "CUSTOMERS_CUSTOMER" in before[0]
    request = upper[: upper.index("COMMIT") + 1]
    batched = [sql for sql in request if sql.startswith("WITH W0 AS")]
    assert len(batched) == 1, request
    for table in (
        "ORDERS_ORDERLINE",
        "ORDERS_TENDER",
        "ORDERS_ORDERTRANSITION",
        "INVENTORY_STOCKMOVEMENT",
        "CORE_CHANGE",
        "REPORTS_ORDERDAY",
        "REPORTS_CUSTOMERYEAR",
        "ORDERS_CART",
        "CORE_IDEMPOTENCYRECORD",
        "ORDERS_TESTPROVIDERCHARGE",  # the test provider's books
    ):
        named = re.compile(rf'\b{table}"?[\s(]')
        writes = [
            sql
            for sql in request
            if named.search(sql)
            and not sql.startswith("SELECT")
            # The key's claim comes first: it is the lock a retry waits on.
            and not sql.startswith('INSERT INTO "CORE_IDEMPOTENCYRECORD"')
        ]
        assert writes == batched, table
    order = Order.objects.latest("id")
    assert (order.lines.count(), order.tenders.count(), order.transitions.count()) == (2, 1, 1)
    # A first order's note on the customer row rides ahead of the order's insert (the
    # customer row before any balance, as the lock order wants).
    inserts = [sql for sql in request if 'INSERT INTO "ORDERS_ORDER" ' in sql]
    assert len(inserts) == 1 and '"CUSTOMERS_CUSTOMER" SET' in inserts[0], inserts
    assert [sql for sql in request if '"CUSTOMERS_CUSTOMER" SET' in sql] == inserts
    # The reservations and the stock levels' update are one round trip while the levels
    # are locked: the update rides ahead of the insert.
    levels = [sql for sql in request if 'UPDATE "INVENTORY_STOCKLEVEL"' in sql]
    assert len(levels) == 1 and 'INSERT INTO "INVENTORY_RESERVATION"' in levels[0], levels


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_with_a_broker_the_notification_goes_to_the_outbox_in_the_checkouts_batch(shop):
    """The checkout publishes nothing: its notification is an outbox row written by the
    statement that writes its other appends, so it costs no round trip of its own."""
    _token_checkout_statements(shop, 1, "warm")
    eager = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = False
    try:
        captured = _token_checkout_statements(shop, 2, "two")
    finally:
        current_app.conf.task_always_eager = eager
    upper = [sql.upper() for sql in captured]
    assert upper[-1] == "COMMIT", upper  # nothing after it: no task run, none published
    outbox = [sql for sql in upper if "CORE_OUTBOXMESSAGE" in sql]
    assert len(outbox) == 1 and outbox[0].startswith("WITH W0 AS"), outbox
    order = Order.objects.latest("id")
    queued = OutboxMessage.objects.get()
    assert (queued.task, queued.args) == ("orders.tasks.order_notify", [order.pk, "placed"])


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_the_notification_is_sent_once_the_response_is_out(shop, settings):
    """A WSGI server sends the response, then closes it: the eager task runs at the close,
    so the customer's request never waits for (or fails with) the message."""
    settings.ORDER_NOTIFIERS = ["core.messaging.EmailChannel"]
    customer = CustomerWithLoginFactory()
    cart = _cart(shop, customer, 2)
    token = AuthToken.objects.create(user=customer.user)[1]
    request = RequestFactory().post(
        CHECKOUT,
        data=json.dumps(_body(shop, cart)),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
        HTTP_IDEMPOTENCY_KEY="after-response",
    )
    mail.outbox.clear()

    response = WSGIHandler()(request.environ, lambda status, headers: None)

    assert response.status_code == 201, response.content
    order = Order.objects.get(number=json.loads(response.content)["number"])  # committed
    assert not Notification.objects.filter(order=order).exists()
    assert mail.outbox == []

    response.close()  # what the server does once the client has the response

    sent = Notification.objects.get(order=order, event="placed")
    assert sent.sent_at is not None
    assert [message.to for message in mail.outbox] == [[order.contact_email]]
