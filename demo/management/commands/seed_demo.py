"""Build the demo shop: each app contributes its part through `<app>.demo.seed(rng, stdout)`,
then `demo.history` makes a year of the shop's life through the services.

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
    "pos.demo",
    # The year of history: till sales, online orders, returns and restocking, in time order
    # through the services of pos, orders, returns and inventory (their demo.py helpers).
    "demo.history",
    "staff.demo",
]


class Command(BaseCommand):
    help = "Load deterministic demo data (catalog, prices, stock, customers, orders, loyalty)."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when the catalog has products."
        )
        parser.add_argument(
            "--days",
            type=int,
            default=365,
            help="Days of history to make through the services (0: none, a bare shop).",
        )

    def handle(self, *args, seed: int, if_empty: bool, days: int, **options):
        from catalog.selectors import product_list

        if if_empty and product_list().exists():
            self.stdout.write("Demo data already loaded; skipping.")
            return
        started = time.monotonic()
        # The demo's customers of the past were told at the time: the history sends no
        # order messages (and none reaches the console).
        with (
            override_settings(
                EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend", ORDER_NOTIFIERS=[]
            ),
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
                extra = {"days": days} if name == "demo.history" else {}
                module.seed(rng=random.Random(f"{seed}:{name}"), stdout=self.stdout, **extra)
                self.stdout.write(f"  {name}: {time.monotonic() - part_started:.1f}s")
        self.stdout.write(
            self.style.SUCCESS(f"Demo data loaded in {time.monotonic() - started:.1f}s")
        )
