"""The request id of the work in progress: an HTTP request or the Celery task it set off.

One context variable holds it, so every log line written while serving a request (in any
module, through any logger) can carry it without passing it around; Celery tasks get it
from a message header (see `ops.tasks_signals`). A client or proxy may send its own id in
`X-Request-ID`; it is kept when it is well formed (1–128 characters of letters, digits and
`. _ : - + / =`, the shapes load balancers and tracing proxies send), else a new one is made,
so a header can never smuggle a line break or a megabyte into the logs.
"""

import re
import uuid
from contextvars import ContextVar, Token

_WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+/=-]{0,127}")
_request_id: ContextVar[str | None] = ContextVar("omnicore_request_id", default=None)
_task: ContextVar[tuple[str, str] | None] = ContextVar("omnicore_task", default=None)


def new_id() -> str:
    return uuid.uuid4().hex


def accept(value: str | None) -> str:
    """The id to use for a request that sent `value` in its X-Request-ID header."""
    if value and _WELL_FORMED.fullmatch(value):
        return value
    return new_id()


def get() -> str | None:
    return _request_id.get()


def bind(request_id: str | None) -> Token:
    return _request_id.set(request_id)


def reset(token: Token) -> None:
    _request_id.reset(token)


def current_task() -> tuple[str, str] | None:
    """(task name, task id) of the Celery task running in this context, if any."""
    return _task.get()


def bind_task(name: str, task_id: str) -> Token:
    return _task.set((name, task_id))


def reset_task(token: Token) -> None:
    _task.reset(token)
