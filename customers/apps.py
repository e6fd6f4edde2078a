"""App config for customers."""

from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = "Customers"

    def ready(self) -> None:
        # Registers the OpenAPI description of the device tokens with drf-spectacular.
        from customers.api import schema  # noqa: F401
