"""Celery tasks of the loyalty app: the periodic expiry of points past their lifetime."""

from celery import shared_task

from loyalty.services import points_expire_due


@shared_task(name="loyalty.tasks.expire_points")
def expire_points() -> int:
    """Expire due points (FIFO against earns); safe to run twice or concurrently."""
    return points_expire_due()
