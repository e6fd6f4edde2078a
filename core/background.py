"""Side effects after commit: queued, retried by the worker, never raised into the request.

A committed write is the answer the client gets. What follows it (a notification, a
verification code) goes through `enqueue_on_commit`, and nothing about it can fail the
request that changed the database.

With a broker (`make serve`) the task is written to the outbox (`core.OutboxMessage`) in
the caller's transaction — inside a checkout, with its other appends in the same round
trip (`core.db.batched_writes`) — so it exists exactly when the transaction committed: a
rollback leaves none, and a broker that is down at commit loses none. The relay
(`outbox_relay`, a beat task every OUTBOX_RELAY_EVERY_SECONDS) publishes the outbox's
tasks to their queues, oldest first, and deletes them in one transaction; if publishing
fails, they stay for the next run. A task may so be delivered twice (published, then the
delete not committed): tasks are safe to run twice. The request never publishes: Celery's
publish cost a checkout more than its whole batch of writes.

Without a broker (tasks run eagerly: the default demo and the tests) a task queued during a
request runs once the transaction commits and the response has been sent (Django's
`request_finished`, sent when the server closes the response), so the client never waits
for a notification; an error is logged, not raised.
"""

import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import orjson
from celery import current_app
from django.core.signals import request_finished, request_started
from django.db import transaction

from core.db import insert_many, new
from core.models import OutboxMessage

logger = logging.getLogger(__name__)

# The eager tasks of the request being served, run after its response (None: no request).
_after_response: ContextVar[list | None] = ContextVar("background_after_response", default=None)


def _request_started(**_kwargs: Any) -> None:
    _after_response.set([])


def _request_finished(**_kwargs: Any) -> None:
    pending = _after_response.get()
    _after_response.set(None)
    for task, args, kwargs in pending or ():
        enqueue(task, *args, **kwargs)


request_started.connect(_request_started, dispatch_uid="core.background.request_started")
request_finished.connect(_request_finished, dispatch_uid="core.background.request_finished")


def enqueue(task, *args: Any, **kwargs: Any) -> None:
    """Queue `task` now; log instead of raising if that fails."""
    try:
        task.delay(*args, **kwargs)
    except Exception:
        logger.exception("background task %s(%r) could not be queued or failed", task.name, args)


def enqueue_on_commit(task, *args: Any, **kwargs: Any) -> None:
    """Queue `task` with the current transaction (at once outside one): into the outbox
    with a broker; eagerly, once it commits and the current response has been sent,
    without one. Arguments must be JSON values (ids and strings), as in a message."""
    # Ids and strings: anything else is refused here (TypeError, before anything is
    # written), with or without a broker, so the demo and the tests refuse what the
    # outbox would.
    orjson.dumps([args, kwargs])
    name, app = _task_of(task)
    if app.conf.task_always_eager:
        transaction.on_commit(lambda: _after_commit(task, args, kwargs))
        return
    headers: dict[str, str] = {}
    for provider in _header_providers:
        headers.update(provider())
    message = new(OutboxMessage, task=name, args=list(args), kwargs=kwargs, headers=headers)
    insert_many(OutboxMessage, [message])  # with the transaction's batch, where there is one


_tasks: dict[int, tuple[str, Any, Any]] = {}


def _task_of(task) -> tuple[str, Any]:
    """A task's name and app, found once per task: a shared task is a proxy, and each
    attribute read through it finds the task in its app again (3% of a checkout)."""
    found = _tasks.get(id(task))
    if found is None or found[2] is not task:
        found = _tasks[id(task)] = (task.name, task.app, task)
    return found[0], found[1]


# Headers an outbox message is published with, read when it is queued (the request id:
# `ops.tasks_signals` registers it, so its task logs under the request that queued it).
_header_providers: list[Callable[[], dict[str, str]]] = []


def add_header_provider(provider: Callable[[], dict[str, str]]) -> None:
    if provider not in _header_providers:
        _header_providers.append(provider)


def outbox_relay(*, batch: int = 500, most: int = 20_000) -> int:
    """Publish the committed outbox's tasks to their queues (Celery's routes, by task name),
    oldest first, and delete them: a batch per transaction, its rows locked so that two
    relays never publish the same one (SKIP LOCKED). Stops at the first batch it cannot
    publish (logged; the batch stays for the next run). Returns how many it published."""
    published = 0
    while published < most:
        try:
            with transaction.atomic():
                rows = list(
                    OutboxMessage.objects.select_for_update(skip_locked=True)
                    .order_by("pk")
                    .values_list("pk", "task", "args", "kwargs", "headers")[:batch]
                )
                for _pk, name, args, kwargs, headers in rows:
                    current_app.send_task(name, args=args, kwargs=kwargs, headers=headers or None)
                OutboxMessage.objects.filter(pk__in=[row[0] for row in rows]).delete()
        except Exception:
            logger.exception("the outbox could not be published; it is retried on the next run")
            break
        published += len(rows)
        if len(rows) < batch:
            break
    return published


def _after_commit(task, args: tuple, kwargs: dict) -> None:
    pending = _after_response.get()
    if pending is not None and task.app.conf.task_always_eager:
        pending.append((task, args, kwargs))
    else:
        enqueue(task, *args, **kwargs)
