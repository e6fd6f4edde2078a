"""The audit log: who changed what, when and why, merged from the history each app keeps.

Sources, each already append-only with its who, when and why:

- price lists, prices, promotions and coupons: their django-simple-history rows (the
  user, the reason given in the admin);
- stock: inventory's movements of the kinds staff make by hand (adjustment, write-off,
  count) with their actor and reason;
- points: loyalty's manual adjustments with who made them and the reason;
- orders: every status transition with its user and note.

`audit_page` merges them in the database: each source is narrowed to five columns (source,
id, time, user, store) and filtered on its own, the sources are joined with UNION ALL and
ordered newest first, and only the page is fetched; then each source loads the rows of
that page in one query. So a page costs the same few queries however long the log.

Who sees what: a source needs the view permission of its model; stock and order rows are
those of the user's stores; points adjustments (not tied to a store) only for users who
see every store. Reads only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import BigIntegerField, CharField, F, Q, QuerySet, Value
from django.db.models.functions import Cast
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.admin import staff_location_ids
from inventory.models import Location, StockMovement
from loyalty.models import EntryKind, LoyaltyEntry
from orders.models import OrderTransition
from pricing.models import Coupon, Price, PriceList, Promotion

STOCK_KINDS = (
    StockMovement.Kind.ADJUSTMENT,
    StockMovement.Kind.WRITE_OFF,
    StockMovement.Kind.COUNT,
)
EVERY_STORE = "inventory.operate_any_location"


@dataclass(frozen=True)
class AuditFilters:
    """What the list is narrowed to; every part optional."""

    kind: str = ""
    user_id: int | None = None
    since: date | None = None  # from this day on (the display time zone)
    until: date | None = None  # up to and including this day
    location_id: int | None = None  # stock and order rows of this store only
    object: str = ""  # a SKU, order number, coupon code, price list, promotion, card


@dataclass
class AuditRow:
    kind: str
    kind_label: str
    at: datetime
    user: Any
    object_label: str
    object_url: str | None
    change: str
    reason: str
    store: Location | None = None


@dataclass(frozen=True)
class Source:
    """One history the log reads: where its who, when and store are, how it is searched,
    and how one page of its rows is loaded and shown."""

    kind: str
    label: Any
    permission: str
    base: Callable[[], QuerySet]
    at: str
    user: str
    store: str | None
    matches: Callable[[str], Q]
    load: Callable[[QuerySet], QuerySet]
    row: Callable[[Any], dict[str, Any]]
    every_store_only: bool = False
    extra: dict = field(default_factory=dict)


def _url(name: str, *args) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


_HISTORY_TYPES = {"+": _("created"), "~": _("changed"), "-": _("deleted")}


def _history(record) -> str:
    return str(_HISTORY_TYPES.get(record.history_type, record.history_type))


def _price_row(record) -> dict[str, Any]:
    variant = record.variant
    return {
        "object_label": variant.sku if variant else f"#{record.variant_id}",
        "object_url": _url("admin:pricing_price_history", record.id),
        "change": (
            f"{_history(record)}: {record.amount} {_('from')} {_when(record.valid_from)} "
            f"{_('until')} {_when(record.valid_until)}"
        ),
        "reason": record.history_change_reason or "",
    }


def _price_list_row(record) -> dict[str, Any]:
    flags = [str(_("default")) if record.is_default else "", str(_("active"))]
    if not record.is_active:
        flags[1] = str(_("inactive"))
    return {
        "object_label": record.name,
        "object_url": _url("admin:pricing_pricelist_history", record.id),
        "change": f"{_history(record)}: {record.currency} {' '.join(f for f in flags if f)}",
        "reason": record.history_change_reason or "",
    }


def _promotion_row(record) -> dict[str, Any]:
    state = _("active") if record.is_active else _("inactive")
    return {
        "object_label": record.name,
        "object_url": _url("admin:pricing_promotion_history", record.id),
        "change": (
            f"{_history(record)}: {record.get_kind_display()} {record.value}, "
            f"{_when(record.starts_at)} – {_when(record.ends_at)}, {state}"
        ),
        "reason": record.history_change_reason or "",
    }


def _coupon_row(record) -> dict[str, Any]:
    state = _("active") if record.is_active else _("inactive")
    limit = record.usage_limit if record.usage_limit is not None else "∞"
    promotion = record.promotion
    return {
        "object_label": record.code,
        "object_url": _url("admin:pricing_promotion_change", record.promotion_id),
        "change": (
            f"{_history(record)}: {promotion.name if promotion else ''} "
            f"({_('uses in total')} {limit}), {state}"
        ),
        "reason": record.history_change_reason or "",
    }


def _stock_row(movement: StockMovement) -> dict[str, Any]:
    level = movement.level
    return {
        "object_label": level.variant.sku,
        "object_url": _url("admin:inventory_stockmovement_change", movement.pk),
        "change": (
            f"{movement.get_kind_display()} {movement.on_hand_delta:+d} "
            f"({_('on hand after')} {movement.on_hand_after})"
        ),
        "reason": movement.reason,
        "store": level.location,
    }


def _loyalty_row(entry: LoyaltyEntry) -> dict[str, Any]:
    customer = entry.account.customer
    code = entry.get_reason_code_display() if entry.reason_code else ""
    return {
        "object_label": customer.card_number or str(customer),
        "object_url": _url("admin:loyalty_loyaltyaccount_change", entry.account_id),
        "change": f"{entry.points:+d} {_('points')}" + (f" ({code})" if code else ""),
        "reason": entry.reason,
    }


def _order_row(transition: OrderTransition) -> dict[str, Any]:
    order = transition.order
    return {
        "object_label": order.number,
        "object_url": _url("admin:orders_order_change", order.pk),
        "change": f"{transition.from_status or '—'} → {transition.to_status}",
        "reason": transition.note,
        "store": order.location,
    }


def _history_source(model, **kwargs) -> Source:
    return Source(
        base=lambda: model.history.all(),
        at="history_date",
        user="history_user",
        store=None,
        **kwargs,
    )


SOURCES: dict[str, Source] = {
    source.kind: source
    for source in (
        _history_source(
            Price,
            kind="price",
            label=_("price"),
            permission="pricing.view_price",
            matches=lambda term: Q(variant__sku__iexact=term),
            load=lambda qs: qs.select_related("history_user", "variant"),
            row=_price_row,
        ),
        _history_source(
            PriceList,
            kind="price_list",
            label=_("price list"),
            permission="pricing.view_pricelist",
            matches=lambda term: Q(name__iexact=term),
            load=lambda qs: qs.select_related("history_user"),
            row=_price_list_row,
        ),
        _history_source(
            Promotion,
            kind="promotion",
            label=_("promotion"),
            permission="pricing.view_promotion",
            matches=lambda term: Q(name__icontains=term),
            load=lambda qs: qs.select_related("history_user"),
            row=_promotion_row,
        ),
        _history_source(
            Coupon,
            kind="coupon",
            label=_("coupon"),
            permission="pricing.view_coupon",
            matches=lambda term: Q(code__iexact=term),
            load=lambda qs: qs.select_related("history_user", "promotion"),
            row=_coupon_row,
        ),
        Source(
            kind="stock",
            label=_("stock"),
            permission="inventory.view_stockmovement",
            base=lambda: StockMovement.objects.filter(kind__in=STOCK_KINDS),
            at="created_at",
            user="actor",
            store="level__location",
            matches=lambda term: Q(level__variant__sku__iexact=term),
            load=lambda qs: qs.select_related("actor", "level__variant", "level__location"),
            row=_stock_row,
        ),
        Source(
            kind="loyalty",
            label=_("points"),
            permission="loyalty.view_loyaltyentry",
            base=lambda: LoyaltyEntry.objects.filter(kind=EntryKind.ADJUST),
            at="created_at",
            user="created_by",
            store=None,
            matches=lambda term: Q(account__customer__card_number=term),
            load=lambda qs: qs.select_related("created_by", "account__customer"),
            row=_loyalty_row,
            every_store_only=True,
        ),
        Source(
            kind="order",
            label=_("order status"),
            permission="orders.view_order",
            base=lambda: OrderTransition.objects.all(),
            at="at",
            user="actor_user",
            store="order__location",
            matches=lambda term: Q(order__number__iexact=term),
            load=lambda qs: qs.select_related("actor_user", "order__location"),
            row=_order_row,
        ),
    )
}


def audit_kinds_for(user) -> list[Source]:
    """The sources `user` may read, in the order the filter offers them."""
    every_store = user.is_superuser or user.has_perm(EVERY_STORE)
    return [
        source
        for source in SOURCES.values()
        if user.has_perm(source.permission) and (every_store or not source.every_store_only)
    ]


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _narrow(source: Source, user, filters: AuditFilters) -> QuerySet | None:
    """The source's rows the user may see and the filters keep, as the five union columns;
    None when the filters leave nothing of this source."""
    queryset = source.base()
    if filters.user_id is not None:
        queryset = queryset.filter(**{f"{source.user}_id": filters.user_id})
    if filters.since is not None:
        queryset = queryset.filter(**{f"{source.at}__gte": _day_start(filters.since)})
    if filters.until is not None:
        end = _day_start(filters.until + timedelta(days=1))
        queryset = queryset.filter(**{f"{source.at}__lt": end})
    if filters.object:
        queryset = queryset.filter(source.matches(filters.object))
    if source.store is None:
        if filters.location_id is not None:
            return None  # not store data
        store = Cast(Value(None), BigIntegerField())
    else:
        allowed = staff_location_ids(user)
        if allowed is not None:
            queryset = queryset.filter(**{f"{source.store}__in": allowed})
        if filters.location_id is not None:
            queryset = queryset.filter(**{f"{source.store}_id": filters.location_id})
        store = F(f"{source.store}_id")
    # No ORDER BY inside a part of the UNION (the models' default orderings); the whole is
    # ordered once.
    return (
        queryset.order_by()
        .annotate(
            a_source=Value(source.kind, output_field=CharField()),
            a_id=Cast(F("pk"), BigIntegerField()),
            a_at=F(source.at),
            a_user=F(f"{source.user}_id"),
            a_store=store,
        )
        .values_list("a_source", "a_id", "a_at", "a_user", "a_store")
    )


def audit_log(*, user, filters: AuditFilters) -> QuerySet | None:
    """The merged log as one lazy query of (source, id, at, user id, store id), newest
    first; None when nothing can match (no readable source, or the filters exclude all)."""
    sources = audit_kinds_for(user)
    if filters.kind:
        sources = [s for s in sources if s.kind == filters.kind]
    parts = [q for q in (_narrow(s, user, filters) for s in sources) if q is not None]
    if not parts:
        return None
    first, *rest = parts
    combined = first.union(*rest, all=True) if rest else first
    return combined.order_by("-a_at", "-a_id", "a_source")


def _rows(keys: Iterable[tuple]) -> list[AuditRow]:
    keys = list(keys)
    by_source: dict[str, list[int]] = {}
    for kind, pk, *_rest in keys:
        by_source.setdefault(kind, []).append(pk)
    loaded: dict[tuple[str, int], AuditRow] = {}
    for kind, ids in by_source.items():
        source = SOURCES[kind]
        for obj in source.load(source.base().filter(pk__in=ids)):
            shown = source.row(obj)
            loaded[(kind, obj.pk)] = AuditRow(
                kind=kind,
                kind_label=str(source.label),
                at=_attr(obj, source.at),
                user=_attr(obj, source.user),
                store=shown.pop("store", None),
                **shown,
            )
    return [loaded[(kind, pk)] for kind, pk, *_rest in keys if (kind, pk) in loaded]


def _attr(obj, path: str):
    for part in path.split("__"):
        obj = getattr(obj, part)
    return obj


def audit_page(*, user, filters: AuditFilters, page: Any = 1, per_page: int = 50) -> Page:
    """One page of the audit log for `user`: a Paginator page whose `object_list` holds
    AuditRows. Queries: the count, the page's keys, and one per source on the page."""
    log = audit_log(user=user, filters=filters)
    paginator = Paginator(log if log is not None else [], per_page)
    current = paginator.get_page(page)
    current.object_list = _rows(current.object_list)
    return current
