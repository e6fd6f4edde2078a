"""Sending order notifications exactly once per (order, event, channel).

The Notification row is claimed first (unique constraint) and marked sent after the
notifier returns; a retry finds the row sent and does nothing. A send that failed leaves
the row unsent, so the retry sends it.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone

from orders.models import Notification, Order
from orders.notifications import message_for, notifiers


def notification_send(*, order_id: int, event: str, extra: str = "") -> int:
    """Send `event` for the order through every notifier that can reach the customer.

    Order status messages are transactional, so they go out whatever the marketing
    consent. Returns the number of messages sent by this call.
    """
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        return 0
    if event == "ready_for_pickup" and order.pickup_code:
        extra = f"Pickup code: {order.pickup_code}"
    message = message_for(
        number=order.number,
        event=event,
        email=order.contact_email,
        phone=order.contact_phone,
        extra=extra,
    )
    sent = 0
    for notifier in notifiers():
        recipient = notifier.recipient(message)
        if not recipient:
            continue
        try:
            with transaction.atomic():
                row, _created = Notification.objects.select_for_update().get_or_create(
                    order=order,
                    event=event,
                    channel=notifier.channel,
                    defaults={"recipient": recipient},
                )
                if row.sent_at is not None:
                    continue
                notifier.send(message)
                row.sent_at = timezone.now()
                row.save(update_fields=["sent_at"])
                sent += 1
        except IntegrityError:
            continue  # another worker holds this notification
    return sent
