"""Staff admin: search by any contact format, edit through services, merge two customers."""

import pytest

from customers.models import ConsentChange, Customer, CustomerMerge
from customers.services import consent_set, customer_create, customer_merge
from tests.customers.conftest import register

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/customers/customer/"


@pytest.fixture
def admin_client(client, staff_user):
    client.force_login(staff_user)
    return client


def _listed(response) -> set[int]:
    return {c.pk for c in response.context["cl"].result_list}


@pytest.fixture
def people(db):
    return {
        "anna": customer_create(
            phone="+4915123456789",
            email="anna.schmidt@example.com",
            first_name="Anna",
            last_name="Schmidt",
        ),
        "ben": customer_create(
            phone="+4915199999999", card_number="2900000000017", first_name="Ben"
        ),
        "carla": customer_create(phone="+493012345678", first_name="Carla", last_name="Schmidt"),
    }


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("0151 2345 678", {"anna"}),
        ("+49 151 23456789", {"anna"}),
        ("0151-2345-6789", {"anna"}),
        ("ANNA.SCHMIDT@example.com", {"anna"}),
        ("2900 0000 00017", {"ben"}),
        ("Schmidt", {"anna", "carla"}),
        ("Anna Schmidt", {"anna"}),
        ("030 1234", {"carla"}),
        ("nobody", set()),
    ],
)
def test_staff_find_customers_by_phone_in_any_format_email_card_or_name(
    admin_client, people, term, expected
):
    response = admin_client.get(CHANGELIST, {"q": term})
    assert response.status_code == 200
    assert _listed(response) == {people[name].pk for name in expected}


def test_the_merge_action_asks_which_customer_survives_then_merges(
    admin_client, people, staff_user
):
    anna, ben = people["anna"], people["ben"]
    selection = {"action": "merge_customers", "_selected_action": [anna.pk, ben.pk]}
    confirm = admin_client.post(CHANGELIST, selection)
    assert confirm.status_code == 200
    assert b"+4915123456789" in confirm.content and b"2900000000017" in confirm.content
    assert not CustomerMerge.objects.exists()

    done = admin_client.post(CHANGELIST, {**selection, "apply": "1", "survivor": ben.pk})
    assert done.status_code == 302
    merge = CustomerMerge.objects.get()
    assert (merge.survivor, merge.duplicate, merge.merged_by) == (ben, anna, staff_user)
    ben.refresh_from_db()
    assert ben.email == "anna.schmidt@example.com"


@pytest.mark.parametrize("count", [1, 3])
def test_the_merge_action_needs_exactly_two_customers(admin_client, people, count):
    ids = [c.pk for c in people.values()][:count]
    response = admin_client.post(
        CHANGELIST, {"action": "merge_customers", "_selected_action": ids}, follow=True
    )
    assert b"Select exactly two customers to merge." in response.content
    assert not CustomerMerge.objects.exists()


def test_the_merge_action_reports_a_refused_merge(admin_client, people):
    anna, ben, carla = people["anna"], people["ben"], people["carla"]
    customer_merge(survivor=anna, duplicate=ben, merged_by=None)
    response = admin_client.post(
        CHANGELIST,
        {
            "action": "merge_customers",
            "_selected_action": [ben.pk, carla.pk],
            "apply": "1",
            "survivor": carla.pk,
        },
        follow=True,
    )
    assert b"already merged" in response.content
    assert CustomerMerge.objects.count() == 1


def test_staff_create_a_customer_with_a_normalized_phone(admin_client):
    response = admin_client.post(
        "/admin/customers/customer/add/",
        {
            "first_name": "Dora",
            "last_name": "",
            "phone": "0151 5555 5555",
            "email": "",
            "card_number": "2900-1111-22223",
            **_empty_inlines(),
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    dora = Customer.objects.get(first_name="Dora")
    assert (dora.phone, dora.card_number, dora.email) == ("+4915155555555", "2900111122223", None)
    assert dora.signup_channel == "admin"


def test_staff_cannot_give_a_customer_another_customers_phone(admin_client, people):
    response = admin_client.post(
        f"/admin/customers/customer/{people['carla'].pk}/change/",
        {
            "first_name": "Carla",
            "last_name": "Schmidt",
            "phone": "0151 2345 6789",
            "email": "",
            "card_number": "",
            **_empty_inlines(),
        },
    )
    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors
    people["carla"].refresh_from_db()
    assert people["carla"].phone == "+493012345678"


def test_editing_a_registered_customers_email_in_the_admin_moves_the_login(admin_client):
    anna = register(email="anna@example.com")
    response = admin_client.post(
        f"/admin/customers/customer/{anna.pk}/change/",
        {
            "first_name": "Anna",
            "last_name": "",
            "phone": "",
            "email": "Anna.New@Example.com",
            "card_number": "",
            **_empty_inlines(),
        },
    )
    assert response.status_code == 302
    anna.user.refresh_from_db()
    assert anna.user.email == "anna.new@example.com"


def test_consent_history_shows_on_the_customer_page_and_cannot_be_edited(admin_client, people):
    anna = people["anna"]
    consent_set(customer=anna, channel="sms", granted=True, source="pos")
    response = admin_client.get(f"/admin/customers/customer/{anna.pk}/change/")
    assert response.status_code == 200
    inline = next(
        f for f in response.context["inline_admin_formsets"] if f.opts.model is ConsentChange
    )
    assert not inline.has_add_permission and not inline.has_change_permission
    assert not inline.has_delete_permission
    assert len(inline.formset.queryset) == 1


def test_merge_records_and_customers_cannot_be_added_changed_or_deleted(admin_client, people):
    merge = customer_merge(survivor=people["anna"], duplicate=people["ben"], merged_by=None)
    assert admin_client.get("/admin/customers/customermerge/").status_code == 200
    assert admin_client.get("/admin/customers/customermerge/add/").status_code == 403
    page = admin_client.get(f"/admin/customers/customermerge/{merge.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert admin_client.get(f"/admin/customers/customermerge/{merge.pk}/delete/").status_code == 403
    carla = people["carla"].pk
    assert admin_client.get(f"/admin/customers/customer/{carla}/delete/").status_code == 403


def _empty_inlines() -> dict[str, str]:
    data = {}
    for prefix in ("consents", "consent_changes"):
        data |= {
            f"{prefix}-TOTAL_FORMS": "0",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
        }
    return data
