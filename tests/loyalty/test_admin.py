"""Staff in the admin: find an account by phone or card, read the ledger, adjust with a
reason, publish a new rules version (never edit one)."""

from decimal import Decimal

import pytest
from django.test import Client

from loyalty.models import LoyaltyAccount, LoyaltyEntry, LoyaltyRules
from loyalty.selectors import balance_get
from loyalty.services import points_earn
from tests.factories.customers import CustomerFactory
from tests.factories.loyalty import TierFactory
from tests.loyalty.helpers import paid

pytestmark = pytest.mark.django_db

ACCOUNTS = "/admin/loyalty/loyaltyaccount/"
RULES = "/admin/loyalty/loyaltyrules/"


@pytest.fixture
def admin_client(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


def _form_data(response, **overrides) -> dict:
    """What the browser would post back from the page: the form and its inline formsets."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{name}"] = value
        forms.extend(formset.forms)
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is not None:
                data[form.add_prefix(name)] = value
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _account_with_points(customer, amount="100"):
    points_earn(
        customer=customer, reference=f"sale:{customer.pk}", channel="pos", lines=paid(amount)
    )
    return LoyaltyAccount.objects.get(customer=customer)


def test_staff_find_an_account_by_phone_typed_any_way_or_by_card(rules, admin_client):
    anna = CustomerFactory(phone="+4915123456789", card_number="CARD-0001")
    other = CustomerFactory()
    account = _account_with_points(anna)
    _account_with_points(other)

    for term in ("0151 23456789", "+49 151 2345 6789", "card-0001"):
        response = admin_client.get(ACCOUNTS, {"q": term})
        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == [account], term


def test_the_account_page_shows_the_full_ledger_read_only(rules, admin_client, customer):
    account = _account_with_points(customer)
    response = admin_client.get(f"{ACCOUNTS}{account.pk}/change/")
    assert response.status_code == 200
    assert f"sale:{customer.pk}" in response.content.decode()
    assert admin_client.get(f"{ACCOUNTS}{account.pk}/delete/").status_code == 403
    assert admin_client.get("/admin/loyalty/loyaltyentry/add/").status_code == 403


def test_an_adjustment_without_a_reason_is_refused(rules, admin_client, customer):
    account = _account_with_points(customer)
    url = f"{ACCOUNTS}{account.pk}/change/"
    response = admin_client.post(
        url, _form_data(admin_client.get(url), adjust_points=25, adjust_reason="")
    )
    assert response.status_code == 200  # the form again, with the error
    assert "needs a reason" in response.content.decode()
    assert balance_get(customer=customer) == 100


def test_an_adjustment_with_a_reason_writes_a_ledger_entry_by_that_staff_member(
    rules, admin_client, customer, staff_user
):
    account = _account_with_points(customer)
    url = f"{ACCOUNTS}{account.pk}/change/"
    response = admin_client.post(
        url,
        _form_data(
            admin_client.get(url),
            adjust_points=-30,
            adjust_reason_code="correction",
            adjust_reason="Double credit",
        ),
    )
    assert response.status_code == 302
    entry = LoyaltyEntry.objects.get(kind="adjust")
    assert (entry.points, entry.reason, entry.created_by) == (-30, "Double credit", staff_user)
    assert balance_get(customer=customer) == 70


def test_removing_more_than_the_balance_is_refused_in_the_form(rules, admin_client, customer):
    account = _account_with_points(customer, "10")
    url = f"{ACCOUNTS}{account.pk}/change/"
    response = admin_client.post(
        url,
        _form_data(
            admin_client.get(url),
            adjust_points=-11,
            adjust_reason_code="correction",
            adjust_reason="test",
        ),
    )
    assert response.status_code == 200
    assert not LoyaltyEntry.objects.filter(kind="adjust").exists()


def test_staff_can_open_an_account_with_a_first_adjustment(rules, admin_client, customer):
    response = admin_client.post(
        f"{ACCOUNTS}add/",
        _form_data(
            admin_client.get(f"{ACCOUNTS}add/"),
            customer=customer.pk,
            adjust_points=40,
            adjust_reason_code="campaign",
            adjust_reason="Welcome bonus",
        ),
    )
    assert response.status_code == 302
    assert balance_get(customer=customer) == 40


def test_a_new_rules_version_starts_from_the_one_in_force_and_leaves_it_unchanged(
    rules, admin_client, staff_user
):
    TierFactory(rules=rules, name="Gold", min_spend=Decimal("1000"), multiplier=Decimal("2"))
    page = admin_client.get(f"{RULES}add/")
    assert page.status_code == 200
    assert page.context["adminform"].form.initial["earn_rate"] == rules.earn_rate

    # Staff change the earn rate only; the pre-filled Gold tier comes along unchanged.
    response = admin_client.post(f"{RULES}add/", _form_data(page, earn_rate="2.5"))

    assert response.status_code == 302, response.context and response.context["errors"]
    new = LoyaltyRules.objects.exclude(pk=rules.pk).get()
    assert new.earn_rate == Decimal("2.5") and new.created_by == staff_user
    assert [(t.name, t.multiplier) for t in new.tiers.all()] == [("Gold", Decimal("2.00"))]
    rules.refresh_from_db()
    assert rules.earn_rate == Decimal("1")


def test_a_rules_version_cannot_be_edited_or_backdated(rules, admin_client):
    change = admin_client.get(f"{RULES}{rules.pk}/change/")
    assert change.status_code == 200  # view only
    assert admin_client.post(f"{RULES}{rules.pk}/change/", {"earn_rate": "9"}).status_code == 403

    page = admin_client.get(f"{RULES}add/")
    response = admin_client.post(
        f"{RULES}add/",
        _form_data(page, effective_from_0="2020-01-01", effective_from_1="00:00:00"),
    )
    assert response.status_code == 200
    assert "cannot be in the past" in response.content.decode()
    assert LoyaltyRules.objects.count() == 1
