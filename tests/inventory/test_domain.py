"""Pure inventory rules, tested without a database."""

from datetime import datetime

import pytest

from inventory.domain import (
    haversine_km,
    is_open_at,
    merge_lines,
    needs_attention,
    opening_hours_problems,
    parse_count_rows,
    parse_near,
    shortfalls,
)
from inventory.errors import InvalidNear, InvalidQuantity


def test_merge_lines_sums_duplicate_variants_and_sorts_by_variant():
    assert merge_lines([(7, 2), (3, 1), (7, 5)]) == {3: 1, 7: 7}
    assert list(merge_lines([(9, 1), (2, 1)])) == [2, 9]


@pytest.mark.parametrize(
    "lines",
    [[(1, 0)], [(1, -2)], [(1, 1.5)], [(1, True)], [("1", 2)], [(1,)], []],
)
def test_merge_lines_refuses_zero_negative_fractional_or_malformed_quantities(lines):
    with pytest.raises(InvalidQuantity):
        merge_lines(lines)


def test_merge_lines_reports_every_bad_line_at_once():
    with pytest.raises(InvalidQuantity) as info:
        merge_lines([(1, 0), (2, 3), (3, -1)])
    assert [line["variant_id"] for line in info.value.details["lines"]] == [1, 3]


def test_merge_lines_allows_signed_deltas_and_zero_counts_when_asked():
    assert merge_lines([(1, -3), (2, 4)], allow_negative=True) == {1: -3, 2: 4}
    assert merge_lines([(1, 0)], allow_zero=True) == {1: 0}


def test_shortfalls_lists_every_line_above_what_is_available_and_treats_missing_as_zero():
    short = shortfalls({1: 2, 2: 5, 3: 1}, {1: 2, 2: 4})
    assert [(s.variant_id, s.requested, s.available) for s in short] == [(2, 5, 4), (3, 1, 0)]


def test_negative_availability_is_reported_as_zero():
    assert shortfalls({1: 1}, {1: -3})[0].available == 0


def test_a_level_needs_attention_below_zero_or_below_its_reservations():
    assert needs_attention(on_hand=-1, reserved=0)
    assert needs_attention(on_hand=2, reserved=3)
    assert not needs_attention(on_hand=3, reserved=3)


def test_haversine_gives_the_berlin_to_munich_distance():
    assert haversine_km(52.5200, 13.4050, 48.1351, 11.5820) == pytest.approx(504, abs=3)
    assert haversine_km(10, 10, 10, 10) == 0


@pytest.mark.parametrize("text", ["", "52.5", "a,b", "91,0", "0,181", "nan,1", "1,2,3"])
def test_parse_near_refuses_anything_but_two_coordinates_in_range(text):
    with pytest.raises(InvalidNear):
        parse_near(text)


def test_parse_near_reads_latitude_then_longitude():
    assert parse_near(" 52.52 , 13.40 ") == (52.52, 13.40)


def test_opening_hours_accept_days_with_ordered_intervals_and_closing_at_midnight():
    hours = {"mon": [["09:00", "13:00"], ["14:00", "24:00"]], "sun": []}
    assert opening_hours_problems(hours) == []


@pytest.mark.parametrize(
    "hours",
    [
        [],
        {"monday": []},
        {"mon": "09-18"},
        {"mon": [["9:00", "18:00"]]},
        {"mon": [["18:00", "09:00"]]},
        {"mon": [["09:00", "13:00"], ["12:00", "18:00"]]},
    ],
)
def test_opening_hours_problems_are_named(hours):
    assert opening_hours_problems(hours)


def test_is_open_at_uses_the_local_weekday_and_time():
    hours = {"mon": [["09:00", "18:00"]]}
    assert is_open_at(hours, datetime(2025, 3, 3, 9, 0))  # a Monday
    assert not is_open_at(hours, datetime(2025, 3, 3, 18, 0))
    assert not is_open_at(hours, datetime(2025, 3, 4, 10, 0))  # Tuesday: closed


def test_count_rows_are_read_with_any_column_order_and_spreadsheet_numbers():
    rows, errors = parse_count_rows(
        ["SKU", "Counted", "Location"],
        [["A-1", "12.0", "ber-1"], ["A-2", 0, "BER-1"], [None, None, None]],
    )
    assert errors == []
    assert [(r.location, r.sku, r.counted) for r in rows] == [
        ("BER-1", "A-1", 12),
        ("BER-1", "A-2", 0),
    ]


def test_count_rows_collect_every_problem_with_its_row_number():
    rows, errors = parse_count_rows(
        ["location", "sku", "counted"],
        [["L", "A", "-1"], ["L", "B", "2.5"], ["L", "", "3"], ["L", "C", "1"], ["l", "C", "2"]],
    )
    assert len(errors) == 4
    assert errors[0].startswith("Row 2") and errors[-1].startswith("Row 6")
    assert [r.sku for r in rows] == ["C"]


def test_count_rows_need_a_location_column_or_a_default_location():
    assert parse_count_rows(["sku", "counted"], [["A", "1"]])[1]
    rows, errors = parse_count_rows(["sku", "counted"], [["A", "1"]], default_location="wh-1")
    assert errors == [] and rows[0].location == "WH-1"
