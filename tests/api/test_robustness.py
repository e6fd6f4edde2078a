"""No input breaks the server: each class of hostile input answers a 4xx in the error shape.

One test (or parametrized group) per class found in review. They run on SQLite and on
PostgreSQL, because the two databases fail differently (PostgreSQL refuses NUL bytes in
text and overflows a 32-bit integer column, SQLite stores either silently).
"""

import base64
import json

import pytest
from django.db import IntegrityError, transaction
from django.test import override_settings

from inventory import services as stock
from inventory.errors import StockLimitExceeded
from inventory.models import STOCK_UNITS_MAX, StockLevel
from tests.factories.catalog import CategoryFactory, VariantFactory
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.inventory import LocationFactory, LocationStaffFactory, StockLevelFactory

pytestmark = pytest.mark.django_db


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def assert_error_shape(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    if code is not None:
        assert error["code"] == code, error
    return error


@pytest.fixture
def customer_client(api_client):
    customer = CustomerWithLoginFactory()
    api_client.force_authenticate(customer.user)
    return api_client


# --- cursors ------------------------------------------------------------------------------

GARBAGE_CURSORS = [
    "garbage",
    "%%%",
    "ü",  # not ASCII: b64decode cannot even start
    "☃" * 50,
    _b64("p=abc"),  # a position that is not a number
    _b64("p=²"),  # a Unicode digit int() refuses
    _b64("p=99999999999999999999999999"),  # past a 64-bit id
    _b64("p=\x00"),
    _b64("o=-1"),
    _b64("r=x"),
    _b64("\xff\xfe"),
]


@pytest.mark.parametrize("cursor", GARBAGE_CURSORS)
@pytest.mark.parametrize("path", ["/api/v1/catalog/products/", "/api/v1/catalog/categories/"])
def test_a_garbage_cursor_is_a_400_invalid_cursor(api_client, path, cursor):
    VariantFactory()
    response = api_client.get(path, {"cursor": cursor})
    assert_error_shape(response, 400, "invalid_cursor")


@pytest.mark.parametrize("cursor", GARBAGE_CURSORS[:6])
def test_a_garbage_ledger_cursor_is_a_400_invalid_cursor(customer_client, cursor):
    response = customer_client.get("/api/v1/me/loyalty/", {"cursor": cursor})
    assert response.status_code in (400, 404)  # 404 only for a login without a profile
    assert_error_shape(response, response.status_code)
    if response.status_code == 400:
        assert response.json()["error"]["code"] == "invalid_cursor"


def test_a_cursor_the_api_handed_out_still_works(api_client):
    for _ in range(3):
        VariantFactory()
    first = api_client.get("/api/v1/catalog/products/", {"page_size": 2}).json()
    second = api_client.get(first["next"])
    assert second.status_code == 200
    assert len(second.json()["results"]) == 1


# --- NUL bytes ------------------------------------------------------------------------------

NUL_REQUESTS = [
    "/api/v1/catalog/barcodes/4000%00/",
    "/api/v1/inventory/locations/BER%00/",
    "/api/v1/inventory/transfers/T%00/",
    "/api/v1/carts/abc%00def/",
    "/api/v1/orders/A%00/",
    "/api/v1/catalog/products/?search=a%00b",
    "/api/v1/catalog/products/?barcode=%00",
    "/api/v1/inventory/availability/?sku=A%00",
    "/api/v1/inventory/locations/?near=1%00,2",
    "/api/v1/catalog/products/?a%00=1",
]


@pytest.mark.parametrize("url", NUL_REQUESTS)
def test_a_nul_byte_in_the_path_or_query_is_a_400(staff_client, url):
    response = staff_client.get(url)
    assert_error_shape(response, 400, "invalid_characters")


def test_a_nul_byte_in_a_json_body_is_a_400(staff_client):
    location = LocationFactory()
    LocationStaffFactory(location=location)
    body = {
        "location": location.code,
        "reference": "a\x00b",
        "lines": [{"sku": "X", "quantity": 1}],
    }
    response = staff_client.post(
        "/api/v1/inventory/receipts/", body, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert_error_shape(response, 400)


def test_a_nul_byte_in_a_json_key_is_a_400_parse_error(api_client):
    response = api_client.post(
        "/api/v1/pricing/quote/",
        '{"lines": [{"sku": "A", "quantity": 1, "x\\u0000": {"y": "\\u0000"}}]}',
        content_type="application/json",
    )
    assert_error_shape(response, 400, "parse_error")


def test_a_nul_byte_in_an_idempotency_key_is_a_400(staff_client):
    location = LocationFactory()
    response = staff_client.post(
        "/api/v1/inventory/receipts/",
        {"location": location.code, "lines": [{"sku": VariantFactory().sku, "quantity": 1}]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="key\x00",
    )
    assert_error_shape(response, 400)


# --- Unicode digits and oversized numbers where an id is expected ---------------------------

ODD_NUMBERS = ["²", "①", "١٢", "߁", "99999999999999999999999", "-1", "1e3", " 1", "0x10"]


@pytest.mark.parametrize("value", ODD_NUMBERS)
def test_a_location_code_or_id_of_odd_digits_is_a_404_not_a_500(api_client, value):
    response = api_client.get(f"/api/v1/inventory/locations/{value}/")
    assert_error_shape(response, 404)


@pytest.mark.parametrize("value", ODD_NUMBERS)
@pytest.mark.parametrize(
    "path, param",
    [
        ("/api/v1/catalog/products/", "category"),
        ("/api/v1/catalog/products/", "page_size"),
        ("/api/v1/catalog/categories/", "page_size"),
    ],
)
def test_odd_digits_in_a_numeric_query_parameter_never_break_the_list(
    api_client, path, param, value
):
    CategoryFactory()
    response = api_client.get(path, {param: value})
    assert response.status_code in (200, 400), response.content[:300]
    if response.status_code == 400:
        assert_error_shape(response, 400)


@pytest.mark.parametrize("value", ODD_NUMBERS)
def test_odd_digits_in_the_loyalty_window_are_a_400_or_accepted(customer_client, value):
    response = customer_client.get("/api/v1/me/loyalty/", {"expiring_within_days": value})
    assert response.status_code in (200, 400, 404), response.content[:300]
    assert_error_shape(response, response.status_code) if response.status_code != 200 else None


@pytest.mark.parametrize("value", ["²", "①", "99999999999999999999999"])
def test_odd_digits_in_a_product_id_path_are_a_404(api_client, value):
    assert_error_shape(api_client.get(f"/api/v1/catalog/products/{value}/"), 404)


def test_a_product_id_past_the_id_column_is_a_404(api_client):
    assert_error_shape(api_client.get("/api/v1/catalog/products/99999999999999999999/"), 404)


# --- datetimes out of range ---------------------------------------------------------------

ODD_DATETIMES = [
    "2024-01-01T00:00:00+25:00",
    "2024-01-01T00:00:00-24:00",
    "0000-01-01T00:00:00Z",
    "10000-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
    "2024-13-01T00:00:00Z",
    "2024-01-01T24:00:00Z",
]


@pytest.mark.parametrize("value", ODD_DATETIMES)
def test_an_out_of_range_updated_since_is_a_400(api_client, value):
    response = api_client.get("/api/v1/catalog/products/", {"updated_since": value})
    assert_error_shape(response, 400, "validation_error")


@pytest.mark.parametrize("value", ODD_DATETIMES)
def test_an_out_of_range_timeline_before_is_a_400(customer_client, value):
    response = customer_client.get("/api/v1/me/timeline/", {"before": value})
    assert_error_shape(response, 400)


# --- strings longer than their column ---------------------------------------------------------


@pytest.mark.parametrize(
    "field, length",
    [("reference", 101), ("reason", 256), ("location", 33)],
)
def test_a_receipt_field_longer_than_its_column_is_a_400(staff_client, field, length):
    location = LocationFactory()
    body = {"location": location.code, "lines": [{"sku": VariantFactory().sku, "quantity": 1}]}
    body[field] = "x" * length
    response = staff_client.post(
        "/api/v1/inventory/receipts/", body, format="json", HTTP_IDEMPOTENCY_KEY=f"k-{field}"
    )
    error = assert_error_shape(response, 400, "validation_error")
    assert field in error["details"]["fields"]


def test_a_quote_sku_or_coupon_longer_than_its_column_is_a_400(api_client):
    response = api_client.post(
        "/api/v1/pricing/quote/",
        {"lines": [{"sku": "S" * 65, "quantity": 1}], "coupon": "C" * 65},
        format="json",
    )
    assert_error_shape(response, 400, "validation_error")


# --- stock quantities past the integer column -------------------------------------------------


def test_receipts_that_would_push_stock_past_the_bound_are_refused_and_change_nothing(
    staff_client,
):
    variant = VariantFactory()
    location = LocationFactory()
    level = StockLevelFactory(variant=variant, location=location, on_hand=STOCK_UNITS_MAX - 10)
    line = {"sku": variant.sku, "quantity": 1_000_000}
    response = staff_client.post(
        "/api/v1/inventory/receipts/",
        {"location": location.code, "lines": [line] * 500},
        format="json",
        HTTP_IDEMPOTENCY_KEY="overflow",
    )
    assert_error_shape(response, 422, "stock_limit_exceeded")
    level.refresh_from_db()
    assert level.on_hand == STOCK_UNITS_MAX - 10


def test_many_receipts_never_overflow_the_integer_column(staff_client):
    variant = VariantFactory()
    location = LocationFactory()
    line = {"sku": variant.sku, "quantity": 1_000_000}
    codes = []
    # Each receipt adds 500 M units; the fifth would pass 2^31 − 1 without the bound.
    for attempt in range(5):
        response = staff_client.post(
            "/api/v1/inventory/receipts/",
            {"location": location.code, "lines": [line] * 500},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"receipt-{attempt}",
        )
        codes.append(response.status_code)
        if response.status_code != 201:
            assert_error_shape(response, 422, "stock_limit_exceeded")
    assert 422 in codes
    assert StockLevel.objects.get(variant=variant).on_hand <= STOCK_UNITS_MAX


def test_a_count_past_the_bound_is_refused_by_the_service_for_every_caller(db):
    level = StockLevelFactory(on_hand=1)
    with pytest.raises(StockLimitExceeded):
        stock.stock_count(counts=[(level.variant_id, STOCK_UNITS_MAX + 1)], location=level.location)
    level.refresh_from_db()
    assert level.on_hand == 1


def test_the_database_refuses_stock_outside_the_bounds(db):
    level = StockLevelFactory(on_hand=1)
    for field, value in [
        ("on_hand", STOCK_UNITS_MAX + 1),
        ("on_hand", -STOCK_UNITS_MAX - 1),
        ("reserved", STOCK_UNITS_MAX + 1),
        ("reserved", -1),
    ]:
        with pytest.raises(IntegrityError), transaction.atomic():
            StockLevel.objects.filter(pk=level.pk).update(**{field: value})


# --- deeply nested JSON ---------------------------------------------------------------------


@pytest.mark.parametrize("depth", [200, 1_000, 100_000])
def test_deeply_nested_json_is_a_400_parse_error(api_client, depth):
    response = api_client.post(
        "/api/v1/pricing/quote/", "[" * depth + "]" * depth, content_type="application/json"
    )
    assert_error_shape(response, 400, "parse_error")


def test_json_of_ordinary_depth_is_still_parsed(api_client):
    body = {"lines": [{"sku": "NOPE", "quantity": 1}], "coupon": None}
    response = api_client.post(
        "/api/v1/pricing/quote/", json.dumps(body), content_type="application/json"
    )
    assert_error_shape(response, 422, "unknown_sku")


# --- oversized bodies, too many fields, a foreign Host ----------------------------------------


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_an_oversized_json_body_is_a_413(api_client):
    body = json.dumps({"lines": [{"sku": "A" * 2000, "quantity": 1}]})
    response = api_client.post("/api/v1/pricing/quote/", body, content_type="application/json")
    assert_error_shape(response, 413, "request_too_large")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_an_oversized_form_body_is_a_413(api_client):
    response = api_client.post("/api/v1/pricing/quote/", {"coupon": "A" * 2000})
    assert_error_shape(response, 413, "request_too_large")


@override_settings(DATA_UPLOAD_MAX_NUMBER_FIELDS=10)
def test_a_form_with_too_many_fields_is_a_400(api_client):
    response = api_client.post("/api/v1/pricing/quote/", {f"f{i}": "1" for i in range(50)})
    assert_error_shape(response, 400, "too_many_fields")


@override_settings(DATA_UPLOAD_MAX_NUMBER_FIELDS=10)
def test_a_query_string_with_too_many_fields_is_a_400(api_client):
    response = api_client.get("/api/v1/catalog/products/", {f"f{i}": "1" for i in range(50)})
    assert_error_shape(response, 400, "too_many_fields")


def test_a_foreign_host_header_is_a_400_in_the_error_shape(api_client):
    response = api_client.get("/api/v1/catalog/products/", HTTP_HOST="evil.example")
    assert_error_shape(response, 400, "disallowed_host")


def test_a_foreign_host_outside_the_api_keeps_the_html_page(client):
    response = client.get("/admin/login/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert not response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("debug", [True, False])
def test_a_post_without_the_trailing_slash_is_a_404_naming_the_url(api_client, debug):
    with override_settings(DEBUG=debug):
        response = api_client.post("/api/v1/pricing/quote", {"lines": []}, format="json")
    error = assert_error_shape(response, 404, "not_found")
    assert error["details"] == {"did_you_mean": "/api/v1/pricing/quote/"}


HOSTILE_REQUESTS = [
    {"data": b'{"lines": []}', "content_type": "application/json; charset=no-such-charset"},
    {"data": b'{"lines": []}', "content_type": "application/json; charset=utf-16"},
    {"data": b"\xff\xfe{", "content_type": "application/json"},
    {"data": b"--x\r\n", "content_type": "multipart/form-data"},
    {"data": b"--x\r\n", "content_type": "multipart/form-data; boundary="},
    {"data": b"a=%ff%fe", "content_type": "application/x-www-form-urlencoded; charset=no-such"},
    {"data": b"{}", "content_type": "application/json", "HTTP_ACCEPT": "garbage/\x7f"},
    {"data": b"{}", "content_type": "application/json", "HTTP_ACCEPT_LANGUAGE": "\u00ff" * 300},
    {"data": b"{}", "content_type": "application/json", "HTTP_AUTHORIZATION": "Token \u00ff\u00fe"},
    {"data": b"{}", "content_type": "application/json", "HTTP_AUTHORIZATION": "Token a\x01"},
    {
        "data": b"{}",
        "content_type": "application/json",
        "HTTP_AUTHORIZATION": "Token " + "a" * 5000,
    },
    {"data": b"{}", "content_type": "application/json", "HTTP_COOKIE": "sessionid=\u00ff; x=y"},
    {"data": b"{}", "content_type": "application/json", "CONTENT_LENGTH": "abc"},
    {"data": b"{}", "content_type": "application/json", "HTTP_IDEMPOTENCY_KEY": "\u00ff" * 10},
]


@pytest.mark.parametrize("request_kwargs", HOSTILE_REQUESTS)
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/pricing/quote/",
        "/api/v1/inventory/receipts/",
        "/api/v1/auth/token/",
        "/api/v1/carts/",
    ],
)
def test_hostile_charsets_headers_and_bodies_never_break_the_server(client, path, request_kwargs):
    kwargs = dict(request_kwargs)
    # generic() sends the bytes as they are (post() would encode them with the charset).
    response = client.generic("POST", path, kwargs.pop("data"), **kwargs)
    assert response.status_code < 500, response.content[:200]
    if response.status_code >= 400:  # a cart may be created from any body
        assert_error_shape(response, response.status_code)


def test_an_unknown_api_path_is_a_404_in_the_error_shape(api_client):
    assert_error_shape(api_client.get("/api/v1/no-such-thing/"), 404, "not_found")


def test_permission_denied_outside_drf_is_a_403_in_the_error_shape(rf):
    from django.core.exceptions import PermissionDenied

    from core.api.views import permission_denied

    response = permission_denied(rf.get("/api/v1/anything/"), PermissionDenied())
    assert response.status_code == 403
    assert json.loads(response.content)["error"]["code"] == "permission_denied"


def _integer_path_operations() -> list[tuple[str, str]]:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    found = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            params = operation.get("parameters", []) if isinstance(operation, dict) else []
            if any(
                p.get("in") == "path" and p.get("schema", {}).get("type") == "integer"
                for p in params
            ):
                found.append((method, path))
    return found


@pytest.mark.parametrize("value", ["99999999999999999999", "9223372036854775808", "0"])
def test_an_integer_path_parameter_past_the_id_column_is_a_4xx(staff_client, value):
    operations = _integer_path_operations()
    assert operations  # products/{id}/ at least
    for method, path in operations:
        url = path.split("{")[0] + value + "/" + path.split("}/", 1)[1]
        response = getattr(staff_client, method)(url, {}, format="json")
        assert 400 <= response.status_code < 500, (method, url, response.status_code)
        assert_error_shape(response, response.status_code)


def test_a_checkout_contact_email_longer_than_its_column_is_a_400(api_client, world):
    cart = api_client.post("/api/v1/carts/", {"channel": "web"}, format="json").json()["token"]
    sku = world.known["body.sku"][0]
    api_client.post(f"/api/v1/carts/{cart}/lines/", {"sku": sku, "quantity": 1}, format="json")
    email = "a" * 64 + "@" + ("b" * 63 + ".") * 3 + "com"  # valid, but 260 characters
    response = api_client.post(
        "/api/v1/checkout/",
        {
            "cart": cart,
            "fulfilment": {"type": "pickup", "location": world.known["code"][0]},
            "payment": {"provider": "test", "token": "tok_ok"},
            "contact": {"email": email},
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="long-email",
    )
    assert_error_shape(response, 400)
