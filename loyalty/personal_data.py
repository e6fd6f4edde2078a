"""The loyalty app's part in a customer's personal data: export, erasure, the admin panel.

Wired through the customers hooks (settings CUSTOMER_EXPORT_SOURCES,
CUSTOMER_ERASE_HANDLERS, CUSTOMER_ADMIN_PANELS). The points ledger holds no contact data:
on erasure the account and every entry stay as they are (the ledger must keep adding up,
`loyalty.services.verify`), attached to the now anonymous profile that nobody can log in
to or identify at a till any more.
"""

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from loyalty.models import LoyaltyAccount, LoyaltyEntry, LoyaltyHold
from loyalty.selectors import entry_title

VIEW_PERMISSION = "loyalty.view_loyaltyaccount"
VIEW_ENTRIES_PERMISSION = "loyalty.view_loyaltyentry"


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def export(customer_id: int) -> dict[str, Any]:
    """The points account: balance, every ledger entry, the holds made at tills."""
    account = LoyaltyAccount.objects.filter(customer_id=customer_id).first()
    if account is None:
        return {"loyalty": None}
    entries = LoyaltyEntry.objects.filter(account=account).order_by("occurred_at", "id")
    holds = LoyaltyHold.objects.filter(account=account).order_by("created_at")
    return {
        "loyalty": {
            "balance": account.balance,
            "opened_at": _iso(account.created_at),
            "entries": [
                {
                    "occurred_at": _iso(e.occurred_at),
                    "kind": e.kind,
                    "points": e.points,
                    "reference": e.reference,
                    "channel": e.channel,
                    "expires_at": _iso(e.expires_at),
                    "reason": e.reason,
                }
                for e in entries
            ],
            "holds": [
                {
                    "created_at": _iso(h.created_at),
                    "points": h.points,
                    "status": h.status,
                    "terminal": h.terminal_code,
                }
                for h in holds
            ],
        }
    }


def erase(customer_id: int) -> dict[str, Any]:
    """Nothing personal to blank: says what stays for accounting (one query)."""
    account = LoyaltyAccount.objects.filter(customer_id=customer_id).first()
    if account is None:
        return {"account_kept": False}
    return {"account_kept": True, "balance": account.balance}


def panel(customer_id: int, *, user, limit: int) -> dict[str, Any] | None:
    """The customer page's points: balance, the latest `limit` ledger entries, a link to the
    account page and to its whole ledger. Three queries whatever the ledger's length."""
    if not user.has_perm(VIEW_PERMISSION):
        return None
    account = LoyaltyAccount.objects.filter(customer_id=customer_id).first()
    panel: dict[str, Any] = {
        "key": "loyalty",
        "title": _("Bonus points"),
        "summary": [(_("balance, points"), account.balance if account else 0)],
        "head": [_("when"), _("what"), _("points"), _("reference"), _("channel")],
        "rows": [],
        "total": 0,
        "more_url": "",
        "links": [],
    }
    if account is None:
        return panel
    panel["links"].append(
        (_("points account"), reverse("admin:loyalty_loyaltyaccount_change", args=[account.pk]))
    )
    if not user.has_perm(VIEW_ENTRIES_PERMISSION):
        return panel
    ledger = LoyaltyEntry.objects.filter(account=account)
    entries = list(ledger.order_by("-occurred_at", "-id")[:limit])
    panel["rows"] = [
        [
            {"text": e.occurred_at.strftime("%Y-%m-%d %H:%M")},
            {"text": entry_title(e)},
            {"text": f"{e.points:+d}", "numeric": True},
            {"text": e.reference},
            {"text": e.get_channel_display()},
        ]
        for e in entries
    ]
    panel["total"] = ledger.count()
    panel["more_url"] = (
        reverse("admin:loyalty_loyaltyentry_changelist") + f"?account__id__exact={account.pk}"
    )
    return panel
