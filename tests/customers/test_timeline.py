"""The customer timeline: own events plus every source, newest first, paged by `before`."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.selectors import customer_timeline
from customers.services import consent_set, customer_create, customer_merge
from tests.customers.conftest import register

pytestmark = pytest.mark.django_db

TIMELINE = "/api/v1/me/timeline/"
SOURCE_ENTRIES: dict[int, list[dict]] = {}
SOURCE_CALLS: list[tuple[int, int, object]] = []


def order_entries(customer_id: int, *, limit: int, before=None) -> list[dict]:
    """A timeline source as the orders app registers one: entries of that customer only."""
    SOURCE_CALLS.append((customer_id, limit, before))
    entries = [e for e in SOURCE_ENTRIES.get(customer_id, []) if before is None or e["at"] < before]
    return sorted(entries, key=lambda e: e["at"], reverse=True)[:limit]


@pytest.fixture(autouse=True)
def no_other_sources(settings):
    # Only the profile's own events unless a test registers a source: the apps wired in
    # settings (orders, loyalty) have their own tests.
    settings.CUSTOMER_TIMELINE_SOURCES = []


@pytest.fixture
def orders_source(settings):
    SOURCE_ENTRIES.clear()
    SOURCE_CALLS.clear()
    settings.CUSTOMER_TIMELINE_SOURCES = [f"{__name__}.order_entries"]
    yield SOURCE_ENTRIES
    SOURCE_ENTRIES.clear()
    SOURCE_CALLS.clear()


def _order(at, number: str, channel: str = "web") -> dict:
    return {
        "at": at,
        "kind": "order_placed",
        "channel": channel,
        "title": f"Order {number} placed",
        "reference": f"order:{number}",
        "details": {"order": number},
    }


def test_a_new_registration_shows_once_with_its_consents_newest_first():
    anna = register(email="anna@example.com", consents={"email": True}, source="app")
    later = timezone.now() + timedelta(seconds=1)
    consent_set(customer=anna, channel="email", granted=False, source="web", at=later)
    entries = customer_timeline(customer=anna, limit=10)
    assert [(e["kind"], e["channel"]) for e in entries] == [
        ("consent_withdrawn", "web"),
        ("consent_given", "app"),
        ("customer_registered", "app"),
    ]
    assert entries[0]["details"]["consent_channel"] == "email"
    assert entries[0]["title"] == "Consent to email marketing withdrawn"


def test_a_till_customer_who_registers_later_shows_every_event():
    till = customer_create(phone="+4915111111111", source="pos")
    login = register(phone="+4915111111111")
    kinds = [(e["kind"], e["channel"]) for e in customer_timeline(customer=login, limit=10)]
    assert kinds == [
        ("customer_merged", None),
        ("customer_registered", "web"),
        ("customer_created", "pos"),
    ]
    till.refresh_from_db()
    assert till.merged_into == login


def test_sources_entries_are_merged_in_time_order(orders_source):
    anna = register(email="anna@example.com")
    base = anna.created_at
    orders_source[anna.pk] = [
        _order(base + timedelta(hours=1), "A-1"),
        _order(base - timedelta(days=3), "A-0", "pos"),
    ]
    entries = customer_timeline(customer=anna, limit=10)
    assert [e["reference"] for e in entries] == ["order:A-1", f"customer:{anna.pk}", "order:A-0"]
    assert SOURCE_CALLS == [(anna.pk, 11, None)]


def test_a_merge_shows_on_the_survivors_timeline_with_the_duplicates_history():
    survivor = customer_create(phone="+4915111111111", source="pos")
    duplicate = customer_create(email="dup@example.com", source="web")
    consent_set(customer=duplicate, channel="sms", granted=True, source="web")
    customer_merge(survivor=survivor, duplicate=duplicate, merged_by=None)
    kinds = [e["kind"] for e in customer_timeline(customer=survivor, limit=20)]
    assert kinds[0] == "customer_merged"
    assert kinds.count("consent_given") == 2  # the duplicate's decision and its merge copy
    assert kinds.count("customer_created") == 2


def test_paging_with_next_walks_every_entry_once_even_across_equal_timestamps(
    anna_client, anna, orders_source
):
    base = anna.created_at - timedelta(days=1)
    same = base - timedelta(hours=2)
    orders_source[anna.pk] = [
        _order(base, "A-1"),
        _order(base - timedelta(hours=1), "A-2"),
        _order(same, "A-3"),
        _order(same, "A-4"),
        _order(same, "A-5"),
        _order(base - timedelta(hours=3), "A-6"),
    ]
    expected = [e["reference"] for e in customer_timeline(customer=anna, limit=50)]
    assert len(expected) == 7
    seen, url, pages = [], f"{TIMELINE}?limit=3", 0
    while url:
        response = anna_client.get(url)
        assert response.status_code == 200, response.json()
        page = response.json()
        assert len(page["results"]) <= 3
        seen.extend(e["reference"] for e in page["results"])
        url, pages = page["next"], pages + 1
        assert pages < 10
    assert sorted(seen) == sorted(expected) and len(seen) == len(set(seen))
    assert {seen.index(r) for r in ("order:A-3", "order:A-4", "order:A-5")} == {3, 4, 5}


def test_each_customer_sees_only_their_own_timeline(
    anna_client, ben_client, anna, ben, orders_source
):
    orders_source[anna.pk] = [_order(anna.created_at, "ANNA-1")]
    orders_source[ben.pk] = [_order(ben.created_at, "BEN-1")]
    anna_refs = {e["reference"] for e in anna_client.get(TIMELINE).json()["results"]}
    ben_refs = {e["reference"] for e in ben_client.get(TIMELINE).json()["results"]}
    assert "order:ANNA-1" in anna_refs and "order:BEN-1" not in anna_refs
    assert "order:BEN-1" in ben_refs and "order:ANNA-1" not in ben_refs
    assert f"customer:{ben.pk}" not in anna_refs
    assert {call[0] for call in SOURCE_CALLS} == {anna.pk, ben.pk}


def test_the_timeline_entries_have_the_documented_shape(anna_client):
    entry = anna_client.get(TIMELINE).json()["results"][0]
    assert set(entry) == {"at", "kind", "channel", "title", "reference", "details"}
    assert entry["at"].endswith(("Z", "+00:00"))


@pytest.mark.parametrize(
    "query", ["before=yesterday", "limit=0", "limit=101", "limit=ten", "before=2026-13-01"]
)
def test_bad_timeline_queries_are_400(anna_client, query):
    response = anna_client.get(f"{TIMELINE}?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_the_timeline_needs_a_token(api_client):
    assert api_client.get(TIMELINE).status_code == 401


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_a_timeline_page_costs_the_same_queries_however_long_the_history(anna_client, anna):
    few = _queries(anna_client, TIMELINE)
    other = customer_create(phone="+4915177777777")
    for n in range(15):
        consent_set(customer=anna, channel="sms", granted=n % 2 == 0, source="web")
    customer_merge(survivor=anna, duplicate=other, merged_by=None)
    many = _queries(anna_client, TIMELINE)
    # token (with its user, profile and session: its last use was noted within the
    # minute), profile, merge group, merges, profiles x2, consents
    assert many == few == 7


def test_reading_the_profile_costs_a_fixed_number_of_queries(anna_client, anna):
    for channel in ("email", "sms", "push"):
        consent_set(customer=anna, channel=channel, granted=True, source="web")
    # token (with its user, profile and session: its last use was noted within the
    # minute), profile, consents, pending contacts
    assert _queries(anna_client, "/api/v1/me/") == 4
