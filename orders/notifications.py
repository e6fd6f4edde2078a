"""Order notifications: one `Notifier` interface, email now, SMS and messengers pluggable.

`settings.ORDER_NOTIFIERS` lists notifier classes by dotted path. Order status messages
are transactional: they are always sent to a reachable contact, whatever the customer's
marketing consent. Marketing messages would check consent per channel; none are sent here.
"""

from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _

from core import messaging


@dataclass(frozen=True)
class Message(messaging.Message):
    order_number: str = ""
    event: str = ""


# Kept as a name for settings written before the channels moved to core.
EmailNotifier = messaging.EmailChannel
Notifier = messaging.Channel


def notifiers() -> list[Notifier]:
    return messaging.channels(settings.ORDER_NOTIFIERS)


EVENT_TEXT = {
    "placed": lambda n: (
        _("Order %(n)s received") % {"n": n},
        _("We have your order %(n)s.") % {"n": n},
    ),
    "in_transit": lambda n: (
        _("Order %(n)s is on its way to your store") % {"n": n},
        _(
            "Part of your order %(n)s comes from another location; we will tell you when it "
            "is ready in the store."
        )
        % {"n": n},
    ),
    "ready_for_pickup": lambda n: (
        _("Order %(n)s is ready for pickup") % {"n": n},
        _("Your order %(n)s is waiting for you in the store.") % {"n": n},
    ),
    "collected": lambda n: (
        _("Order %(n)s collected") % {"n": n},
        _("Thank you! You collected order %(n)s.") % {"n": n},
    ),
    "shipped": lambda n: (
        _("Order %(n)s shipped") % {"n": n},
        _("Your order %(n)s is on its way.") % {"n": n},
    ),
    "delivered": lambda n: (
        _("Order %(n)s delivered") % {"n": n},
        _("Your order %(n)s was delivered.") % {"n": n},
    ),
    "expired": lambda n: (
        _("Order %(n)s expired") % {"n": n},
        _("Order %(n)s was not collected in time and has been released.") % {"n": n},
    ),
    "rerouted": lambda n: (
        _("Order %(n)s moves to another store") % {"n": n},
        _("Your order %(n)s will be ready in another store; we will tell you when.") % {"n": n},
    ),
    "return_received": lambda n: (
        _("Return for order %(n)s received") % {"n": n},
        _("We have your return request for order %(n)s.") % {"n": n},
    ),
    "refund_made": lambda n: (
        _("Refund for order %(n)s") % {"n": n},
        _("We have refunded your return of goods from order %(n)s.") % {"n": n},
    ),
    "cancelled": lambda n: (
        _("Order %(n)s cancelled") % {"n": n},
        _("Order %(n)s has been cancelled.") % {"n": n},
    ),
}


def message_for(*, number: str, event: str, email: str, phone: str, extra: str = "") -> Message:
    # "refund_made:R-7KQ2" — one message per return: the part before ":" names the text.
    subject, body = EVENT_TEXT[event.partition(":")[0]](number)
    if extra:
        body = f"{body}\n\n{extra}"
    return Message(
        subject=subject, body=body, email=email, phone=phone, order_number=number, event=event
    )
