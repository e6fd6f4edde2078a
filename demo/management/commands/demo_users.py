"""Create (or reset) the demo staff user and print the credentials to log in with."""

import io
import random

from django.core.management.base import BaseCommand

from customers.services import user_ensure_demo_staff
from staff import demo as staff_demo

DEMO_STAFF_EMAIL = "admin@example.com"
DEMO_STAFF_PASSWORD = "omnicore-demo"


class Command(BaseCommand):
    help = "Create the demo staff user (idempotent) and print its credentials."

    def handle(self, *args, **options):
        user_ensure_demo_staff(email=DEMO_STAFF_EMAIL, password=DEMO_STAFF_PASSWORD)
        # A demo database made before the role logins existed gets them now (idempotent).
        staff_demo.seed(rng=random.Random(0), stdout=io.StringIO())
        self.stdout.write(
            self.style.SUCCESS(
                "\nAdmin:  http://127.0.0.1:8000/admin/\n"
                f"        email {DEMO_STAFF_EMAIL}  password {DEMO_STAFF_PASSWORD}\n"
                "API:    http://127.0.0.1:8000/api/v1/catalog/products/\n"
                "Docs:   http://127.0.0.1:8000/api/docs/\n"
            )
        )
        for line in _extra_lines():
            self.stdout.write(line)


def _extra_lines() -> list[str]:
    """Lines other apps add (e.g. a demo customer login), when they provide `demo.credentials`."""
    import importlib

    lines = []
    for name in ("staff.demo", "customers.demo", "pos.demo"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        lines.extend(getattr(module, "credentials", lambda: [])())
    return lines
