"""App config for core."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        # Connects the request signals that run eager background tasks after the response.
        from core import background  # noqa: F401
