"""Writes only through services, in the admin too: no generic delete that cascades past
them, login edits that keep the profile and the login in step, and a customer merge that
moves coupon uses so per-customer limits still hold."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client

from catalog.models import Product, Variant
from customers.models import Customer, User
from customers.services import customer_merge
from pricing.errors import CouponLimitReached
from pricing.models import CouponRedemption, Price, PriceList
from pricing.services import coupon_redemption_record
from tests.factories.customers import CustomerFactory, CustomerWithLoginFactory
from tests.factories.pricing import CouponFactory, PriceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


def test_a_price_list_with_prices_in_effect_cannot_be_deleted_only_deactivated(browser):
    price = PriceFactory()
    price_list = price.price_list
    PriceList.objects.filter(pk=price_list.pk).update(is_default=False)
    url = f"/admin/pricing/pricelist/{price_list.pk}/delete/"
    assert browser.post(url, {"post": "yes"}).status_code == 403
    browser.post(
        "/admin/pricing/pricelist/",
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: [price_list.pk], "post": "yes"},
    )
    assert Price.objects.filter(pk=price.pk).exists()
    browser.post(
        "/admin/pricing/pricelist/",
        {"action": "deactivate", ACTION_CHECKBOX_NAME: [price_list.pk]},
    )
    assert PriceList.objects.get(pk=price_list.pk).is_active is False
    assert Price.objects.filter(pk=price.pk).exists()


def test_products_and_variants_are_deactivated_never_deleted_from_the_admin(browser):
    price = PriceFactory()
    variant = price.variant
    product = variant.product
    for url in (
        f"/admin/catalog/product/{product.pk}/delete/",
        f"/admin/catalog/variant/{variant.pk}/delete/",
        f"/admin/catalog/category/{product.category_id}/delete/",
    ):
        assert browser.post(url, {"post": "yes"}).status_code == 403, url
    browser.post(
        "/admin/catalog/product/",
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: [product.pk], "post": "yes"},
    )
    assert Variant.objects.filter(pk=variant.pk).exists()
    browser.post(
        "/admin/catalog/product/",
        {"action": "deactivate_selected", ACTION_CHECKBOX_NAME: [product.pk]},
    )
    assert Product.objects.get(pk=product.pk).is_active is False


def test_editing_a_logins_email_in_the_admin_changes_its_profile_too(browser):
    customer = CustomerWithLoginFactory()
    user = customer.user
    url = f"/admin/customers/user/{user.pk}/change/"
    page = browser.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "password"}
    data |= {"email": "New.Address@Example.com", "is_active": "on"}
    data.pop("groups", None), data.pop("user_permissions", None)
    data.pop("last_login", None), data.pop("date_joined", None)
    data |= {"date_joined_0": "2025-01-01", "date_joined_1": "10:00:00"}
    response = browser.post(url, data)
    assert response.status_code == 302, (
        getattr(response, "context", None) and response.context["adminform"].form.errors
    )
    assert User.objects.get(pk=user.pk).email == "new.address@example.com"
    assert Customer.objects.get(pk=customer.pk).email == "new.address@example.com"


def test_a_per_customer_coupon_limit_still_holds_after_a_merge(db):
    coupon = CouponFactory(usage_limit_per_customer=1)
    survivor, duplicate = CustomerFactory(), CustomerFactory()
    coupon_redemption_record(code=coupon.code, customer_id=duplicate.pk, reference="order:A")

    customer_merge(survivor=survivor, duplicate=duplicate, merged_by=None)

    assert CouponRedemption.objects.get(reference="order:A").customer_id == survivor.pk
    with pytest.raises(CouponLimitReached):
        coupon_redemption_record(code=coupon.code, customer_id=survivor.pk, reference="order:B")
