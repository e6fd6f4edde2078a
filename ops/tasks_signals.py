"""Celery signal handlers: the request id travels with a task, and every run is counted.

When a task is published (`before_task_publish`), the current request id goes into the
message headers (queued to the outbox, the id is kept with it and published by the relay);
when a worker starts the task (`task_prerun`) it binds that id (or, for a task published
by beat or outside any request, a new one), so the task's log lines carry the id of the
request that set it off, and tasks it publishes in turn carry it further.
Eager runs (no broker: the demo and the tests) execute inside the request and keep its id.

Outcomes (success, failure, retry, revoked) and run times feed `ops.metrics`.
"""

import time

from celery.signals import (
    before_task_publish,
    task_failure,
    task_postrun,
    task_prerun,
    task_retry,
    task_revoked,
    task_success,
)

from core import background
from ops import context, metrics

HEADER = "omnicore_request_id"

# task id → (the context tokens to restore, start time), for the runs in this process.
_running: dict[str, tuple] = {}


@before_task_publish.connect(dispatch_uid="ops.request_id_header")
def _stamp_request_id(headers=None, **_kwargs) -> None:
    request_id = context.get()
    if request_id and headers is not None:
        headers.setdefault(HEADER, request_id)


def _request_id_header() -> dict[str, str]:
    request_id = context.get()
    return {HEADER: request_id} if request_id else {}


# A task queued to the outbox is published later by the relay: it keeps the id of the
# request that queued it, not the relay's.
background.add_header_provider(_request_id_header)


def _header(task) -> str | None:
    request = getattr(task, "request", None)
    if request is None:
        return None
    value = getattr(request, HEADER, None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(HEADER)
    return value


@task_prerun.connect(dispatch_uid="ops.task_prerun")
def _task_started(task_id=None, task=None, **_kwargs) -> None:
    request_id = _header(task) or context.get() or context.new_id()
    tokens = (context.bind(request_id), context.bind_task(task.name, task_id))
    _running[task_id] = (tokens, time.perf_counter())


@task_postrun.connect(dispatch_uid="ops.task_postrun")
def _task_finished(task_id=None, task=None, **_kwargs) -> None:
    entry = _running.pop(task_id, None)
    if entry is None:
        return
    (request_token, task_token), started = entry
    metrics.TASK_SECONDS.labels(task.name).observe(time.perf_counter() - started)
    try:
        context.reset_task(task_token)
        context.reset(request_token)
    except ValueError:  # finished in another context than it started: nothing to restore
        pass


def _count(sender, outcome: str) -> None:
    name = getattr(sender, "name", None) or str(sender)
    metrics.TASKS.labels(name, outcome).inc()


@task_success.connect(dispatch_uid="ops.task_success")
def _task_succeeded(sender=None, **_kwargs) -> None:
    _count(sender, "success")


@task_failure.connect(dispatch_uid="ops.task_failure")
def _task_failed(sender=None, **_kwargs) -> None:
    _count(sender, "failure")


@task_retry.connect(dispatch_uid="ops.task_retry")
def _task_retried(sender=None, **_kwargs) -> None:
    _count(sender, "retry")


@task_revoked.connect(dispatch_uid="ops.task_revoked")
def _task_revoked(sender=None, **_kwargs) -> None:
    _count(sender, "revoked")
