"""The admin start page of each role, as tiles: what to do today and where to do it.

A store's staff (assigned to stores, without `inventory.operate_any_location`) see their
own stores' pickups, orders overdue (managers, and whoever ships from their location),
returns to receive, short pickups, incoming transfers, stock needing a look, silent tills
and today's sales; head office (that permission, or a superuser) sees every location's
overdue orders (counted per location, those without a manager first) and orders and sales
by channel and by store. A tile
is built only when the user holds the view permission of what it shows and of the page
it links to, and every tile links to the admin page (with its filters) where the work is
done. Figures come from `backoffice.selectors`; this module only decides who sees what
and where it links.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice import selectors
from orders.domain import Status
from reports.query import may_see_reports
from reports.registry import reports

OPERATE_ANY_LOCATION = "inventory.operate_any_location"
BRAND = "Omnicore"
SALE_STATUSES = ",".join(s.value for s in Status if s not in selectors.NOT_SALES)


@dataclass(frozen=True)
class Figure:
    label: str
    value: int
    url: str = ""
    warn: bool = False


@dataclass(frozen=True)
class Cell:
    text: str
    url: str = ""
    numeric: bool = False


@dataclass
class Tile:
    key: str
    title: str
    url: str
    link_label: str
    figures: list[Figure] = field(default_factory=list)
    head: list[str] = field(default_factory=list)
    rows: list[list[Cell]] = field(default_factory=list)
    empty: str = ""
    links: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class StartPage:
    kind: str  # "store" or "head_office"
    title: str
    stores: list
    tiles: list[Tile]


def is_head_office(user) -> bool:
    return user.is_superuser or user.has_perm(OPERATE_ANY_LOCATION)


def header(user) -> str:
    """ "Omnicore — <store>" for a member of one store, "Omnicore — Head office" for head
    office and superusers, "Omnicore" otherwise (nobody logged in, several stores, none)."""
    if user is None or not user.is_authenticated or not user.is_staff:
        return BRAND
    if is_head_office(user):
        return f"{BRAND} — {_('Head office')}"
    stores = selectors.staff_stores(user=user)
    if len(stores) == 1:
        return f"{BRAND} — {stores[0].name}"
    return BRAND


def start_page(user, *, now: datetime | None = None) -> StartPage | None:
    """The user's start page, or None when they have none (e.g. a merchandiser: the app
    list is their start page)."""
    if user is None or not user.is_active or not user.is_staff:
        return None
    now = now or timezone.now()
    if is_head_office(user):
        return _head_office_page(user, now)
    stores = selectors.staff_stores(user=user)
    if not stores:
        return None
    return _store_page(user, stores, now)


# --- links --------------------------------------------------------------------------------


def _url(name: str, args=None, **query) -> str:
    url = reverse(f"admin:{name}", args=args)
    return f"{url}?{urlencode(query)}" if query else url


def _ids(location_ids: list[int]) -> str:
    return ",".join(str(pk) for pk in location_ids)


def _today_query(now: datetime) -> dict[str, str]:
    # The order list's date hierarchy (in the retailer's time zone, like day_start).
    local = timezone.localtime(now)
    return {
        "placed_at__year": str(local.year),
        "placed_at__month": str(local.month),
        "placed_at__day": str(local.day),
    }


def _week_query(now: datetime) -> dict[str, str]:
    since = selectors.day_start(now) - timedelta(days=6)
    return {"placed_at__gte": since.isoformat()}


def _money(amount, currency: str) -> str:
    return f"{amount:.2f} {currency}"


# --- store staff --------------------------------------------------------------------------


def _store_page(user, stores, now) -> StartPage:
    ids = [store.pk for store in stores]
    tiles = []
    builders = (
        ("orders.work_pickup_queue", _pickups_tile),
        (("orders.cancel_order", "orders.ship_order"), _overdue_tile),
        ("returns.view_return", _returns_tile),
        ("pos.view_shortpickup", _short_pickups_tile),
        ("inventory.view_transfer", _transfers_tile),
        ("inventory.view_stocklevel", _stock_tile),
        ("pos.view_terminal", _terminals_tile),
        ("orders.view_order", _store_sales_tile),
    )
    for permissions, build in builders:
        if isinstance(permissions, str):
            permissions = (permissions,)
        if any(user.has_perm(permission) for permission in permissions):
            tiles.append(build(user=user, stores=stores, ids=ids, now=now))
    names = ", ".join(store.name for store in stores)
    return StartPage(
        kind="store", title=_("Today at %(stores)s") % {"stores": names}, stores=stores, tiles=tiles
    )


def _pickups_tile(*, user, stores, ids, now) -> Tile:
    pickups = selectors.pickups_open(location_ids=ids, now=now)
    query = {"location": stores[0].code} if len(stores) == 1 else {}
    url = _url("orders_order_pickups", **query)
    may_open = user.has_perm("orders.view_order")
    rows = [
        [
            Cell(row.number, _url("orders_order_change", [row.pk]) if may_open else ""),
            Cell(row.location),
            Cell(
                _("expires today")
                if row.days_left == 0
                else _("%(n)s days left") % {"n": "—" if row.days_left is None else row.days_left}
            ),
        ]
        for row in pickups.soonest
    ]
    return Tile(
        key="pickups",
        title=_("Pickups"),
        url=url,
        link_label=_("Open the pickup queue"),
        figures=[
            Figure(_("to prepare"), pickups.to_prepare, url, warn=pickups.to_prepare > 0),
            Figure(_("waiting for the customer"), pickups.waiting, url),
            Figure(_("expire today"), pickups.expiring_today, url, warn=pickups.expiring_today > 0),
        ],
        head=[_("Waiting, expiring soonest"), _("Store"), _("Days left")],
        rows=rows,
        empty=_("No pickups waiting."),
    )


def _overdue_tile(*, user, stores, ids, now) -> Tile:
    """Orders nobody prepared or shipped by the first deadline at the user's locations
    (stores, or the warehouse they ship from): the manager's to act on before the second
    deadline cancels them."""
    overdue = selectors.orders_overdue(location_ids=ids)
    url = _url(
        "orders_order_changelist",
        status__exact=Status.PLACED.value,
        escalated_at__isempty="0",
        location__id__in=_ids(ids),
    )
    may_open = user.has_perm("orders.view_order")
    rows = [
        [
            Cell(row.number, _url("orders_order_change", [row.pk]) if may_open else ""),
            Cell(row.location),
            Cell(row.fulfilment),
            Cell(timezone.localtime(row.escalated_at).strftime("%Y-%m-%d %H:%M")),
        ]
        for row in overdue.oldest
    ]
    return Tile(
        key="overdue",
        title=_("Overdue orders"),
        url=url,
        link_label=_("Prepare, re-route or cancel"),
        figures=[
            Figure(
                _("not prepared or shipped in time"), overdue.count, url, warn=overdue.count > 0
            ),
        ],
        head=[_("Order"), _("Store"), _("Fulfilment"), _("Escalated")],
        rows=rows,
        empty=_("Nothing overdue."),
    )


def _returns_tile(*, user, stores, ids, now) -> Tile:
    count = selectors.returns_requested_count(location_ids=ids)
    listed = _url(
        "returns_return_changelist", status__exact="requested", location__id__in=_ids(ids)
    )
    desk = _url("returns_return_desk") if user.has_perm("returns.add_return") else ""
    links = [(_("Requested returns"), listed)]
    if desk:
        links.insert(0, (_("Returns desk"), desk))
    return Tile(
        key="returns",
        title=_("Returns to receive"),
        url=desk or listed,
        link_label=_("Open the returns desk") if desk else _("Requested returns"),
        figures=[Figure(_("requested by customers"), count, desk or listed, warn=count > 0)],
        links=links,
    )


def _short_pickups_tile(*, user, stores, ids, now) -> Tile:
    count = selectors.short_pickups_count(location_ids=ids)
    url = _url("pos_shortpickup_changelist")
    return Tile(
        key="short_pickups",
        title=_("Short pickups"),
        url=url,
        link_label=_("Re-route or cancel"),
        figures=[Figure(_("left short by a till sale"), count, url, warn=count > 0)],
    )


def _transfers_tile(*, user, stores, ids, now) -> Tile:
    count = selectors.transfers_incoming_count(location_ids=ids)
    url = _url(
        "inventory_transfer_changelist", status__exact="in_transit", destination__id__in=_ids(ids)
    )
    return Tile(
        key="transfers",
        title=_("Transfers to receive"),
        url=url,
        link_label=_("Receive transfers"),
        figures=[Figure(_("on their way to you"), count, url, warn=count > 0)],
    )


def _stock_tile(*, user, stores, ids, now) -> Tile:
    stock = selectors.stock_attention(location_ids=ids)
    changelist = "inventory_stocklevel_changelist"
    rows = [
        [
            Cell(row.sku, _url("inventory_stocklevel_change", [row.pk])),
            Cell(row.location),
            Cell(str(row.on_hand), numeric=True),
            Cell(str(row.available), numeric=True),
            Cell(str(row.threshold), numeric=True),
        ]
        for row in stock.worst
    ]
    return Tile(
        key="stock",
        title=_("Stock needing attention"),
        url=_url(changelist, stock="negative"),
        link_label=_("Negative stock"),
        figures=[
            Figure(
                _("negative"),
                stock.negative,
                _url(changelist, stock="negative"),
                warn=stock.negative > 0,
            ),
            Figure(_("low (at or below threshold)"), stock.low, _url(changelist, stock="low")),
            Figure(
                _("flagged by a till sale"),
                stock.flagged,
                _url(changelist, stock="attention"),
                warn=stock.flagged > 0,
            ),
        ],
        head=[_("SKU"), _("Store"), _("On hand"), _("Available"), _("Threshold")],
        rows=rows,
        empty=_("Nothing negative or low."),
        links=[
            (_("Negative"), _url(changelist, stock="negative")),
            (_("Low"), _url(changelist, stock="low")),
            (_("Flagged"), _url(changelist, stock="attention")),
        ],
    )


def _terminals_tile(*, user, stores, ids, now) -> Tile:
    silent = selectors.terminals_out_of_sync(location_ids=ids, now=now)
    url = _url("pos_terminal_changelist", is_active__exact="1")
    minutes = int(selectors.TERMINAL_SILENCE.total_seconds() // 60)
    rows = [
        [
            Cell(row.code, _url("pos_terminal_change", [row.pk])),
            Cell(row.location),
            Cell(
                _("never synced")
                if row.last_seen_at is None
                else _("%(m)d min ago") % {"m": (now - row.last_seen_at).total_seconds() // 60}
            ),
        ]
        for row in silent.rows
    ]
    return Tile(
        key="terminals",
        title=_("Tills out of sync"),
        url=url,
        link_label=_("All tills"),
        figures=[
            Figure(
                _("silent for over %(m)d minutes") % {"m": minutes},
                silent.count,
                url,
                warn=silent.count > 0,
            )
        ],
        head=[_("Till"), _("Store"), _("Last seen")],
        rows=rows,
        empty=_("Every till is in sync."),
    )


def _store_sales_tile(*, user, stores, ids, now) -> Tile:
    rows = selectors.sales_by_channel(location_ids=ids, now=now)
    base = {"status__in": SALE_STATUSES, "location__id__in": _ids(ids), **_today_query(now)}
    return Tile(
        key="sales",
        title=_("Today's sales"),
        url=_url("orders_order_changelist", **base),
        link_label=_("Today's orders"),
        head=[_("Channel"), _("Orders"), _("Total")],
        rows=[
            [
                Cell(row.label, _url("orders_order_changelist", channel__exact=row.key, **base)),
                Cell(str(row.orders_today), numeric=True),
                Cell(_money(row.total_today, row.currency), numeric=True),
            ]
            for row in rows
            if row.orders_today
        ],
        empty=_("No orders yet today."),
    )


# --- head office --------------------------------------------------------------------------


def _head_office_page(user, now) -> StartPage:
    tiles = []
    if user.has_perm("orders.view_order"):
        tiles.append(_chain_overdue_tile(user))
        by_channel = selectors.sales_by_channel(location_ids=None, now=now)
        by_store = selectors.sales_by_store(location_ids=None, now=now)
        tiles += [_sales_tile("channel", by_channel, now), _sales_tile("store", by_store, now)]
    if may_see_reports(user):
        tiles.append(_reports_tile())
    return StartPage(kind="head_office", title=_("Head office"), stores=[], tiles=tiles)


def _chain_overdue_tile(user) -> Tile:
    """Every location's orders nobody prepared or shipped by the first deadline, counted
    per location; those with nobody there to act on them (a warehouse's deliveries, a
    store without a manager) first, since no store's start page shows them."""
    overdue = selectors.orders_overdue_by_location()
    escalated = {"status__exact": Status.PLACED.value, "escalated_at__isempty": "0"}
    url = _url("orders_order_changelist", **escalated)
    rows = [
        [
            Cell(
                row.name,
                _url("orders_order_changelist", location__id__exact=str(row.pk), **escalated),
            ),
            Cell(str(row.count), numeric=True),
            Cell(_("store manager") if row.managed else _("nobody there: head office")),
        ]
        for row in overdue.locations[: selectors.TILE_ROWS * 2]
    ]
    return Tile(
        key="overdue",
        title=_("Overdue orders"),
        url=url,
        link_label=_("Every overdue order"),
        figures=[
            Figure(
                _("not prepared or shipped in time"), overdue.count, url, warn=overdue.count > 0
            ),
            Figure(
                _("at locations without a manager"),
                overdue.unmanaged,
                url,
                warn=overdue.unmanaged > 0,
            ),
        ],
        head=[_("Location"), _("Overdue"), _("Who acts")],
        rows=rows,
        empty=_("Nothing overdue."),
    )


def _reports_tile() -> Tile:
    """The cross-channel reports, one link each (their pages have the filters and charts)."""
    return Tile(
        key="reports",
        title=_("Reports"),
        url=_url("reports_report_changelist"),
        link_label=_("All reports"),
        links=[
            (report.title, _url("reports_report_page", args=[report.name])) for report in reports()
        ],
    )


def _sales_tile(by: str, rows, now) -> Tile:
    today = {"status__in": SALE_STATUSES, **_today_query(now)}
    week = {"status__in": SALE_STATUSES, **_week_query(now)}

    def narrowed(row) -> dict[str, str]:
        if by == "channel":
            return {"channel__exact": row.key}
        return {"location__id__exact": str(row.location_id)}

    return Tile(
        key=f"sales_by_{by}",
        title=_("Sales by channel") if by == "channel" else _("Sales by store"),
        url=_url("orders_order_changelist", **week),
        link_label=_("Orders of the last 7 days"),
        head=[
            _("Channel") if by == "channel" else _("Store"),
            _("Orders today"),
            _("Total today"),
            _("Orders, 7 days"),
            _("Total, 7 days"),
        ],
        rows=[
            [
                Cell(row.label, _url("orders_order_changelist", **narrowed(row), **week)),
                Cell(
                    str(row.orders_today),
                    _url("orders_order_changelist", **narrowed(row), **today),
                    numeric=True,
                ),
                Cell(_money(row.total_today, row.currency), numeric=True),
                Cell(str(row.orders_week), numeric=True),
                Cell(_money(row.total_week, row.currency), numeric=True),
            ]
            for row in rows
        ],
        empty=_("No orders in the last 7 days."),
        links=[
            (_("Today's orders"), _url("orders_order_changelist", **today)),
            (_("Last 7 days"), _url("orders_order_changelist", **week)),
        ],
    )
