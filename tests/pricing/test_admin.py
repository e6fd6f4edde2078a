"""Pricing admin: pages load, prices are written through services, bulk import is all or
nothing and names unknown SKUs and overlaps, price history per variant."""

import io
from datetime import timedelta
from decimal import Decimal

import openpyxl
import pytest
import tablib
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from customers.models import User
from pricing import services
from pricing.errors import PriceImportInvalid
from pricing.models import Coupon, Price, PriceList, Promotion
from pricing.resources import PriceResource
from tests.factories.catalog import CategoryFactory, VariantFactory
from tests.factories.pricing import PriceFactory, PriceListFactory, PromotionFactory

pytestmark = pytest.mark.django_db

D = Decimal
IMPORT = "/admin/pricing/price/import/"
CONFIRM = "/admin/pricing/price/process_import/"


@pytest.fixture
def admin_client(client):
    # No password: hashing one costs ~0.4 s per test and force_login needs none.
    staff = User.objects.create(email="pricing-admin@example.com", is_staff=True, is_superuser=True)
    client.force_login(staff)
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/pricing/pricelist/",
        "/admin/pricing/pricelist/add/",
        "/admin/pricing/price/",
        "/admin/pricing/price/add/",
        "/admin/pricing/price/?status=current",
        "/admin/pricing/price/?status=scheduled",
        "/admin/pricing/price/?status=ended",
        "/admin/pricing/promotion/",
        "/admin/pricing/promotion/add/",
        "/admin/pricing/couponredemption/",
        IMPORT,
        "/admin/pricing/price/export/",
    ],
)
def test_pricing_admin_pages_load(admin_client, url):
    PriceFactory()
    assert admin_client.get(url).status_code == 200


def test_change_pages_load(admin_client):
    price = PriceFactory()
    promotion = PromotionFactory()
    Coupon.objects.create(promotion=promotion, code="ADMIN1")
    for url in (
        f"/admin/pricing/pricelist/{price.price_list_id}/change/",
        f"/admin/pricing/price/{price.pk}/change/",
        f"/admin/pricing/promotion/{promotion.pk}/change/",
    ):
        assert admin_client.get(url).status_code == 200


def test_price_history_view_lists_every_price_of_the_variant(admin_client):
    now = timezone.now()
    old = PriceFactory(
        amount=D("8.00"), valid_from=now - timedelta(days=9), valid_until=now - timedelta(days=1)
    )
    PriceFactory(
        variant=old.variant,
        amount=D("9.00"),
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=2),
    )
    PriceFactory(variant=old.variant, amount=D("9.50"), valid_from=now + timedelta(days=2))
    response = admin_client.get(f"/admin/pricing/price/variant/{old.variant_id}/history/")
    assert response.status_code == 200
    html = response.content.decode()
    for amount, status in (("8.000", "ended"), ("9.000", "current"), ("9.500", "scheduled")):
        assert amount in html and status in html
    assert admin_client.get("/admin/pricing/price/variant/999999/history/").status_code == 404


def _inline_post(price_list, rows, existing=()):
    data = {
        "name": price_list.name,
        "currency": price_list.currency,
        "is_default": "on",
        "is_active": "on",
        "prices-TOTAL_FORMS": str(len(existing) + len(rows)),
        "prices-INITIAL_FORMS": str(len(existing)),
        "prices-MIN_NUM_FORMS": "0",
        "prices-MAX_NUM_FORMS": "1000",
    }
    for i, (price, values) in enumerate([*existing, *[(None, r) for r in rows]]):
        prefix = f"prices-{i}-"
        data[prefix + "id"] = str(price.pk) if price else ""
        data[prefix + "price_list"] = str(price_list.pk)
        for key, value in values.items():
            data[prefix + key] = value
    return data


def _fmt(moment) -> dict:
    local = timezone.localtime(moment)
    return {"0": local.strftime("%Y-%m-%d"), "1": local.strftime("%H:%M:%S")}


def _split(name, moment):
    return {f"{name}_{k}": v for k, v in _fmt(moment).items()}


def test_a_price_added_inline_schedules_a_change_that_ends_the_current_price(admin_client):
    current = PriceFactory(amount=D("20.00"))
    change = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    existing = {
        "variant": str(current.variant_id),
        "amount": "20.00",
        **_split("valid_from", current.valid_from),
    }
    new = {"variant": str(current.variant_id), "amount": "18.00", **_split("valid_from", change)}
    response = admin_client.post(
        f"/admin/pricing/pricelist/{current.price_list_id}/change/",
        _inline_post(current.price_list, [new], existing=[(current, existing)]),
    )
    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors
    current.refresh_from_db()
    assert current.valid_until == change
    assert Price.objects.get(valid_from=change).amount == D("18.00")


def test_an_overlapping_inline_price_is_shown_as_a_form_error_and_nothing_changes(admin_client):
    current = PriceFactory(amount=D("20.00"), valid_until=timezone.now() + timedelta(days=10))
    existing = {
        "variant": str(current.variant_id),
        "amount": "20.00",
        **_split("valid_from", current.valid_from),
        **_split("valid_until", current.valid_until),
    }
    clash = {
        "variant": str(current.variant_id),
        "amount": "1.00",
        **_split("valid_from", timezone.now() + timedelta(days=5)),
    }
    response = admin_client.post(
        f"/admin/pricing/pricelist/{current.price_list_id}/change/",
        _inline_post(current.price_list, [clash], existing=[(current, existing)]),
    )
    assert response.status_code == 200
    assert "Overlaps" in response.content.decode()
    assert Price.objects.count() == 1


def test_the_price_add_form_refuses_an_overlap_on_the_form(admin_client):
    current = PriceFactory(valid_until=timezone.now() + timedelta(days=10))
    response = admin_client.post(
        "/admin/pricing/price/add/",
        {
            "price_list": str(current.price_list_id),
            "variant": str(current.variant_id),
            "amount": "3.00",
            **_split("valid_from", timezone.now() + timedelta(days=1)),
        },
    )
    assert response.status_code == 200
    assert "Overlaps" in response.content.decode()
    assert Price.objects.count() == 1


def test_a_new_price_list_made_default_takes_over_the_default(admin_client):
    old = PriceListFactory(name="Old")
    response = admin_client.post(
        "/admin/pricing/pricelist/add/",
        {
            "name": "New",
            "currency": "eur",
            "is_default": "on",
            "is_active": "on",
            "prices-TOTAL_FORMS": "0",
            "prices-INITIAL_FORMS": "0",
            "prices-MIN_NUM_FORMS": "0",
            "prices-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302
    old.refresh_from_db()
    assert not old.is_default
    assert PriceList.objects.get(is_default=True).name == "New"


def test_a_promotion_is_saved_with_its_scope_and_a_normalised_coupon(admin_client):
    category = CategoryFactory()
    data = {
        "name": "Shoes week",
        "description": "",
        "kind": "percent_off",
        "scope": "categories",
        "value": "15",
        "buy_quantity": "0",
        "get_quantity": "0",
        "threshold": "0",
        "categories": [str(category.pk)],
        **_split("starts_at", timezone.now()),
        "priority": "3",
        "is_stackable": "on",
        "is_active": "on",
        "coupons-TOTAL_FORMS": "1",
        "coupons-INITIAL_FORMS": "0",
        "coupons-MIN_NUM_FORMS": "0",
        "coupons-MAX_NUM_FORMS": "1000",
        "coupons-0-code": "shoes-15",
        "coupons-0-usage_limit": "100",
        "coupons-0-usage_limit_per_customer": "1",
        "coupons-0-is_active": "on",
    }
    response = admin_client.post("/admin/pricing/promotion/add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    promotion = Promotion.objects.get(name="Shoes week")
    assert list(promotion.categories.all()) == [category]
    assert promotion.coupons.get().code == "SHOES-15"


def test_a_promotion_without_items_for_its_scope_is_refused_on_the_form(admin_client):
    data = {
        "name": "Empty",
        "kind": "percent_off",
        "scope": "variants",
        "value": "10",
        "buy_quantity": "0",
        "get_quantity": "0",
        "threshold": "0",
        **_split("starts_at", timezone.now()),
        "priority": "0",
        "is_active": "on",
        "coupons-TOTAL_FORMS": "0",
        "coupons-INITIAL_FORMS": "0",
        "coupons-MIN_NUM_FORMS": "0",
        "coupons-MAX_NUM_FORMS": "1000",
    }
    response = admin_client.post("/admin/pricing/promotion/add/", data)
    assert response.status_code == 200
    assert "variants" in response.context["adminform"].form.errors
    assert not Promotion.objects.exists()


# --- bulk import ----------------------------------------------------------------------


def _csv(rows: list[list[str]]) -> bytes:
    return "\n".join(",".join(row) for row in rows).encode()


def _upload(admin_client, content: bytes, name="prices.csv", fmt="0"):
    return admin_client.post(
        IMPORT,
        {"format": fmt, "import_file": SimpleUploadedFile(name, content)},
    )


def test_a_valid_csv_is_previewed_then_imported_in_one_go(admin_client):
    PriceListFactory()
    a, b = VariantFactory(sku="TEE-S"), VariantFactory(sku="TEE-M")
    content = _csv(
        [
            ["sku", "amount", "valid_from", "valid_until"],
            ["TEE-S", "19.99", "2025-01-01", ""],
            ["TEE-M", "21.99", "2025-01-01T00:00:00+00:00", "2030-01-01"],
        ]
    )
    preview = _upload(admin_client, content)
    assert preview.status_code == 200
    assert not Price.objects.exists()  # the preview is a dry run
    confirm = preview.context["confirm_form"]
    response = admin_client.post(CONFIRM, {**confirm.initial})
    assert response.status_code == 302
    assert {(p.variant_id, p.amount) for p in Price.objects.all()} == {
        (a.pk, D("19.99")),
        (b.pk, D("21.99")),
    }


def test_a_csv_with_unknown_skus_and_overlaps_imports_nothing_and_names_each_problem(
    admin_client,
):
    PriceListFactory()
    taken = PriceFactory(variant__sku="TAKEN", valid_until=timezone.now() + timedelta(days=30))
    VariantFactory(sku="FRESH")
    content = _csv(
        [
            ["sku", "amount", "valid_from"],
            ["FRESH", "5.00", "2025-01-01"],
            ["GHOST-1", "5.00", "2025-01-01"],
            ["TAKEN", "6.00", (timezone.now() + timedelta(days=1)).isoformat()],
            ["FRESH", "not-money", "2025-01-01"],
        ]
    )
    response = _upload(admin_client, content)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Unknown SKU GHOST-1" in html
    assert "Overlaps" in html
    assert "The amount is not a number" in html
    assert "confirm_form" not in response.context or response.context["confirm_form"] is None
    assert list(Price.objects.all()) == [taken]


def test_a_file_without_the_required_columns_is_refused(admin_client):
    PriceListFactory()
    response = _upload(admin_client, _csv([["code", "price"], ["X", "1"]]))
    assert response.status_code == 200
    assert "Missing columns" in response.content.decode()
    assert not Price.objects.exists()


def test_an_xlsx_file_imports_through_the_same_rules(admin_client):
    PriceListFactory()
    VariantFactory(sku="MUG")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["sku", "amount", "valid_from", "price_list"])
    sheet.append(["MUG", 7.5, timezone.now().replace(tzinfo=None) - timedelta(days=1), "Retail"])
    stream = io.BytesIO()
    book.save(stream)
    preview = _upload(admin_client, stream.getvalue(), name="prices.xlsx", fmt="1")
    assert preview.status_code == 200
    response = admin_client.post(CONFIRM, {**preview.context["confirm_form"].initial})
    assert response.status_code == 302
    assert Price.objects.get().amount == D("7.50")


def test_the_import_schedules_changes_against_open_ended_prices():
    current = PriceFactory(variant__sku="LAMP", amount=D("30.00"))
    change = timezone.now() + timedelta(days=5)
    dataset = tablib.Dataset(headers=["sku", "amount", "valid_from"])
    dataset.append(["LAMP", "27.00", change.isoformat()])
    result = PriceResource().import_data(dataset, dry_run=False)
    assert not result.has_errors() and not result.has_validation_errors()
    current.refresh_from_db()
    assert current.valid_until == change
    assert Price.objects.filter(variant=current.variant).count() == 2


def test_a_service_level_rejection_at_write_time_rolls_the_whole_import_back():
    # Rows valid one by one but overlapping each other inside the file.
    PriceListFactory()
    VariantFactory(sku="DUP")
    dataset = tablib.Dataset(headers=["sku", "amount", "valid_from", "valid_until"])
    dataset.append(["DUP", "1.00", "2025-01-01", "2025-03-01"])
    dataset.append(["DUP", "2.00", "2025-02-01", "2025-04-01"])
    result = PriceResource().import_data(dataset, dry_run=False)
    assert result.has_validation_errors()
    assert [row.number for row in result.invalid_rows] == [1, 2]
    assert not Price.objects.exists()


def test_the_import_service_alone_is_all_or_nothing():
    PriceListFactory()
    VariantFactory(sku="OK-1")
    with pytest.raises(PriceImportInvalid) as error:
        services.price_import(
            records=[
                {"sku": "OK-1", "amount": "1.00", "valid_from": "2025-01-01"},
                {"sku": "MISSING", "amount": "1.00", "valid_from": "2025-01-01"},
            ]
        )
    assert error.value.details["rows"] == [{"row": 2, "errors": ["Unknown SKU MISSING."]}]
    assert not Price.objects.exists()
