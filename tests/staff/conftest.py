"""Fixtures of the staff tests: members of staff made through the service, in their roles."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from staff.services import staff_member_create
from tests.factories.customers import UserFactory
from tests.factories.orders import make_shop

PASSWORD = "Quiet-Harbour-4821"


@pytest.fixture
def shop(db):
    return make_shop()


@pytest.fixture
def member(db):
    """member(role, *locations) -> a logged-in admin browser for a new member of staff."""
    counter = iter(range(1000))

    def make(role: str, *locations) -> Client:
        user = staff_member_create(
            email=f"{role}{next(counter)}@staff.example.com",
            password=PASSWORD,
            role=role,
            locations=locations,
            full_name=role.replace("_", " ").title(),
        )
        browser = Client()
        browser.force_login(user)
        browser.user = user
        return browser

    return make


def view_only_user(*locations):
    """Staff with every view permission and nothing else (at these stores)."""
    from inventory import services as inventory_services

    user = UserFactory(is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    for location in locations:
        inventory_services.location_staff_assign(user=user, location=location)
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def view_only(db):
    def make(*locations) -> Client:
        browser = Client()
        user = view_only_user(*locations)
        browser.force_login(user)
        browser.user = user
        return browser

    return make
