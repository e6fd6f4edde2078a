"""Production settings come from the environment; `make serve` refuses SQLite.

Each case loads the settings in a fresh interpreter with its own environment, as a
deployment would.
"""

import json
import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings

KEY = secrets.token_urlsafe(50)
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": KEY,
    "ALLOWED_HOSTS": "shop.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://shop.example.com",
}
SHOWN = [
    "DEBUG",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_PROXY_SSL_HEADER",
    "CSRF_TRUSTED_ORIGINS",
    "LOG_FORMAT",
    "ACCESS_LOG",
    "CELERY_TASK_ALWAYS_EAGER",
    "PICKUP_HOLD_DAYS",
]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECURE_"))}
    for name in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "LOG_FORMAT"):
        env.pop(name, None)
    env.pop("CELERY_BROKER_URL", None)
    return env | {"DJANGO_SETTINGS_MODULE": "config.settings"} | extra


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env=_clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _settings(**env: str) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({{n: getattr(s, n, None) for n in {SHOWN!r}}}))"
    )
    done = _run(code, **env)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_debug_off_without_a_secret_key_refuses_to_start():
    done = _run("import django; django.setup()", DEBUG="false")
    assert done.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in done.stderr


def test_debug_off_means_secure_cookies_json_logs_and_an_access_log():
    shown = _settings(**PRODUCTION)
    assert shown["DEBUG"] is False
    assert shown["SESSION_COOKIE_SECURE"] is True and shown["CSRF_COOKIE_SECURE"] is True
    assert shown["CSRF_TRUSTED_ORIGINS"] == ["https://shop.example.com"]
    assert shown["LOG_FORMAT"] == "json" and shown["ACCESS_LOG"] is True
    # Without a TLS proxy named, plain HTTP is not redirected (nothing could answer HTTPS).
    assert shown["SECURE_SSL_REDIRECT"] is False and shown["SECURE_PROXY_SSL_HEADER"] is None


def test_behind_a_tls_proxy_http_is_redirected_and_hsts_is_sent():
    shown = _settings(**PRODUCTION, SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https")
    assert shown["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert shown["SECURE_SSL_REDIRECT"] is True
    assert shown["SECURE_HSTS_SECONDS"] == 31536000


def test_a_malformed_proxy_ssl_header_refuses_to_start():
    done = _run("import django; django.setup()", **PRODUCTION, SECURE_PROXY_SSL_HEADER="X-Proto")
    assert done.returncode != 0 and "SECURE_PROXY_SSL_HEADER" in done.stderr


def test_the_deploy_check_finds_only_the_hsts_choices_left_to_the_operator():
    done = _run(
        "import django, sys; django.setup(); from django.core.management import call_command; "
        "call_command('check', deploy=True, fail_level='ERROR')",
        **PRODUCTION,
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    warned = {part.split(")")[0] for part in done.stderr.split("(security.")[1:]}
    # Subdomains and the preload list are the operator's decision (SECURE_HSTS_* env).
    assert warned <= {"W005", "W021"}, done.stderr


def test_the_demo_and_the_tests_keep_debug_text_logs_and_eager_tasks():
    shown = _settings()
    assert shown["DEBUG"] is True and shown["LOG_FORMAT"] == "text"
    assert shown["CELERY_TASK_ALWAYS_EAGER"] is True and shown["ACCESS_LOG"] is False


def test_a_pickup_hold_may_be_a_fraction_of_a_day_and_stays_whole_by_default():
    assert _settings()["PICKUP_HOLD_DAYS"] == 5
    assert _settings(PICKUP_HOLD_DAYS="0.0001")["PICKUP_HOLD_DAYS"] == 0.0001


@pytest.mark.parametrize("database_url", [None, "sqlite:////tmp/omnicore-serve.sqlite3"])
def test_make_serve_refuses_sqlite_with_a_clear_message(database_url, tmp_path):
    env = _clean_env(SERVE_RUN_DIR=str(tmp_path))
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    done = subprocess.run(
        [sys.executable, "-m", "ops.serve"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "needs PostgreSQL" in done.stderr and "make run" in done.stderr
    assert not (tmp_path / "prometheus").exists()  # nothing was started
