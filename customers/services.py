"""Writes of users (and, later, customer profiles)."""

from django.db import transaction

from customers.domain import normalize_email
from customers.models import User


@transaction.atomic
def user_ensure_demo_staff(*, email: str, password: str) -> User:
    """Create the demo superuser, or reset its password and rights when it exists."""
    user = User.objects.filter(email=normalize_email(email)).first()
    if user is None:
        return User.objects.create_superuser(email=email, password=password)
    user.is_staff = user.is_superuser = user.is_active = True
    user.set_password(password)
    user.save(update_fields=["is_staff", "is_superuser", "is_active", "password"])
    return user
