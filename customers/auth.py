"""Authentication: log in with an email or phone and a password; one API token per device.

`EmailOrPhoneBackend` checks the password (and hashes one for an unknown login too, so
both answers take as long). `DeviceTokenAuthentication` is django-rest-knox's token
check (tokens stored as digests, each with an expiry) that also notes when the device
last used its token.
"""

from datetime import timedelta

from django.contrib.auth.backends import ModelBackend
from django.utils import timezone
from knox.auth import TokenAuthentication

from customers.models import LoginSession, User
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

    def _cleanup_token(self, auth_token) -> bool:
        return auth_token.expiry is not None and auth_token.expiry < timezone.now()

    def validate_user(self, auth_token):
        user, token = super().validate_user(auth_token)
        now = timezone.now()
        LoginSession.objects.filter(
            token_id=token.pk, last_used_at__lt=now - LAST_USED_RESOLUTION
        ).update(last_used_at=now)
        return user, token
