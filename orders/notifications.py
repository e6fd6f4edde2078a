"""Order notifications: one `Notifier` interface, email now, SMS and messengers pluggable.

`settings.ORDER_NOTIFIERS` lists notifier classes by dotted path. Order status messages
are transactional: they are always sent to a reachable contact, whatever the customer's
marketing consent. Marketing messages would check consent per channel; none are sent here.
"""

from dataclasses import dataclass
from functools import cache
from typing import Protocol

from django.conf import settings
from django.core.mail import send_mail
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _


@dataclass(frozen=True)
class Message:
    order_number: str
    event: str
    subject: str
    body: str
    email: str
    phone: str


class Notifier(Protocol):
    channel: str

    def recipient(self, message: Message) -> str:
        """Where this channel would deliver the message, or "" when it cannot."""

    def send(self, message: Message) -> None: ...


class EmailNotifier:
    channel = "email"

    def recipient(self, message: Message) -> str:
        return message.email

    def send(self, message: Message) -> None:
        send_mail(
            message.subject,
            message.body,
            settings.DEFAULT_FROM_EMAIL,
            [message.email],
            fail_silently=False,
        )


@cache
def _load(paths: tuple[str, ...]) -> list[Notifier]:
    return [import_string(path)() for path in paths]


def notifiers() -> list[Notifier]:
    return _load(tuple(settings.ORDER_NOTIFIERS))


EVENT_TEXT = {
    "placed": lambda n: (
        _("Order %(n)s received") % {"n": n},
        _("We have your order %(n)s.") % {"n": n},
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
    "cancelled": lambda n: (
        _("Order %(n)s cancelled") % {"n": n},
        _("Order %(n)s has been cancelled.") % {"n": n},
    ),
}


def message_for(*, number: str, event: str, email: str, phone: str, extra: str = "") -> Message:
    subject, body = EVENT_TEXT[event](number)
    if extra:
        body = f"{body}\n\n{extra}"
    return Message(number, event, subject, body, email, phone)
