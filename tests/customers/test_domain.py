"""Pure rules: contact normalization, identifier detection, consent recency, timeline pages."""

from datetime import UTC, datetime, timedelta

import pytest

from customers.domain import (
    ConsentDecision,
    InvalidCardNumber,
    InvalidEmail,
    InvalidPhone,
    identifier_candidates,
    latest_decision,
    normalize_card_number,
    normalize_email,
    normalize_phone,
    phone_search_key,
    timeline_page,
)


@pytest.mark.parametrize(
    "raw",
    ["0151 2345 6789", "+49 151 23456789", "0049-151-2345-6789", "(0151) 234 567 89"],
)
def test_phones_in_any_local_or_international_format_become_the_same_e164(raw):
    assert normalize_phone(raw) == "+4915123456789"


def test_a_foreign_number_keeps_its_own_country_code():
    assert normalize_phone("+44 20 7946 0958") == "+442079460958"


@pytest.mark.parametrize("raw", ["", "hello", "0151 2345", "+49 151 2345678901234"])
def test_a_string_that_is_not_a_valid_phone_is_refused_with_invalid_phone(raw):
    with pytest.raises(InvalidPhone) as exc:
        normalize_phone(raw)
    assert exc.value.code == "invalid_phone" and exc.value.http_status == 400


def test_emails_are_trimmed_and_lower_cased():
    assert normalize_email("  Anna.Schmidt@Example.COM ") == "anna.schmidt@example.com"


@pytest.mark.parametrize("raw", ["anna", "anna@", "@example.com", "anna@example", "a b@x.de"])
def test_an_email_without_local_at_domain_shape_is_refused(raw):
    with pytest.raises(InvalidEmail):
        normalize_email(raw)


def test_card_numbers_lose_separators_and_are_upper_cased():
    assert normalize_card_number(" 2900 0000-00017 ") == "2900000000017"
    assert normalize_card_number("oc-12ab-34") == "OC12AB34"


@pytest.mark.parametrize("raw", ["", "123", "12#456789", "x" * 33])
def test_a_card_number_of_the_wrong_shape_is_refused(raw):
    with pytest.raises(InvalidCardNumber):
        normalize_card_number(raw)


def test_an_identifier_with_an_at_sign_is_only_an_email():
    assert identifier_candidates(" Anna@Example.com ") == [("email", "anna@example.com")]


def test_a_digit_string_may_be_a_card_or_a_phone_and_the_card_comes_first():
    assert identifier_candidates("0151 2345 6789") == [
        ("card_number", "015123456789"),
        ("phone", "+4915123456789"),
    ]


def test_an_identifier_that_is_nothing_gives_no_candidates():
    assert identifier_candidates("") == []
    assert identifier_candidates("@@") == []
    assert identifier_candidates("#!") == []


def test_a_partial_phone_typed_by_staff_gives_an_e164_search_prefix():
    assert phone_search_key("0151 2345 678") == "+491512345678"
    assert phone_search_key("Anna") is None


NOW = datetime(2026, 1, 10, 12, tzinfo=UTC)


def test_the_more_recent_consent_decision_wins_and_the_current_one_wins_a_tie():
    old = ConsentDecision(True, NOW - timedelta(days=1), "web")
    new = ConsentDecision(False, NOW, "pos")
    assert latest_decision(old, new) is new
    assert latest_decision(new, old) is new
    tie = ConsentDecision(True, NOW, "app")
    assert latest_decision(new, tie) is new
    assert latest_decision(None, old) is old
    assert latest_decision(old, None) is old


def _entries(*minutes: int) -> list[dict]:
    return [{"at": NOW - timedelta(minutes=m), "kind": f"k{i}"} for i, m in enumerate(minutes)]


def test_a_timeline_page_is_the_newest_entries_and_points_before_the_last_one():
    page, cursor = timeline_page(_entries(5, 1, 3, 4), limit=3)
    assert [e["at"] for e in page] == [NOW - timedelta(minutes=m) for m in (1, 3, 4)]
    assert cursor == NOW - timedelta(minutes=4)


def test_the_last_page_has_no_cursor():
    page, cursor = timeline_page(_entries(1, 2), limit=3)
    assert len(page) == 2 and cursor is None


def test_entries_sharing_the_boundary_timestamp_all_move_to_the_next_page():
    page, cursor = timeline_page(_entries(1, 2, 2, 3), limit=2)
    assert [e["kind"] for e in page] == ["k0"]
    # the next page asks for entries before (2 min ago + 1 µs): both 2-minute entries
    assert cursor == NOW - timedelta(minutes=2) + timedelta(microseconds=1)
    rest = [e for e in _entries(1, 2, 2, 3) if e["at"] < cursor]
    assert sorted(e["kind"] for e in rest) == ["k1", "k2", "k3"]
