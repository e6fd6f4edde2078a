"""Demo customers: a few with logins (one printed by `make run`), many known only at the till.

Deterministic for a given `rng`. Everything is written through the services, so the demo
data obeys the same rules (normalized contacts, consent history) as real data. One pair
of obvious duplicates (same person, once by card at the till, once by email online) is
left for staff to try the admin's merge action on.
"""

import random

from customers.models import ConsentChannel, Customer, Source
from customers.services import consent_set, customer_get_or_create, customer_register

DEMO_CUSTOMER_EMAIL = "shopper@example.com"
DEMO_CUSTOMER_PHONE = "+4915100000042"
DEMO_CUSTOMER_PASSWORD = "omnicore-shopper"

FIRST_NAMES = [
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannah", "Jonas", "Lena",
    "Lukas", "Mia", "Noah", "Olivia", "Paul", "Sophie", "Tim", "Lea", "Max", "Nina",
]  # fmt: skip
LAST_NAMES = [
    "Schmidt", "Müller", "Weber", "Fischer", "Becker", "Wagner", "Hoffmann", "Koch",
    "Richter", "Klein", "Wolf", "Neumann", "Schwarz", "Braun", "Zimmermann", "Krüger",
]  # fmt: skip


def _phone(rng: random.Random, used: set[str]) -> str:
    while True:
        phone = f"+49151{rng.randrange(10**7, 10**8):08d}"
        if phone not in used:
            used.add(phone)
            return phone


def _card(rng: random.Random, used: set[str]) -> str:
    while True:
        card = f"29{rng.randrange(10**10, 10**11):011d}"
        if card not in used:
            used.add(card)
            return card


def _random_consents(customer: Customer, rng: random.Random, source: str) -> None:
    for channel in ConsentChannel.values:
        roll = rng.random()
        if roll < 0.4:
            consent_set(customer=customer, channel=channel, granted=True, source=source)
        elif roll < 0.55:
            consent_set(customer=customer, channel=channel, granted=False, source=source)


def seed(*, rng: random.Random, stdout) -> None:
    """Create ~40 customers: 6 with logins, 20 known by phone at the till, the rest by card."""
    if Customer.objects.filter(email=DEMO_CUSTOMER_EMAIL).exists():
        stdout.write("  customers: demo customers already present")
        return
    phones, cards = {DEMO_CUSTOMER_PHONE}, set()

    def name() -> tuple[str, str]:
        return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)

    # Known at the till by phone and card first; registering in the app (her contacts are
    # taken as proven here) folds that profile, card included, into her login's.
    customer_get_or_create(
        phone=DEMO_CUSTOMER_PHONE, card_number=_card(rng, cards), source=Source.POS
    )
    customer_register(
        email=DEMO_CUSTOMER_EMAIL,
        phone=DEMO_CUSTOMER_PHONE,
        password=DEMO_CUSTOMER_PASSWORD,
        first_name="Anna",
        last_name="Schmidt",
        consents={"email": True, "push": True, "sms": False},
        source=Source.APP,
    )
    for n in range(5):
        first, last = name()
        channel = rng.choice([Source.WEB, Source.APP])
        customer = customer_register(
            email=f"{first}.{last}.{n}@example.com".lower().replace("ü", "ue"),
            phone=_phone(rng, phones) if rng.random() < 0.6 else None,
            password=DEMO_CUSTOMER_PASSWORD,
            first_name=first,
            last_name=last,
            source=channel,
        )
        _random_consents(customer, rng, channel)
    for _n in range(20):
        first, last = name()
        customer = customer_get_or_create(
            phone=_phone(rng, phones),
            card_number=_card(rng, cards) if rng.random() < 0.5 else None,
            first_name=first,
            last_name=last,
            source=Source.POS,
        )
        _random_consents(customer, rng, Source.POS)
    for _n in range(11):
        first, last = name() if rng.random() < 0.5 else ("", "")
        customer_get_or_create(
            card_number=_card(rng, cards), first_name=first, last_name=last, source=Source.POS
        )
    # The same person twice: by card at the till, by email in a guest checkout.
    customer_get_or_create(
        card_number=_card(rng, cards), first_name="Jonas", last_name="Weber", source=Source.POS
    )
    customer_get_or_create(
        email="jonas.weber@example.com", first_name="Jonas", last_name="Weber", source=Source.WEB
    )
    stdout.write(f"  customers: {Customer.objects.count()} customers, 6 with a login")


def credentials() -> list[str]:
    """Lines printed after `make run`: how to log in as the demo customer through the API."""
    return [
        f"Customer: email {DEMO_CUSTOMER_EMAIL}  password {DEMO_CUSTOMER_PASSWORD}",
        "        POST http://127.0.0.1:8000/api/v1/auth/token/ "
        f'{{"login": "{DEMO_CUSTOMER_EMAIL}", "password": "{DEMO_CUSTOMER_PASSWORD}"}}',
    ]
