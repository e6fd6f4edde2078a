"""A store associate's day in the admin, in a real browser (see conftest.py)."""

import pytest

from staff.services import staff_member_create
from tests.browser.conftest import PASSWORD, log_in
from tests.factories.orders import make_shop

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_store_associate_logs_in_and_lands_on_the_start_page(page, shot):
    shop = make_shop()
    staff_member_create(
        email="anna@staff.example.com",
        password=PASSWORD,
        role="store_associate",
        locations=[shop.store],
        full_name="Anna Associate",
    )
    log_in(page, "anna@staff.example.com")
    shot(page, "01-start-page")
    assert page.url.endswith("/admin/")
    assert "Omnicore" in page.title()
