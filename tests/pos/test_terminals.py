"""Terminals: a hashed token shown once, revocable at once; terminal endpoints accept only
terminals, and a terminal token is accepted nowhere else."""

import pytest
from rest_framework.test import APIClient

from pos.models import Terminal
from pos.services import terminal_revoke, terminal_token_reissue, token_hash
from tests.factories.customers import CustomerWithLoginFactory, UserFactory
from tests.factories.pos import make_terminal, terminal_client

pytestmark = pytest.mark.django_db

FEED = "/api/v1/pos/sync/stock/"


def test_the_token_is_stored_hashed_and_works_until_revoked():
    terminal, token = make_terminal()
    stored = Terminal.objects.get(pk=terminal.pk)
    assert stored.token_hash == token_hash(token) and token not in stored.token_hash
    client = terminal_client(token)
    assert client.get(FEED).status_code == 200
    terminal_revoke(terminal=terminal)
    refused = client.get(FEED)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "authentication_failed"


def test_a_reissued_token_replaces_the_old_one_at_once():
    terminal, old = make_terminal()
    new = terminal_token_reissue(terminal=terminal)
    assert terminal_client(old).get(FEED).status_code == 401
    assert terminal_client(new).get(FEED).status_code == 200


def test_customer_and_staff_credentials_are_refused_on_terminal_endpoints():
    customer_client = APIClient()
    customer_client.force_authenticate(CustomerWithLoginFactory().user)
    assert customer_client.get(FEED).status_code in (401, 403)
    staff = APIClient()
    staff.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert staff.get(FEED).status_code in (401, 403)
    assert APIClient().get(FEED).status_code == 401


def test_a_terminal_token_is_accepted_nowhere_but_the_pos_endpoints():
    _terminal, token = make_terminal()
    assert terminal_client(token).get("/api/v1/me/").status_code == 401


def test_the_till_acknowledges_the_cursor_it_applied():
    terminal, token = make_terminal()
    client = terminal_client(token)
    page = client.get(FEED).json()
    assert (
        client.post(
            "/api/v1/pos/sync/ack/", {"feed": "stock", "cursor": page["cursor"]}, format="json"
        ).status_code
        == 204
    )
    stored = Terminal.objects.get(pk=terminal.pk)
    assert stored.last_cursor == {"stock": page["cursor"]} and stored.last_seen_at is not None
    forged = client.post("/api/v1/pos/sync/ack/", {"feed": "stock", "cursor": "x"}, format="json")
    assert forged.status_code == 400


def test_reading_a_feed_never_writes():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _terminal, token = make_terminal()
    with CaptureQueriesContext(connection) as queries:
        assert terminal_client(token).get(FEED).status_code == 200
    assert not [
        q
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
