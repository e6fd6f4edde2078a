"""Availability in the catalog product API (wired in settings.CATALOG_VARIANT_ENRICHERS).

The product detail (and a barcode lookup) shows, per variant, the units available for
delivery and at every pickup store; a product list shows a summary — delivery units and
how many pickup stores have it — so a page of products stays one query.
"""

from typing import Any

from inventory import selectors

LIST_VIEWS = {"catalog-products"}


def variant_availability(variants: list, request) -> dict[int, dict[str, Any]]:
    ids = [v.pk for v in variants]
    match = getattr(request, "resolver_match", None)
    if match is not None and match.url_name in LIST_VIEWS:
        summary = selectors.variant_availability_summary(variant_ids=ids)
        return {vid: {"availability": fields} for vid, fields in summary.items()}

    stores, detail = selectors.variant_availability_detail(variant_ids=ids)
    return {
        vid: {
            "availability": {
                "delivery": fields["delivery"],
                "pickup": [
                    {
                        "location": store.code,
                        "name": store.name,
                        "city": store.city,
                        "available": fields["pickup"][store.pk],
                    }
                    for store in stores
                ],
            }
        }
        for vid, fields in detail.items()
    }
