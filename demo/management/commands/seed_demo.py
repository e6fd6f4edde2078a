"""Build the demo shop: each app contributes its part through `<app>.demo.seed(rng, stdout)`.

Deterministic: the same `--seed` gives the same data. Parts run in dependency order
(catalog before pricing and inventory, customers before orders and loyalty) so each part
may read what the earlier ones made through their selectors.
"""

import importlib
import random
import time

from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings

DEMO_MODULES = [
    "catalog.demo",
    "pricing.demo",
    "inventory.demo",
    "customers.demo",
    "loyalty.demo",
    "orders.demo",
    "pos.demo",
    "returns.demo",
    "staff.demo",
]


class Command(BaseCommand):
    help = "Load deterministic demo data (catalog, prices, stock, customers, orders, loyalty)."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when the catalog has products."
        )

    def handle(self, *args, seed: int, if_empty: bool, **options):
        from catalog.selectors import product_list

        if if_empty and product_list().exists():
            self.stdout.write("Demo data already loaded; skipping.")
            return
        started = time.monotonic()
        # Demo orders send status messages; keep them out of the console while seeding.
        with (
            override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"),
            transaction.atomic(),
        ):
            for name in DEMO_MODULES:
                try:
                    module = importlib.import_module(name)
                except ModuleNotFoundError as exc:
                    if exc.name != name:
                        raise
                    continue
                part_started = time.monotonic()
                module.seed(rng=random.Random(f"{seed}:{name}"), stdout=self.stdout)
                self.stdout.write(f"  {name}: {time.monotonic() - part_started:.1f}s")
        self.stdout.write(
            self.style.SUCCESS(f"Demo data loaded in {time.monotonic() - started:.1f}s")
        )
