"""Celery tasks of the inventory app: thin callers of services, safe to run twice or in parallel."""

from celery import shared_task

from inventory import services


@shared_task
def release_expired_reservations() -> int:
    """Release every reservation whose expiry has passed (scheduled by beat every minute)."""
    return services.reservations_release_expired()
