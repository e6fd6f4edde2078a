"""Authentication: log in with an email or phone and a password; one API token per device.

`EmailOrPhoneBackend` checks the password (and hashes one for an unknown login too, so
both answers take as long). `DeviceTokenAuthentication` is django-rest-knox's token
check (tokens stored as digests, each with an expiry) that also notes when the device
last used its token.
"""

import binascii
import functools
from datetime import timedelta
from hmac import compare_digest

from django.contrib.auth.backends import ModelBackend
from django.utils import timezone
from django.utils.translation import gettext as _
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings
from rest_framework import exceptions

from core.db import columns_of, select_models
from customers.models import Customer, LoginSession, User
from customers.selectors import user_find_by_login

# Noting every request would write on every read; once a minute is enough to show.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class EmailOrPhoneBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        login = username or kwargs.get("email") or kwargs.get("phone") or kwargs.get("login")
        if not login or password is None:
            return None
        user = user_find_by_login(login=login)
        if user is None:
            # Hash anyway so an unknown login takes as long as a wrong password.
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


class DeviceTokenAuthentication(TokenAuthentication):
    """Knox tokens ("Authorization: Token <key>"); expired ones are refused.

    Knox deletes expired tokens of the login while it authenticates; here a request only
    reads (a GET never writes), and the beat task `customers.tasks.purge_expired` deletes
    them. The one write left is the throttled note of the device's last use.
    """

    def authenticate_credentials(self, token):
        """Knox's check, reading the token with its login, the login's customer profile and
        the device's session in one query (the view asks for the profile next)."""
        token = token.decode("utf-8") if isinstance(token, bytes) else token
        key = token[: CONSTANTS.TOKEN_KEY_LENGTH]
        for auth_token in _tokens_by_key(key):
            if self._cleanup_token(auth_token):
                continue
            try:
                digest = hash_token(token)
            except (TypeError, binascii.Error):
                raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
            if compare_digest(digest, auth_token.digest):
                if knox_settings.AUTO_REFRESH and auth_token.expiry:
                    self.renew_token(auth_token)
                return self.validate_user(auth_token)
        raise exceptions.AuthenticationFailed(_("Invalid token."))

    def _cleanup_token(self, auth_token) -> bool:
        return auth_token.expiry is not None and auth_token.expiry < timezone.now()

    def validate_user(self, auth_token):
        user, token = super().validate_user(auth_token)
        now = timezone.now()
        # Read with the token (`authenticate_credentials`): no statement when it was noted
        # within the minute, or when the token has no session row.
        cached = token._state.fields_cache
        session = cached.get("session")
        if "session" not in cached or (
            session is not None and session.last_used_at < now - LAST_USED_RESOLUTION
        ):
            LoginSession.objects.filter(
                token_id=token.pk, last_used_at__lt=now - LAST_USED_RESOLUTION
            ).update(last_used_at=now)
        return user, token


def _tokens_by_key(key: str) -> list:
    """The tokens with this key, each with its login, the login's customer profile and the
    device session cached on them, as `select_related("user", "user__customer", "session")`
    caches them — from one hand-written statement (run on every authenticated request; the
    ORM would compile its 4-table join each time)."""
    sql, models = _token_query()
    token_user, profile, session_token = (
        models[0]._meta.get_field("user"),
        Customer._meta.get_field("user"),
        LoginSession._meta.get_field("token"),
    )
    tokens = []
    for auth_token, user, customer, session in select_models(sql, [key], *models):
        token_user.set_cached_value(auth_token, user)
        profile.remote_field.set_cached_value(user, customer)  # None: no profile
        if customer is not None:
            profile.set_cached_value(customer, user)
        session_token.remote_field.set_cached_value(auth_token, session)  # None: no session
        if session is not None:
            session_token.set_cached_value(session, auth_token)
        tokens.append(auth_token)
    return tokens


@functools.cache
def _token_query() -> tuple[str, tuple]:
    token_model = get_token_model()
    models = (token_model, User, Customer, LoginSession)

    def column(model, name: str) -> str:
        return model._meta.get_field(name).column

    sql = (
        f"SELECT {columns_of(token_model, 't')}, {columns_of(User, 'u')}, "
        f"{columns_of(Customer, 'c')}, {columns_of(LoginSession, 's')} "
        f'FROM "{token_model._meta.db_table}" t '
        f'JOIN "{User._meta.db_table}" u ON u."{User._meta.pk.column}" = '
        f't."{column(token_model, "user")}" '
        f'LEFT JOIN "{Customer._meta.db_table}" c ON c."{column(Customer, "user")}" = '
        f'u."{User._meta.pk.column}" '
        f'LEFT JOIN "{LoginSession._meta.db_table}" s ON s."{column(LoginSession, "token")}" = '
        f't."{token_model._meta.pk.column}" '
        f'WHERE t."{column(token_model, "token_key")}" = %s'
    )
    return sql, models


def profile_preloaded(request) -> bool:
    """Whether this request's login was read with its customer profile (a device token):
    then `customer_get_for_user(preloaded=True)` needs no query."""
    return isinstance(getattr(request, "successful_authenticator", None), DeviceTokenAuthentication)
