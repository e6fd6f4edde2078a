"""Reads of users (and, later, customer profiles)."""

from core.errors import ValidationFailed
from customers.domain import looks_like_email, normalize_email, normalize_phone
from customers.models import User


def user_find_by_login(*, login: str) -> User | None:
    """The user whose normalized email or phone matches `login`, or None."""
    login = login.strip()
    try:
        if looks_like_email(login):
            return User.objects.filter(email=normalize_email(login)).first()
        return User.objects.filter(phone=normalize_phone(login)).first()
    except ValidationFailed:
        return None
