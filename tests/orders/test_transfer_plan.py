"""Ship-to-store's rule, in pure code: which location sends the units a pickup store lacks."""

from orders.domain import Source, transfer_plan

WAREHOUSE = Source(location_id=1, days=2, is_warehouse=True, priority=100)
STORE = Source(location_id=2, days=2, is_warehouse=False, priority=10)
FAST_STORE = Source(location_id=3, days=1, is_warehouse=False, priority=100)


def test_one_source_holding_every_missing_unit_sends_them_all_on_one_transfer():
    plan = transfer_plan(
        {10: 1, 11: 2},
        [STORE, WAREHOUSE],
        {10: {1: 5, 2: 1}, 11: {1: 5, 2: 2}},
    )
    assert plan.sources == {10: 1, 11: 1}  # warehouse before a store at the same lead time
    assert (plan.unavailable, plan.days, plan.possible) == ((), 2, True)


def test_the_shortest_lead_time_wins_before_the_kind_of_location():
    plan = transfer_plan({10: 1}, [WAREHOUSE, FAST_STORE], {10: {1: 5, 3: 1}})
    assert (plan.sources, plan.days) == ({10: 3}, 1)


def test_a_faster_source_holding_only_part_is_passed_over_for_one_that_holds_everything():
    plan = transfer_plan({10: 1, 11: 1}, [WAREHOUSE, FAST_STORE], {10: {1: 1, 3: 1}, 11: {1: 1}})
    assert (plan.sources, plan.days) == ({10: 1, 11: 1}, 2)


def test_lines_come_from_several_sources_when_no_one_holds_them_all():
    plan = transfer_plan({10: 2, 11: 1}, [WAREHOUSE, FAST_STORE], {10: {1: 2}, 11: {3: 1}})
    assert plan.sources == {10: 1, 11: 3}
    assert plan.days == 2  # ready when the slower transfer arrives


def test_a_line_is_never_split_and_one_nobody_holds_in_full_is_unavailable():
    plan = transfer_plan({10: 3}, [WAREHOUSE, STORE], {10: {1: 2, 2: 2}})
    assert (plan.sources, plan.unavailable, plan.possible) == ({}, (10,), False)


def test_without_routes_nothing_can_come():
    plan = transfer_plan({10: 1}, [], {})
    assert (plan.sources, plan.unavailable, plan.days, plan.possible) == ({}, (10,), 0, False)
