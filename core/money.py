"""Money helpers: Decimal amounts quantized to a currency's minor unit, rounding in one place.

Rounding rule for the whole project: ROUND_HALF_UP to the currency's minor unit. Anything
that rounds money calls `quantize`; nothing else calls `Decimal.quantize` on money.
"""

from decimal import ROUND_HALF_UP, Decimal
from functools import cache

from django.conf import settings

# ISO 4217 minor units for the currencies a retailer is likely to use; default 2.
MINOR_UNITS = {"JPY": 0, "KRW": 0, "ISK": 0, "HUF": 2, "KWD": 3, "BHD": 3}
ROUNDING = ROUND_HALF_UP


def default_currency() -> str:
    return settings.DEFAULT_CURRENCY


def minor_unit(currency: str | None = None) -> Decimal:
    return _minor_unit(currency or default_currency())


@cache
def _minor_unit(currency: str) -> Decimal:
    # The quote engine rounds some hundred amounts per basket; the exponent never changes.
    return Decimal(1).scaleb(-MINOR_UNITS.get(currency.upper(), 2))


def quantize(amount: Decimal | int | str, currency: str | None = None) -> Decimal:
    """Round an amount to the currency's minor unit with the project's rounding rule."""
    # The rounding passed by position: the quote engine rounds some hundred amounts per
    # basket, and a keyword costs more than the rounding itself.
    return Decimal(amount).quantize(_minor_unit(currency or default_currency()), ROUNDING)


def money_str(amount: Decimal, currency: str | None = None) -> str:
    return str(quantize(amount, currency))
