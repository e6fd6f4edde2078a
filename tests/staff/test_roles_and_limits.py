"""The ready-made roles as installed, creating a member of staff in one page, and loyalty
adjustments held to the role's limit and a reason code in the service itself."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from inventory.models import LocationStaff
from loyalty.errors import (
    AdjustmentLimitExceeded,
    AdjustmentNotAllowed,
    InvalidReasonCode,
    ReasonRequired,
)
from loyalty.models import LoyaltyEntry
from loyalty.selectors import balance_get
from loyalty.services import account_get_or_create, points_adjust
from staff.errors import StoresRequired, UnknownRole
from staff.roles import HEAD_OFFICE, ROLES, STORE_MANAGER
from staff.services import staff_member_create
from tests.factories.customers import CustomerFactory, UserFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.staff.conftest import PASSWORD

pytestmark = pytest.mark.django_db

ADD = "/admin/staff/staffmember/add/"


def test_the_migration_installs_every_role_with_exactly_its_permissions():
    from django.apps import apps

    from staff.roles import role_permission_keys

    for role in ROLES.values():
        group = Group.objects.get(name=role.group)
        installed = set(group.permissions.values_list("content_type__app_label", "codename"))
        assert installed == role_permission_keys(role, apps=apps), role.key


def test_a_merchandiser_holds_no_store_data_permission():
    names = ROLES["merchandiser"].permissions
    assert not any(p.split(".")[0] in {"inventory", "orders", "customers"} for p in names)


def test_one_admin_page_creates_a_member_of_staff_with_role_and_stores(shop, staff_user):
    browser = Client()
    browser.force_login(staff_user)
    response = browser.post(
        ADD,
        {
            "email": "Anna@Store.Example.com",
            "full_name": "Anna Berg",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "role": "store_associate",
            "locations": [shop.store.pk, shop.other_store.pk],
        },
    )
    assert response.status_code == 302
    user = type(staff_user).objects.get(email="anna@store.example.com")
    assert user.is_staff and not user.is_superuser and user.check_password(PASSWORD)
    assert list(user.groups.values_list("name", flat=True)) == ["Store associate"]
    assert set(LocationStaff.objects.filter(user=user).values_list("location", flat=True)) == {
        shop.store.pk,
        shop.other_store.pk,
    }
    assert user.has_perm("orders.work_pickup_queue")


def test_the_staff_page_refuses_a_weak_password_and_a_taken_email_without_a_server_error(
    shop, staff_user
):
    browser = Client()
    browser.force_login(staff_user)
    data = {"email": staff_user.email, "password1": PASSWORD, "password2": PASSWORD}
    data |= {"role": "head_office"}
    taken = browser.post(ADD, data)
    assert taken.status_code == 302 and taken.url == ADD  # back to the form, with the message
    weak = browser.post(ADD, data | {"email": "new@x.example.com", "password1": "12345678"})
    assert weak.status_code == 200 and weak.context["adminform"].form.errors
    assert not type(staff_user).objects.filter(email="new@x.example.com").exists()


def test_staff_member_create_refuses_unknown_roles_and_store_roles_without_a_store(db):
    with pytest.raises(UnknownRole):
        staff_member_create(email="a@x.example.com", password=PASSWORD, role="owner")
    with pytest.raises(StoresRequired):
        staff_member_create(email="a@x.example.com", password=PASSWORD, role="store_manager")
    assert not UserFactory._meta.model.objects.filter(email="a@x.example.com").exists()


def test_a_staff_page_needs_a_permission_no_role_has(shop, member):
    for role in ROLES:
        assert member(role, shop.store).get(ADD).status_code == 403


# --- loyalty adjustments: limit and reason code, in the service ---------------------------


@pytest.fixture
def account_holder(db):
    LoyaltyRulesFactory()
    customer = CustomerFactory()
    account_get_or_create(customer=customer)
    points_adjust(customer=customer, points=5000, reason="opening", actor=None)
    return customer


def test_a_manager_adjusts_within_the_limit_and_only_head_office_above_it(
    shop, member, account_holder
):
    manager = member("store_manager", shop.store).user
    head_office = member("head_office").user
    limit = STORE_MANAGER.loyalty_adjust_limit
    assert HEAD_OFFICE.loyalty_adjust_limit is None

    points_adjust(
        customer=account_holder,
        points=limit,
        reason="parcel lost",
        reason_code="complaint",
        actor=manager,
    )
    with pytest.raises(AdjustmentLimitExceeded) as refused:
        points_adjust(
            customer=account_holder,
            points=-(limit + 1),
            reason="double credit",
            reason_code="correction",
            actor=manager,
        )
    assert refused.value.http_status == 403
    points_adjust(
        customer=account_holder,
        points=limit + 1,
        reason="big complaint",
        reason_code="complaint",
        actor=head_office,
    )
    assert balance_get(customer=account_holder) == 5000 + limit + limit + 1


def test_an_associate_cannot_adjust_points_at_all(shop, member, account_holder):
    associate = member("store_associate", shop.store).user
    with pytest.raises(AdjustmentNotAllowed):
        points_adjust(
            customer=account_holder, points=1, reason="x", reason_code="goodwill", actor=associate
        )


def test_every_staff_adjustment_has_a_reason_code_from_the_list_and_a_text(
    shop, member, account_holder
):
    manager = member("store_manager", shop.store).user
    with pytest.raises(ReasonRequired):
        points_adjust(customer=account_holder, points=5, reason="why", actor=manager)
    with pytest.raises(InvalidReasonCode):
        points_adjust(
            customer=account_holder, points=5, reason="why", reason_code="bribe", actor=manager
        )
    with pytest.raises(ReasonRequired):
        points_adjust(
            customer=account_holder, points=5, reason=" ", reason_code="goodwill", actor=manager
        )
    entry = points_adjust(
        customer=account_holder,
        points=5,
        reason="late parcel",
        reason_code="goodwill",
        actor=manager,
    )
    assert (entry.reason_code, entry.reason, entry.created_by) == (
        "goodwill",
        "late parcel",
        manager,
    )


def test_the_account_page_refuses_an_adjustment_above_the_managers_limit(
    shop, member, account_holder
):
    manager = member("store_manager", shop.store)
    account = account_holder.loyalty_account
    url = f"/admin/loyalty/loyaltyaccount/{account.pk}/change/"
    page = manager.get(url)
    assert page.status_code == 200
    data = {"customer": account_holder.pk, "adjust_reason": "complaint"}
    data |= {"adjust_reason_code": "complaint"}
    for prefix in ("entries",):
        form = page.context["inline_admin_formsets"][0].formset.management_form
        data |= {f"{prefix}-{k}": v for k, v in form.initial.items()}
    refused = manager.post(url, data | {"adjust_points": STORE_MANAGER.loyalty_adjust_limit + 1})
    assert refused.status_code == 200
    assert not LoyaltyEntry.objects.filter(created_by=manager.user).exists()
    accepted = manager.post(url, data | {"adjust_points": 10})
    assert accepted.status_code == 302
    assert LoyaltyEntry.objects.get(created_by=manager.user).reason_code == "complaint"
