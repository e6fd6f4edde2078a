"""One profile per person: normalized unique contacts, lookup by any of them, updates, consents."""

import pytest
from django.db import IntegrityError

from core.errors import ValidationFailed
from customers.errors import (
    ContactTaken,
    CustomerAlreadyMerged,
    CustomerNotFound,
    IdentifierRequired,
    LoginIdentifierRequired,
)
from customers.models import ConsentChange, Customer, MarketingConsent, Source
from customers.selectors import (
    consent_granted,
    customer_consents,
    customer_find,
    customer_get_for_user,
    user_find_by_login,
)
from customers.services import (
    consent_set,
    customer_create,
    customer_get_or_create,
    customer_merge,
    customer_update,
)
from tests.customers.conftest import register
from tests.factories.customers import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_new_profile_stores_normalized_contacts():
    customer = customer_create(
        phone="0151 2345 6789", email=" Anna@Example.COM", card_number="2900 0000 00017"
    )
    customer.refresh_from_db()
    assert customer.phone == "+4915123456789"
    assert customer.email == "anna@example.com"
    assert customer.card_number == "2900000000017"


@pytest.mark.parametrize(
    ("field", "first", "second"),
    [
        ("phone", "+4915123456789", "0151-2345-6789"),
        ("email", "anna@example.com", "ANNA@example.com"),
        ("card_number", "2900000000017", "2900-0000-00017"),
    ],
)
def test_each_contact_belongs_to_one_customer_only(field, first, second):
    customer_create(**{field: first})
    with pytest.raises(ContactTaken) as exc:
        customer_create(**{field: second})
    assert exc.value.details == {"fields": [field]}
    assert Customer.objects.count() == 1


def test_the_database_itself_refuses_a_second_customer_with_the_same_phone():
    CustomerFactory(phone="+4915123456789")
    with pytest.raises(IntegrityError):
        CustomerFactory(phone="+4915123456789")


def test_many_customers_may_have_no_email_or_card():
    CustomerFactory(email=None, card_number=None)
    CustomerFactory(email=None, card_number=None)
    assert Customer.objects.filter(email__isnull=True, card_number__isnull=True).count() == 2


def test_a_profile_needs_at_least_one_way_to_find_it():
    with pytest.raises(IdentifierRequired):
        customer_create(first_name="Nobody", phone="  ", email="")


@pytest.mark.parametrize(
    "identifier",
    ["+4915123456789", "0151 2345 6789", "ANNA@example.com ", "2900 0000 00017", "2900000000017"],
)
def test_a_customer_is_found_by_phone_email_or_card_in_any_format(identifier):
    anna = customer_create(
        phone="+4915123456789", email="anna@example.com", card_number="2900000000017"
    )
    customer_create(phone="+4915199999999", email="other@example.com")
    assert customer_find(identifier=identifier) == anna


@pytest.mark.parametrize("identifier", ["", "nobody@example.com", "+4915100000000", "%%%", "12"])
def test_an_unknown_or_malformed_identifier_finds_nobody(identifier):
    customer_create(phone="+4915123456789", email="anna@example.com")
    assert customer_find(identifier=identifier) is None


def test_a_card_number_wins_over_the_same_digits_read_as_a_phone():
    by_card = customer_create(card_number="015123456789")
    customer_create(phone="0151 2345 6789")
    assert customer_find(identifier="0151 2345 6789") == by_card


def test_the_profile_of_a_login_is_found_and_a_login_without_one_raises_not_found():
    anna = register(email="anna@example.com")
    assert customer_get_for_user(user=anna.user) == anna
    staff = UserFactory(is_staff=True)
    with pytest.raises(CustomerNotFound) as exc:
        customer_get_for_user(user=staff)
    assert exc.value.code == "customer_not_found" and exc.value.http_status == 404


def test_get_or_create_finds_the_till_customer_by_phone_and_fills_in_the_missing_email():
    known = customer_create(phone="+4915123456789", first_name="Anna", source=Source.POS)
    found = customer_get_or_create(
        phone="0151 23456789", email="Anna@Example.com", first_name="Annette", last_name="Schmidt"
    )
    assert found.pk == known.pk
    found.refresh_from_db()
    assert found.email == "anna@example.com"
    assert (found.first_name, found.last_name) == ("Anna", "Schmidt")  # only empty fields filled
    assert Customer.objects.count() == 1


def test_get_or_create_makes_a_new_profile_for_unknown_contacts():
    customer = customer_get_or_create(
        email="guest@example.com", first_name="Guest", source=Source.WEB
    )
    assert customer.pk and customer.signup_channel == "web"
    assert customer_get_or_create(email="GUEST@example.com").pk == customer.pk


def test_get_or_create_prefers_the_card_and_does_not_steal_another_customers_phone():
    by_card = customer_create(card_number="2900000000017")
    by_phone = customer_create(phone="+4915123456789")
    found = customer_get_or_create(card_number="2900000000017", phone="+4915123456789")
    assert found.pk == by_card.pk
    by_card.refresh_from_db()
    assert by_card.phone is None
    assert customer_find(identifier="+4915123456789") == by_phone


def test_get_or_create_without_any_contact_is_refused():
    with pytest.raises(IdentifierRequired):
        customer_get_or_create(first_name="Anonymous")


def test_updating_contacts_moves_the_login_with_them():
    anna = register(email="anna@example.com", phone="+4915111111111")
    customer_update(customer=anna, email="Anna.New@example.com", phone="0151 3333 3333")
    assert user_find_by_login(login="anna.new@example.com") == anna.user
    assert user_find_by_login(login="+4915133333333") == anna.user
    assert user_find_by_login(login="anna@example.com") is None


def test_updating_to_another_customers_contact_is_a_conflict_and_changes_nothing():
    anna = register(email="anna@example.com", phone="+4915111111111")
    customer_create(phone="+4915122222222")
    UserFactory(email="staff@example.com")
    with pytest.raises(ContactTaken) as exc:
        customer_update(customer=anna, first_name="Changed", phone="+4915122222222")
    assert exc.value.details == {"fields": ["phone"]}
    with pytest.raises(ContactTaken):
        customer_update(customer=anna, email="staff@example.com")
    anna.refresh_from_db()
    assert (anna.first_name, anna.phone) == ("", "+4915111111111")


def test_a_customer_with_a_login_keeps_an_email_or_a_phone():
    anna = register(email="anna@example.com")
    customer_update(customer=anna, card_number="2900000000017")
    with pytest.raises(LoginIdentifierRequired):
        customer_update(customer=anna, email=None)
    till = customer_create(phone="+4915122222222")
    with pytest.raises(IdentifierRequired):
        customer_update(customer=till, phone="")


def test_a_survivor_can_take_back_a_phone_left_on_its_merged_duplicate():
    survivor = customer_create(phone="+4915111111111")
    duplicate = customer_create(phone="+4915122222222")
    customer_merge(survivor=survivor, duplicate=duplicate, merged_by=None)
    customer_update(customer=survivor, phone="+4915122222222")
    duplicate.refresh_from_db()
    assert duplicate.phone is None
    assert customer_find(identifier="+4915122222222") == survivor


def test_a_merged_customer_cannot_be_updated():
    survivor, duplicate = customer_create(phone="+4915111111111"), customer_create(email="d@x.de")
    customer_merge(survivor=survivor, duplicate=duplicate, merged_by=None)
    with pytest.raises(CustomerAlreadyMerged):
        customer_update(customer=duplicate, first_name="Ghost")


def test_a_consent_decision_sets_the_current_state_and_appends_history():
    anna = register(email="anna@example.com")
    consent_set(customer=anna, channel="sms", granted=True, source="app", changed_by=anna.user)
    consent_set(customer=anna, channel="sms", granted=False, source="pos")
    current = MarketingConsent.objects.get(customer=anna, channel="sms")
    assert (current.granted, current.source) == (False, "pos")
    history = list(ConsentChange.objects.filter(customer=anna).order_by("id"))
    assert [(h.granted, h.source, h.changed_by) for h in history] == [
        (True, "app", anna.user),
        (False, "pos", None),
    ]
    assert consent_granted(customer_id=anna.pk, channel="sms") is False


def test_repeating_the_same_decision_adds_no_history_but_a_first_refusal_is_recorded():
    anna = register(email="anna@example.com")
    consent_set(customer=anna, channel="email", granted=False, source="web")
    consent_set(customer=anna, channel="email", granted=False, source="web")
    consent_set(customer=anna, channel="push", granted=True, source="app")
    consent_set(customer=anna, channel="push", granted=True, source="app")
    assert ConsentChange.objects.filter(customer=anna).count() == 2
    consents = customer_consents(customer=anna)
    assert consents["email"].granted is False
    assert consents["push"].granted is True
    assert consents["sms"] is None and consents["messenger"] is None


@pytest.mark.parametrize(
    ("channel", "source", "code"),
    [("fax", "web", "invalid_consent_channel"), ("email", "carrier-pigeon", "invalid_source")],
)
def test_unknown_consent_channels_and_sources_are_refused(channel, source, code):
    anna = register(email="anna@example.com")
    with pytest.raises(ValidationFailed) as exc:
        consent_set(customer=anna, channel=channel, granted=True, source=source)
    assert exc.value.code == code
    assert not ConsentChange.objects.exists()


def test_a_name_change_leaves_the_logins_contacts_alone_but_a_contact_change_mirrors_them():
    anna = register(email="anna@example.com")
    anna.phone = "+4915155555555"  # given at the till: the profile's, not yet the login's
    anna.save(update_fields=["phone"])
    anna = customer_update(customer=anna, first_name="Anna", last_name="Schmidt")
    anna.user.refresh_from_db()
    assert (anna.user.full_name, anna.user.phone) == ("Anna Schmidt", None)
    customer_update(customer=anna, email="anna.s@example.com")
    anna.user.refresh_from_db()
    assert (anna.user.email, anna.user.phone) == ("anna.s@example.com", "+4915155555555")
    assert user_find_by_login(login="0151 5555 5555") == anna.user


def test_a_contact_change_is_refused_when_the_login_could_not_mirror_the_profile():
    anna = register(email="anna@example.com")
    anna.phone = "+4915155555555"  # given at the till: the profile's, not yet the login's
    anna.save(update_fields=["phone"])
    UserFactory(phone="+4915155555555", email=None)  # a staff login with that phone
    with pytest.raises(ContactTaken) as exc:
        customer_update(customer=anna, email="anna.s@example.com")
    assert exc.value.details == {"fields": ["phone"]}
