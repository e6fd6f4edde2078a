"""The change log: what changed, in commit-safe order, for feeds that must never skip.

Services of the catalog, pricing and inventory apps call `changes_record(topic=…, keys=…)`
inside the transaction that makes the change, so a change and its log entry commit (or
roll back) together. Feeds read with `changes_after(position)`.

Why not "id > last id": a sequence value is not commit order. A transaction that took id
10 may commit after one that took id 11; a reader that saw 11 and moved its cursor past 10
would never see 10. So every entry also stores its writer's transaction id (`xid`, 64-bit
on PostgreSQL) and readers serve only entries whose writer is older than the *safe
horizon*: the xmin of a fresh snapshot, the oldest transaction still running. Every
transaction below it has committed or rolled back, and every transaction that writes
later gets a larger xid — so entries below the horizon, read in (xid, id) order, form a
list that only ever grows at its end, and a cursor that is the last (xid, id) served never
skips one. A long transaction holds the horizon back: the feed lags, it does not lose.

SQLite has one writer at a time, so ids are allocated in commit order there: xid is 0 and
the order is the id's.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection
from django.db.models import Q

from core.db import write_later
from core.models import Change

TOPICS = ("variant", "price", "promotion", "stock")


@dataclass(frozen=True, order=True)
class Position:
    """Where a reader stands in the log: after the entry (xid, id)."""

    xid: int = 0
    id: int = 0


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def changes_record(*, topic: str, keys: Iterable[int], scope: int | None = None) -> int:
    """Log that these entities of `topic` changed (call inside the changing transaction).

    One INSERT whatever the number of keys; duplicates are folded. Returns the number of
    entries written.
    """
    if topic not in TOPICS:
        raise ValueError(f"unknown change topic {topic!r}")
    unique = sorted({int(k) for k in keys})
    if not unique:
        return 0
    if not _postgres():
        Change.objects.bulk_create(Change(topic=topic, key=k, scope=scope) for k in unique)
        return len(unique)
    # Inside `core.db.batched_writes()`, sent with the block's other writes.
    write_later(
        "INSERT INTO core_change (topic, key, scope, xid, at) "
        "SELECT %s, k, %s, pg_current_xact_id()::text::bigint, now() "
        "FROM unnest(%s::bigint[]) AS k",
        [topic, scope, unique],
    )
    return len(unique)


def changes_record_many(*, topic: str, pairs: Iterable[tuple[int, int | None]]) -> int:
    """Log (key, scope) pairs of one topic, e.g. stock levels at several locations."""
    by_scope: dict[int | None, set[int]] = {}
    for key, scope in pairs:
        by_scope.setdefault(scope, set()).add(key)
    return sum(changes_record(topic=topic, keys=k, scope=s) for s, k in by_scope.items())


def safe_horizon() -> int | None:
    """The oldest transaction id still running (None on SQLite: everything is safe)."""
    if not _postgres():
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        return int(cursor.fetchone()[0])


def current_position() -> Position:
    """A position below which every entry is final: where a full snapshot's log starts."""
    horizon = safe_horizon()
    if horizon is None:
        last = Change.objects.order_by("-id").values_list("id", flat=True).first() or 0
        return Position(0, last)
    return Position(horizon, 0)


def changes_after(
    *,
    topic: str | tuple[str, ...],
    position: Position,
    limit: int,
    scope: int | None = None,
) -> tuple[list[Change], Position, bool]:
    """Entries of `topic` (one or several) and `scope` after `position`, below the horizon.

    Returns (entries in (xid, id) order, the new position, whether more are ready now).
    """
    horizon = safe_horizon()
    topics = (topic,) if isinstance(topic, str) else topic
    rows = Change.objects.filter(topic__in=topics)
    if scope is not None:
        rows = rows.filter(scope=scope)
    if horizon is not None:
        rows = rows.filter(xid__lt=horizon)
    after = Q(xid__gt=position.xid) | Q(xid=position.xid, id__gt=position.id)
    rows = rows.filter(after).order_by("xid", "id")
    page = list(rows[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    if page:
        position = Position(page[-1].xid, page[-1].id)
    return page, position, more
