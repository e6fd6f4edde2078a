"""Authentication backend: log in with an email or a phone number and a password."""

from django.contrib.auth.backends import ModelBackend

from customers.models import User
from customers.selectors import user_find_by_login


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
