"""gunicorn settings of `make serve` (the `web` line of the Procfile), from the environment.

The app is loaded once in the master (`preload_app`) and the workers are forked from it.
Right after loading, the master imports what a worker's first request would (the URL
conf, the broker's client library), collects garbage once and moves every object it holds
into the permanent generation (`gc.freeze()`): the workers then never scan the tens of
thousands of long-lived objects of Django, the URL conf and the serializers again (a
full collection in a worker only looks at what the worker made), and the pages holding
them stay shared between the workers instead of being copied when a collection touches
their reference counts. The workers collect the youngest generation every 10,000 new
objects instead of Python's 700 (a catalog page of 50 makes a few thousand: 3
collections per request with Python's, well under one with these); GC_THRESHOLDS
(e.g. "50000,20,20", or "700,10,10" for Python's own) overrides them.

Environment: HOST and PORT (127.0.0.1:8000), WEB_CONCURRENCY (workers, default 2 per
core, at least 2), GUNICORN_TIMEOUT (a worker silent this long is killed and replaced,
default 30 s), GUNICORN_MAX_REQUESTS (a worker is replaced after this many requests, with
jitter, default 5000: bounds a slow leak), PROMETHEUS_MULTIPROC_DIR (see ops.metrics),
SERVE_RUN_DIR (where the pid file goes).
"""

import gc
import os
import random

from gunicorn.glogging import Logger

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY") or max(2, 2 * (os.cpu_count() or 1)))
worker_class = "sync"
preload_app = True
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = max_requests // 10
# Workers' heartbeat files in memory, not on a disk that can stall under load.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# One JSON line per request comes from the app (ops.middleware); gunicorn's own lines
# (start, worker boots and timeouts) go to stderr through the same JSON formatter.
accesslog = None
errorlog = "-"


class AppLogger(Logger):
    """gunicorn's logger, writing no access line unless `accesslog` names a target: given a
    logging config (`logconfig_dict` below), gunicorn builds every request's access-line
    fields even when no access log is kept (2% of a checkout's time in a worker)."""

    def access(self, resp, req, environ, request_time) -> None:
        if self.cfg.accesslog:
            super().access(resp, req, environ, request_time)


logger_class = AppLogger
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
if os.environ.get("SERVE_RUN_DIR"):
    pidfile = os.path.join(os.environ["SERVE_RUN_DIR"], "gunicorn.pid")
    # gunicornc's socket beside it, so that two stacks on one machine do not share one.
    control_socket = os.path.join(os.environ["SERVE_RUN_DIR"], "gunicorn.ctl")
else:
    control_socket_disable = True
if (os.environ.get("LOG_FORMAT") or "json") == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "ops.logs.JsonFormatter"}},
        "handlers": {
            "error_console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "gunicorn.error": {"level": loglevel.upper(), "handlers": ["error_console"]},
        },
        "root": {"level": "INFO", "handlers": []},
    }


WORKER_GC_THRESHOLDS = (10_000, 10, 10)


def worker_gc_thresholds() -> tuple[int, ...]:
    """The collection thresholds of the workers: GC_THRESHOLDS, else WORKER_GC_THRESHOLDS."""
    text = os.environ.get("GC_THRESHOLDS")
    return tuple(int(value) for value in text.split(",")) if text else WORKER_GC_THRESHOLDS


def when_ready(server) -> None:
    """After the app is loaded, before the first fork: what every worker's first request
    would import is imported, no open connections, frozen heap."""
    from django.db import connections

    _warm_up()
    connections.close_all()  # a socket opened while loading must not be shared by workers
    gc.collect()
    gc.freeze()
    server.log.info("app loaded; %d objects frozen out of the collector", gc.get_freeze_count())


def _warm_up() -> None:
    """Import in the master what Django and Celery import lazily on a worker's first
    request: the URL conf with every view and serializer it names, and the broker's
    transport with its client library (redis). In the checkout benchmark's few seconds of
    load, four new workers spent about 40% of their Python time on those imports. Nothing
    is connected: a transport class is only looked up."""
    from django.urls import get_resolver
    from kombu.transport import get_transport_cls

    from config.celery import app

    get_resolver().url_patterns  # noqa: B018 — imports the URL conf and the views
    if not app.conf.task_always_eager:
        get_transport_cls(app.conf.broker_url.partition("://")[0])


def post_fork(server, worker) -> None:
    random.seed()  # each worker its own sequence (the fork copied the master's state)
    gc.set_threshold(*worker_gc_thresholds())


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
