"""The demo staff: one login per role at the demo stores, made once, able to log in."""

import io
import random

import pytest
from django.contrib.auth import authenticate

from staff import demo
from staff.roles import ROLES
from tests.factories.inventory import LocationFactory

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = io.StringIO()
    demo.seed(rng=random.Random(1), stdout=out)
    return out.getvalue()


def test_each_role_has_a_demo_login_with_its_group_and_stores():
    berlin = LocationFactory(code="BER-MITTE")
    hamburg = LocationFactory(code="HAM-JUNGFERNSTIEG")
    assert "6 staff logins" in _seed()

    for email, role, codes, _name in demo.DEMO_STAFF:
        user = authenticate(username=email, password=demo.DEMO_STAFF_PASSWORD)
        assert user is not None and user.is_staff and not user.is_superuser
        assert list(user.groups.values_list("name", flat=True)) == [ROLES[role].group]
        stores = set(user.inventory_locations.values_list("location__code", flat=True))
        assert stores == set(codes)
    assert {role for _email, role, *_rest in demo.DEMO_STAFF} == set(ROLES)
    assert berlin.staff.count() == 2 and hamburg.staff.count() == 1


def test_seeding_again_makes_nothing_twice():
    LocationFactory(code="BER-MITTE")
    LocationFactory(code="HAM-JUNGFERNSTIEG")
    _seed()
    assert "0 staff logins" in _seed()


def test_the_printed_credentials_name_every_login():
    text = "\n".join(demo.credentials())
    assert demo.DEMO_STAFF_PASSWORD in text
    assert all(email in text for email, *_rest in demo.DEMO_STAFF)
