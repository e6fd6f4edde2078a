"""/metrics: who may read it, what it shows, and the business counters services feed."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client import REGISTRY

from core.errors import DomainError
from inventory.errors import InsufficientStock
from inventory.services import stock_reserve
from orders import services as order_services
from pos.services import sales_sync
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.orders import CARD, make_shop
from tests.factories.pos import make_terminal

pytestmark = pytest.mark.django_db


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.9", "::1"])
def test_metrics_are_open_to_internal_addresses(client, address):
    response = client.get("/metrics", REMOTE_ADDR=address)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert b"# TYPE omnicore_checkouts_placed_total counter" in response.content


@pytest.mark.parametrize("address", ["203.0.113.5", "2001:db8::1", "not-an-address"])
def test_metrics_are_refused_to_outside_addresses(client, address):
    response = client.get("/metrics", REMOTE_ADDR=address)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_metrics_are_refused_through_the_load_balancer_even_from_an_internal_address(client):
    response = client.get("/metrics", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert response.status_code == 403


@override_settings(METRICS_TOKEN="s3cret-scrape-token")
def test_metrics_are_open_anywhere_with_the_bearer_token(client):
    outside = {"REMOTE_ADDR": "203.0.113.5", "HTTP_X_FORWARDED_FOR": "203.0.113.5"}
    good = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token", **outside)
    assert good.status_code == 200
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer guess", **outside)
    assert wrong.status_code == 403
    # A wrong token is refused even from inside: a token, once sent, must be right.
    inside = client.get("/metrics", HTTP_AUTHORIZATION="Bearer guess", REMOTE_ADDR="127.0.0.1")
    assert inside.status_code == 403


def test_metrics_never_touch_the_database(client):
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/metrics").status_code == 200
    assert queries.captured_queries == []


def test_request_latency_is_recorded_per_view_and_statements_are_counted(client):
    name = "django_http_requests_latency_seconds_by_view_method_count"
    before = value(name, view="catalog-products", method="GET")
    statements = value("django_db_execute_total", alias="default", vendor=connection.vendor)
    client.get("/api/v1/catalog/products/")
    assert value(name, view="catalog-products", method="GET") == before + 1
    assert value("django_db_execute_total", alias="default", vendor=connection.vendor) > (
        statements
    )
    page = client.get("/metrics").content.decode()
    assert 'view="catalog-products"' in page


def test_each_request_counts_under_its_own_labels():
    """The labelled children are kept per set of labels: a second request of the same view
    counts again, and a different status counts apart."""
    by_status = "django_http_responses_total_by_status_view_method_total"
    labels = {"view": "catalog-products", "method": "GET"}
    ok, bad = value(by_status, status="200", **labels), value(by_status, status="400", **labels)
    client = Client()
    for path in (
        "/api/v1/catalog/products/",
        "/api/v1/catalog/products/",
        "/api/v1/catalog/products/?cursor=x",
    ):
        client.get(path)
    assert value(by_status, status="200", **labels) == ok + 2
    assert value(by_status, status="400", **labels) == bad + 1


@pytest.mark.postgres
def test_a_statement_is_timed_and_a_failed_one_counted_by_its_error():
    """The PostgreSQL backend's counting cursor (ops.db): the metrics django-prometheus
    defines, by alias and vendor."""
    labels = {"alias": "default", "vendor": "postgresql"}
    timed = value("django_db_query_duration_seconds_count", **labels)
    failed = value("django_db_errors_total", type="UndefinedTable", **labels)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert value("django_db_query_duration_seconds_count", **labels) == timed + 1
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table_here")
    assert value("django_db_errors_total", type="UndefinedTable", **labels) == failed + 1


def _checkout(shop, variant, quantity=1):
    customer = CustomerWithLoginFactory()
    cart = order_services.cart_get_current(customer=customer, channel="web")
    order_services.cart_line_add(cart=cart, sku=variant.sku, quantity=quantity)
    return order_services.checkout_place(
        cart=cart,
        customer=customer,
        fulfilment={"type": "pickup", "location": shop.store.code},
        payment=CARD,
    )


def test_a_placed_checkout_is_counted_and_a_refused_one_is_not():
    shop = make_shop()
    variant = shop.sku(store=1, warehouse=0)
    labels = {"channel": "web", "fulfilment": "pickup"}
    before = value("omnicore_checkouts_placed_total", **labels)
    _checkout(shop, variant)
    assert value("omnicore_checkouts_placed_total", **labels) == before + 1
    with pytest.raises(DomainError):
        _checkout(shop, variant)  # the last unit is gone
    assert value("omnicore_checkouts_placed_total", **labels) == before + 1


def test_a_reservation_refused_for_lack_of_stock_is_an_oversell_refusal():
    shop = make_shop()
    variant = shop.sku(store=2)
    before = value("omnicore_oversell_refusals_total")
    with pytest.raises(InsufficientStock):
        stock_reserve(lines=[(variant.pk, 3)], location=shop.store, reference="test:oversell")
    assert value("omnicore_oversell_refusals_total") == before + 1
    stock_reserve(lines=[(variant.pk, 2)], location=shop.store, reference="test:fits")
    assert value("omnicore_oversell_refusals_total") == before + 1


def test_pos_sales_are_counted_by_outcome():
    shop = make_shop()
    variant = shop.sku(price="7.50", store=50)
    terminal, _token = make_terminal(shop.store)
    sale = {
        "id": str(uuid.uuid4()),
        "occurred_at": (timezone.now() - timedelta(minutes=5)).isoformat(),
        "cashier": "C1",
        "customer": None,
        "lines": [{"sku": variant.sku, "quantity": 2, "unit_price": "7.50", "discount": "0"}],
        "tenders": [{"kind": "cash", "amount": str(Decimal("15.00"))}],
    }
    bad = {"id": "not-a-uuid"}
    before = {
        s: value("omnicore_pos_sales_synced_total", status=s)
        for s in ("created", "duplicate", "rejected")
    }
    sales_sync(terminal=terminal, sales=[sale, bad])
    sales_sync(terminal=terminal, sales=[sale])
    after = {s: value("omnicore_pos_sales_synced_total", status=s) for s in before}
    assert {s: after[s] - before[s] for s in before} == {
        "created": 1,
        "duplicate": 1,
        "rejected": 1,
    }


def test_hostile_methods_and_lengths_neither_break_the_metrics_nor_make_new_series(client):
    name = "django_http_requests_latency_seconds_by_view_method_count"
    before = value(name, view="healthz", method="<invalid method>")
    response = client.generic("BREW", "/healthz", CONTENT_LENGTH="abc")
    assert response.status_code == 405
    assert value(name, view="healthz", method="<invalid method>") == before + 1
    assert REGISTRY.get_sample_value(name, {"view": "healthz", "method": "BREW"}) is None
