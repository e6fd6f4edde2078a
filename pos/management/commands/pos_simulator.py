"""`manage.py pos_simulator`: run a till against the core (see `pos.simulator`).

    python manage.py pos_simulator --terminal BER-MITTE-1
    python manage.py pos_simulator --terminal BER-MITTE-1 --token … --base-url http://127.0.0.1:8000

Without `--base-url` the till talks to the core through Django's test client in this
process; with it, over HTTP. Without `--token` a fresh token is issued for the terminal
(the one printed before stops working). The shoppers it recognises are customers of this
installation's database with a phone or a loyalty card (the demo customers).
"""

import random

from django.core.management.base import BaseCommand, CommandError

from customers.selectors import customer_list
from pos import services
from pos.models import Terminal
from pos.simulator import BATCH, HttpTransport, LocalTransport, SimulatorError, simulate


def _shoppers(*, seed: int, count: int) -> list[dict]:
    rng = random.Random(seed)
    known = []
    for customer in customer_list().exclude(phone__isnull=True, card_number__isnull=True)[:200]:
        if customer.card_number and (not customer.phone or rng.random() < 0.5):
            known.append({"card": customer.card_number})
        else:
            known.append({"phone": customer.phone})
    chosen = rng.sample(known, k=min(count, len(known)))
    # Someone the core has never seen: the till sends the phone number they gave.
    chosen.append({"phone": f"+49152{rng.randrange(10**7, 10**8):08d}"})
    return chosen


class Command(BaseCommand):
    help = (
        "Simulate a till: pull the feeds, sell offline, sync with duplicates, reordering "
        "and a lost answer, and check every sale was recorded exactly once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--terminal", required=True, help="The terminal's code.")
        parser.add_argument("--token", help="Its token (default: issue a fresh one).")
        parser.add_argument(
            "--base-url", help="Talk HTTP to this server, e.g. http://127.0.0.1:8000"
        )
        parser.add_argument("--sales", type=int, default=50, help="Sales to make offline.")
        parser.add_argument("--seed", type=int, default=1, help="Same seed, same till session.")
        parser.add_argument("--batch", type=int, default=BATCH, help="Sales per sync request.")
        parser.add_argument("--shoppers", type=int, default=8, help="Known customers to serve.")

    def handle(self, *args, terminal, token, base_url, sales, seed, batch, shoppers, **options):
        if not 1 <= sales <= 10_000 or not 1 <= batch <= services.MAX_BATCH:
            raise CommandError(f"--sales is 1 to 10000, --batch 1 to {services.MAX_BATCH}")
        if not token:
            till = Terminal.objects.filter(code=terminal).first()
            if till is None:
                raise CommandError(f"No terminal {terminal!r}; register one in the admin.")
            token = services.terminal_token_reissue(terminal=till)
            self.stdout.write(f"Issued a fresh token for {terminal} (the old one stops working).")
        transport = HttpTransport(base_url, token) if base_url else LocalTransport(token)
        try:
            summary, _sales = simulate(
                transport,
                sales=sales,
                seed=seed,
                shoppers=_shoppers(seed=seed, count=shoppers),
                batch_size=batch,
            )
        except SimulatorError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Till {terminal} ({base_url or 'in-process'}):")
        for line in summary.as_lines():
            self.stdout.write(f"  {line}")
        if not summary.exactly_once:
            raise CommandError("Some sales were not recorded exactly once.")
        self.stdout.write(self.style.SUCCESS("Every sale recorded exactly once."))
