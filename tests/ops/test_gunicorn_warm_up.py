"""The gunicorn master imports what a worker's first request would, before it forks."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django
django.setup()
before = {name for name in ("config.urls", "kombu.transport.redis", "redis") if name in sys.modules}
import config.gunicorn as settings
settings._warm_up()
after = {name for name in ("config.urls", "kombu.transport.redis", "redis") if name in sys.modules}
print(sorted(before), sorted(after))
"""


def _probe(broker: str) -> str:
    # A port nothing listens on: warming up must not connect to the broker.
    env = {"CELERY_BROKER_URL": broker, "PATH": "/usr/bin:/bin", "DEBUG": "true"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_url_conf_and_the_brokers_client_are_imported_without_connecting():
    assert _probe("redis://127.0.0.1:9/0") == "[] ['config.urls', 'kombu.transport.redis', 'redis']"


def test_without_a_broker_only_the_url_conf_is_imported():
    assert _probe("") == "[] ['config.urls']"


def test_no_access_line_is_built_without_an_access_log():
    """With the JSON logging config and no `accesslog`, gunicorn's logger skips a request's
    access fields (the app writes its own access line); with one, it writes it."""
    import config.gunicorn as settings

    class Cfg:
        accesslog = None

    calls = []

    class Probe(settings.AppLogger):
        def __init__(self, accesslog):
            self.cfg = Cfg()
            self.cfg.accesslog = accesslog

        def atoms(self, *args):
            calls.append(args)
            return {}

        @property
        def access_log(self):
            return self

        def info(self, *args):
            calls.append(("logged",))

        access_log_format = ""

    Probe(None).access(None, None, {}, None)
    assert calls == []
    logger = Probe("-")
    logger._access_log_enabled = True
    logger.cfg.access_log_format = "%(h)s"
    logger.access(None, None, {}, None)
    assert calls and calls[-1] == ("logged",)
