"""The chart of a report page: one server-side SVG drawn by pygal from the report's rows.

Which chart: a line over time when the rows are days, weeks or months (every period of the
filter is on the axis; a period without rows is zero for a figure that adds up, a gap for
an average) or other dates (monthly cohorts); bars per store, channel, reason or whatever
else the rows are grouped by, stacked where the figures are parts of one whole (STACKED).
Which figure: the one named for the report in `FIGURES` when its rows have it, else the
first money figure, else the first count, else the first other number — of those the rows
have (a figure only in the totals, such as a liability, is not drawn); the page may ask
for another figure by name. A second key in the rows (e.g. the channel of a day × channel
row) gives one series per value of that key.

The SVG is embedded in the page as it is: pygal's own scripts are left out (no JavaScript
at all, nothing fetched), and every label is escaped by the XML serializer, so text that
came from outside (a campaign name) cannot become markup.
"""

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import pygal
from django.utils.translation import gettext as _
from pygal.style import Style

from core.money import minor_unit
from reports.registry import ReportParams
from reports.sql import PERIODS, plain

# The figure (or figures, drawn side by side) each report charts, when its rows have it;
# a name its rows lack falls back to the generic choice.
FIGURES: dict[str, str | tuple[str, ...]] = {
    "sales": "net_revenue",
    "pickup": ("collected", "expired", "cancelled", "open"),
    "customers": "ltv",
    "returns": "return_rate",
    "loyalty": ("earned", "redeemed", "expired"),
    "attribution": "revenue",
    "funnel": ("carts", "checkouts", "completed"),
}
# Reports whose drawn figures are parts of one whole (how pickups end): stacked bars.
STACKED = {"pickup"}
MAX_BARS = 30  # more groups than this: the largest ones are drawn (the table has them all)
WIDTH, HEIGHT = 960, 360

STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#333",
    foreground_strong="#333",
    foreground_subtle="#999",
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    colors=("#417690", "#e07a1f", "#5b9b3a", "#b0413e", "#7e5ba6", "#8c6d31", "#2f8f8f"),
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=13,
    value_font_size=12,
)

MONEY, COUNT, NUMBER = "money", "count", "number"


@dataclass
class Column:
    name: str
    kind: str  # MONEY, COUNT, NUMBER for figures; "key" for what the rows are grouped by

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()

    @property
    def is_figure(self) -> bool:
        return self.kind != "key"


@dataclass
class Chart:
    svg: str = ""  # empty: nothing to draw (the page says so)
    figures: list[Column] = field(default_factory=list)  # what is drawn
    choices: list[Column] = field(default_factory=list)  # what could be drawn instead
    note: str = ""


def columns(rows: list[dict[str, Any]], totals: dict[str, Any], group_by: str) -> list[Column]:
    """The columns of the rows (and totals) in order, each a key or a kind of figure."""
    names: list[str] = []
    for row in rows:
        names.extend(name for name in row if name not in names)
    names.extend(name for name in totals if name not in names)
    if group_by in names:
        names.remove(group_by)
    names.insert(0, group_by)
    result = [Column(group_by, "key")]
    for name in names[1:]:
        values = [row.get(name) for row in rows] + ([totals[name]] if name in totals else [])
        values = [value for value in values if value is not None]
        # No value at all (a ratio undefined everywhere) is a figure; text is a key.
        kind = _kind(values) if values else NUMBER
        result.append(Column(name, kind or "key"))
    return result


def _money_places() -> int:
    return -minor_unit().as_tuple().exponent


def _kind(values: list[Any]) -> str | None:
    """MONEY, COUNT or NUMBER when every value is one; None when they are not all numbers."""
    if all(isinstance(value, int) and not isinstance(value, bool) for value in values):
        return COUNT
    money = re.compile(rf"-?[0-9]+\.[0-9]{{{_money_places()}}}\Z")
    if all(isinstance(value, str) and money.match(value) for value in values):
        return MONEY
    if all(_number(value) is not None for value in values):
        return NUMBER
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value):
        try:
            return float(Decimal(value))
        except InvalidOperation:  # pragma: no cover - the pattern rules it out
            return None
    return None


def chart_figures(report_name: str, figures: list[Column], wanted: str = "") -> list[Column]:
    """The figures to draw: `wanted` when the rows have it, else the report's own choice
    in FIGURES (those of its names the rows have), else the first money figure, the first
    count, the first other number."""
    by_name = {column.name: column for column in figures}
    if wanted in by_name:
        return [by_name[wanted]]
    preferred = FIGURES.get(report_name, ())
    names = (preferred,) if isinstance(preferred, str) else preferred
    chosen = [by_name[name] for name in names if name in by_name]
    if chosen:
        return chosen
    for kind in (MONEY, COUNT, NUMBER):
        for column in figures:
            if column.kind == kind:
                return [column]
    return []


def report_chart(
    *,
    report_name: str,
    params: ReportParams,
    rows: list[dict[str, Any]],
    totals: dict[str, Any] | None = None,
    wanted: str = "",
) -> Chart:
    """The chart of a report's rows for these filters (see the module docstring)."""
    rows = [{key: plain(value) for key, value in row.items()} for row in rows]
    totals = {key: plain(value) for key, value in (totals or {}).items()}
    table = columns(rows, totals, params.group_by)
    # Only what the rows have can be drawn (totals may hold more, e.g. a liability).
    in_rows = {name for row in rows for name in row}
    figures = [column for column in table if column.is_figure and column.name in in_rows]
    drawn = chart_figures(report_name, figures, wanted)
    chart = Chart(figures=drawn, choices=figures)
    if not rows or not drawn:
        return chart
    # A second key (a day × channel row): one series per value of it, of the first figure.
    others = [
        column.name for column in table[1:] if not column.is_figure and column.name in in_rows
    ]
    if others:
        drawn = chart.figures = drawn[:1]
    series = _series(rows, params.group_by, others, drawn)
    if all(value is None for values in series.values() for value in values.values()):
        return chart
    dated = all(_is_date(row.get(params.group_by)) for row in rows)
    if dated:
        # Periods of the filter: every one on the axis; other dates (a monthly cohort):
        # those of the rows, in order.
        labels = _periods(params) if params.group_by in PERIODS else []
        labels.extend(sorted({str(row[params.group_by]) for row in rows} - set(labels)))
        graph = pygal.Line(**_config(show_dots=len(labels) <= 62, x_label_rotation=30))
        _x_axis(graph, labels)
        # A period without rows is zero for a figure that adds up (its total is the sum
        # of the rows: revenue, orders), a gap for one that does not (an average).
        filled = params.group_by in PERIODS and all(_adds_up(c, rows, totals) for c in drawn)
        zero = 0 if filled else None
        for name, values in series.items():
            graph.add(name, [values.get(label, zero) for label in labels])
    else:
        labels = list(dict.fromkeys(_label(row.get(params.group_by)) for row in rows))
        if len(labels) > MAX_BARS:
            size = {label: 0.0 for label in labels}
            for values in series.values():
                for label, value in values.items():
                    size[label] += abs(value or 0)
            labels = sorted(labels, key=lambda label: -size[label])[:MAX_BARS]
            chart.note = _("The %(count)d largest of %(total)d are drawn; the table has all.") % {
                "count": MAX_BARS,
                "total": len(size),
            }
        kind = pygal.StackedBar if report_name in STACKED and len(series) > 1 else pygal.Bar
        graph = kind(**_config(x_label_rotation=30 if len(labels) > 8 else 0))
        graph.x_labels = labels
        for name, values in series.items():
            graph.add(name, [values.get(label) for label in labels])
    if all(column.kind == COUNT for column in drawn):
        graph.y_labels = _whole_numbers(series, stacked=isinstance(graph, pygal.StackedBar))
    graph.y_title = " / ".join(column.label for column in drawn)
    graph.show_legend = len(series) > 1
    graph.add_xml_filter(_drop_scripts)
    chart.svg = graph.render(is_unicode=True)
    return chart


def _adds_up(column: Column, rows, totals) -> bool:
    if column.kind not in (MONEY, COUNT) or totals.get(column.name) is None:
        return False
    total = sum(Decimal(str(row.get(column.name) or 0)) for row in rows)
    return total == Decimal(str(totals[column.name]))


def _whole_numbers(series, *, stacked: bool) -> list[int]:
    """Axis marks of a count: whole numbers from 0 (or the lowest value) to the highest."""
    values = [value or 0 for values in series.values() for value in values.values()]
    if stacked:
        labels = {label for values in series.values() for label in values}
        values = [sum(values.get(label) or 0 for values in series.values()) for label in labels]
    low, high = min(0, int(min(values))), max(1, int(-(-max(values) // 1)))
    step = max(1, -(-(high - low) // 8))
    return list(range(low // step * step, high + step, step))


def _series(rows, group_by: str, others: list[str], drawn: list[Column]):
    """{series name: {x label: value}} summed over rows that share a label."""
    series: dict[str, dict[str, float | None]] = {}
    for row in rows:
        label = _label(row.get(group_by))
        if others:
            names = [(" · ".join(_label(row.get(key)) for key in others), drawn[0].name)]
        else:
            names = [(column.label, column.name) for column in drawn]
        for series_name, figure in names:
            value = _number(row.get(figure))
            values = series.setdefault(series_name, {})
            if value is None:
                values.setdefault(label, None)
            else:
                values[label] = (values.get(label) or 0) + value
    return series


def _label(value: Any) -> str:
    return "—" if value in (None, "") else str(value)


def _is_date(value: Any) -> bool:
    try:
        date.fromisoformat(str(value))
    except ValueError:
        return False
    return True


def _periods(params: ReportParams) -> list[str]:
    """Every day, week (its Monday) or month (its first day) from `from` to `to`."""
    start, end = params.date_from, params.date_to
    if params.group_by == "week":
        start -= timedelta(days=start.weekday())
    elif params.group_by == "month":
        start = start.replace(day=1)
    periods = []
    current = start
    while current <= end:
        periods.append(current.isoformat())
        if params.group_by == "day":
            current += timedelta(days=1)
        elif params.group_by == "week":
            current += timedelta(days=7)
        else:
            current = (current.replace(day=28) + timedelta(days=4)).replace(day=1)
    return periods


def _x_axis(graph, labels: list[str]) -> None:
    graph.x_labels = labels
    if len(labels) > 16:
        graph.x_labels_major_every = -(-len(labels) // 12)
        graph.show_minor_x_labels = False


def _drop_scripts(root):
    """pygal writes its configuration into a <script>; the page runs no chart script."""
    for parent in list(root.iter()):
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    return root


def _config(**extra) -> dict:
    return {
        "style": STYLE,
        "width": WIDTH,
        "height": HEIGHT,
        "js": [],
        "disable_xml_declaration": True,
        "no_data_text": _("No data for these dates"),
        "legend_at_bottom": True,
        "truncate_label": 24,
        "truncate_legend": 30,
        "print_values": False,
        **extra,
    }
