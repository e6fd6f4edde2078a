"""Demo customers: some with logins (one printed by `make run`), many known only at the till.

German names and German mobile numbers (+49 15x/16x/17x), as every demo store is in Germany.

Deterministic for a given `rng`. Everything is written through the services, so the demo
data obeys the same rules (normalized contacts, consent history) as real data. One pair
of obvious duplicates (same person, once by card at the till, once by email online) is
left for staff to try the admin's merge action on.
"""

import random

from django.contrib.auth.hashers import make_password

from customers.models import ConsentChannel, Customer, Source
from customers.services import consent_set, customer_get_or_create, customer_register

DEMO_CUSTOMER_EMAIL = "shopper@example.com"
DEMO_CUSTOMER_PHONE = "+4915100000042"
DEMO_CUSTOMER_PASSWORD = "omnicore-shopper"

LOGINS = 80  # besides the demo shopper: customers who shop online (web and app)
PHONE_CUSTOMERS = 130  # known at the till by phone (half of them with a card too)
CARD_CUSTOMERS = 30  # known at the till by loyalty card only

# Every demo store is in Germany: German names, German mobile numbers.
FIRST_NAMES = [
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannah", "Jonas", "Lena",
    "Lukas", "Mia", "Noah", "Paul", "Sophie", "Tim", "Lea", "Max", "Nina", "Leon",
    "Marie", "Finn", "Laura", "Elias", "Johanna", "Moritz", "Katharina", "Jan", "Sarah",
    "Tobias", "Julia", "Florian", "Lisa", "Stefan", "Sabine", "Thomas", "Ute", "Jürgen",
    "Monika", "Andreas", "Petra", "Matthias", "Anja", "Sven", "Birgit", "Niklas", "Frieda",
    "Henrik", "Ida", "Karl",
]  # fmt: skip
LAST_NAMES = [
    "Schmidt", "Müller", "Weber", "Fischer", "Becker", "Wagner", "Hoffmann", "Koch",
    "Richter", "Klein", "Wolf", "Neumann", "Schwarz", "Braun", "Zimmermann", "Krüger",
    "Schneider", "Meyer", "Schulz", "Schröder", "Hartmann", "Lange", "Werner", "Krause",
    "Lehmann", "Köhler", "Maier", "Huber", "Kaiser", "Fuchs", "Peters", "Scholz", "Möller",
    "Vogel", "Friedrich", "Günther", "Jung", "Hahn", "Keller", "Roth", "Frank", "Berger",
    "Winkler", "Lorenz", "Baumann", "Albrecht", "Schuster", "Böhm", "Simon", "Franke",
]  # fmt: skip
MOBILE_PREFIXES = ["151", "152", "157", "159", "160", "162", "163", "170", "171", "172",
                   "173", "174", "175", "176", "177", "178", "179"]  # fmt: skip


def _phone(rng: random.Random, used: set[str]) -> str:
    """A German mobile number (+49 1xx, 7–8 digits after the prefix)."""
    while True:
        prefix = rng.choice(MOBILE_PREFIXES)
        digits = 8 if prefix.startswith("15") else rng.choice((7, 8))
        phone = f"+49{prefix}{rng.randrange(10 ** (digits - 1), 10**digits)}"
        if phone not in used:
            used.add(phone)
            return phone


def _card(rng: random.Random, used: set[str]) -> str:
    while True:
        card = f"29{rng.randrange(10**10, 10**11):011d}"
        if card not in used:
            used.add(card)
            return card


def _email(first: str, last: str, n: int) -> str:
    local = f"{first}.{last}.{n}".lower()
    for umlaut, plain in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        local = local.replace(umlaut, plain)
    return f"{local}@example.com"


def _random_consents(customer: Customer, rng: random.Random, source: str) -> None:
    for channel in ConsentChannel.values:
        roll = rng.random()
        if roll < 0.4:
            consent_set(customer=customer, channel=channel, granted=True, source=source)
        elif roll < 0.55:
            consent_set(customer=customer, channel=channel, granted=False, source=source)


def seed(*, rng: random.Random, stdout) -> None:
    """Create ~240 customers: 81 with logins, 130 known by phone at the till, 30 by card."""
    if Customer.objects.filter(email=DEMO_CUSTOMER_EMAIL).exists():
        stdout.write("  customers: demo customers already present")
        return
    phones, cards = {DEMO_CUSTOMER_PHONE}, set()
    # One hash for every demo login: hashing at full strength costs ~0.3 s each.
    password_hash = make_password(DEMO_CUSTOMER_PASSWORD)

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
        password_hash=password_hash,
        first_name="Anna",
        last_name="Schmidt",
        consents={"email": True, "push": True, "sms": False},
        source=Source.APP,
    )
    for n in range(LOGINS):
        first, last = name()
        channel = rng.choice([Source.WEB, Source.APP])
        customer = customer_register(
            email=_email(first, last, n),
            phone=_phone(rng, phones) if rng.random() < 0.6 else None,
            password_hash=password_hash,
            first_name=first,
            last_name=last,
            source=channel,
        )
        _random_consents(customer, rng, channel)
    for _n in range(PHONE_CUSTOMERS):
        first, last = name()
        customer = customer_get_or_create(
            phone=_phone(rng, phones),
            card_number=_card(rng, cards) if rng.random() < 0.5 else None,
            first_name=first,
            last_name=last,
            source=Source.POS,
        )
        _random_consents(customer, rng, Source.POS)
    for _n in range(CARD_CUSTOMERS):
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
    logins = Customer.objects.filter(user__isnull=False).count()
    stdout.write(f"  customers: {Customer.objects.count()} customers, {logins} with a login")


def credentials() -> list[str]:
    """Lines printed after `make run`: how to log in as the demo customer through the API."""
    return [
        f"Customer: email {DEMO_CUSTOMER_EMAIL}  password {DEMO_CUSTOMER_PASSWORD}",
        "        POST http://127.0.0.1:8000/api/v1/auth/token/ "
        f'{{"login": "{DEMO_CUSTOMER_EMAIL}", "password": "{DEMO_CUSTOMER_PASSWORD}"}}',
    ]
