"""The Celery application: configured from Django settings (CELERY_*), tasks autodiscovered.

Workers and beat log through Django's LOGGING (JSON lines with the request id, see
ops.logs), not Celery's own format: the `setup_logging` handler below tells Celery that
logging is taken care of, for the main process and the pool processes alike.
"""

import os
from logging.config import dictConfig

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("omnicore")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect(dispatch_uid="config.celery.logging")
def _logging_from_django_settings(**_kwargs) -> None:
    from django.conf import settings

    dictConfig(settings.LOGGING)
