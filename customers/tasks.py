"""Background work of the customers app: the one-time codes that prove a contact.

Queued on commit by the services (`core.background.enqueue_on_commit`), so a failing
mail server never fails the request that asked for the code. The task takes ids, is
safe to run twice (`verification_deliver` sends each code once) and is retried on error.
Expired tokens and verifications are purged by a beat task.
"""

from celery import shared_task

from customers import services


@shared_task(
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=5,
)
def verification_send_code(verification_id: str, sequence: int) -> bool:
    return services.verification_deliver(verification_id=verification_id, sequence=sequence)


@shared_task
def purge_expired() -> dict[str, int]:
    """Beat task: delete expired device tokens, and verifications a day after they expired."""
    return services.expired_purge()
