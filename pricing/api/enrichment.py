"""The catalog API's per-variant price, contributed through settings.CATALOG_VARIANT_ENRICHERS.

`variant_prices` prices every variant of a page at once with the quote engine (a
one-unit basket each, no coupon), so a listing shows exactly what the checkout charges
and a page costs the same number of queries for 5 or 50 products.
"""

from typing import Any

from catalog.models import Variant
from pricing import selectors


def _price(unit: selectors.UnitPrice | None) -> dict[str, Any]:
    if unit is None or unit.status != "priced":
        return {
            "status": unit.status if unit else "no_price",
            "currency": unit.currency if unit else None,
            "amount": None,
            "promotion_amount": None,
            "promotions": [],
        }
    return {
        "status": unit.status,
        "currency": unit.currency,
        "amount": str(unit.price),
        "promotion_amount": str(unit.final) if unit.discounts else None,
        "promotions": [
            {
                "id": d.promotion_id,
                "name": d.promotion_name,
                "kind": d.kind,
                "amount": str(d.amount),
            }
            for d in unit.discounts
        ],
    }


def variant_prices(variants: list[Variant], request) -> dict[int, dict[str, Any]]:
    """variant id → {"price": {status, currency, amount, promotion_amount, promotions}}.

    `status` is "priced", "no_price" (not sellable: no current price) or "inactive";
    amounts are decimal strings, null when not priced. `promotion_amount` is null when no
    promotion lowers the unit price on its own.
    """
    priced = selectors.unit_prices(variant_ids=[v.pk for v in variants])
    # Variants of one price, VAT rate and promotions share one (memoized) UnitPrice: each
    # is rendered once per page.
    shown: dict[int, dict[str, Any]] = {}
    result: dict[int, dict[str, Any]] = {}
    for variant in variants:
        unit = priced.get(variant.pk)
        price = shown.get(id(unit))
        if price is None:
            price = shown[id(unit)] = _price(unit)
        result[variant.pk] = {"price": price}
    return result
