"""Demo stock for `manage.py seed_demo`: five stores, two warehouses, a realistic spread.

Every location is in Germany (time zone Europe/Berlin): the catalog holds one VAT rate per
variant, not one per country, so a chain spanning countries would charge one country's
VAT in the other's stores. Stores in Berlin, Hamburg and Munich carry the whole range and
are pickup points (Munich also ships online orders); Köln is a fashion store (apparel and
footwear) and Frankfurt a tech and books store (`ASSORTMENT`). Distribution centres in
Leipzig and Duisburg hold most of the range in depth; stores carry part of their range, a
few units each. The opening delivery arrives before the year of demo history; what is
sold, reserved, returned and restocked during that year goes through the services
(`replenish` here, the orders, POS and returns demos).

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
        "code": "KOE-SCHILDERGASSE",
        "name": "Omnicore Köln Schildergasse",
        "kind": Location.Kind.STORE,
        "address_line": "Schildergasse 65",
        "postal_code": "50667",
        "city": "Köln",
        "country": "DE",
        "phone": "+49 221 5557 6500",
        "latitude": "50.936200",
        "longitude": "6.952600",
        "time_zone": "Europe/Berlin",
        "opening_hours": _hours("10:00", "20:00"),
    },
    {
        "code": "FRA-ZEIL",
        "name": "Omnicore Frankfurt Zeil",
        "kind": Location.Kind.STORE,
        "address_line": "Zeil 106",
        "postal_code": "60313",
        "city": "Frankfurt am Main",
        "country": "DE",
        "phone": "+49 69 5557 1060",
        "latitude": "50.114900",
        "longitude": "8.684600",
        "time_zone": "Europe/Berlin",
        "opening_hours": _hours("10:00", "20:00", saturday=("10:00", "19:00")),
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


OPENED_DAYS_AGO = 367  # before the year of demo history begins

# Top-level category slugs each store sells (None: the whole range).
ASSORTMENT: dict[str, tuple[str, ...] | None] = {
    "BER-MITTE": None,
    "HAM-JUNGFERNSTIEG": None,
    "MUC-MARIENPLATZ": None,
    "KOE-SCHILDERGASSE": ("apparel", "footwear"),
    "FRA-ZEIL": ("electronics", "books", "grocery"),
}


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
    variants = list(
        Variant.objects.filter(is_active=True)
        .order_by("pk")
        .values_list("pk", "product__category__slug")
    )
    plans: list[tuple[StockLevel, int]] = []
    for location in locations:
        sells = ASSORTMENT.get(location.code)
        for variant_id, category_slug in variants:
            if location.code == "DC-LEIPZIG":
                received = _warehouse_stock(rng, share=0.9, depth=(20, 160))
            elif location.kind == Location.Kind.WAREHOUSE:
                received = _warehouse_stock(rng, share=0.6, depth=(5, 80))
            elif sells is not None and not category_slug.startswith(sells):
                continue  # not this store's assortment: a fashion store has no laptops
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


def replenish(*, location: Location, par: dict[int, int], reference: str) -> int:
    """Restock `location` through the stock service: every variant below its shelf quantity
    (`par`, variant id → units) is filled up to it. Returns the units received."""
    from inventory.services import stock_receive

    on_hand = dict(
        StockLevel.objects.filter(location=location, variant_id__in=list(par)).values_list(
            "variant_id", "on_hand"
        )
    )
    lines = [
        (variant_id, target - on_hand.get(variant_id, 0))
        for variant_id, target in par.items()
        if on_hand.get(variant_id, 0) < target
    ]
    if lines:
        stock_receive(lines=lines, location=location, reference=reference, reason="restock")
    return sum(quantity for _v, quantity in lines)
