"""GET /api/v1/me/loyalty/: balance, tier, expiring points, the ledger by cursor; auth."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from loyalty.services import points_earn, points_redeem
from tests.factories.customers import CustomerWithLoginFactory, UserFactory
from tests.factories.loyalty import TierFactory
from tests.loyalty.helpers import days_ago, paid

pytestmark = pytest.mark.django_db

URL = "/api/v1/me/loyalty/"


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def shopper(db):
    return CustomerWithLoginFactory()


def _history(customer, sales: int) -> None:
    for n in range(sales):
        points_earn(
            customer=customer,
            reference=f"sale:{customer.pk}-{n}",
            channel=["web", "app", "pos"][n % 3],
            lines=paid("100"),
            at=days_ago(350 - 60 * n),
        )


def test_the_customer_sees_balance_tier_expiring_points_and_ledger(rules, shopper):
    TierFactory(rules=rules, name="Silver", min_spend=Decimal("150"), multiplier=Decimal("2"))
    _history(shopper, 3)  # 100 + 100 + 200 (Silver from the third sale)
    points_redeem(customer=shopper, points=50, reference="order:W-1", order_total=Decimal(100))

    response = _client(shopper.user).get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["balance"] == 350
    assert body["balance_value"] == "35.00"
    assert body["currency"] == "EUR"
    assert body["tier"] == {"name": "Silver", "min_spend": "150.00", "multiplier": "2.00"}
    assert body["next_tier"] is None
    assert body["rolling_spend"] == "300.00"
    # The redemption took 50 from the oldest lot, which expires in 15 days; the others later.
    assert body["expiring_soon_points"] == 50
    assert [row["points"] for row in body["expiring_soon"]] == [50]
    wider = _client(shopper.user).get(URL, {"expiring_within_days": 150}).json()
    assert [row["points"] for row in wider["expiring_soon"]] == [50, 100, 200]
    kinds = [(e["kind"], e["points"], e["channel"]) for e in body["entries"]["results"]]
    assert kinds == [
        ("redeem", -50, "web"),
        ("earn", 200, "pos"),
        ("earn", 100, "app"),
        (
            "earn",
            100,
            "web",
        ),
    ]
    assert body["entries"]["results"][0]["title"] == "50 points spent"


def test_the_ledger_pages_by_cursor_without_repeating_or_skipping(rules, shopper):
    _history(shopper, 5)
    client = _client(shopper.user)
    first = client.get(URL, {"page_size": 2}).json()
    seen = [e["id"] for e in first["entries"]["results"]]
    url = first["entries"]["next"]
    while url:
        page = client.get(url).json()
        seen.extend(e["id"] for e in page["entries"]["results"])
        url = page["entries"]["next"]
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)


def test_the_endpoint_costs_the_same_queries_for_a_long_history(rules, shopper):
    _history(shopper, 2)
    client = _client(shopper.user)
    with CaptureQueriesContext(connection) as short:
        assert client.get(URL).status_code == 200
    _history(CustomerWithLoginFactory(), 1)
    for n in range(2, 12):
        points_earn(
            customer=shopper, reference=f"more-{n}", channel="web", lines=paid("1"), at=days_ago(n)
        )
    with CaptureQueriesContext(connection) as long:
        assert client.get(URL).status_code == 200
    assert len(long) == len(short)


def test_a_customer_without_an_account_sees_a_zero_balance(rules, shopper):
    body = _client(shopper.user).get(URL).json()
    assert body["balance"] == 0
    assert body["tier"] is None
    assert body["entries"]["results"] == []


def test_a_customer_sees_only_their_own_ledger(rules, shopper):
    other = CustomerWithLoginFactory()
    _history(other, 2)
    body = _client(shopper.user).get(URL).json()
    assert body["balance"] == 0 and body["entries"]["results"] == []


def test_anonymous_requests_are_refused_in_the_error_shape(api_client):
    response = api_client.get(URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_login_without_customer_profile_gets_a_clear_404(db):
    response = _client(UserFactory()).get(URL)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "customer_profile_missing"


@pytest.mark.parametrize("params", [{"expiring_within_days": "0"}, {"expiring_within_days": "x"}])
def test_bad_query_parameters_are_a_400(shopper, params):
    response = _client(shopper.user).get(URL, params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_a_forged_cursor_is_a_400_not_a_500(shopper):
    response = _client(shopper.user).get(URL, {"cursor": "garbage"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"
