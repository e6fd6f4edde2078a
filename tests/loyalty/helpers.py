"""Small helpers of the loyalty tests: sale lines and relative times."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone


def days_ago(days: float):
    return timezone.now() - timedelta(days=days)


def paid(amount: str, *, variant_id=None, category_id=None) -> list[dict]:
    """One sale line paying `amount`."""
    return [{"variant_id": variant_id, "category_id": category_id, "amount_paid": Decimal(amount)}]
