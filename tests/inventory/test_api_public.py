"""Public inventory API: locations (filters, distance ordering) and availability by SKU."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory import services
from tests.factories.catalog import VariantFactory
from tests.factories.inventory import LocationFactory, StockLevelFactory, WarehouseFactory

pytestmark = pytest.mark.django_db

LOCATIONS = "/api/v1/inventory/locations/"
AVAILABILITY = "/api/v1/inventory/availability/"


def _codes(response) -> list[str]:
    return [row["code"] for row in response.json()["results"]]


@pytest.fixture
def cities():
    """Stores in Berlin, Hamburg and Munich, a warehouse in Leipzig and a closed store."""
    return {
        "berlin": LocationFactory(
            code="BER", latitude=Decimal("52.52"), longitude=Decimal("13.405")
        ),
        "hamburg": LocationFactory(
            code="HAM", latitude=Decimal("53.55"), longitude=Decimal("9.993")
        ),
        "munich": LocationFactory(
            code="MUC",
            latitude=Decimal("48.137"),
            longitude=Decimal("11.575"),
            is_pickup_point=False,
        ),
        "leipzig": WarehouseFactory(
            code="LEJ", latitude=Decimal("51.34"), longitude=Decimal("12.37")
        ),
        "closed": LocationFactory(code="OLD", is_active=False),
    }


def test_locations_list_active_stores_and_warehouses(api_client, cities):
    response = api_client.get(LOCATIONS)
    assert response.status_code == 200
    assert _codes(response) == ["BER", "HAM", "LEJ", "MUC"]
    berlin = response.json()["results"][0]
    assert berlin["time_zone"] == "Europe/Berlin" and berlin["is_pickup_point"] is True
    assert isinstance(berlin["open_now"], bool) and berlin["distance_km"] is None


def test_locations_filter_by_pickup_point(api_client, cities):
    assert _codes(api_client.get(LOCATIONS, {"is_pickup_point": "true"})) == ["BER", "HAM"]
    assert _codes(api_client.get(LOCATIONS, {"is_pickup_point": "false"})) == ["LEJ", "MUC"]
    assert _codes(api_client.get(LOCATIONS, {"kind": "warehouse"})) == ["LEJ"]


def test_locations_near_a_point_come_nearest_first_with_distances(api_client, cities):
    response = api_client.get(LOCATIONS, {"near": "53.5,10.0"})  # Hamburg
    assert _codes(response) == ["HAM", "BER", "LEJ", "MUC"]
    distances = [row["distance_km"] for row in response.json()["results"]]
    assert distances == sorted(distances) and distances[0] < 10
    nearest_pickup = api_client.get(LOCATIONS, {"near": "48.1,11.6", "is_pickup_point": "true"})
    assert _codes(nearest_pickup) == ["BER", "HAM"]


@pytest.mark.parametrize(
    "params", [{"near": "north"}, {"near": "100,0"}, {"is_pickup_point": "maybe"}, {"kind": "shop"}]
)
def test_bad_location_filters_are_a_400_in_the_error_shape(api_client, cities, params):
    response = api_client.get(LOCATIONS, params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"invalid_near", "validation_error"}


def test_a_location_detail_by_code_and_a_404_for_unknown_or_closed(api_client, cities):
    assert api_client.get(LOCATIONS + "ber/").json()["code"] == "BER"
    for code in ("NOPE", "OLD"):
        response = api_client.get(LOCATIONS + f"{code}/")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "location_not_found"


def _by_location(row) -> dict[str, int]:
    return {loc["location"]: loc["available"] for loc in row["locations"]}


def test_availability_per_location_and_for_delivery(api_client, cities):
    variant = VariantFactory(sku="TEE-M")
    StockLevelFactory(variant=variant, location=cities["berlin"], on_hand=3)
    StockLevelFactory(variant=variant, location=cities["leipzig"], on_hand=40)
    StockLevelFactory(variant=variant, location=cities["munich"], on_hand=1)
    services.stock_reserve(lines=[(variant.pk, 1)], location=cities["berlin"], reference="order:1")
    services.stock_record_pos_sale(
        lines=[(variant.pk, 3)], location=cities["munich"], reference="pos:1"
    )

    response = api_client.get(AVAILABILITY, {"sku": "TEE-M"})
    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert row["sku"] == "TEE-M" and row["variant_id"] == variant.pk
    # Munich is oversold (-2): shown as 0, never negative; the closed store is not listed.
    assert _by_location(row) == {"BER": 2, "HAM": 0, "LEJ": 40, "MUC": 0}
    assert row["delivery"] == 40  # only the warehouse ships online


def test_availability_accepts_repeated_and_comma_separated_skus_and_a_location_filter(
    api_client, cities
):
    a, b, c = VariantFactory(sku="A"), VariantFactory(sku="B"), VariantFactory(sku="C")
    for variant in (a, b, c):
        StockLevelFactory(variant=variant, location=cities["hamburg"], on_hand=2)
    response = api_client.get(AVAILABILITY + "?sku=A&sku=B,C&location=ham")
    rows = response.json()["results"]
    assert [row["sku"] for row in rows] == ["A", "B", "C"]
    assert all(_by_location(row) == {"HAM": 2} for row in rows)


def test_availability_near_a_point_orders_locations_by_distance(api_client, cities):
    VariantFactory(sku="A")
    row = api_client.get(AVAILABILITY, {"sku": "A", "near": "48.14,11.58"}).json()["results"][0]
    assert [loc["location"] for loc in row["locations"]] == ["MUC", "LEJ", "BER", "HAM"]
    assert row["locations"][0]["distance_km"] < 1


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({}, 400, "validation_error"),
        ({"sku": " , "}, 400, "validation_error"),
        ({"sku": "NOPE"}, 422, "unknown_sku"),
        ({"sku": "A", "location": "NOWHERE"}, 404, "location_not_found"),
        ({"sku": "A", "location": "OLD"}, 404, "location_not_found"),
        ({"sku": "A", "near": "x"}, 400, "invalid_near"),
        ({"sku": ",".join(f"S{n}" for n in range(51))}, 400, "validation_error"),
    ],
)
def test_bad_availability_requests_get_the_error_shape(api_client, cities, params, status, code):
    VariantFactory(sku="A")
    response = api_client.get(AVAILABILITY, params)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_availability_costs_the_same_queries_for_one_sku_as_for_twenty(api_client, cities):
    variants = [VariantFactory() for _ in range(20)]
    for variant in variants:
        StockLevelFactory(variant=variant, location=cities["berlin"], on_hand=2)
        StockLevelFactory(variant=variant, location=cities["leipzig"], on_hand=5)

    def queries(skus, **extra) -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = api_client.get(AVAILABILITY, {"sku": ",".join(skus), **extra})
        assert response.status_code == 200
        return len(ctx.captured_queries)

    one = queries([variants[0].sku])
    many = queries([v.sku for v in variants])
    for _ in range(5):
        LocationFactory()
    assert one == many == queries([v.sku for v in variants], near="52.5,13.4")
    assert one <= 6
