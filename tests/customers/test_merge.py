"""Merging duplicates: consents, contacts and the login move; higher apps' hooks run atomically."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import Conflict
from customers.errors import CustomerAlreadyMerged, MergeIntoSelf
from customers.models import ConsentChange, Customer, CustomerMerge, MarketingConsent
from customers.selectors import consent_history, customer_find, customer_get_for_user
from customers.services import consent_set, customer_create, customer_merge
from tests.customers.conftest import PASSWORD, register
from tests.factories.customers import UserFactory

pytestmark = pytest.mark.django_db

HANDLER_CALLS: list[tuple[int, int]] = []


def move_widgets(survivor_id: int, duplicate_id: int) -> dict:
    """A merge hook as orders or loyalty would register: records the call, says what it moved."""
    HANDLER_CALLS.append((survivor_id, duplicate_id))
    return {"widgets": 3}


def refuse_merge(survivor_id: int, duplicate_id: int) -> dict:
    """A hook whose app cannot move its rows (e.g. a conflicting open order)."""
    raise Conflict("An open order blocks the merge.", code="merge_blocked")


@pytest.fixture
def merge_hook(settings):
    HANDLER_CALLS.clear()
    settings.CUSTOMER_MERGE_HANDLERS = [f"{__name__}.move_widgets"]
    yield HANDLER_CALLS
    HANDLER_CALLS.clear()


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True)


def test_the_more_recent_consent_decision_per_channel_survives_the_merge(staff):
    now = timezone.now()
    survivor = customer_create(phone="+4915111111111")
    duplicate = customer_create(email="dup@example.com")
    consent_set(
        customer=survivor, channel="email", granted=True, source="web", at=now - timedelta(days=9)
    )
    consent_set(
        customer=duplicate, channel="email", granted=False, source="pos", at=now - timedelta(days=1)
    )
    consent_set(
        customer=survivor, channel="sms", granted=True, source="app", at=now - timedelta(days=1)
    )
    consent_set(
        customer=duplicate, channel="sms", granted=False, source="pos", at=now - timedelta(days=5)
    )
    consent_set(
        customer=duplicate, channel="push", granted=True, source="app", at=now - timedelta(days=2)
    )
    duplicate_history = ConsentChange.objects.filter(customer=duplicate).count()

    merge = customer_merge(survivor=survivor, duplicate=duplicate, merged_by=staff)

    current = {c.channel: c for c in MarketingConsent.objects.filter(customer=survivor)}
    assert (current["email"].granted, current["email"].source) == (False, "pos")
    assert current["email"].changed_at == now - timedelta(days=1)  # when the person decided
    assert (current["sms"].granted, current["sms"].source) == (True, "app")
    assert (current["push"].granted, current["push"].source) == (True, "app")
    assert "messenger" not in current
    assert sorted(merge.moved["customers"]["consents"]) == ["email", "push"]
    merged_rows = ConsentChange.objects.filter(customer=survivor, source="merge")
    assert {(r.channel, r.granted, r.changed_by) for r in merged_rows} == {
        ("email", False, staff),
        ("push", True, staff),
    }
    assert all(r.details["from_customer"] == duplicate.pk for r in merged_rows)
    # the duplicate's history is kept as it was and shows in the survivor's history
    assert ConsentChange.objects.filter(customer=duplicate).count() == duplicate_history
    assert {c.customer_id for c in consent_history(customer=survivor)} == {
        survivor.pk,
        duplicate.pk,
    }


def test_the_survivors_empty_contacts_are_filled_and_the_duplicates_old_phone_still_finds_it():
    survivor = customer_create(phone="+4915111111111", first_name="Anna")
    duplicate = customer_create(
        phone="+4915122222222",
        email="anna@example.com",
        card_number="2900000000017",
        first_name="Anne",
        last_name="Schmidt",
    )
    merge = customer_merge(survivor=survivor, duplicate=duplicate, merged_by=None)
    survivor.refresh_from_db()
    duplicate.refresh_from_db()
    assert (survivor.phone, survivor.email, survivor.card_number) == (
        "+4915111111111",
        "anna@example.com",
        "2900000000017",
    )
    assert (survivor.first_name, survivor.last_name) == ("Anna", "Schmidt")
    assert (duplicate.email, duplicate.card_number, duplicate.phone) == (
        None,
        None,
        "+4915122222222",
    )
    assert merge.moved["customers"]["contacts"] == ["card_number", "email", "last_name"]
    for identifier in ("+4915122222222", "anna@example.com", "2900000000017", "+4915111111111"):
        assert customer_find(identifier=identifier) == survivor


def test_the_duplicate_is_deactivated_and_the_merge_recorded_with_a_snapshot(staff, merge_hook):
    survivor = customer_create(phone="+4915111111111")
    duplicate = customer_create(email="dup@example.com", first_name="Dupe")
    consent_set(customer=duplicate, channel="sms", granted=True, source="pos")

    merge = customer_merge(survivor=survivor, duplicate=duplicate, merged_by=staff)

    duplicate.refresh_from_db()
    assert duplicate.is_active is False and duplicate.merged_into == survivor
    stored = CustomerMerge.objects.get()
    assert stored == merge
    assert (stored.survivor, stored.duplicate, stored.merged_by) == (survivor, duplicate, staff)
    assert stored.duplicate_snapshot["email"] == "dup@example.com"
    assert stored.duplicate_snapshot["first_name"] == "Dupe"
    assert stored.duplicate_snapshot["consents"]["sms"]["granted"] is True
    assert stored.moved[f"{__name__}.move_widgets"] == {"widgets": 3}


def test_every_merge_handler_is_called_with_the_survivor_and_duplicate_ids(merge_hook):
    survivor = customer_create(phone="+4915111111111")
    duplicate = customer_create(phone="+4915122222222")
    customer_merge(survivor=survivor, duplicate=duplicate, merged_by=None)
    assert merge_hook == [(survivor.pk, duplicate.pk)]


def test_a_failing_handler_undoes_the_whole_merge(settings):
    settings.CUSTOMER_MERGE_HANDLERS = [f"{__name__}.refuse_merge"]
    survivor = customer_create(phone="+4915111111111")
    duplicate = customer_create(email="dup@example.com")
    consent_set(customer=duplicate, channel="email", granted=True, source="web")
    with pytest.raises(Conflict) as exc:
        customer_merge(survivor=survivor, duplicate=duplicate, merged_by=None)
    assert exc.value.code == "merge_blocked"
    duplicate.refresh_from_db()
    survivor.refresh_from_db()
    assert duplicate.is_active and duplicate.merged_into is None
    assert duplicate.email == "dup@example.com" and survivor.email is None
    assert not MarketingConsent.objects.filter(customer=survivor).exists()
    assert not CustomerMerge.objects.exists()


def test_the_duplicates_login_moves_to_a_survivor_without_one(api_client):
    survivor = customer_create(phone="+4915111111111", card_number="2900000000017")
    duplicate = register(email="anna@example.com")
    user = duplicate.user
    merge = customer_merge(survivor=survivor, duplicate=duplicate, merged_by=None)
    survivor.refresh_from_db()
    assert survivor.user == user and merge.moved["customers"]["login"] is True
    assert survivor.registered_at == duplicate.registered_at
    response = api_client.post(
        "/api/v1/auth/token/", {"login": "anna@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    assert response.json()["customer"]["id"] == survivor.pk
    assert response.json()["customer"]["card_number"] == "2900000000017"


def test_when_both_have_logins_the_duplicates_login_resolves_to_the_survivor(api_client):
    survivor = register(email="anna@example.com")
    duplicate = register(phone="+4915122222222")
    merge = customer_merge(survivor=survivor, duplicate=duplicate, merged_by=None)
    assert merge.moved["customers"]["login"] is False
    assert customer_get_for_user(user=duplicate.user) == survivor
    token = api_client.post(
        "/api/v1/auth/token/", {"login": "0151 2222 2222", "password": PASSWORD}
    ).json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = api_client.get("/api/v1/me/").json()
    assert me["id"] == survivor.pk and me["phone"] == "+4915122222222"


def test_a_customer_cannot_be_merged_into_itself():
    anna = customer_create(phone="+4915111111111")
    with pytest.raises(MergeIntoSelf) as exc:
        customer_merge(survivor=anna, duplicate=anna, merged_by=None)
    assert exc.value.http_status == 422 and exc.value.code == "merge_into_self"


def test_an_already_merged_customer_can_be_neither_duplicate_nor_survivor_again():
    a, b, c = (customer_create(phone=f"+49151{n}1111111") for n in (1, 2, 3))
    customer_merge(survivor=a, duplicate=b, merged_by=None)
    with pytest.raises(CustomerAlreadyMerged) as exc:
        customer_merge(survivor=c, duplicate=b, merged_by=None)  # stale `b` object: re-read
    assert exc.value.http_status == 409 and exc.value.details["merged_into"] == a.pk
    with pytest.raises(CustomerAlreadyMerged):
        customer_merge(survivor=b, duplicate=c, merged_by=None)
    assert CustomerMerge.objects.count() == 1


def test_merging_a_survivor_again_repoints_its_earlier_duplicates():
    a = customer_create(phone="+4915111111111")
    b = customer_create(phone="+4915122222222")
    c = customer_create(phone="+4915133333333")
    consent_set(customer=c, channel="sms", granted=True, source="pos")
    customer_merge(survivor=b, duplicate=c, merged_by=None)
    merge = customer_merge(survivor=a, duplicate=b, merged_by=None)
    c.refresh_from_db()
    assert c.merged_into == a and merge.moved["customers"]["earlier_duplicates"] == 1
    assert customer_find(identifier="+4915133333333") == a
    assert c.pk in {change.customer_id for change in consent_history(customer=a)}
    assert Customer.objects.filter(is_active=True).get() == a
