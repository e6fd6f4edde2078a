"""Payment providers: one interface (authorize, capture, void, refund), chosen in settings.

`settings.PAYMENT_PROVIDERS` maps a provider name, as clients send it at checkout, to a
class. Checkout authorizes the amount due; handover and shipping capture it; cancel and
expiry void it; returns refund it. A provider raises `PaymentDeclined` (402) when the
customer's payment is refused and `PaymentFailed` (409) when an operation on an existing
payment is refused. The services in `orders.services` call providers; nothing else does.

The `test` provider behaves like a real one, with its books in `TestProviderCharge`:
token `tok_ok` authorizes, `tok_decline` and `tok_insufficient_funds` are declined, any
other token is invalid; it refuses to capture more than was authorized, to capture or
void twice, and to refund more than was captured.
"""

import secrets
from decimal import Decimal
from functools import cache
from typing import Protocol

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from core.db import insert_many, write_queued_now
from orders.errors import PaymentDeclined, PaymentFailed, UnknownPaymentProvider
from orders.models import TestProviderCharge


class PaymentProvider(Protocol):
    name: str

    def authorize(self, *, token: str, amount: Decimal, currency: str, reference: str) -> str:
        """Hold `amount` on the customer's payment method; returns the authorization id."""

    def capture(self, *, authorization: str, amount: Decimal) -> None:
        """Take (part of) the held amount."""

    def void(self, *, authorization: str) -> None:
        """Release a hold that was not captured."""

    def refund(self, *, authorization: str, amount: Decimal) -> str:
        """Give back (part of) a captured amount; returns the refund id."""


@cache
def _provider(name: str, path: str) -> PaymentProvider:
    return import_string(path)()


def payment_provider(name: str) -> PaymentProvider:
    """The configured provider called `name`; raises UnknownPaymentProvider (400)."""
    path = settings.PAYMENT_PROVIDERS.get(name)
    if not path:
        raise UnknownPaymentProvider(
            details={"provider": name[:50], "allowed": sorted(settings.PAYMENT_PROVIDERS)}
        )
    return _provider(name, path)


class TestPaymentProvider:
    """A provider for development and tests that refuses what a real provider refuses."""

    name = "test"
    DECLINED = {"tok_decline": "card_declined", "tok_insufficient_funds": "insufficient_funds"}

    def authorize(self, *, token: str, amount: Decimal, currency: str, reference: str) -> str:
        if token in self.DECLINED:
            raise PaymentDeclined(details={"reason": self.DECLINED[token]})
        if token != "tok_ok":
            raise PaymentDeclined(details={"reason": "invalid_token"})
        if amount <= 0:
            raise PaymentFailed(details={"reason": "invalid_amount"})
        charge = TestProviderCharge(
            reference=f"auth_{secrets.token_hex(12)}",
            amount=amount,
            currency=currency,
            status="authorized",
        )
        # The provider's books, in the checkout's transaction: inside a checkout's batch of
        # appends (core.db.batched_writes) the row goes with them, in the same round trip;
        # `_charge` sends it first when the same transaction asks for it (a failed
        # checkout voiding its authorization).
        insert_many(TestProviderCharge, [charge])
        return charge.reference

    def _charge(self, authorization: str):
        write_queued_now()
        charge = (
            TestProviderCharge.objects.select_for_update().filter(reference=authorization).first()
        )
        if charge is None:
            raise PaymentFailed(details={"reason": "unknown_authorization"})
        return charge

    def capture(self, *, authorization: str, amount: Decimal) -> None:
        charge = self._charge(authorization)
        if charge.status != "authorized":
            raise PaymentFailed(details={"reason": f"authorization_{charge.status}"})
        if amount <= 0 or amount > charge.amount:
            raise PaymentFailed(details={"reason": "amount_exceeds_authorization"})
        charge.captured, charge.status = amount, "captured"
        charge.save(update_fields=["captured", "status"])

    def void(self, *, authorization: str) -> None:
        if transaction.get_connection().needs_rollback:
            # Its books are in the database: a checkout failing in the transaction that
            # authorized takes the authorization back with its rollback.
            return
        charge = self._charge(authorization)
        if charge.status != "authorized":
            raise PaymentFailed(details={"reason": f"authorization_{charge.status}"})
        charge.status = "voided"
        charge.save(update_fields=["status"])

    def refund(self, *, authorization: str, amount: Decimal) -> str:
        charge = self._charge(authorization)
        if charge.status != "captured" or amount <= 0 or charge.refunded + amount > charge.captured:
            raise PaymentFailed(details={"reason": "refund_exceeds_capture"})
        charge.refunded += amount
        charge.save(update_fields=["refunded"])
        return f"refund_{secrets.token_hex(8)}"
