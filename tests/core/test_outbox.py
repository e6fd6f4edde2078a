"""The outbox: with a broker, a task queued by a transaction is written in it, and the
relay publishes it to its queue afterwards (core.background).

The broker here is kombu's in-memory transport (the tests' CELERY_BROKER_URL): the relay
publishes through Celery's real producer and routes, and the tests read the message back
from the queue a worker would consume. The stack tests (tests/stack) run the relay in the
real worker, driven by beat, on Redis.
"""

import pytest
from celery import current_app
from django.db import transaction

from core import background
from core.models import OutboxMessage
from ops import context
from orders.tasks import order_notify
from returns.tasks import return_refunds_execute


@pytest.fixture
def broker_mode():
    """Tasks are not run eagerly: they go to the outbox, as under `make serve`."""
    eager = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = False
    try:
        yield
    finally:
        current_app.conf.task_always_eager = eager


def _drain(queue_name: str) -> list:
    """The messages waiting in a queue of the in-memory broker, taken off it."""
    messages = []
    with current_app.connection_for_read() as conn:
        queue = conn.SimpleQueue(queue_name)
        try:
            while True:
                message = queue.get(block=True, timeout=0.2)
                message.ack()
                messages.append(message)
        except queue.Empty:
            pass
        finally:
            queue.close()
    return messages


@pytest.mark.django_db
def test_a_queued_task_is_in_the_outbox_exactly_when_its_transaction_commits(broker_mode):
    with pytest.raises(RuntimeError), transaction.atomic():
        background.enqueue_on_commit(order_notify, 41, "placed")
        assert OutboxMessage.objects.count() == 1  # written in the transaction itself
        raise RuntimeError("the service failed after queueing")
    assert not OutboxMessage.objects.exists()

    with transaction.atomic():
        background.enqueue_on_commit(order_notify, 42, "ready_for_pickup", "extra")
    message = OutboxMessage.objects.get()
    assert (message.task, message.args, message.kwargs) == (
        "orders.tasks.order_notify",
        [42, "ready_for_pickup", "extra"],
        {},
    )


@pytest.mark.django_db
def test_the_outbox_keeps_the_request_id_of_the_request_that_queued_the_task(broker_mode):
    token = context.bind("req-outbox-1")
    try:
        background.enqueue_on_commit(order_notify, 7, "placed")
    finally:
        context.reset(token)
    background.enqueue_on_commit(order_notify, 8, "placed")  # outside any request
    queued = list(OutboxMessage.objects.order_by("pk").values_list("args", "headers"))
    assert queued == [([7, "placed"], {"omnicore_request_id": "req-outbox-1"}), ([8, "placed"], {})]


@pytest.mark.django_db
def test_the_relay_publishes_each_task_to_its_queue_with_its_arguments_and_deletes_it(
    broker_mode,
):
    _drain("notifications"), _drain("celery")
    token = context.bind("req-outbox-2")
    try:
        background.enqueue_on_commit(order_notify, 11, "placed")
        background.enqueue_on_commit(return_refunds_execute, 5)
    finally:
        context.reset(token)

    assert background.outbox_relay() == 2
    assert not OutboxMessage.objects.exists()
    notify, refunds = _drain("notifications"), _drain("celery")
    assert [m.headers["task"] for m in notify] == ["orders.tasks.order_notify"]
    assert [m.headers["task"] for m in refunds] == ["returns.tasks.return_refunds_execute"]
    assert notify[0].payload[0] == [11, "placed"] and refunds[0].payload[0] == [5]
    assert notify[0].headers["omnicore_request_id"] == "req-outbox-2"
    assert background.outbox_relay() == 0  # nothing is published twice


@pytest.mark.django_db
def test_a_batch_the_broker_refuses_stays_in_the_outbox_for_the_next_run(
    broker_mode, monkeypatch, caplog
):
    _drain("notifications")
    for order_id in (1, 2, 3):
        background.enqueue_on_commit(order_notify, order_id, "placed")
    publish = current_app.send_task
    calls = []

    def broker_down_after_one(name, *args, **kwargs):
        calls.append(name)
        if len(calls) == 2:
            raise ConnectionError("broker unreachable")
        return publish(name, *args, **kwargs)

    monkeypatch.setattr(current_app, "send_task", broker_down_after_one)
    assert background.outbox_relay() == 0
    assert OutboxMessage.objects.count() == 3  # the whole batch stays
    assert "the outbox could not be published" in caplog.text

    monkeypatch.setattr(current_app, "send_task", publish)
    assert background.outbox_relay() == 3
    # The task published before the failure is published again: at least once, and the
    # tasks are safe to run twice.
    sent = [m.payload[0][0] for m in _drain("notifications")]
    assert sorted(sent) == [1, 1, 2, 3]


@pytest.mark.django_db
def test_the_relay_publishes_in_batches_oldest_first(broker_mode):
    _drain("notifications")
    for order_id in range(7):
        background.enqueue_on_commit(order_notify, order_id, "placed")
    assert background.outbox_relay(batch=3) == 7
    assert [m.payload[0][0] for m in _drain("notifications")] == list(range(7))
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_without_a_broker_nothing_goes_to_the_outbox():
    """The demo and the tests run tasks eagerly after commit: no relay runs there."""
    assert current_app.conf.task_always_eager
    background.enqueue_on_commit(order_notify, 999_999, "placed")  # no such order: logged
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("eager", [True, False])
def test_an_argument_a_message_cannot_carry_is_refused_in_either_mode(eager):
    """Ids and strings only: an object is refused when it is queued, with or without a
    broker, so the tests catch what the outbox would refuse in production."""
    from decimal import Decimal

    was = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = eager
    try:
        with pytest.raises(TypeError):
            background.enqueue_on_commit(order_notify, Decimal("1.5"), "placed")
    finally:
        current_app.conf.task_always_eager = was
    assert not OutboxMessage.objects.exists()
