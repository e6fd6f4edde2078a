"""App config for the back office: the admin's start pages and branding for store staff."""

from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "backoffice"
    verbose_name = "Back office"
