"""Per-variant extras (prices, availability) contributed by apps above the catalog.

`settings.CATALOG_VARIANT_ENRICHERS` lists dotted paths of functions
`(variants: list[Variant], request) -> dict[int, dict]` mapping a variant id to extra
fields (a variant here is anything with `pk`: the product list passes
`catalog.selectors.VariantRow`s). Each is called once per page with every variant on it,
so a page costs a constant number of queries. The wiring sits in settings (the top of the
dependency graph) so the catalog never imports pricing or inventory.
"""

from collections.abc import Callable
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from catalog.models import Product, Variant

Enricher = Callable[[list[Variant], Any], dict[int, dict[str, Any]]]


@cache
def _enrichers(paths: tuple[str, ...]) -> list[Enricher]:
    return [import_string(path) for path in paths]


def variant_extras(products: list[Product], request) -> dict[int, dict[str, Any]]:
    return variant_extras_for([v for p in products for v in p.variants.all()], request)


def variant_extras_for(variants: list[Any], request) -> dict[int, dict[str, Any]]:
    """variant id → the extra fields of every enricher, for variants with a `pk`."""
    extras: dict[int, dict[str, Any]] = {v.pk: {} for v in variants}
    if not variants:
        return extras
    for enricher in _enrichers(tuple(settings.CATALOG_VARIANT_ENRICHERS)):
        for variant_id, fields in enricher(variants, request).items():
            extras.setdefault(variant_id, {}).update(fields)
    return extras
