"""The filters of a report, read from a query string (API) or a form (admin), and the stores
the user may see.

`from`/`to` are local calendar dates (ASCII `YYYY-MM-DD`, both included; by default the last
30 days), `group_by` one of the report's groupings, `split` a second key of the rows where
the report offers one (sales per day and channel), `location` a store's code or id. Head
office (`reports.view_reports` with every store) sees every location; a store manager sees
their own stores only, and naming another store is refused.
"""

import re
from datetime import date, timedelta

from django.core.exceptions import PermissionDenied
from django.utils import timezone

from inventory import selectors as inventory_selectors
from inventory.errors import LocationNotFound
from reports.errors import InvalidReportQuery
from reports.registry import Report, ReportParams

PERMISSION = "reports.view_reports"
EVERY_STORE = "inventory.operate_any_location"
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
DEFAULT_DAYS = 30
MAX_DAYS = 2 * 366


def may_see_reports(user) -> bool:
    return bool(
        user
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and (user.is_superuser or user.has_perm(PERMISSION))
    )


def report_scope(*, user) -> frozenset[int] | None:
    """None when `user` sees every location, else the ids of their stores. Raises
    PermissionDenied without the permission or (for store staff) without a store."""
    if not may_see_reports(user):
        raise PermissionDenied
    if user.is_superuser or user.has_perm(EVERY_STORE):
        return None
    stores = frozenset(
        inventory_selectors.locations_for_staff(user=user).values_list("pk", flat=True)
    )
    if not stores:
        raise PermissionDenied
    return stores


def _date(name: str, raw: str | None, default: date) -> date:
    if raw in (None, ""):
        return default
    if not isinstance(raw, str) or not DATE.match(raw):
        raise InvalidReportQuery(details={name: "Use a date as YYYY-MM-DD."})
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidReportQuery(details={name: "No such date."}) from None


def report_params(*, report: Report, data, user) -> ReportParams:
    """The filters of `report` from `data` (a QueryDict or dict of strings) for `user`.

    Raises InvalidReportQuery (400) naming each bad filter, PermissionDenied for a store
    outside the user's, LocationNotFound (404) for an unknown one.
    """
    scope = report_scope(user=user)
    today = timezone.localdate()
    date_to = _date("to", data.get("to"), today)
    date_from = _date("from", data.get("from"), date_to - timedelta(days=DEFAULT_DAYS - 1))
    if date_from > date_to:
        raise InvalidReportQuery(details={"to": "The end is before the start."})
    if (date_to - date_from).days >= MAX_DAYS:
        raise InvalidReportQuery(details={"from": f"At most {MAX_DAYS} days at once."})
    group_by = data.get("group_by") or report.default_group_by
    if group_by not in report.group_by:
        raise InvalidReportQuery(details={"group_by": f"One of: {', '.join(report.group_by)}."})
    split_by = data.get("split") or ""
    if split_by and (split_by not in report.split_by or split_by == group_by):
        choices = [key for key in report.split_by if key != group_by]
        raise InvalidReportQuery(
            details={"split": f"One of: {', '.join(choices)}." if choices else "Not split."}
        )
    location_ids = scope
    code = data.get("location")
    if code not in (None, ""):
        if not isinstance(code, str) or len(code) > 64 or not code.isprintable():
            raise InvalidReportQuery(details={"location": "Not a location code or id."})
        location = inventory_selectors.location_get(code_or_id=code)
        if scope is not None and location.pk not in scope:
            raise PermissionDenied
        location_ids = frozenset({location.pk})
    return ReportParams(
        date_from=date_from,
        date_to=date_to,
        group_by=group_by,
        location_ids=location_ids,
        split_by=split_by,
    )


__all__ = ["LocationNotFound", "PERMISSION", "may_see_reports", "report_params", "report_scope"]
