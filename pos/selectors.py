"""POS reads: the terminal of a token, and the four change feeds a till sells offline from.

Every feed pages the same way. The first call (no cursor) walks every current entity in
id order, in bounded pages; its first page fixes a change-log position below which every
change is already reflected in what the walk reads. When the walk is done the feed
continues from that position in the change log (`core.changelog`, safe horizon), so a
change made during or after the walk is served afterwards and none is skipped. An entity
that was deleted or stopped being sellable comes as a tombstone `{"id", "deleted": true}`.

The feeds say what changed, then read the entity's current state, so a till always
receives the latest version; prices are the one quote engine's (`pricing.selectors`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from catalog import selectors as catalog_selectors
from core.changelog import Position, changes_after, current_position
from core.money import quantize
from inventory import selectors as inventory_selectors
from pos.domain import Cursor, cursor_decode, cursor_encode
from pos.errors import InvalidCursor
from pos.models import Terminal
from pricing import selectors as pricing_selectors

DEFAULT_PAGE, MAX_PAGE = 500, 1000


@dataclass(frozen=True)
class FeedPage:
    results: list[dict[str, Any]]
    cursor: str
    has_more: bool


@dataclass(frozen=True)
class Feed:
    name: str
    topics: tuple[str, ...]  # the change-log topics that change this feed's entities
    # (terminal, after id, limit) → ids of the entities that exist now, in id order
    ids_after: Callable[[Terminal, int, int], list[int]]
    # (terminal, ids) → id → the entity as the till needs it, or None when gone
    render: Callable[[Terminal, list[int]], dict[int, dict[str, Any] | None]]
    scoped: bool = False  # the change log is per store (stock)


def _money(value, currency: str | None = None) -> str | None:
    """A decimal string to the currency's minor unit (two places without a currency)."""
    return None if value is None else str(quantize(value, currency))


# --- catalog ---------------------------------------------------------------------------


def _catalog_ids(terminal, after, limit):
    return catalog_selectors.variant_ids_after(after=after, limit=limit)


def _catalog_render(terminal, ids):
    variants = catalog_selectors.variants_for_feed(ids=ids)
    ancestors = catalog_selectors.category_ancestor_map() if variants else {}
    out: dict[int, dict[str, Any] | None] = {}
    for pk in ids:
        v = variants.get(pk)
        if v is None or not v.is_active or not v.product.is_active:
            out[pk] = None
            continue
        out[pk] = {
            "id": v.pk,
            "sku": v.sku,
            "name": v.name or v.product.name,
            "product": {"id": v.product_id, "name": v.product.name, "brand": v.product.brand},
            "options": v.options,
            "vat_rate": str(v.vat_rate),
            "barcodes": [b.code for b in v.barcodes.all()],
            # Own category first, then its ancestors: what category-scoped promotions match.
            "category_path": ancestors.get(v.product.category_id, [v.product.category_id]),
        }
    return out


# --- prices ----------------------------------------------------------------------------


def _prices_render(terminal, ids):
    now = timezone.now()
    units = pricing_selectors.unit_prices(variant_ids=ids, at=now)
    upcoming = pricing_selectors.prices_upcoming(variant_ids=ids, at=now)
    out: dict[int, dict[str, Any] | None] = {}
    for pk in ids:
        unit = units.get(pk)
        if unit is None or unit.status != "priced":
            out[pk] = None  # not sellable now: the till must not sell it at an old price
            continue
        out[pk] = {
            "id": pk,
            "currency": unit.currency,
            # The base price; the till applies the promotions feed's rules on top, as the
            # quote engine does.
            "price": _money(unit.price, unit.currency),
            "schedule": [
                {
                    "amount": _money(p.amount, unit.currency),
                    "valid_from": p.valid_from.isoformat(),
                    "valid_until": p.valid_until.isoformat() if p.valid_until else None,
                }
                for p in upcoming.get(pk, [])
            ],
        }
    return out


# --- promotions ------------------------------------------------------------------------


def _promotion_ids(terminal, after, limit):
    return pricing_selectors.promotion_ids_after(after=after, limit=limit)


def _promotions_render(terminal, ids):
    now = timezone.now()
    promotions = pricing_selectors.promotions_for_feed(ids=ids)
    below: dict[int, set[int]] = {}
    out: dict[int, dict[str, Any] | None] = {}
    for pk in ids:
        p = promotions.get(pk)
        if p is None or not p.is_active or (p.ends_at is not None and p.ends_at <= now):
            out[pk] = None
            continue
        categories: set[int] = set()
        for category in p.categories.all():
            if category.pk not in below:
                below[category.pk] = catalog_selectors.category_descendant_ids(
                    category_id=category.pk
                )
            categories |= below[category.pk]
        out[pk] = {
            "id": p.pk,
            "name": p.name,
            "kind": p.kind,
            "scope": p.scope,
            "value": _money(p.value),
            "buy_quantity": p.buy_quantity,
            "get_quantity": p.get_quantity,
            "threshold": _money(p.threshold),
            "priority": p.priority,
            "stackable": p.is_stackable,
            "starts_at": p.starts_at.isoformat(),
            "ends_at": p.ends_at.isoformat() if p.ends_at else None,
            "variant_ids": sorted(v.pk for v in p.variants.all()),
            "product_ids": sorted(x.pk for x in p.products.all()),
            "category_ids": sorted(categories),
            # A coupon promotion applies only with one of its codes, even if none is active.
            "requires_coupon": bool(p.coupons.all()),
            "coupon_codes": sorted(c.code for c in p.coupons.all() if c.is_active),
        }
    return out


# --- stock -----------------------------------------------------------------------------


def _stock_ids(terminal, after, limit):
    return list(
        inventory_selectors.stock_levels(location_ids=[terminal.location_id])
        .filter(variant_id__gt=after)
        .order_by("variant_id")
        .values_list("variant_id", flat=True)[:limit]
    )


def _stock_render(terminal, ids):
    levels = {
        level.variant_id: level
        for level in inventory_selectors.stock_levels(
            location_ids=[terminal.location_id], variant_ids=ids
        )
    }
    out: dict[int, dict[str, Any] | None] = {}
    for pk in ids:
        level = levels.get(pk)
        if level is None:
            out[pk] = None
            continue
        out[pk] = {
            "id": pk,
            "sku": level.variant.sku,
            "on_hand": level.on_hand,
            "reserved": level.reserved,
            "available": level.on_hand - level.reserved,
        }
    return out


FEEDS = {
    "catalog": Feed("catalog", ("variant",), _catalog_ids, _catalog_render),
    # A price changes with the price book, and when its variant stops or starts selling.
    "prices": Feed("prices", ("price", "variant"), _catalog_ids, _prices_render),
    "promotions": Feed("promotions", ("promotion",), _promotion_ids, _promotions_render),
    "stock": Feed("stock", ("stock",), _stock_ids, _stock_render, scoped=True),
}


def feed_page(
    *, feed_name: str, terminal: Terminal, cursor: str | None, limit: int = DEFAULT_PAGE
) -> FeedPage:
    """One page of a feed for this terminal. Raises InvalidCursor (400) for a foreign cursor."""
    feed = FEEDS[feed_name]
    limit = max(1, min(limit, MAX_PAGE))
    if cursor:
        try:
            state = cursor_decode(cursor, feed=feed.name)
        except ValueError:
            raise InvalidCursor(details={"feed": feed.name}) from None
    else:
        start = current_position()
        state = Cursor(feed=feed.name, phase="full", xid=start.xid, id=start.id)

    if state.phase == "full":
        ids = feed.ids_after(terminal, state.after, limit + 1)
        more = len(ids) > limit
        ids = ids[:limit]
        rendered = feed.render(terminal, ids)
        results = [item for item in (rendered[pk] for pk in ids) if item is not None]
        if more:
            following = Cursor(feed.name, "full", after=ids[-1], xid=state.xid, id=state.id)
        else:
            following = Cursor(feed.name, "log", xid=state.xid, id=state.id)
        return FeedPage(results, cursor_encode(following), more)

    scope = terminal.location_id if feed.scoped else None
    entries, position, more = changes_after(
        topic=feed.topics, position=Position(state.xid, state.id), limit=limit, scope=scope
    )
    keys = list(dict.fromkeys(entry.key for entry in entries))
    rendered = feed.render(terminal, keys)
    results = [rendered[k] or {"id": k, "deleted": True} for k in keys]
    following = Cursor(feed.name, "log", xid=position.xid, id=position.id)
    return FeedPage(results, cursor_encode(following), more)
