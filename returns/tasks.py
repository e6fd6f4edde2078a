"""Celery tasks of returns: card refunds through the provider after a return commits.

Tasks take ids, call a service and are safe to run twice (a refund row is marked refunded
in the same transaction as the provider answers).
"""

from celery import shared_task

from returns import services


@shared_task(
    bind=True, autoretry_for=(Exception,), retry_backoff=True, retry_jitter=True, max_retries=5
)
def return_refunds_execute(self, return_id: int) -> int:
    """Refund the return's pending card parts; a provider error is retried with backoff."""
    return services.return_refunds_execute(return_id=return_id)


@shared_task
def refunds_retry_pending() -> int:
    """Beat task: queue again the refunds a worker never finished."""
    return services.refunds_retry_pending()
