"""Log records as one JSON object per line, each with the request id of its work.

`RequestIdFilter` (on the handler) stamps every record with the current request id and,
inside a Celery task, the task's name and id; `JsonFormatter` writes the record as JSON:
time (UTC, ISO 8601), level, logger, message, request_id, process, the extra fields a
caller passed, and the traceback of an exception. LOG_FORMAT chooses `json` (the default
when DEBUG is off) or `text` (plain messages, as the demo server prints them).
"""

import logging
from datetime import UTC, datetime

from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter

from ops import context


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = context.get()
        task = context.current_task()
        if task is not None and not hasattr(record, "task"):
            record.task, record.task_id = task
        return True


class JsonFormatter(_BaseJsonFormatter):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("json_ensure_ascii", False)
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        super().__init__("{levelname}{name}{message}{process}", *args, style="{", **kwargs)

    def add_fields(self, log_data, record, message_dict) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, tz=UTC).isoformat(
            timespec="milliseconds"
        )
        super().add_fields(log_data, record, message_dict)
        log_data.setdefault("request_id", getattr(record, "request_id", None))
