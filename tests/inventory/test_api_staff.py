"""Staff stock endpoints: receipts, adjustments, counts, transfers — permissions and
Idempotency-Key replays."""

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from inventory.models import StockLevel, StockMovement, Transfer
from tests.factories.catalog import VariantFactory
from tests.factories.customers import UserFactory
from tests.factories.inventory import (
    LocationFactory,
    LocationStaffFactory,
    StockLevelFactory,
    WarehouseFactory,
)

pytestmark = pytest.mark.django_db

RECEIPTS = "/api/v1/inventory/receipts/"
ADJUSTMENTS = "/api/v1/inventory/adjustments/"
COUNTS = "/api/v1/inventory/counts/"
TRANSFERS = "/api/v1/inventory/transfers/"


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _post(client, url, body, key="key-1"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(url, body, format="json", **headers)


def _on_hand(variant, location) -> int:
    level = StockLevel.objects.filter(variant=variant, location=location).first()
    return level.on_hand if level else 0


@pytest.fixture
def store():
    return LocationFactory(code="BER-1")


STOCK_OPERATIONS = ("receive_stock", "adjust_stock", "transfer_stock", "view_transfer")


def _grant(user, *codenames: str):
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="inventory", codename__in=codenames)
    )
    return type(user).objects.get(pk=user.pk)  # fresh: no stale permission cache


@pytest.fixture
def clerk(store):
    """A staff user assigned to BER-1 only, holding every stock operation's permission."""
    return _grant(LocationStaffFactory(location=store).user, *STOCK_OPERATIONS)


def test_a_staff_member_receives_goods_at_their_store(clerk, store):
    variant = VariantFactory(sku="MUG-1")
    body = {"location": "ber-1", "reference": "ASN-9", "lines": [{"sku": "MUG-1", "quantity": 12}]}
    response = _post(_client(clerk), RECEIPTS, body)
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["location"] == "BER-1"
    (movement,) = data["movements"]
    assert (movement["kind"], movement["sku"], movement["on_hand_after"]) == (
        "receipt",
        "MUG-1",
        12,
    )
    assert _on_hand(variant, store) == 12
    assert StockMovement.objects.get().actor == clerk


def test_a_retried_receipt_replays_the_first_response_and_moves_stock_once(clerk, store):
    variant = VariantFactory(sku="MUG-2")
    body = {"location": "BER-1", "lines": [{"sku": "MUG-2", "quantity": 5}]}
    client = _client(clerk)
    first = _post(client, RECEIPTS, body, key="retry-me")
    again = _post(client, RECEIPTS, body, key="retry-me")
    assert again.status_code == 201 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert _on_hand(variant, store) == 5

    other = _post(
        client, RECEIPTS, {**body, "lines": [{"sku": "MUG-2", "quantity": 6}]}, key="retry-me"
    )
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert _on_hand(variant, store) == 5


def test_a_failed_request_does_not_burn_its_idempotency_key(clerk, store):
    VariantFactory(sku="MUG-3")
    client = _client(clerk)
    bad = _post(
        client, RECEIPTS, {"location": "BER-1", "lines": [{"sku": "NOPE", "quantity": 1}]}, key="k"
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_sku"
    good = _post(
        client, RECEIPTS, {"location": "BER-1", "lines": [{"sku": "MUG-3", "quantity": 1}]}, key="k"
    )
    assert good.status_code == 201


def test_stock_posts_need_an_idempotency_key(clerk, store):
    VariantFactory(sku="MUG-4")
    response = _post(
        _client(clerk),
        RECEIPTS,
        {"location": "BER-1", "lines": [{"sku": "MUG-4", "quantity": 1}]},
        key=None,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_required"


@pytest.mark.parametrize("url", [RECEIPTS, ADJUSTMENTS, COUNTS, TRANSFERS])
def test_anonymous_callers_get_401_and_non_staff_users_403(url, store):
    VariantFactory(sku="X")
    body = {"location": "BER-1", "lines": [{"sku": "X", "quantity": 1}]}
    assert _post(APIClient(), url, body).status_code == 401
    customer = UserFactory()
    response = _post(_client(customer), url, body)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not StockMovement.objects.exists()


def test_staff_cannot_operate_a_store_they_are_not_assigned_to(clerk):
    other = LocationFactory(code="HAM-1")
    VariantFactory(sku="X")
    response = _post(
        _client(clerk), RECEIPTS, {"location": "HAM-1", "lines": [{"sku": "X", "quantity": 1}]}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "location_forbidden"
    assert not StockLevel.objects.filter(location=other).exists()


@pytest.mark.parametrize(
    ("url", "needed"),
    [
        (RECEIPTS, "receive_stock"),
        (COUNTS, "receive_stock"),
        (ADJUSTMENTS, "adjust_stock"),
        (TRANSFERS, "transfer_stock"),
    ],
)
def test_staff_of_the_store_without_the_operations_permission_get_403(url, needed, store):
    VariantFactory(sku="X")
    WarehouseFactory(code="WH-1")
    others = [codename for codename in STOCK_OPERATIONS if codename != needed]
    user = _grant(LocationStaffFactory(location=store).user, *others)
    body = {
        "location": "BER-1",
        "source": "BER-1",
        "destination": "WH-1",
        "reason": "damaged",
        "lines": [{"sku": "X", "quantity": 1}],
    }
    response = _post(_client(user), url, body)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not StockMovement.objects.exists()


def test_the_any_location_permission_alone_reads_every_store_but_moves_no_stock():
    head_office = UserFactory(is_staff=True)
    head_office.user_permissions.add(Permission.objects.get(codename="operate_any_location"))
    LocationFactory(code="HAM-1")
    VariantFactory(sku="X")
    response = _post(
        _client(head_office),
        RECEIPTS,
        {"location": "HAM-1", "lines": [{"sku": "X", "quantity": 2}]},
    )
    assert response.status_code == 403
    assert not StockMovement.objects.exists()


def test_an_integration_account_with_the_any_location_permission_may_operate_everywhere():
    robot = _grant(UserFactory(is_staff=True), "operate_any_location", "receive_stock")
    LocationFactory(code="HAM-1")
    VariantFactory(sku="X")
    response = _post(
        _client(robot), RECEIPTS, {"location": "HAM-1", "lines": [{"sku": "X", "quantity": 2}]}
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"location": "BER-1", "lines": []}, 400, "validation_error"),
        ({"location": "BER-1", "lines": [{"sku": "X", "quantity": 0}]}, 400, "validation_error"),
        (
            {"location": "BER-1", "lines": [{"sku": "X", "quantity": "many"}]},
            400,
            "validation_error",
        ),
        ({"location": "BER-1"}, 400, "validation_error"),
        (
            {"location": "NOWHERE", "lines": [{"sku": "X", "quantity": 1}]},
            404,
            "location_not_found",
        ),
    ],
)
def test_bad_receipts_get_the_error_shape(clerk, store, body, status, code):
    VariantFactory(sku="X")
    response = _post(_client(clerk), RECEIPTS, body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_an_adjustment_needs_a_reason_and_cannot_go_below_zero(clerk, store):
    level = StockLevelFactory(location=store, variant=VariantFactory(sku="ADJ"), on_hand=2)
    client = _client(clerk)
    no_reason = _post(
        client,
        ADJUSTMENTS,
        {"location": "BER-1", "lines": [{"sku": "ADJ", "quantity": -1}]},
        key="a",
    )
    assert no_reason.status_code == 400
    too_far = _post(
        client,
        ADJUSTMENTS,
        {"location": "BER-1", "reason": "broken", "lines": [{"sku": "ADJ", "quantity": -3}]},
        key="b",
    )
    assert too_far.status_code == 422 and too_far.json()["error"]["code"] == "negative_stock"
    ok = _post(
        client,
        ADJUSTMENTS,
        {"location": "BER-1", "reason": "broken", "lines": [{"sku": "ADJ", "quantity": -1}]},
        key="c",
    )
    assert ok.status_code == 201
    level.refresh_from_db()
    assert level.on_hand == 1


def test_a_count_sets_the_counted_figures(clerk, store):
    level = StockLevelFactory(location=store, variant=VariantFactory(sku="CNT"), on_hand=9)
    response = _post(
        _client(clerk), COUNTS, {"location": "BER-1", "lines": [{"sku": "CNT", "quantity": 0}]}
    )
    assert response.status_code == 201
    assert response.json()["movements"][0]["on_hand_delta"] == -9
    level.refresh_from_db()
    assert level.on_hand == 0


def test_a_transfer_ships_now_and_is_received_at_the_destination_once(clerk, store):
    warehouse = WarehouseFactory(code="WH-1")
    variant = VariantFactory(sku="TRF")
    StockLevelFactory(location=store, variant=variant, on_hand=5)
    LocationStaffFactory(user=clerk, location=warehouse)
    client = _client(clerk)

    created = _post(
        client,
        TRANSFERS,
        {"source": "BER-1", "destination": "WH-1", "lines": [{"sku": "TRF", "quantity": 3}]},
        key="t1",
    )
    assert created.status_code == 201, created.json()
    transfer = created.json()
    assert (transfer["status"], transfer["lines"]) == (
        "in_transit",
        [{"sku": "TRF", "quantity": 3}],
    )
    assert _on_hand(variant, store) == 2 and _on_hand(variant, warehouse) == 0

    receive_url = f"{TRANSFERS}{transfer['number']}/receive/"
    received = _post(client, receive_url, {}, key="r1")
    assert received.status_code == 200 and received.json()["status"] == "received"
    assert _post(client, receive_url, {}, key="r2").status_code == 200  # already received: no-op
    assert _on_hand(variant, warehouse) == 3
    assert client.get(f"{TRANSFERS}{transfer['number']}/").json()["status"] == "received"


def test_only_staff_of_the_destination_can_receive_a_transfer(clerk, store):
    variant = VariantFactory(sku="TRF2")
    StockLevelFactory(location=store, variant=variant, on_hand=5)
    LocationFactory(code="HAM-1")
    client = _client(clerk)
    created = _post(
        client,
        TRANSFERS,
        {"source": "BER-1", "destination": "HAM-1", "lines": [{"sku": "TRF2", "quantity": 1}]},
    )
    number = created.json()["number"]
    response = _post(client, f"{TRANSFERS}{number}/receive/", {}, key="r")
    assert response.status_code == 403 and response.json()["error"]["code"] == "location_forbidden"
    assert Transfer.objects.get().status == "in_transit"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {"source": "BER-1", "destination": "BER-1", "lines": [{"sku": "T", "quantity": 1}]},
            422,
            "same_location_transfer",
        ),
        (
            {"source": "BER-1", "destination": "NOPE", "lines": [{"sku": "T", "quantity": 1}]},
            404,
            "location_not_found",
        ),
        (
            {"source": "BER-1", "destination": "HAM-1", "lines": [{"sku": "T", "quantity": 9}]},
            409,
            "insufficient_stock",
        ),
    ],
)
def test_bad_transfers_get_the_error_shape(clerk, store, body, status, code):
    LocationFactory(code="HAM-1")
    StockLevelFactory(location=store, variant=VariantFactory(sku="T"), on_hand=2)
    response = _post(_client(clerk), TRANSFERS, body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert not Transfer.objects.exists()


def test_an_unknown_transfer_is_a_404(clerk):
    response = _post(_client(clerk), f"{TRANSFERS}TR-NOPE/receive/", {})
    assert response.status_code == 404 and response.json()["error"]["code"] == "transfer_not_found"
