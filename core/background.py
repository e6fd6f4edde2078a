"""Side effects after commit: queued, retried by the worker, never raised into the request.

A committed write is the answer the client gets. What follows it (a notification, a
verification code) goes through `enqueue_on_commit`: the task is queued when the
transaction commits, and if queueing fails — the broker is down, or in eager mode the task
itself fails after its retries — the error is logged, not raised, so a request that
changed the database never answers 500 because of a message.
"""

import logging
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue(task, *args: Any, **kwargs: Any) -> None:
    """Queue `task` now; log instead of raising if that fails."""
    try:
        task.delay(*args, **kwargs)
    except Exception:
        logger.exception("background task %s(%r) could not be queued or failed", task.name, args)


def enqueue_on_commit(task, *args: Any, **kwargs: Any) -> None:
    """Queue `task` once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(lambda: enqueue(task, *args, **kwargs))
