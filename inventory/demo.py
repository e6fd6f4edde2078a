"""Demo stock for `manage.py seed_demo`: five stores, two warehouses, a realistic spread.

Stores in Berlin, Hamburg, Munich, Vienna and Lisbon (three are pickup points, Munich
also ships online orders; Lisbon sits in another time zone), distribution centres in
Leipzig and Duisburg. Warehouses hold most of the range in depth; stores carry part of
it, a few units each. What the stores' tills sold since the opening delivery (items sold
out, a few oversold and flagged) is the POS demo's: its sales go through the sale sync.

Fast and still a true ledger: levels and movements go in with `bulk_create` rather than
a service call per level, but every level gets exactly the movement the services would
have written (an opening receipt), so `services.verify_ledger()` holds.
"""

import random
from datetime import timedelta
from typing import TextIO

from django.utils import timezone

from catalog.models import Variant
from inventory.models import Location, StockLevel, StockMovement

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat")


def _hours(opens: str, closes: str, *, saturday: tuple[str, str] | None = None, sunday=None):
    hours = {day: [[opens, closes]] for day in WEEKDAYS[:5]}
    hours["sat"] = [list(saturday)] if saturday else [[opens, closes]]
    hours["sun"] = [list(sunday)] if sunday else []
    return hours


LOCATIONS = [
    {
        "code": "BER-MITTE",
        "name": "Omnicore Berlin Mitte",
        "kind": Location.Kind.STORE,
        "address_line": "Rosenthaler Straße 40",
        "postal_code": "10178",
        "city": "Berlin",
        "country": "DE",
        "phone": "+49 30 5557 1200",
        "latitude": "52.524600",
        "longitude": "13.402200",
        "time_zone": "Europe/Berlin",
        "opening_hours": _hours("10:00", "20:00"),
        "is_pickup_point": True,
    },
    {
        "code": "HAM-JUNGFERNSTIEG",
        "name": "Omnicore Hamburg Jungfernstieg",
        "kind": Location.Kind.STORE,
        "address_line": "Jungfernstieg 12",
        "postal_code": "20354",
        "city": "Hamburg",
        "country": "DE",
        "phone": "+49 40 5557 3400",
        "latitude": "53.552700",
        "longitude": "9.992500",
        "time_zone": "Europe/Berlin",
        "opening_hours": _hours("10:00", "20:00", saturday=("10:00", "19:00")),
        "is_pickup_point": True,
    },
    {
        "code": "MUC-MARIENPLATZ",
        "name": "Omnicore München Marienplatz",
        "kind": Location.Kind.STORE,
        "address_line": "Kaufingerstraße 9",
        "postal_code": "80331",
        "city": "München",
        "country": "DE",
        "phone": "+49 89 5557 8000",
        "latitude": "48.137200",
        "longitude": "11.573100",
        "time_zone": "Europe/Berlin",
        "opening_hours": _hours("09:30", "20:00"),
        "is_pickup_point": True,
        "ships_online": True,
        "fulfilment_priority": 50,
    },
    {
        "code": "VIE-MARIAHILF",
        "name": "Omnicore Wien Mariahilfer Straße",
        "kind": Location.Kind.STORE,
        "address_line": "Mariahilfer Straße 77",
        "postal_code": "1060",
        "city": "Wien",
        "country": "AT",
        "phone": "+43 1 555 7700",
        "latitude": "48.197000",
        "longitude": "16.347000",
        "time_zone": "Europe/Vienna",
        "opening_hours": _hours("10:00", "19:30", saturday=("09:30", "18:00")),
    },
    {
        "code": "LIS-BAIXA",
        "name": "Omnicore Lisboa Baixa",
        "kind": Location.Kind.STORE,
        "address_line": "Rua Augusta 150",
        "postal_code": "1100-053",
        "city": "Lisboa",
        "country": "PT",
        "phone": "+351 21 555 0150",
        "latitude": "38.710700",
        "longitude": "-9.136600",
        "time_zone": "Europe/Lisbon",
        "opening_hours": _hours("10:00", "21:00", sunday=("11:00", "19:00")),
    },
    {
        "code": "DC-LEIPZIG",
        "name": "Distribution centre Leipzig",
        "kind": Location.Kind.WAREHOUSE,
        "address_line": "Radefelder Allee 4",
        "postal_code": "04356",
        "city": "Leipzig",
        "country": "DE",
        "latitude": "51.417000",
        "longitude": "12.295000",
        "time_zone": "Europe/Berlin",
        "opening_hours": _hours("06:00", "22:00", saturday=("06:00", "14:00")),
        "ships_online": True,
        "fulfilment_priority": 10,
    },
    {
        "code": "DC-DUISBURG",
        "name": "Distribution centre Duisburg",
        "kind": Location.Kind.WAREHOUSE,
        "address_line": "Hafenstraße 30",
        "postal_code": "47119",
        "city": "Duisburg",
        "country": "DE",
        "latitude": "51.452000",
        "longitude": "6.737000",
        "time_zone": "Europe/Berlin",
        "opening_hours": _hours("06:00", "22:00", saturday=("06:00", "14:00")),
        "ships_online": True,
        "fulfilment_priority": 20,
    },
]


OPENED_DAYS_AGO = 30  # before the stores' till history (pos.demo) begins


def _store_stock(rng: random.Random) -> int | None:
    """Units received for one variant in one store, or None when the store never had it."""
    if rng.random() < 0.3:
        return None
    return rng.choice([2, 3, 4, 5, 6, 8, 10, 12])


def _warehouse_stock(rng: random.Random, *, share: float, depth: tuple[int, int]):
    if rng.random() >= share:
        return None
    return rng.randint(*depth)


def seed(*, rng: random.Random, stdout: TextIO) -> None:
    """Create the demo locations and stock; does nothing when they already exist."""
    if Location.objects.filter(code__in=[spec["code"] for spec in LOCATIONS]).exists():
        stdout.write("  inventory: demo locations already exist; skipping")
        return
    locations = Location.objects.bulk_create([Location(**spec) for spec in LOCATIONS])
    variant_ids = list(
        Variant.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True)
    )
    plans: list[tuple[StockLevel, int]] = []
    for location in locations:
        for variant_id in variant_ids:
            if location.code == "DC-LEIPZIG":
                received = _warehouse_stock(rng, share=0.9, depth=(20, 160))
            elif location.kind == Location.Kind.WAREHOUSE:
                received = _warehouse_stock(rng, share=0.6, depth=(5, 80))
            else:
                received = _store_stock(rng)
            if received is None:
                continue
            # A minimum of a quarter of what the shelf is stocked with (at least the last
            # unit): a store keeping 12 of a variant reorders at 3, one keeping 2 at 1.
            level = StockLevel(
                variant_id=variant_id,
                location=location,
                on_hand=received,
                low_stock_threshold=max(1, received // 4),
            )
            plans.append((level, received))
    levels = StockLevel.objects.bulk_create([p[0] for p in plans], batch_size=2000)

    opened = timezone.now() - timedelta(days=OPENED_DAYS_AGO)
    movements = [
        StockMovement(
            level=level,
            kind=StockMovement.Kind.RECEIPT,
            quantity=received,
            on_hand_delta=received,
            on_hand_after=received,
            reserved_after=0,
            reason="opening stock",
            reference="demo:opening-stock",
            created_at=opened,
        )
        for level, received in plans
    ]
    StockMovement.objects.bulk_create(movements, batch_size=2000)
    stores = sum(1 for loc in locations if loc.kind == Location.Kind.STORE)
    stdout.write(
        f"  inventory: {stores} stores, {len(locations) - stores} warehouses, "
        f"{len(levels)} stock levels, {len(movements)} movements"
    )
