"""Pricing audit history: a change made in the admin records who made it and why, the
object's "History" page shows it and reverts nothing; prices are found by SKU or barcode."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from pricing import services
from pricing.models import Coupon, Price, Promotion, history_reason
from staff.services import staff_member_create
from tests.factories.catalog import BarcodeFactory, make_gtin
from tests.factories.inventory import LocationFactory
from tests.factories.pricing import PriceFactory, PromotionFactory

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def merchandiser():
    user = staff_member_create(
        email="merch@staff.example.com",
        password="Quiet-Harbour-4821",
        role="merchandiser",
        locations=(),
        full_name="Mia Merch",
    )
    browser = Client()
    browser.force_login(user)
    browser.user = user
    return browser


def _split(name, moment) -> dict:
    local = timezone.localtime(moment)
    return {f"{name}_0": local.strftime("%Y-%m-%d"), f"{name}_1": local.strftime("%H:%M:%S")}


def _price_post(price, **changes) -> dict:
    data = {
        "amount": str(price.amount),
        **_split("valid_from", price.valid_from),
        "valid_until_0": "",
        "valid_until_1": "",
        "change_reason": "",
    }
    data.update(changes)
    return data


def test_changing_a_price_in_the_admin_records_who_and_why_and_shows_it_on_its_history_page(
    merchandiser,
):
    starts = (timezone.now() + timedelta(days=5)).replace(microsecond=0)
    price = PriceFactory(amount=D("12.00"), valid_from=starts)
    response = merchandiser.post(
        f"/admin/pricing/price/{price.pk}/change/",
        _price_post(price, amount="11.00", change_reason="Supplier cost went down"),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors

    latest = price.history.first()
    assert latest.history_type == "~"
    assert latest.amount == D("11.000")
    assert latest.history_user == merchandiser.user
    assert latest.history_change_reason == "Supplier cost went down"
    assert price.history.count() == 2  # made by the factory, changed in the admin

    page = merchandiser.get(f"/admin/pricing/price/{price.pk}/history/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "merch@staff.example.com" in html
    assert "Supplier cost went down" in html
    assert "12.000" in html and "11.000" in html  # the change of the amount


def test_a_change_without_a_reason_still_records_who_made_it(merchandiser):
    started = (timezone.now() - timedelta(days=3)).replace(microsecond=0)
    price = PriceFactory(amount=D("12.00"), valid_from=started)  # in effect: only its end moves
    ends = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    response = merchandiser.post(
        f"/admin/pricing/price/{price.pk}/change/",
        _price_post(price, **_split("valid_until", ends)),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    latest = price.history.first()
    assert (latest.valid_until, latest.history_user) == (ends, merchandiser.user)
    assert latest.history_change_reason is None


def test_a_refused_price_change_leaves_no_history_row(merchandiser):
    price = PriceFactory(amount=D("12.00"))
    response = merchandiser.post(
        f"/admin/pricing/price/{price.pk}/change/",
        _price_post(price, amount="9.00", change_reason="Cheaper in the past"),
    )
    assert response.status_code == 200  # a price in effect keeps its amount: a form error
    assert price.history.count() == 1


def test_scheduling_a_new_price_records_the_new_price_and_the_end_of_the_old_one(merchandiser):
    current = PriceFactory(amount=D("20.00"))
    change = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    response = merchandiser.post(
        "/admin/pricing/price/add/",
        {
            "price_list": str(current.price_list_id),
            "variant": str(current.variant_id),
            "amount": "18.00",
            **_split("valid_from", change),
            "valid_until_0": "",
            "valid_until_1": "",
            "change_reason": "Summer prices",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    new = Price.objects.get(valid_from=change)
    created = new.history.get()
    assert (created.history_type, created.history_user) == ("+", merchandiser.user)
    assert created.history_change_reason == "Summer prices"
    ended = current.history.first()
    assert (ended.valid_until, ended.history_change_reason) == (change, "Summer prices")


def test_a_promotion_and_its_coupons_record_the_forms_reason(merchandiser):
    promotion = PromotionFactory(name="Spring", value=D("10"))
    data = {
        "name": "Spring",
        "description": "",
        "kind": "percent_off",
        "scope": "basket",
        "value": "15",
        "buy_quantity": "0",
        "get_quantity": "0",
        "threshold": "0",
        **_split("starts_at", promotion.starts_at),
        "priority": "0",
        "is_stackable": "on",
        "is_active": "on",
        "change_reason": "Matching the competitor",
        "coupons-TOTAL_FORMS": "1",
        "coupons-INITIAL_FORMS": "0",
        "coupons-MIN_NUM_FORMS": "0",
        "coupons-MAX_NUM_FORMS": "1000",
        "coupons-0-code": "spring-15",
        "coupons-0-usage_limit": "",
        "coupons-0-usage_limit_per_customer": "",
        "coupons-0-is_active": "on",
    }
    response = merchandiser.post(f"/admin/pricing/promotion/{promotion.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors

    changed = promotion.history.first()
    assert (changed.value, changed.history_user) == (D("15.000"), merchandiser.user)
    assert changed.history_change_reason == "Matching the competitor"
    coupon = Coupon.objects.get(code="SPRING-15").history.get()
    assert (coupon.history_type, coupon.history_user) == ("+", merchandiser.user)
    assert coupon.history_change_reason == "Matching the competitor"
    page = merchandiser.get(f"/admin/pricing/promotion/{promotion.pk}/history/")
    assert "Matching the competitor" in page.content.decode()


def test_deactivating_promotions_from_the_list_records_why(merchandiser):
    promotion = PromotionFactory()
    response = merchandiser.post(
        "/admin/pricing/promotion/",
        {"action": "deactivate", "_selected_action": [str(promotion.pk)]},
    )
    assert response.status_code == 302
    latest = promotion.history.first()
    assert (latest.is_active, latest.history_user) == (False, merchandiser.user)
    assert latest.history_change_reason == "Deactivated from the list of promotions"


def test_a_services_change_outside_the_admin_takes_the_reason_set_around_it():
    promotion = PromotionFactory()
    promotion.priority = 5
    with history_reason("Campaign calendar"):
        services.promotion_save(promotion=promotion)
    promotion.priority = 6
    services.promotion_save(promotion=promotion)
    newest, middle = list(Promotion.history.filter(id=promotion.pk))[:2]
    assert (middle.priority, middle.history_change_reason) == (5, "Campaign calendar")
    assert (newest.priority, newest.history_change_reason) == (6, None)


def test_the_history_page_reverts_nothing(merchandiser):
    starts = (timezone.now() + timedelta(days=5)).replace(microsecond=0)
    price = PriceFactory(amount=D("12.00"), valid_from=starts)
    first = price.history.get()
    services.price_update(price=price, amount=D("11.00"))
    version = f"/admin/pricing/price/{price.pk}/history/{first.history_id}/"
    assert merchandiser.get(version).status_code == 200  # readable
    response = merchandiser.post(version, _price_post(first, change_reason="revert"))
    assert response.status_code == 403
    price.refresh_from_db()
    assert price.amount == D("11.000")
    assert price.history.count() == 2


def test_a_store_associate_reads_a_prices_history_but_a_user_without_the_view_permission_cannot(
    merchandiser,
):
    price = PriceFactory()
    associate = staff_member_create(
        email="assoc@staff.example.com",
        password="Quiet-Harbour-4821",
        role="store_associate",
        locations=[LocationFactory()],
    )
    nobody = staff_member_create(
        email="nobody@staff.example.com", password="Quiet-Harbour-4821", role="merchandiser"
    )
    nobody.groups.clear()
    for user, status in ((associate, 200), (nobody, 403)):
        browser = Client()
        browser.force_login(user)
        assert browser.get(f"/admin/pricing/price/{price.pk}/history/").status_code == status


WANTED_BARCODE = make_gtin("400638133312")


@pytest.mark.parametrize(
    "term", [WANTED_BARCODE, "4006381", "8133312", "SEARCH-SKU-1", "search-sku"]
)
def test_prices_are_found_by_sku_or_by_a_whole_or_partial_barcode(merchandiser, term):
    wanted = PriceFactory(variant__sku="SEARCH-SKU-1")
    BarcodeFactory(variant=wanted.variant, code=WANTED_BARCODE)
    BarcodeFactory(variant=wanted.variant, code=make_gtin("400638133399"))  # listed once
    other = PriceFactory(variant__sku="OTHER-9")
    BarcodeFactory(variant=other.variant, code=make_gtin("590123412345"))
    response = merchandiser.get("/admin/pricing/price/", {"q": term})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [wanted]
