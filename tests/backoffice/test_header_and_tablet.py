"""The branded header on every admin page, and the tablet stylesheet every page loads."""

import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

pytestmark = pytest.mark.django_db

STYLESHEET = "backoffice/backoffice.css"


def site_name(html: str) -> str:
    return re.search(r'<div id="site-name"><a href="/admin/">([^<]*)</a>', html).group(1)


def title(html: str) -> str:
    return re.search(r"<title>([^<]*)</title>", html).group(1).strip()


def test_a_member_of_one_store_sees_its_name_in_the_header_and_title_of_every_page(shop, member):
    browser = member("store_associate", shop.store)
    for url in ("/admin/", "/admin/orders/order/", "/admin/orders/order/pickups/"):
        html = browser.get(url).content.decode()
        assert site_name(html) == "Omnicore — Berlin Mitte", url
        assert title(html).endswith("| Omnicore — Berlin Mitte"), url


def test_head_office_sees_head_office_in_the_header(shop, member):
    html = member("head_office").get("/admin/orders/order/").content.decode()
    assert site_name(html) == "Omnicore — Head office"


def test_a_member_of_two_stores_or_of_none_sees_the_plain_brand(shop, member):
    two = member("store_manager", shop.store, shop.other_store).get("/admin/").content.decode()
    none = member("merchandiser").get("/admin/").content.decode()
    assert site_name(two) == "Omnicore"
    assert site_name(none) == "Omnicore"


def test_the_login_page_shows_the_brand(db):
    html = Client().get("/admin/login/").content.decode()
    assert site_name(html) == "Omnicore"
    assert title(html).endswith("| Omnicore")


def test_the_tablet_stylesheet_is_served_by_staticfiles_and_linked_from_every_page(shop, member):
    path = finders.find(STYLESHEET)
    assert path is not None
    css = open(path).read()
    assert "flex-wrap: wrap" in css and "overflow-x: auto" in css and "min-height: 44px" in css
    assert "http" not in css  # nothing from a CDN

    browser = member("store_manager", shop.store)
    for url in ("/admin/", "/admin/inventory/stocklevel/", "/admin/returns/return/desk/"):
        html = browser.get(url).content.decode()
        assert f'<link rel="stylesheet" href="/static/{STYLESHEET}">' in html, url
