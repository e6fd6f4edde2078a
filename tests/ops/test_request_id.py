"""Request ids: taken from X-Request-ID when well formed, echoed, in every log line and task."""

import io
import json
import logging

import pytest
from celery import shared_task
from django.test import Client, override_settings

from ops import context
from ops.logs import JsonFormatter, RequestIdFilter
from ops.tasks_signals import HEADER, _stamp_request_id

pytestmark = pytest.mark.django_db


@shared_task(name="tests.ops.request_id_seen")
def request_id_seen() -> str | None:
    logging.getLogger("tests.ops.task").info("inside the task")
    return context.get()


@pytest.fixture
def json_lines():
    """Log records of every logger, through the JSON formatter and request id filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_a_well_formed_request_id_is_kept_and_echoed(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a:01.2")
    assert response["X-Request-ID"] == "lb-7f3a:01.2"


@pytest.mark.parametrize(
    "sent",
    [None, "", "x" * 129, "two words", "line\nbreak", "<script>", "-starts-with-a-dash"],
)
def test_a_missing_or_malformed_request_id_is_replaced_by_a_new_one(client, sent):
    headers = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}
    response = client.get("/healthz", **headers)
    echoed = response["X-Request-ID"]
    assert echoed != sent
    assert len(echoed) == 32 and int(echoed, 16) >= 0


def test_each_request_gets_its_own_id(client):
    assert client.get("/healthz")["X-Request-ID"] != client.get("/healthz")["X-Request-ID"]


def test_the_access_log_line_is_json_with_the_request_id_status_and_duration(json_lines):
    with override_settings(ACCESS_LOG=True):
        client = Client()  # its middleware reads ACCESS_LOG when built
        client.get("/api/v1/catalog/products/", HTTP_X_REQUEST_ID="req-42")
    access = [line for line in json_lines() if line["logger"] == "omnicore.access"]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == "req-42"
    assert (line["method"], line["path"], line["status"]) == (
        "GET",
        "/api/v1/catalog/products/",
        200,
    )
    assert line["level"] == "INFO" and line["duration_ms"] >= 0
    assert line["time"].endswith("+00:00")


def test_no_access_log_line_when_it_is_off(json_lines):
    with override_settings(ACCESS_LOG=False):
        Client().get("/healthz")
    assert not [line for line in json_lines() if line["logger"] == "omnicore.access"]


def test_a_log_line_outside_any_request_has_no_request_id(json_lines):
    logging.getLogger("tests.ops").warning("no request here")
    (line,) = json_lines()
    assert line["request_id"] is None and line["message"] == "no request here"


def test_an_exception_is_logged_with_its_traceback(json_lines):
    token = context.bind("req-err")
    try:
        raise ValueError("broken")
    except ValueError:
        logging.getLogger("tests.ops").exception("it failed")
    finally:
        context.reset(token)
    (line,) = json_lines()
    assert line["request_id"] == "req-err"
    assert "ValueError: broken" in line["exc_info"]


def test_publishing_a_task_puts_the_request_id_in_its_headers():
    headers: dict = {}
    token = context.bind("req-publish")
    try:
        _stamp_request_id(headers=headers)
    finally:
        context.reset(token)
    assert headers == {HEADER: "req-publish"}


def test_a_task_runs_under_the_request_id_of_its_message_and_logs_it(json_lines):
    result = request_id_seen.apply(headers={HEADER: "req-from-web"})
    assert result.get() == "req-from-web"
    (line,) = [line for line in json_lines() if line["logger"] == "tests.ops.task"]
    assert line["request_id"] == "req-from-web"
    assert line["task"] == "tests.ops.request_id_seen" and line["task_id"] == result.id
    assert context.get() is None  # the worker's context is restored after the task


def test_an_eager_task_keeps_the_request_id_of_the_request_that_runs_it():
    token = context.bind("req-eager")
    try:
        assert request_id_seen.apply().get() == "req-eager"
        assert context.get() == "req-eager"
    finally:
        context.reset(token)


def test_a_task_without_a_request_gets_an_id_of_its_own():
    seen = request_id_seen.apply().get()
    assert seen and len(seen) == 32
