"""Terminal writes: register (the token is returned once), revoke, record what was synced.

Tokens are 32 random bytes, stored as their SHA-256: a leaked database does not let
anyone act as a till, and a revoked terminal is refused on its very next request.
"""

import hashlib
import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from inventory.models import Location
from pos.errors import TerminalCodeTaken
from pos.models import Terminal


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return secrets.token_urlsafe(32)


@transaction.atomic
def terminal_register(*, code: str, location: Location, name: str = "") -> tuple[Terminal, str]:
    """Register a till of `location`; returns it and its token (shown this once only).

    Raises TerminalCodeTaken (409).
    """
    token = _new_token()
    try:
        with transaction.atomic():
            terminal = Terminal.objects.create(
                code=code.strip(),
                name=name.strip(),
                location=location,
                token_hash=token_hash(token),
                token_hint=token[:6],
            )
    except IntegrityError as exc:
        raise TerminalCodeTaken(details={"code": code}) from exc
    return terminal, token


@transaction.atomic
def terminal_token_reissue(*, terminal: Terminal) -> str:
    """A new token for the till (the old one stops working at once); returned once."""
    token = _new_token()
    Terminal.objects.filter(pk=terminal.pk).update(
        token_hash=token_hash(token), token_hint=token[:6], is_active=True, revoked_at=None
    )
    return token


@transaction.atomic
def terminal_revoke(*, terminal: Terminal) -> Terminal:
    """Refuse the till from its next request on (a lost or stolen device)."""
    locked = Terminal.objects.select_for_update().get(pk=terminal.pk)
    if locked.is_active:
        locked.is_active = False
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["is_active", "revoked_at"])
    return locked


def terminal_synced(*, terminal: Terminal, feed: str, cursor: str) -> None:
    """Remember the cursor a till was last given for `feed` and when it was last seen.

    Called by the feed endpoints after they answer; one UPDATE, no lock: the last writer
    wins, which is the newest cursor of a single till.
    """
    cursors = dict(terminal.last_cursor or {})
    cursors[feed] = cursor
    Terminal.objects.filter(pk=terminal.pk).update(last_cursor=cursors, last_seen_at=timezone.now())
