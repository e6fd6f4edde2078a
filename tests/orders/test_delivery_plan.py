"""Split delivery's rule, in pure code: which locations ship a delivery, and how near they are."""

from orders.domain import (
    MAX_SHIPMENTS,
    UNKNOWN_DISTANCE,
    ShipFrom,
    delivery_plan,
    nearness,
)

WAREHOUSE = ShipFrom(location_id=1, nearness=(0, 300.0), is_warehouse=True, priority=100)
NEAR_STORE = ShipFrom(location_id=2, nearness=(0, 5.0), is_warehouse=False, priority=10)
FAR_STORE = ShipFrom(location_id=3, nearness=(0, 500.0), is_warehouse=False, priority=10)


def test_one_location_holding_every_line_ships_it_all_in_one_shipment():
    plan = delivery_plan({10: 1, 11: 2}, [NEAR_STORE, WAREHOUSE], {10: {1: 5}, 11: {1: 5}})
    assert plan.shipments == {1: {10: 1, 11: 2}}
    assert plan.possible


def test_fewest_shipments_wins_over_nearness():
    # The near store holds one line, the warehouse both: one shipment from the warehouse.
    plan = delivery_plan({10: 1, 11: 1}, [NEAR_STORE, WAREHOUSE], {10: {1: 1, 2: 1}, 11: {1: 1}})
    assert plan.shipments == {1: {10: 1, 11: 1}}


def test_the_nearest_location_wins_among_those_holding_everything():
    plan = delivery_plan({10: 1}, [WAREHOUSE, NEAR_STORE], {10: {1: 9, 2: 1}})
    assert plan.shipments == {2: {10: 1}}


def test_a_warehouse_wins_over_a_store_at_the_same_distance():
    store = ShipFrom(location_id=4, nearness=(0, 300.0), is_warehouse=False, priority=1)
    plan = delivery_plan({10: 1}, [store, WAREHOUSE], {10: {1: 1, 4: 1}})
    assert plan.shipments == {1: {10: 1}}


def test_lines_split_over_two_locations_when_no_one_holds_them_all():
    plan = delivery_plan({10: 2, 11: 1}, [WAREHOUSE, NEAR_STORE], {10: {2: 2}, 11: {1: 1}})
    assert plan.shipments == {2: {10: 2}, 1: {11: 1}}  # the nearest ships first
    assert list(plan.shipments) == [2, 1]


def test_a_split_picks_the_pair_whose_farthest_location_is_nearest():
    # Line 11 is at the warehouse (300 km) and at the far store (500 km).
    plan = delivery_plan(
        {10: 1, 11: 1},
        [WAREHOUSE, NEAR_STORE, FAR_STORE],
        {10: {2: 1}, 11: {1: 1, 3: 1}},
    )
    assert plan.shipments == {2: {10: 1}, 1: {11: 1}}


def test_a_line_is_never_split_and_one_nobody_holds_in_full_is_unavailable():
    plan = delivery_plan({10: 3, 11: 1}, [WAREHOUSE, NEAR_STORE], {10: {1: 2, 2: 2}, 11: {1: 1}})
    assert (plan.shipments, plan.unavailable, plan.reason) == ({}, (10,), "insufficient_stock")
    assert not plan.possible


def test_more_shipments_than_the_limit_make_the_cart_undeliverable():
    count = MAX_SHIPMENTS + 1
    sources = [
        ShipFrom(location_id=i, nearness=UNKNOWN_DISTANCE, is_warehouse=False, priority=1)
        for i in range(1, count + 1)
    ]
    plan = delivery_plan(
        {100 + i: 1 for i in range(count)},
        sources,
        {100 + i: {i + 1: 1} for i in range(count)},
    )
    assert (plan.shipments, plan.reason) == ({}, "too_many_shipments")


def test_without_a_distance_the_warehouse_then_the_priority_decide():
    unknown = [
        ShipFrom(location_id=5, nearness=UNKNOWN_DISTANCE, is_warehouse=False, priority=1),
        ShipFrom(location_id=6, nearness=UNKNOWN_DISTANCE, is_warehouse=True, priority=50),
        ShipFrom(location_id=7, nearness=UNKNOWN_DISTANCE, is_warehouse=True, priority=20),
    ]
    plan = delivery_plan({10: 1}, unknown, {10: {5: 1, 6: 1, 7: 1}})
    assert plan.shipments == {7: {10: 1}}


def test_nearness_is_kilometres_when_both_sides_have_coordinates():
    berlin = {"latitude": "52.52", "longitude": "13.405"}
    near = nearness(
        address=berlin, latitude=52.5, longitude=13.4, postal_code="10115", country="DE"
    )
    far = nearness(
        address=berlin, latitude=48.14, longitude=11.58, postal_code="80331", country="DE"
    )
    assert near[0] == far[0] == 0
    assert near < far
    assert 480 < far[1] < 520  # Berlin to Munich


def test_nearness_falls_back_to_the_shared_postcode_prefix_in_the_same_country():
    address = {"postal_code": "10179", "country": "DE"}
    berlin = nearness(
        address=address, latitude=None, longitude=None, postal_code="10115", country="DE"
    )
    munich = nearness(
        address=address, latitude=None, longitude=None, postal_code="80331", country="DE"
    )
    vienna = nearness(
        address=address, latitude=None, longitude=None, postal_code="1010", country="AT"
    )
    assert berlin == (1, -3.0)  # "101" shared
    assert berlin < munich < vienna == UNKNOWN_DISTANCE


def test_an_address_without_coordinates_or_postcode_is_at_an_unknown_distance():
    assert (
        nearness(
            address={"line1": "Main St 1"},
            latitude=1.0,
            longitude=2.0,
            postal_code="1",
            country="DE",
        )
        == UNKNOWN_DISTANCE
    )
    assert (
        nearness(
            address={"latitude": "x", "longitude": "999"},
            latitude=1.0,
            longitude=2.0,
            postal_code="",
            country="DE",
        )
        == UNKNOWN_DISTANCE
    )
