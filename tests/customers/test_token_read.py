"""The API token check reads token, login, profile and device session in one hand-written
statement (`customers.auth`): it must give what the ORM's `select_related` gives."""

import pytest
from django.core.exceptions import ObjectDoesNotExist
from django.db import connection
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework.test import APIClient

from customers.auth import _tokens_by_key
from customers.models import LoginSession
from tests.factories.customers import CustomerWithLoginFactory, UserFactory

pytestmark = pytest.mark.django_db


def _orm(key: str) -> list:
    return list(
        AuthToken.objects.filter(token_key=key).select_related("user", "user__customer", "session")
    )


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def test_a_token_with_profile_and_session_is_read_as_select_related_reads_it():
    customer = CustomerWithLoginFactory()
    token, key = AuthToken.objects.create(user=customer.user)
    LoginSession.objects.create(token=token, name="Pixel 8")
    prefix = key[: CONSTANTS.TOKEN_KEY_LENGTH]

    (read,) = _tokens_by_key(prefix)
    (orm,) = _orm(prefix)

    with CaptureQueriesContext(connection) as ctx:
        assert _fields(read) == _fields(orm)
        assert _fields(read.user) == _fields(orm.user)
        assert model_to_dict(read.user.customer) == model_to_dict(orm.user.customer)
        assert _fields(read.session) == _fields(orm.session)
        assert read.user.customer.user is read.user and read.session.token is read
    assert ctx.captured_queries == []  # everything came with the one statement


def test_a_login_without_profile_or_session_is_known_to_have_none_without_a_query():
    user = UserFactory()
    prefix = AuthToken.objects.create(user=user)[1][: CONSTANTS.TOKEN_KEY_LENGTH]

    (read,) = _tokens_by_key(prefix)

    with CaptureQueriesContext(connection) as ctx:
        assert read.user == user
        with pytest.raises(ObjectDoesNotExist):
            read.user.customer  # noqa: B018 — the access is the assertion
        with pytest.raises(ObjectDoesNotExist):
            read.session  # noqa: B018
    assert ctx.captured_queries == []


def test_an_unknown_key_reads_nothing_and_the_api_refuses_it():
    assert _tokens_by_key("deadbeef") == []
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token deadbeef" + "0" * 56)
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert "error" in response.json()


def test_a_token_with_a_right_key_and_a_wrong_secret_is_refused():
    customer = CustomerWithLoginFactory()
    key = AuthToken.objects.create(user=customer.user)[1]
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {key[:-4]}{'0000' if key[-4:] != '0000' else '1111'}"
    )
    assert client.get("/api/v1/me/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/me/").status_code == 200
