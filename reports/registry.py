"""The reports: each is a function of `ReportParams` returning a `ReportResult`, declared
with `@report(...)` in its own module of this package and found here by name.

A report runs its aggregations in the database (a few queries whatever the number of
orders), reads other apps' rows without ever writing them, and honours
`params.location_ids` (None: every location; else only those stores' rows).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from importlib import import_module
from typing import Any

from reports.errors import ReportNotFound

# The modules that declare reports, imported on first use (a missing one is skipped).
REPORT_MODULES = (
    "reports.sales",
    "reports.pickup",
    "reports.customers",
    "reports.returns",
    "reports.loyalty",
    "reports.attribution",
    "reports.funnel",
)


@dataclass(frozen=True)
class ReportParams:
    date_from: date
    date_to: date  # included
    group_by: str
    # None: every location; else the ids of the stores (or warehouses) to report on.
    location_ids: frozenset[int] | None = None
    # A second key each row is split by (e.g. "channel" for sales per day and channel).
    split_by: str = ""


@dataclass
class ReportResult:
    """`rows`: one dict per group, the group key(s) first, then the figures; `totals`: the
    figures over all rows. Values are JSON-ready (money and ratios as decimal strings)."""

    rows: list[dict[str, Any]]
    totals: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    description: str
    group_by: tuple[str, ...]  # the first is the default
    run: Callable[[ReportParams], ReportResult]
    split_by: tuple[str, ...] = ()  # the second keys a row may be split by

    @property
    def default_group_by(self) -> str:
        return self.group_by[0]


_REPORTS: dict[str, Report] = {}


def report(
    *,
    name: str,
    title: str,
    description: str,
    group_by: tuple[str, ...],
    split_by: tuple[str, ...] = (),
):
    """Declare a report: `@report(name="sales", title=…, description=…, group_by=(…))`;
    `split_by` names the second keys its rows may also be split by (`?split=`)."""

    def register(function: Callable[[ReportParams], ReportResult]):
        _REPORTS[name] = Report(
            name=name,
            title=title,
            description=description,
            group_by=group_by,
            run=function,
            split_by=split_by,
        )
        return function

    return register


def _load() -> None:
    for module in REPORT_MODULES:
        try:
            import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def reports() -> list[Report]:
    """Every report, in the order of REPORT_MODULES."""
    _load()
    order = {name.rsplit(".", 1)[1]: i for i, name in enumerate(REPORT_MODULES)}
    return sorted(_REPORTS.values(), key=lambda r: (order.get(r.name, len(order)), r.name))


def report_get(name: str) -> Report:
    _load()
    try:
        return _REPORTS[name]
    except KeyError:
        raise ReportNotFound(details={"report": name[:64]}) from None
