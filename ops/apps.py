"""App config of `ops`: connects the Celery signals that carry request ids and count tasks."""

from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from ops import tasks_signals  # noqa: F401  (connects the Celery signal handlers)
