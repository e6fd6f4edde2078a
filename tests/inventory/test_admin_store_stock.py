"""Stock at the store in the admin: goods received by scanning, transfers received line by
line with their differences recorded, blind counts, the count import's button, search by
barcode, and changelists whose query count does not grow with their rows — each checked
for the operation's permission and the user's stores."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.errors import ValidationFailed
from inventory import services
from inventory.errors import InvalidQuantity
from inventory.imports import SCAN_UNITS_MAX, read_scans
from inventory.models import StockLevel, StockMovement, Transfer, TransferDiscrepancy
from tests.factories.catalog import BarcodeFactory, VariantFactory
from tests.factories.inventory import LocationFactory, StockLevelFactory, WarehouseFactory
from tests.staff import conftest as staff_fixtures

member = staff_fixtures.member  # the role helpers: member(role, *stores), view_only(*stores)
view_only = staff_fixtures.view_only

pytestmark = pytest.mark.django_db

LEVELS = "/admin/inventory/stocklevel/"
RECEIVE = "/admin/inventory/stocklevel/receive/"
COUNT = "/admin/inventory/stocklevel/count/"
IMPORT = "/admin/inventory/stocklevel/import-counts/"
MOVEMENTS = "/admin/inventory/stockmovement/"
TRANSFERS = "/admin/inventory/transfer/"


@pytest.fixture
def store_a(db):
    return LocationFactory(code="STORE-A")


@pytest.fixture
def store_b(db):
    return LocationFactory(code="STORE-B")


def _on_hand(variant, location) -> int | None:
    level = StockLevel.objects.filter(variant=variant, location=location).first()
    return None if level is None else level.on_hand


def _receipts() -> int:
    return StockMovement.objects.filter(kind="receipt").exclude(reference="factory").count()


# --- reading a scan list -------------------------------------------------------------------


def test_a_scan_list_adds_one_unit_per_line_and_n_units_for_code_times_n():
    scans = read_scans("4000000000017\n\n 4000000000017 \nSKU-1 × 3\nSKU-1 x 2\nSKU-2*4\n")
    assert scans.units == {"4000000000017": 2, "SKU-1": 5, "SKU-2": 4}
    assert scans.errors == []


def test_an_x_inside_a_sku_is_part_of_the_sku():
    assert read_scans("TEE-XL\nBOXx2").units == {"TEE-XL": 1, "BOXx2": 1}


def test_a_scan_line_of_zero_units_or_too_many_is_an_error_naming_its_line():
    scans = read_scans(f"A × 0\nB\nC x {SCAN_UNITS_MAX + 1}")
    assert scans.units == {"B": 1}
    assert [error.split(":")[0] for error in scans.errors] == ["Line 1", "Line 3"]


# --- goods receipt by scanning ----------------------------------------------------------------


def test_a_scanned_delivery_is_checked_without_writing_then_confirmed_through_the_service(
    member, store_a
):
    stocked = StockLevelFactory(location=store_a, on_hand=4).variant
    barcode = BarcodeFactory(variant=stocked).code
    new_here = VariantFactory(sku="MUG-RED")
    associate = member("store_associate", store_a)
    body = {
        "location": store_a.pk,
        "scans": f"{barcode}\n{barcode}\nMUG-RED × 3\n",
        "reference": "DN-778",
    }

    checked = associate.post(RECEIVE, body)
    assert checked.status_code == 200
    preview = checked.context["preview"]
    assert [(line.variant.sku, line.units, line.new_here) for line in preview.lines] == sorted(
        [(stocked.sku, 2, False), ("MUG-RED", 3, True)]
    )
    assert b"new at this store" in checked.content
    assert _receipts() == 0 and _on_hand(new_here, store_a) is None

    done = associate.post(RECEIVE, {**body, "previewed": preview.fingerprint, "confirm": "1"})
    assert done.status_code == 302
    assert done["Location"] == f"{LEVELS}?location__id__exact={store_a.pk}"
    assert (_on_hand(stocked, store_a), _on_hand(new_here, store_a)) == (6, 3)
    movements = StockMovement.objects.filter(kind="receipt", reference="DN-778")
    assert sorted(movements.values_list("level__variant__sku", "quantity", "actor")) == sorted(
        [(stocked.sku, 2, associate.user.pk), ("MUG-RED", 3, associate.user.pk)]
    )


def test_unknown_codes_are_listed_and_nothing_is_received_even_when_confirmed(member, store_a):
    known = VariantFactory(sku="KNOWN-1")
    associate = member("store_associate", store_a)
    body = {"location": store_a.pk, "scans": "KNOWN-1\n9999999999994\nNOPE × 2"}
    checked = associate.post(RECEIVE, body)
    assert checked.context["preview"].errors == [
        "9999999999994 is neither a barcode nor a SKU.",
        "NOPE is neither a barcode nor a SKU.",
    ]
    assert b'name="confirm"' not in checked.content
    fingerprint = checked.context["preview"].fingerprint
    forced = associate.post(RECEIVE, {**body, "previewed": fingerprint, "confirm": "1"})
    assert forced.status_code == 200
    assert _receipts() == 0 and _on_hand(known, store_a) is None


def test_a_list_edited_after_its_check_is_checked_again_instead_of_received(member, store_a):
    variant = VariantFactory(sku="TEA-1")
    associate = member("store_associate", store_a)
    checked = associate.post(RECEIVE, {"location": store_a.pk, "scans": "TEA-1"})
    edited = associate.post(
        RECEIVE,
        {
            "location": store_a.pk,
            "scans": "TEA-1 × 40",
            "previewed": checked.context["preview"].fingerprint,
            "confirm": "1",
        },
    )
    assert edited.status_code == 200
    assert "The list changed since it was checked: check it again." in str(
        edited.context["form"].non_field_errors()
    )
    assert _on_hand(variant, store_a) is None


def test_staff_of_store_a_cannot_receive_goods_at_store_b(member, store_a, store_b):
    variant = VariantFactory(sku="SOAP-1")
    associate = member("store_associate", store_a)
    page = associate.get(RECEIVE)
    assert list(page.context["form"].fields["location"].queryset) == [store_a]
    for extra in ({}, {"confirm": "1"}):
        response = associate.post(RECEIVE, {"location": store_b.pk, "scans": "SOAP-1", **extra})
        assert response.status_code == 200
        assert "location" in response.context["form"].errors
    assert _on_hand(variant, store_b) is None and _receipts() == 0


def test_receiving_goods_needs_the_receive_stock_permission(member, view_only, store_a):
    variant = VariantFactory(sku="PEN-1")
    for browser in (view_only(store_a), member("merchandiser"), member("head_office")):
        assert browser.get(RECEIVE).status_code == 403
        body = {"location": store_a.pk, "scans": "PEN-1", "confirm": "1"}
        assert browser.post(RECEIVE, body).status_code == 403
    assert _on_hand(variant, store_a) is None


# --- transfers received line by line ----------------------------------------------------------


@pytest.fixture
def shipment(store_b):
    """A warehouse ships 5 of one variant and 3 of another to store B."""
    warehouse = WarehouseFactory()
    one = StockLevelFactory(location=warehouse, on_hand=10).variant
    two = StockLevelFactory(location=warehouse, on_hand=10).variant
    transfer = services.stock_transfer(
        lines=[(one.pk, 5), (two.pk, 3)], source=warehouse, destination=store_b, reference="W1"
    )
    return transfer, one, two, warehouse


def test_a_transfer_received_short_puts_only_what_arrived_on_the_shelf_and_records_it(
    shipment, store_b
):
    transfer, one, two, warehouse = shipment
    services.transfer_receive(transfer=transfer, received={one.pk: 3}, note="carton crushed")
    assert (_on_hand(one, store_b), _on_hand(two, store_b)) == (3, 3)
    assert (_on_hand(one, warehouse), _on_hand(two, warehouse)) == (5, 7)
    assert dict(transfer.lines.values_list("variant_id", "received_quantity")) == {
        one.pk: 3,
        two.pk: 3,
    }
    (discrepancy,) = TransferDiscrepancy.objects.all()
    assert (discrepancy.variant, discrepancy.shipped, discrepancy.received) == (one, 5, 3)
    assert (discrepancy.difference, discrepancy.note) == (-2, "carton crushed")
    transfer.refresh_from_db()
    assert transfer.status == Transfer.Status.RECEIVED
    moved_in = StockMovement.objects.filter(transfer=transfer, kind="transfer_in")
    assert sorted(moved_in.values_list("level__variant_id", "quantity")) == sorted(
        [(one.pk, 3), (two.pk, 3)]
    )


def test_a_transfer_received_over_puts_every_unit_that_arrived_on_the_shelf_and_records_it(
    shipment, store_b
):
    transfer, one, two, _warehouse = shipment
    services.transfer_receive(transfer=transfer, received={one.pk: 5, two.pk: 4})
    assert (_on_hand(one, store_b), _on_hand(two, store_b)) == (5, 4)
    assert list(TransferDiscrepancy.objects.values_list("variant", "shipped", "received")) == [
        (two.pk, 3, 4)
    ]


def test_a_line_that_did_not_arrive_at_all_moves_no_stock(shipment, store_b):
    transfer, one, two, _warehouse = shipment
    services.transfer_receive(transfer=transfer, received={one.pk: 0, two.pk: 0})
    assert not StockMovement.objects.filter(transfer=transfer, kind="transfer_in").exists()
    assert sorted(TransferDiscrepancy.objects.values_list("shipped", "received")) == [
        (3, 0),
        (5, 0),
    ]
    transfer.refresh_from_db()
    assert transfer.status == Transfer.Status.RECEIVED


def test_receiving_a_transfer_without_quantities_still_receives_it_as_shipped(shipment, store_b):
    transfer, one, two, _warehouse = shipment
    services.transfer_receive(transfer=transfer)
    services.transfer_receive(transfer=transfer, received={one.pk: 1})  # received: no-op
    assert (_on_hand(one, store_b), _on_hand(two, store_b)) == (5, 3)
    assert sorted(transfer.lines.values_list("quantity", "received_quantity")) == [(3, 3), (5, 5)]
    assert not TransferDiscrepancy.objects.exists()


@pytest.mark.parametrize(
    "received, error",
    [({"stray": 1}, ValidationFailed), ({"one": -1}, InvalidQuantity)],
)
def test_quantities_for_unshipped_variants_or_below_zero_are_refused_and_nothing_moves(
    shipment, store_b, received, error
):
    transfer, one, _two, _warehouse = shipment
    stray = VariantFactory()
    ids = {"stray": stray.pk, "one": one.pk}
    with pytest.raises(error) as refused:
        services.transfer_receive(
            transfer=transfer, received={ids[key]: units for key, units in received.items()}
        )
    if error is ValidationFailed:
        assert refused.value.code == "not_on_transfer"
    transfer.refresh_from_db()
    assert transfer.status == Transfer.Status.IN_TRANSIT
    assert _on_hand(one, store_b) is None


def test_the_destination_receives_a_transfer_line_by_line_in_the_admin(member, shipment, store_b):
    transfer, one, two, _warehouse = shipment
    associate = member("store_associate", store_b)
    listed = associate.get(TRANSFERS)
    receive_url = f"{TRANSFERS}{transfer.pk}/receive/"
    assert receive_url.encode() in listed.content
    assert receive_url.encode() in associate.get(f"{TRANSFERS}{transfer.pk}/change/").content

    page = associate.get(receive_url)
    assert page.status_code == 200
    assert page.context["form"][f"received_{one.pk}"].value() == 5
    done = associate.post(
        receive_url, {f"received_{one.pk}": "4", f"received_{two.pk}": "3", "note": "one torn"}
    )
    assert done.status_code == 302 and done["Location"] == f"{TRANSFERS}{transfer.pk}/change/"
    assert (_on_hand(one, store_b), _on_hand(two, store_b)) == (4, 3)
    detail = associate.get(done["Location"])
    assert b"one torn" in detail.content and b"-1" in detail.content
    assert receive_url.encode() not in detail.content
    again = associate.post(receive_url, {f"received_{one.pk}": "5", f"received_{two.pk}": "3"})
    assert again.status_code == 302 and _on_hand(one, store_b) == 4


def test_a_negative_received_quantity_is_a_form_error_and_nothing_moves(member, shipment, store_b):
    transfer, one, two, _warehouse = shipment
    associate = member("store_associate", store_b)
    response = associate.post(
        f"{TRANSFERS}{transfer.pk}/receive/",
        {f"received_{one.pk}": "-1", f"received_{two.pk}": "3"},
    )
    assert response.status_code == 200 and f"received_{one.pk}" in response.context["form"].errors
    transfer.refresh_from_db()
    assert transfer.status == Transfer.Status.IN_TRANSIT


def test_staff_of_another_store_cannot_receive_a_transfer_to_store_b(
    member, shipment, store_a, store_b
):
    transfer, one, two, warehouse = shipment
    receive_url = f"{TRANSFERS}{transfer.pk}/receive/"
    body = {f"received_{one.pk}": "5", f"received_{two.pk}": "3"}
    at_a = member("store_associate", store_a)
    assert at_a.get(receive_url).status_code == 404
    assert at_a.post(receive_url, body).status_code == 404
    # The source's staff see the transfer, but it is not theirs to receive.
    at_source = member("store_manager", warehouse)
    assert receive_url.encode() not in at_source.get(TRANSFERS).content
    assert at_source.post(receive_url, body).status_code == 404
    transfer.refresh_from_db()
    assert transfer.status == Transfer.Status.IN_TRANSIT


def test_receiving_a_transfer_needs_the_receive_stock_permission(view_only, shipment, store_b):
    transfer, one, two, _warehouse = shipment
    browser = view_only(store_b)
    receive_url = f"{TRANSFERS}{transfer.pk}/receive/"
    assert receive_url.encode() not in browser.get(TRANSFERS).content
    assert browser.get(receive_url).status_code == 403
    body = {f"received_{one.pk}": "5", f"received_{two.pk}": "3"}
    assert browser.post(receive_url, body).status_code == 403
    transfer.refresh_from_db()
    assert transfer.status == Transfer.Status.IN_TRANSIT


def test_the_transfer_list_filters_transfers_received_with_differences(member, shipment, store_b):
    transfer, one, _two, warehouse = shipment
    as_shipped = services.stock_transfer(lines=[(one.pk, 1)], source=warehouse, destination=store_b)
    services.transfer_receive(transfer=transfer, received={one.pk: 4})
    services.transfer_receive(transfer=as_shipped)
    manager = member("store_manager", store_b)
    with_differences = manager.get(TRANSFERS, {"differences": "yes"}).context["cl"].result_list
    without = manager.get(TRANSFERS, {"differences": "no"}).context["cl"].result_list
    assert ([t.pk for t in with_differences], [t.pk for t in without]) == (
        [transfer.pk],
        [as_shipped.pk],
    )


# --- blind counts -----------------------------------------------------------------------------


@pytest.fixture
def shelf(store_a):
    """Store A holds 4817 of a mug (7 of them reserved) and 6143 plates."""
    mug = StockLevelFactory(location=store_a, on_hand=4817, variant=VariantFactory(sku="MUG-1"))
    services.stock_reserve(lines=[(mug.variant_id, 7)], location=store_a, reference="order:X")
    plate = StockLevelFactory(location=store_a, on_hand=6143, variant=VariantFactory(sku="PLATE-1"))
    return mug, plate


def test_the_count_sheet_lists_skus_and_names_but_never_what_the_system_holds(
    member, shelf, store_a
):
    mug, plate = shelf
    associate = member("store_associate", store_a)
    sheet = associate.get(COUNT, {"location": store_a.pk})
    assert sheet.status_code == 200
    assert [row.sku for row in sheet.context["form"].rows] == ["MUG-1", "PLATE-1"]
    assert b"MUG-1" in sheet.content and mug.variant.name.encode() in sheet.content
    for figure in (b"4817", b"4810", b"6143"):
        assert figure not in sheet.content
    narrowed = associate.get(COUNT, {"location": store_a.pk, "search": "plate"})
    assert [row.sku for row in narrowed.context["form"].rows] == ["PLATE-1"]


def test_a_blind_count_records_the_counts_and_only_a_manager_sees_the_differences(
    member, shelf, store_a
):
    mug, plate = shelf
    associate = member("store_associate", store_a)
    counted = associate.post(
        COUNT,
        {
            "location": store_a.pk,
            f"count_{mug.pk}": "4815",
            f"count_{plate.pk}": "",
            "reference": "C1",
        },
    )
    assert counted.status_code == 200
    assert [(r.sku, r.counted, r.difference) for r in counted.context["results"]] == [
        ("MUG-1", 4815, None)
    ]
    assert b"4817" not in counted.content and b"difference" not in counted.content
    assert (_on_hand(mug.variant, store_a), _on_hand(plate.variant, store_a)) == (4815, 6143)
    movement = StockMovement.objects.get(kind="count", reference="C1")
    assert (movement.quantity, movement.on_hand_delta, movement.actor) == (
        4815,
        -2,
        associate.user,
    )

    manager = member("store_manager", store_a)
    recounted = manager.post(COUNT, {"location": store_a.pk, f"count_{plate.pk}": "6146"})
    assert [(r.sku, r.counted, r.difference) for r in recounted.context["results"]] == [
        ("PLATE-1", 6146, 3)
    ]
    assert b'<td class="difference">+3</td>' in recounted.content


def test_scanned_units_add_to_the_typed_count_and_can_count_a_sku_new_to_the_store(
    member, shelf, store_a
):
    mug, _plate = shelf
    barcode = BarcodeFactory(variant=mug.variant).code
    newcomer = VariantFactory(sku="BOWL-1")
    associate = member("store_associate", store_a)
    associate.post(
        COUNT,
        {
            "location": store_a.pk,
            f"count_{mug.pk}": "10",
            "scans": f"{barcode}\n{barcode}\nBOWL-1 × 6",
        },
    )
    assert (_on_hand(mug.variant, store_a), _on_hand(newcomer, store_a)) == (12, 6)


def test_a_blind_count_with_an_unknown_scan_or_nothing_counted_records_nothing(
    member, shelf, store_a
):
    mug, _plate = shelf
    associate = member("store_associate", store_a)
    unknown = associate.post(
        COUNT, {"location": store_a.pk, f"count_{mug.pk}": "3", "scans": "GHOST-9"}
    )
    assert "GHOST-9 is neither a barcode nor a SKU." in str(
        unknown.context["form"].non_field_errors()
    )
    empty = associate.post(COUNT, {"location": store_a.pk, f"count_{mug.pk}": ""})
    assert "Enter a count for at least one SKU, or scan one." in str(
        empty.context["form"].non_field_errors()
    )
    assert not StockMovement.objects.filter(kind="count").exclude(reference="factory").exists()
    assert _on_hand(mug.variant, store_a) == 4817


def test_staff_of_store_a_cannot_count_at_store_b(member, store_a, store_b):
    at_b = StockLevelFactory(location=store_b, on_hand=9)
    associate = member("store_associate", store_a)
    sheet = associate.get(COUNT, {"location": store_b.pk})
    assert sheet.context["location"] is None and sheet.context["form"].rows == []
    refused = associate.post(COUNT, {"location": store_b.pk, f"count_{at_b.pk}": "1"})
    assert "location" in refused.context["form"].errors
    # Store B's level named on store A's sheet is not on that sheet: nothing to count.
    smuggled = associate.post(COUNT, {"location": store_a.pk, f"count_{at_b.pk}": "1"})
    assert smuggled.context["results"] is None
    assert _on_hand(at_b.variant, store_b) == 9


def test_counting_needs_the_receive_stock_permission(view_only, member, shelf, store_a):
    mug, _plate = shelf
    for browser in (view_only(store_a), member("head_office")):
        assert browser.get(COUNT, {"location": store_a.pk}).status_code == 403
        body = {"location": store_a.pk, f"count_{mug.pk}": "1"}
        assert browser.post(COUNT, body).status_code == 403
    assert _on_hand(mug.variant, store_a) == 4817


# --- the stock page -----------------------------------------------------------------------------


def test_the_stock_page_offers_receipt_count_and_the_count_import_to_staff_who_receive(
    member, view_only, store_a
):
    StockLevelFactory(location=store_a)
    page = member("store_associate", store_a).get(LEVELS)
    for url in (RECEIVE, COUNT, IMPORT):
        assert f'href="{url}"'.encode() in page.content
    assert member("store_associate", store_a).get(IMPORT).status_code == 200
    reader = view_only(store_a).get(LEVELS)
    assert reader.status_code == 200
    for url in (RECEIVE, COUNT, IMPORT):
        assert url.encode() not in reader.content


def test_stock_levels_are_found_by_sku_or_by_part_of_a_barcode(member, store_a):
    cup = StockLevelFactory(location=store_a, variant=VariantFactory(sku="CUP-77"))
    BarcodeFactory(variant=cup.variant, code="4006381333931")
    BarcodeFactory(variant=cup.variant, code="4006381333948")
    other = StockLevelFactory(location=store_a)
    associate = member("store_associate", store_a)

    def found(term):
        return [lvl.pk for lvl in associate.get(LEVELS, {"q": term}).context["cl"].result_list]

    assert found("4006381333931") == [cup.pk]
    assert found("0063813339") == [cup.pk]  # both barcodes match, the level is listed once
    assert found("CUP-77") == [cup.pk]
    assert found(other.variant.sku) == [other.pk]


def _queries(browser, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert browser.get(url).status_code == 200
    return len(queries)


def test_the_stock_level_list_costs_the_same_queries_for_two_rows_as_for_twelve(member, store_a):
    manager = member("store_manager", store_a)
    for _ in range(2):
        StockLevelFactory(location=store_a)
    few = _queries(manager, LEVELS)
    for _ in range(10):
        StockLevelFactory(location=store_a)
    assert _queries(manager, LEVELS) == few


def test_the_movement_list_costs_the_same_queries_for_two_rows_as_for_twelve(member, store_a):
    manager = member("store_manager", store_a)
    for _ in range(2):
        StockLevelFactory(location=store_a)
    few = _queries(manager, MOVEMENTS)
    for _ in range(10):
        services.stock_receive(
            lines=[(StockLevelFactory(location=store_a).variant_id, 1)],
            location=store_a,
            actor=manager.user,
        )
    assert StockMovement.objects.count() == 22
    assert _queries(manager, MOVEMENTS) == few


def test_the_transfer_list_costs_the_same_queries_for_one_row_as_for_six(member, store_b):
    warehouse = WarehouseFactory()
    variant = StockLevelFactory(location=warehouse, on_hand=50).variant
    manager = member("store_manager", store_b)
    services.stock_transfer(lines=[(variant.pk, 1)], source=warehouse, destination=store_b)
    few = _queries(manager, TRANSFERS)
    for _ in range(5):
        services.stock_transfer(lines=[(variant.pk, 1)], source=warehouse, destination=store_b)
    assert _queries(manager, TRANSFERS) == few
