"""Stock operations: receive, adjust, count, write off, transfer, POS sales and returns.

Every test ends with the ledger verified (tests/inventory/conftest.py).
"""

import pytest

from inventory import services
from inventory.errors import (
    InsufficientStock,
    InvalidLocation,
    InvalidQuantity,
    LocationInactive,
    LocationNotFound,
    NegativeStock,
    ReasonRequired,
    SameLocationTransfer,
    UnknownVariant,
)
from inventory.models import Location, StockLevel, StockMovement, Transfer
from tests.factories.catalog import VariantFactory
from tests.factories.customers import UserFactory
from tests.factories.inventory import LocationFactory, StockLevelFactory, WarehouseFactory

pytestmark = pytest.mark.django_db


def _level(variant, location) -> StockLevel:
    return StockLevel.objects.get(variant=variant, location=location)


def _kinds(level) -> list[str]:
    return list(level.movements.order_by("pk").values_list("kind", flat=True))


def test_receiving_creates_the_level_and_a_receipt_movement_with_who_and_why():
    store, variant, clerk = LocationFactory(), VariantFactory(), UserFactory(is_staff=True)
    movements = services.stock_receive(
        lines=[(variant.pk, 4), (variant.pk, 2)],
        location=store,
        reference="asn:4711",
        reason="supplier delivery",
        actor=clerk,
    )
    level = _level(variant, store)
    assert (level.on_hand, level.reserved) == (6, 0)
    (movement,) = movements
    assert (movement.kind, movement.quantity, movement.on_hand_delta) == ("receipt", 6, 6)
    assert (movement.reference, movement.reason, movement.actor) == (
        "asn:4711",
        "supplier delivery",
        clerk,
    )
    assert movement.on_hand_after == 6


def test_receiving_twice_adds_up_on_the_same_level():
    store, variant = LocationFactory(), VariantFactory()
    services.stock_receive(lines=[(variant.pk, 3)], location=store)
    services.stock_receive(lines=[(variant.pk, 5)], location=store)
    assert _level(variant, store).on_hand == 8
    assert StockLevel.objects.filter(variant=variant).count() == 1


@pytest.mark.parametrize("quantity", [0, -1])
def test_receiving_a_zero_or_negative_quantity_is_refused_and_changes_nothing(quantity):
    store, variant = LocationFactory(), VariantFactory()
    with pytest.raises(InvalidQuantity):
        services.stock_receive(lines=[(variant.pk, quantity)], location=store)
    assert not StockLevel.objects.exists()


def test_an_unknown_variant_or_location_is_refused():
    store = LocationFactory()
    with pytest.raises(UnknownVariant) as info:
        services.stock_receive(lines=[(999_999, 1)], location=store)
    assert info.value.details == {"variant_ids": [999_999]}
    with pytest.raises(LocationNotFound):
        services.stock_receive(lines=[(VariantFactory().pk, 1)], location=999_999)


def test_a_closed_location_takes_no_receipts():
    closed, variant = LocationFactory(is_active=False), VariantFactory()
    with pytest.raises(LocationInactive):
        services.stock_receive(lines=[(variant.pk, 1)], location=closed)


def test_an_adjustment_needs_a_reason_and_applies_signed_deltas():
    level = StockLevelFactory(on_hand=5)
    with pytest.raises(ReasonRequired):
        services.stock_adjust(lines=[(level.variant_id, -1)], location=level.location, reason=" ")
    services.stock_adjust(lines=[(level.variant_id, -2)], location=level.location, reason="damaged")
    level.refresh_from_db()
    assert level.on_hand == 3
    assert level.movements.last().reason == "damaged"


def test_an_adjustment_below_zero_is_refused_for_every_offending_line():
    a = StockLevelFactory(on_hand=1)
    b = StockLevelFactory(location=a.location, on_hand=1)
    with pytest.raises(NegativeStock) as info:
        services.stock_adjust(
            lines=[(a.variant_id, -2), (b.variant_id, -3)], location=a.location, reason="miscount"
        )
    assert {line["variant_id"] for line in info.value.details["lines"]} == {
        a.variant_id,
        b.variant_id,
    }
    a.refresh_from_db()
    assert a.on_hand == 1


def test_a_count_sets_on_hand_and_records_the_difference_even_when_it_is_zero():
    level = StockLevelFactory(on_hand=7)
    services.stock_count(counts=[(level.variant_id, 4)], location=level.location)
    services.stock_count(counts=[(level.variant_id, 4)], location=level.location)
    level.refresh_from_db()
    assert level.on_hand == 4
    counts = level.movements.filter(kind="count").order_by("pk")
    assert [(m.quantity, m.on_hand_delta) for m in counts] == [(4, -3), (4, 0)]


def test_a_count_clears_attention_unless_fewer_units_were_counted_than_are_reserved():
    level = StockLevelFactory(on_hand=1)
    services.stock_record_pos_sale(
        lines=[(level.variant_id, 3)], location=level.location, reference="pos:1"
    )
    level.refresh_from_db()
    assert level.needs_attention
    services.stock_count(counts=[(level.variant_id, 2)], location=level.location)
    level.refresh_from_db()
    assert (level.on_hand, level.needs_attention) == (2, False)

    services.stock_reserve(
        lines=[(level.variant_id, 2)], location=level.location, reference="order:A"
    )
    services.stock_count(counts=[(level.variant_id, 1)], location=level.location)
    level.refresh_from_db()
    assert level.needs_attention


def test_a_count_may_create_a_level_for_stock_nobody_knew_about():
    store, variant = LocationFactory(), VariantFactory()
    services.stock_count(counts=[(variant.pk, 3)], location=store)
    assert _level(variant, store).on_hand == 3


def test_a_write_off_needs_a_reason_and_cannot_exceed_what_is_on_hand():
    level = StockLevelFactory(on_hand=2)
    with pytest.raises(ReasonRequired):
        services.stock_write_off(lines=[(level.variant_id, 1)], location=level.location, reason="")
    with pytest.raises(NegativeStock):
        services.stock_write_off(
            lines=[(level.variant_id, 3)], location=level.location, reason="broken"
        )
    with pytest.raises(NegativeStock):
        services.stock_write_off(
            lines=[(VariantFactory().pk, 1)], location=level.location, reason="x"
        )
    services.stock_write_off(
        lines=[(level.variant_id, 2)], location=level.location, reason="water damage"
    )
    level.refresh_from_db()
    assert level.on_hand == 0
    assert _kinds(level) == ["receipt", "write_off"]


def test_a_pos_sale_is_a_fact_it_goes_below_zero_and_flags_the_level():
    level = StockLevelFactory(on_hand=1)
    services.stock_record_pos_sale(
        lines=[(level.variant_id, 3)], location=level.location, reference="pos:sale-1"
    )
    level.refresh_from_db()
    assert level.on_hand == -2
    assert level.needs_attention and "pos:sale-1" in level.attention_note


def test_a_pos_sale_of_a_unit_reserved_online_flags_the_level_although_on_hand_stays_positive():
    level = StockLevelFactory(on_hand=2)
    services.stock_reserve(
        lines=[(level.variant_id, 2)], location=level.location, reference="order:B"
    )
    services.stock_record_pos_sale(
        lines=[(level.variant_id, 1)], location=level.location, reference="pos:2"
    )
    level.refresh_from_db()
    assert (level.on_hand, level.reserved, level.needs_attention) == (1, 2, True)


def test_a_pos_sale_at_a_store_that_never_had_the_item_creates_a_negative_level():
    store, variant = LocationFactory(), VariantFactory()
    services.stock_record_pos_sale(lines=[(variant.pk, 1)], location=store, reference="pos:3")
    assert _level(variant, store).on_hand == -1


def test_a_restocked_return_goes_back_on_the_shelf():
    level = StockLevelFactory(on_hand=1)
    services.stock_return(
        lines=[(level.variant_id, 2)], location=level.location, reference="return:R1"
    )
    level.refresh_from_db()
    assert level.on_hand == 3
    assert _kinds(level) == ["receipt", "return"]


def test_a_damaged_return_is_recorded_and_written_off_at_once():
    store, variant = LocationFactory(), VariantFactory()
    services.stock_return(
        lines=[(variant.pk, 1)], location=store, reference="return:R2", restock=False
    )
    level = _level(variant, store)
    assert level.on_hand == 0
    assert _kinds(level) == ["return", "write_off"]
    assert level.movements.last().reason == "returned damaged"


def test_a_transfer_leaves_the_source_now_and_arrives_only_on_receipt():
    source = StockLevelFactory(location=WarehouseFactory(), on_hand=10)
    store = LocationFactory()
    transfer = services.stock_transfer(
        lines=[(source.variant_id, 4)],
        source=source.location,
        destination=store,
        reference="REPL-1",
    )
    source.refresh_from_db()
    assert source.on_hand == 6
    assert transfer.status == Transfer.Status.IN_TRANSIT
    assert not StockLevel.objects.filter(location=store).exists()

    services.transfer_receive(transfer=transfer)
    services.transfer_receive(transfer=transfer)  # idempotent
    arrived = _level(source.variant, store)
    assert arrived.on_hand == 4
    assert _kinds(arrived) == ["transfer_in"]
    transfer.refresh_from_db()
    assert transfer.status == Transfer.Status.RECEIVED
    assert transfer.movements.count() == 2


def test_a_transfer_to_the_same_location_is_refused():
    level = StockLevelFactory()
    with pytest.raises(SameLocationTransfer):
        services.stock_transfer(
            lines=[(level.variant_id, 1)], source=level.location, destination=level.location
        )


def test_a_transfer_cannot_ship_reserved_units_and_lists_every_short_line():
    a = StockLevelFactory(on_hand=3)
    b = StockLevelFactory(location=a.location, on_hand=1)
    services.stock_reserve(lines=[(a.variant_id, 2)], location=a.location, reference="order:C")
    with pytest.raises(InsufficientStock) as info:
        services.stock_transfer(
            lines=[(a.variant_id, 2), (b.variant_id, 5)],
            source=a.location,
            destination=LocationFactory(),
        )
    details = info.value.details
    assert [(line["sku"], line["requested"], line["available"]) for line in details["lines"]] == [
        (a.variant.sku, 2, 1),
        (b.variant.sku, 5, 1),
    ]
    assert not Transfer.objects.exists()


def test_a_transfer_to_a_closed_location_is_refused():
    level = StockLevelFactory()
    with pytest.raises(LocationInactive):
        services.stock_transfer(
            lines=[(level.variant_id, 1)],
            source=level.location,
            destination=LocationFactory(is_active=False),
        )


def test_count_many_applies_several_locations_or_nothing():
    a, b = LocationFactory(), LocationFactory()
    v = VariantFactory()
    with pytest.raises(UnknownVariant):
        services.stock_count_many(entries=[(a, v.pk, 3), (b, 999_999, 1)])
    assert not StockLevel.objects.exists()
    services.stock_count_many(entries=[(b, v.pk, 1), (a, v.pk, 3)])
    assert {lvl.location_id: lvl.on_hand for lvl in StockLevel.objects.all()} == {a.pk: 3, b.pk: 1}


def test_acknowledging_a_level_clears_its_flag_without_a_movement():
    level = StockLevelFactory(on_hand=0)
    services.stock_record_pos_sale(
        lines=[(level.variant_id, 1)], location=level.location, reference="pos:4"
    )
    before = StockMovement.objects.count()
    level = services.stock_level_acknowledge(level=level)
    assert not level.needs_attention
    assert StockMovement.objects.count() == before


def test_location_save_upper_cases_the_code_and_rejects_a_pickup_warehouse():
    location = Location(code=" ber-2 ", name="Berlin 2", time_zone="Europe/Berlin")
    services.location_save(location=location)
    assert Location.objects.get().code == "BER-2"
    bad = Location(
        code="wh-9", name="WH", kind="warehouse", is_pickup_point=True, time_zone="Mars/Base"
    )
    with pytest.raises(InvalidLocation) as info:
        services.location_save(location=bad)
    assert {"is_pickup_point", "time_zone"} <= set(info.value.details["fields"])


def test_verify_ledger_notices_a_balance_changed_behind_the_ledgers_back(ledger_broken_on_purpose):
    level = StockLevelFactory(on_hand=5)
    assert services.verify_ledger() == []
    StockLevel.objects.filter(pk=level.pk).update(on_hand=6)
    problems = services.verify_ledger()
    assert len(problems) == 1 and f"level {level.pk}" in problems[0]


def test_verify_ledger_notices_a_reservation_closed_without_its_release(ledger_broken_on_purpose):
    level = StockLevelFactory(on_hand=5)
    (reservation,) = services.stock_reserve(
        lines=[(level.variant_id, 1)], location=level.location, reference="order:D"
    )
    type(reservation).objects.filter(pk=reservation.pk).update(status="released")
    problems = services.verify_ledger()
    assert any(p.startswith(f"reservation {reservation.pk}") for p in problems)
    assert any(p.startswith(f"level {level.pk}") for p in problems)


def test_verify_ledger_notices_a_transfer_whose_lines_and_movements_disagree(
    ledger_broken_on_purpose,
):
    level = StockLevelFactory(on_hand=5)
    transfer = services.stock_transfer(
        lines=[(level.variant_id, 2)], source=level.location, destination=LocationFactory()
    )
    transfer.lines.update(quantity=3)
    assert any(p.startswith(f"transfer {transfer.number}") for p in services.verify_ledger())
