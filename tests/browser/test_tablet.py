"""The start page and a wide list on a 768 px tablet, in a real browser: nothing wider than
the screen (tables scroll inside their box), tiles wrap, buttons are touch-sized."""

import pytest

from tests.backoffice.conftest import store_day
from tests.browser.conftest import PASSWORD, log_in
from tests.factories.orders import make_shop

pytestmark = pytest.mark.django_db(transaction=True)


def _page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_a_store_managers_start_page_and_stock_list_fit_a_tablet(page, shot):
    from staff.services import staff_member_create

    shop = make_shop()
    store_day(shop, shop.store, pickups=2, ready=1, returns=1, transfers=1, silent=1)
    staff_member_create(
        email="mia@staff.example.com",
        password=PASSWORD,
        role="store_manager",
        locations=[shop.store],
        full_name="Mia Manager",
    )
    log_in(page, "mia@staff.example.com")
    shot(page, "backoffice-start-page-768")

    assert page.title().endswith("Omnicore — Berlin Mitte")
    # The store's tiles, the overdue orders' among them (issue 15's deadlines).
    assert page.locator(".bo-tile").count() == 8
    assert page.locator("#tile-overdue").count() == 1
    assert _page_width(page) <= 768
    boxes = [page.locator(".bo-tile").nth(i).bounding_box() for i in range(8)]
    assert all(box["width"] <= 768 for box in boxes)
    assert len({round(box["y"]) for box in boxes}) > 1  # they wrap onto several rows
    buttons = page.locator(".bo-links .button")
    assert buttons.count() >= 7
    assert all(buttons.nth(i).bounding_box()["height"] >= 44 for i in range(buttons.count()))

    page.click("#tile-stock .bo-figures a >> nth=0")  # the negative stock figure
    page.wait_for_url("**/admin/inventory/stocklevel/?stock=negative")
    shot(page, "backoffice-negative-stock-768")
    assert _page_width(page) <= 768
