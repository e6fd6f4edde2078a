"""Demo data: a few hundred German customers, and the printed demo login works through the API."""

import io
import random

import pytest

from customers import demo
from customers.models import Customer

pytestmark = pytest.mark.django_db


def test_the_demo_seeds_customers_with_and_without_logins_and_its_login_works(api_client):
    out = io.StringIO()
    demo.seed(rng=random.Random(42), stdout=out)
    customers = Customer.objects.all()
    assert 200 <= customers.count() <= 260
    assert customers.filter(user__isnull=False).count() == demo.LOGINS + 1
    assert customers.filter(user__isnull=True, phone__isnull=False).exists()
    assert customers.filter(
        user__isnull=True, phone__isnull=True, card_number__isnull=False
    ).exists()
    assert customers.filter(consents__granted=True).exists()

    response = api_client.post(
        "/api/v1/auth/token/",
        {"login": demo.DEMO_CUSTOMER_EMAIL, "password": demo.DEMO_CUSTOMER_PASSWORD},
    )
    assert response.status_code == 200
    assert response.json()["customer"]["card_number"]  # the shopper also has a loyalty card
    printed = "\n".join(demo.credentials())
    assert demo.DEMO_CUSTOMER_EMAIL in printed and demo.DEMO_CUSTOMER_PASSWORD in printed


def test_seeding_twice_keeps_the_demo_customers_as_they_are():
    demo.seed(rng=random.Random(1), stdout=io.StringIO())
    count = Customer.objects.count()
    demo.seed(rng=random.Random(1), stdout=io.StringIO())
    assert Customer.objects.count() == count


def test_demo_customers_have_german_names_and_german_mobile_numbers():
    demo.seed(rng=random.Random(5), stdout=io.StringIO())
    phones = list(Customer.objects.exclude(phone=None).values_list("phone", flat=True))
    assert len(phones) > 150
    for phone in phones:
        assert phone.startswith("+491") and 12 <= len(phone) <= 14, phone
    named = Customer.objects.exclude(first_name="")
    assert set(named.values_list("first_name", flat=True)) <= set(demo.FIRST_NAMES)
    assert set(named.values_list("last_name", flat=True)) <= set(demo.LAST_NAMES)
