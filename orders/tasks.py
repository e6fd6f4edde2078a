"""Celery tasks of orders: notify a customer of a status change; expire uncollected pickups;
escalate and cancel orders nobody prepared in time.

Tasks take ids, call services and are safe to run twice: a notification is recorded per
(order, event, channel) before it is sent, so a retried task does not send again.
"""

from celery import shared_task

from orders import services
from orders.notifications_service import notification_send


@shared_task(
    bind=True, autoretry_for=(Exception,), retry_backoff=True, retry_jitter=True, max_retries=5
)
def order_notify(self, order_id: int, event: str, extra: str = "") -> int:
    """Send the status message of `event` for order `order_id` on every configured channel.

    Any failure is retried with backoff (a message already sent is never sent again); the
    order itself was committed long before, so a failure here never reaches its client.
    """
    return notification_send(order_id=order_id, event=event, extra=extra)


@shared_task
def orders_expire_uncollected() -> int:
    """Beat task: expire pickup orders whose hold period ran out and release their stock."""
    return services.orders_expire_uncollected()


@shared_task
def orders_enforce_prepare_deadlines() -> dict[str, int]:
    """Beat task: escalate placed orders nobody prepared or shipped in time, then cancel
    them after the second deadline (stock released, customer notified)."""
    run = services.orders_enforce_prepare_deadlines()
    return {
        "escalated": run.escalated,
        "cancelled": run.cancelled,
        "transfers_overdue": run.transfers_overdue,
    }


@shared_task(
    bind=True, autoretry_for=(Exception,), retry_backoff=True, retry_jitter=True, max_retries=5
)
def order_transfer_arrived(self, number: str) -> str:
    """A transfer sent for ship-to-store order `number` was received: ready it for pickup
    (or flag it for staff). Retried with backoff; running it twice changes nothing."""
    order = services.order_transfer_arrived(number=number)
    return order.status if order is not None else ""
