"""Feed cursors: opaque to the till, signed so that a forged or garbled one is refused.

A cursor says which feed it belongs to, which phase the till is in — the first full
pass over every entity (`full`, after entity id `after`) or the change log (`log`, after
position (`xid`, `id`)) — and where the change log starts once the full pass is done.
"""

from dataclasses import dataclass

from django.core import signing

SALT = "pos.feed.cursor"


@dataclass(frozen=True)
class Cursor:
    feed: str
    phase: str  # "full" | "log"
    after: int = 0  # full: the last entity id served
    xid: int = 0  # log: the position; full: where the log starts afterwards
    id: int = 0


def cursor_encode(cursor: Cursor) -> str:
    return signing.dumps(
        [cursor.feed, cursor.phase, cursor.after, cursor.xid, cursor.id], salt=SALT, compress=True
    )


def cursor_decode(value: str, *, feed: str) -> Cursor:
    """The cursor, or ValueError when it was not made by this feed."""
    try:
        raw = signing.loads(value, salt=SALT)
        name, phase, after, xid, pos = raw
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise ValueError("bad cursor") from exc
    if name != feed or phase not in ("full", "log"):
        raise ValueError("bad cursor")
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in (after, xid, pos)):
        raise ValueError("bad cursor")
    return Cursor(feed=name, phase=phase, after=after, xid=xid, id=pos)
