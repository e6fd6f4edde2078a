"""Side effects after commit: queued, retried by the worker, never raised into the request.

A committed write is the answer the client gets. What follows it (a notification, a
verification code) goes through `enqueue_on_commit`: the task is queued when the
transaction commits, and if queueing fails — the broker is down, or in eager mode the task
itself fails after its retries — the error is logged, not raised, so a request that
changed the database never answers 500 because of a message.

Off the request path: with a broker, queueing is all the request does. Without one (tasks
run eagerly, the default demo) a task queued during a request runs when the response has
been sent (Django's `request_finished`, sent when the server closes the response), so the
client never waits for a notification and a failing one never touches its answer.
"""

import logging
from contextvars import ContextVar
from typing import Any

from django.core.signals import request_finished, request_started
from django.db import transaction

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
    """Queue `task` once the current transaction commits (at once outside a transaction);
    a task run eagerly waits until the response of the current request has been sent."""
    transaction.on_commit(lambda: _after_commit(task, args, kwargs))


def _after_commit(task, args: tuple, kwargs: dict) -> None:
    pending = _after_response.get()
    if pending is not None and task.app.conf.task_always_eager:
        pending.append((task, args, kwargs))
    else:
        enqueue(task, *args, **kwargs)
