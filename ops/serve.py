"""`make serve`: migrate, collect static files, then run the Procfile's processes with honcho.

Run as `python -m ops.serve` from the project directory. It sets the production defaults
that the environment does not override — DEBUG off, JSON logs, hashed static files, the
Celery broker from REDIS_URL (redis://127.0.0.1:6379/0), a directory for the processes'
Prometheus files — refuses a database that is not PostgreSQL, applies the migrations,
collects the static files and then replaces itself with `honcho start`, which runs
gunicorn, a Celery worker and Celery beat (see `Procfile`) and stops all of them when one
stops or when it gets Ctrl-C / SIGTERM.

SERVE_PROCESSES limits it to some of the Procfile's processes: beat must run on one
machine only, so the other application servers run `SERVE_PROCESSES=web,worker`.

Without SECRET_KEY it makes one, once, in SERVE_RUN_DIR (default `.run/`, mode 0600), so
logins survive a restart; when more than one machine serves, set SECRET_KEY instead.
"""

import os
import secrets
import shutil
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SQLITE_REFUSED = (
    "make serve runs several processes against one database and needs PostgreSQL: set "
    "DATABASE_URL=postgres://user@host:5432/dbname. (SQLite takes one writer at a time, "
    "and the stock and points guarantees rely on PostgreSQL's row locks.) "
    "For a one-process demo on SQLite use `make run`."
)


class Refused(Exception):
    pass


def prepare_environment(env: dict) -> None:
    """Fill in the production defaults in `env` (os.environ), refusing what cannot run."""
    run_dir = Path(env.setdefault("SERVE_RUN_DIR", str(BASE_DIR / ".run")))
    run_dir.mkdir(parents=True, exist_ok=True)
    env.setdefault("DEBUG", "false")
    env.setdefault("LOG_FORMAT", "json")
    env.setdefault("STATIC_MANIFEST", "true")
    env.setdefault("PORT", "8000")
    env.setdefault("CELERY_BROKER_URL", env.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    env.setdefault("DB_POOL_MAX_SIZE", "2")  # psycopg's pool in each process (settings)
    database_url = env.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://", "pgsql://")):
        raise Refused(SQLITE_REFUSED)
    if not env.get("SECRET_KEY") and env["DEBUG"].lower() not in {"1", "true", "yes", "on"}:
        key_file = run_dir / "secret_key"
        if not key_file.exists():
            key_file.touch(mode=0o600)
            key_file.write_text(secrets.token_urlsafe(50))
            print(f"SECRET_KEY was not set: made one in {key_file}", file=sys.stderr)
        env["SECRET_KEY"] = key_file.read_text().strip()
    # Log lines reach honcho (and the log collector) as they are written, not in 8 KB blocks.
    env.setdefault("PYTHONUNBUFFERED", "1")
    # The Procfile's gunicorn, celery and honcho are this interpreter's.
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])


def prepare_database_and_static() -> None:
    import django
    from django.core.management import call_command
    from django.db import connection, connections

    django.setup()
    if connection.vendor != "postgresql":
        raise Refused(SQLITE_REFUSED)
    call_command("migrate", interactive=False, verbosity=1)
    call_command("collectstatic", interactive=False, verbosity=0)
    connections.close_all()


def processes(env) -> list[str]:
    """The Procfile entries to run (SERVE_PROCESSES, e.g. "web,worker" on all servers but the
    one that runs beat); all of them by default."""
    return [name.strip() for name in env.get("SERVE_PROCESSES", "").split(",") if name.strip()]


def reset_metrics_dir(path: Path) -> None:
    """Counters start at zero with the processes: the files of the last run go."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def main() -> int:
    os.chdir(BASE_DIR)
    # Set only for the processes honcho starts: this one's migrate is not to be counted.
    metrics_dir = os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    try:
        prepare_environment(os.environ)
        prepare_database_and_static()
    except Refused as refused:
        print(f"make serve: {refused}", file=sys.stderr)
        return 2
    metrics_dir = metrics_dir or str(Path(os.environ["SERVE_RUN_DIR"]) / "prometheus")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    reset_metrics_dir(Path(metrics_dir))
    honcho = shutil.which("honcho", path=os.environ["PATH"]) or "honcho"
    sys.stdout.flush()
    sys.stderr.flush()
    args = [honcho, "start", "--procfile", "Procfile", "--app-root", str(BASE_DIR)]
    args += ["--port", os.environ["PORT"], *processes(os.environ)]
    os.execvpe(honcho, args, os.environ)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
