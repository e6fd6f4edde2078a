"""Demo staff: one login per role, at the demo shop's stores, so the back office can be seen
as each role sees it (`make run` prints them)."""

from __future__ import annotations

import random
from typing import TextIO

from django.contrib.auth import get_user_model

from inventory import selectors as inventory_selectors
from staff.services import staff_member_create

DEMO_STAFF_PASSWORD = "Mitte-Shelf-7391"
# (email, role, store codes, full name)
DEMO_STAFF = (
    ("anna.berger@omnicore.example", "store_associate", ("BER-MITTE",), "Anna Berger"),
    ("jonas.keller@omnicore.example", "store_manager", ("BER-MITTE",), "Jonas Keller"),
    ("lena.vogt@omnicore.example", "store_associate", ("HAM-JUNGFERNSTIEG",), "Lena Vogt"),
    ("sophie.brandt@omnicore.example", "merchandiser", (), "Sophie Brandt"),
    ("martin.roth@omnicore.example", "head_office", (), "Martin Roth"),
    ("paula.meier@omnicore.example", "call_centre", (), "Paula Meier"),
)


def seed(*, rng: random.Random, stdout: TextIO) -> None:
    stores = inventory_selectors.locations_by_codes(
        codes={code for _email, _role, codes, _name in DEMO_STAFF for code in codes}
    )
    existing = set(
        get_user_model()
        .objects.filter(email__in=[email for email, *_rest in DEMO_STAFF])
        .values_list("email", flat=True)
    )
    made = 0
    for email, role, codes, name in DEMO_STAFF:
        if email in existing or any(code not in stores for code in codes):
            continue
        staff_member_create(
            email=email,
            password=DEMO_STAFF_PASSWORD,
            role=role,
            locations=[stores[code] for code in codes],
            full_name=name,
        )
        made += 1
    stdout.write(f"    {made} staff logins, one per role")


def credentials() -> list[str]:
    """Lines printed after `make run`: the staff logins of each role."""
    lines = [f"Staff:  password {DEMO_STAFF_PASSWORD} for each of"]
    for email, role, codes, _name in DEMO_STAFF:
        where = f" at {', '.join(codes)}" if codes else ""
        lines.append(f"        {email:<34} {role.replace('_', ' ')}{where}")
    return lines
