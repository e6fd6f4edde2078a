"""The production stack for the tests of this folder: `python -m ops.serve`, as `make serve`.

The same entry point and Procfile as `make serve` — migrate, collectstatic, honcho running
gunicorn (3 workers), a Celery worker (2 processes) and Celery beat — on a free port, with
a database of its own (a copy of the migrated test database when this run made one, else
a new one that `make serve`'s migrate step fills; dropped afterwards)
and a Redis database number of its own (TEST_STACK_REDIS_URL, default
redis://127.0.0.1:6379/12, emptied first). The test process points its own connection at
the stack's database while these tests run, so factories write where the stack reads and
the rest of the suite never sees these rows.

For the tests, pickups wait PICKUP_HOLD_DAYS=0.0001 (8.6 s) and beat runs the pickup
expiry every second; mail goes to files (tests.stack.mail).
"""

import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

REDIS_URL = os.environ.get("TEST_STACK_REDIS_URL", "redis://127.0.0.1:6379/12")
HOLD_DAYS = "0.0001"  # 8.64 s
STARTUP_SECONDS = 120


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class Answer:
    status: int
    body: dict
    headers: dict
    text: str = ""


@dataclass
class Stack:
    port: int
    run_dir: Path
    log: Path
    mail_dir: Path
    database: str
    process: subprocess.Popen | None = None
    _log_offset: int = field(default=0)

    # --- HTTP ----------------------------------------------------------------------------

    def request(
        self, method: str, path: str, body=None, *, token=None, scheme="Token", headers=None
    ) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        sent = {"Content-Type": "application/json"} | (headers or {})
        if token:
            sent["Authorization"] = f"{scheme} {token}"
        try:
            conn.request(
                method, path, body=None if body is None else json.dumps(body), headers=sent
            )
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        text = raw.decode(errors="replace")
        try:
            parsed = json.loads(text) if text else {}
        except ValueError:
            parsed = {}
        headers = {k.lower(): v for k, v in response.getheaders()}
        return Answer(response.status, parsed, headers, text)

    def get(self, path: str, **kwargs) -> Answer:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body=None, **kwargs) -> Answer:
        return self.request("POST", path, body, **kwargs)

    # --- processes and logs --------------------------------------------------------------

    def log_lines(self) -> list[dict]:
        """The JSON log lines of every process so far (honcho prefixes each with its name)."""
        lines = []
        for raw in self.log.read_text(errors="replace").splitlines():
            name, _bar, rest = raw.partition(" | ")
            if rest.startswith("{"):
                try:
                    record = json.loads(rest)
                except ValueError:
                    continue
                record["_process"] = name.split()[-1] if name.split() else ""
                lines.append(record)
        return lines

    def gunicorn_workers(self) -> list[int]:
        master = int((self.run_dir / "gunicorn.pid").read_text())
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        return [int(pid) for pid in children]

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def wait_for(predicate, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def _admin_connection():
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    )


def _create_database(name: str, template: str | None) -> None:
    """A copy of the migrated test database (instant) when there is one, else an empty
    database that `ops.serve` migrates, as `make serve` does on a new server."""
    connection.close()
    with _admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        for _attempt in range(5 if template else 0):
            try:
                admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                return
            except psycopg.errors.ObjectInUse:  # another session still on the template
                time.sleep(1)
        admin.execute(f'CREATE DATABASE "{name}"')


def _drop_database(name: str) -> None:
    with _admin_connection() as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            [name],
        )
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)  # honcho stops gunicorn, worker and beat
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    try:  # anything of the group that outlived honcho
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="package")
def stack(django_db_setup, django_db_blocker, tmp_path_factory):
    if connection.vendor != "postgresql":
        pytest.skip("the stack runs on PostgreSQL only")
    if not _redis_up():
        pytest.skip("needs Redis on 127.0.0.1:6379 as the Celery broker")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    run_dir = tmp_path_factory.mktemp("stack")
    mail_dir = run_dir / "mail"
    mail_dir.mkdir()
    # pytest-django made `test_<name>` only if some test of this run needed the database.
    name = connection.settings_dict["NAME"]
    template = name if name.startswith("test_") else None
    stack_db = f"test_{name.removeprefix('test_')}_stack"[:63]
    with django_db_blocker.unblock():
        _create_database(stack_db, template=template)

    db = connection.settings_dict
    user = f"{db['USER']}:{db['PASSWORD']}" if db.get("PASSWORD") else db["USER"]
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    for name in ("CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "DEBUG", "LOG_FORMAT"):
        env.pop(name, None)
    env |= {
        "DATABASE_URL": f"postgres://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        f"/{stack_db}",
        "REDIS_URL": REDIS_URL,
        "PORT": str(port),
        "SERVE_RUN_DIR": str(run_dir),
        "STATIC_ROOT": str(run_dir / "static"),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "WEB_CONCURRENCY": "3",
        "CELERY_CONCURRENCY": "2",
        "GUNICORN_TIMEOUT": "120",
        "LOG_LEVEL": "INFO",
        "EMAIL_BACKEND": "tests.stack.mail.SlowFileBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        "PICKUP_HOLD_DAYS": HOLD_DAYS,
        "PICKUP_EXPIRY_EVERY_SECONDS": "1",
        # Many logins and quotes from one address in a few seconds: not an attack here.
        "THROTTLE_AUTH_LOGIN": "10000/minute",
        "THROTTLE_PRICING_QUOTE": "10000/minute",
        "PICKUP_HANDOVER_RATE": "10000/minute",
    }
    log = run_dir / "stack.log"
    stack = Stack(port=port, run_dir=run_dir, log=log, mail_dir=mail_dir, database=stack_db)
    with open(log, "w") as out:
        stack.process = subprocess.Popen(
            [sys.executable, "-m", "ops.serve"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def started() -> bool:
            assert stack.process.poll() is None, stack.tail()
            text = log.read_text(errors="replace")
            if not re.search(r"worker@\S+ ready\.", text) or "beat: Starting" not in text:
                return False
            try:
                return stack.get("/readyz").status == 200
            except OSError:
                return False

        assert wait_for(started, STARTUP_SECONDS, 0.5), "the stack did not start:\n" + stack.tail()
        # The test process now reads and writes the stack's database.
        original = connection.settings_dict["NAME"]
        with django_db_blocker.unblock():
            connection.close()
            connection.settings_dict["NAME"] = stack_db
            try:
                yield stack
            finally:
                connection.close()
                connection.settings_dict["NAME"] = original
    finally:
        _stop(stack.process)
        _drop_database(stack_db)
