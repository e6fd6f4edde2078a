"""Messages to a customer: one `Channel` interface, email now, SMS and messengers pluggable.

A channel knows where it would deliver a message (`recipient`, "" when it cannot reach
the customer) and sends it. Apps list the channels they use by dotted path in settings
(`ORDER_NOTIFIERS` for order status messages, `CUSTOMER_CODE_CHANNELS` for verification
codes), so an SMS gateway plugs in without touching the apps. Sending happens in Celery
tasks queued on commit; a channel's error is the task's to retry, never the request's.
"""

from dataclasses import dataclass
from functools import cache
from typing import Protocol

from django.conf import settings
from django.core.mail import send_mail
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Message:
    subject: str
    body: str
    email: str = ""
    phone: str = ""


class Channel(Protocol):
    channel: str

    def recipient(self, message: Message) -> str:
        """Where this channel would deliver the message, or "" when it cannot."""

    def send(self, message: Message) -> None: ...


class EmailChannel:
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
def _load(paths: tuple[str, ...]) -> list[Channel]:
    return [import_string(path)() for path in paths]


def channels(paths: list[str] | tuple[str, ...]) -> list[Channel]:
    """Instances of the channel classes named by dotted path (cached per list)."""
    return _load(tuple(paths))
