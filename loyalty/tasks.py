"""Celery tasks of the loyalty app: points expiry, till holds' expiry and their codes.

Tasks take ids, call one service and are safe to run twice or concurrently.
"""

from celery import shared_task

from loyalty import services


@shared_task(name="loyalty.tasks.expire_points")
def expire_points() -> int:
    """Expire due points (FIFO against earns); safe to run twice or concurrently."""
    return services.points_expire_due()


@shared_task(name="loyalty.tasks.expire_holds")
def expire_holds() -> int:
    """Close till holds past their expiry (SKIP LOCKED batches); safe in parallel."""
    return services.holds_expire_due()


@shared_task(
    name="loyalty.tasks.hold_send_code",
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=5,
)
def hold_send_code(hold_id: str) -> bool:
    """Send the customer the code that confirms a hold (queued on commit; sent once)."""
    return services.hold_code_deliver(hold_id=hold_id)
