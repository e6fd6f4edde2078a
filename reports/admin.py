"""The reports in the admin (Reports → Reports): a list of every registered report, and a
page per report with its filters, a chart, the table of rows with a totals line and a
link to the same figures as CSV from the API.

`Report` has no table: nothing here queries it. The pages need `reports.view_reports`
(head office: every store; a store manager: their stores, the only ones the store filter
offers). Filters are checked by `reports.query`, the same rules as the API; a bad one is
shown next to its field, never a server error. A page only reads (a GET never writes).
"""

from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from inventory import selectors as inventory_selectors
from inventory.errors import LocationNotFound
from reports import charts, registry
from reports.errors import InvalidReportQuery, ReportNotFound
from reports.models import Report
from reports.query import may_see_reports, report_params, report_scope
from reports.sql import plain

FILTERS = ("from", "to", "group_by", "split", "location")


class ReportFilterForm(forms.Form):
    """From, to, grouping and store of a report page; the values are the API's own."""

    def __init__(self, *args, report: registry.Report, user, every_store: bool, **kwargs):
        super().__init__(*args, **kwargs)
        date = forms.DateInput(attrs={"type": "date"})
        self.fields["from"] = forms.CharField(label=_("From"), required=False, widget=date)
        self.fields["to"] = forms.CharField(label=_("To"), required=False, widget=date)
        self.fields["group_by"] = forms.ChoiceField(
            label=_("By"),
            required=False,
            choices=[(key, key.replace("_", " ").capitalize()) for key in report.group_by],
        )
        if report.split_by:
            self.fields["split"] = forms.ChoiceField(
                label=_("Split by"),
                required=False,
                choices=[("", "—")]
                + [(key, key.replace("_", " ").capitalize()) for key in report.split_by],
            )
        every = _("Every store") if every_store else _("All my stores")
        self.fields["location"] = forms.ChoiceField(
            label=_("Store"),
            required=False,
            choices=[("", every)]
            + [
                (location.code, location.name)
                for location in inventory_selectors.locations_for_staff(user=user)
            ],
        )

    def query(self) -> dict[str, str]:
        """The filters as given (valid ones only), for `reports.query.report_params`."""
        return {name: self.cleaned_data.get(name) or "" for name in FILTERS}


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    """No rows: the changelist is the list of reports, and each report has its page."""

    def get_queryset(self, request):
        return Report.objects.none()

    def has_view_permission(self, request, obj=None):
        return may_see_reports(request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path(
                "",
                self.admin_site.admin_view(self.changelist_view),
                name="reports_report_changelist",
            ),
            path(
                "<slug:name>/",
                self.admin_site.admin_view(self.report_view),
                name="reports_report_page",
            ),
        ]

    def _context(self, request, **extra):
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "app_label": self.model._meta.app_label,
            "has_view_permission": True,
            **extra,
        }

    def _require_permission(self, request):
        if not may_see_reports(request.user):
            raise PermissionDenied

    def changelist_view(self, request, extra_context=None):
        self._require_permission(request)
        reports = [
            {
                "title": report.title,
                "description": report.description,
                "url": reverse("admin:reports_report_page", args=[report.name]),
            }
            for report in registry.reports()
        ]
        context = self._context(
            request, title=_("Reports"), reports=reports, **(extra_context or {})
        )
        return TemplateResponse(request, "admin/reports/report_list.html", context)

    def report_view(self, request, name: str):
        self._require_permission(request)
        scope = report_scope(user=request.user)  # a store manager without a store: 403
        try:
            report = registry.report_get(name)
        except ReportNotFound:
            raise Http404(gettext("There is no report of that name.")) from None
        form = ReportFilterForm(
            {key: request.GET.get(key, "") for key in FILTERS},
            report=report,
            user=request.user,
            every_store=scope is None,
        )
        params = result = chart = None
        if form.is_valid():
            params = self._params(form, report, request.user)
        if params is not None:
            # The form shows the filters in effect (the defaults filled in).
            form.data.update(
                {
                    "from": params.date_from.isoformat(),
                    "to": params.date_to.isoformat(),
                    "group_by": params.group_by,
                    "split": params.split_by,
                }
            )
            try:
                result = report.run(params)
            except DomainError as exc:
                form.add_error(None, exc.message)
        table = None
        if result is not None:
            chart = charts.report_chart(
                report_name=report.name,
                params=params,
                rows=result.rows,
                totals=result.totals,
                wanted=request.GET.get("chart", ""),
            )
            table = _table(result, params.group_by)
        context = self._context(
            request,
            title=report.title,
            report=report,
            form=form,
            params=params,
            chart=chart,
            chart_links=_chart_links(request, chart),
            table=table,
            csv_url=_csv_url(report, params, form.query()["location"]) if params else "",
        )
        return TemplateResponse(request, "admin/reports/report_page.html", context)

    def _params(self, form, report, user):
        """The report's params, or None with the refusals added to the form."""
        try:
            return report_params(report=report, data=form.query(), user=user)
        except InvalidReportQuery as exc:
            details = exc.details if isinstance(exc.details, dict) else {}
            for field, message in details.items():
                form.add_error(field if field in form.fields else None, str(message))
            if not details:
                form.add_error(None, exc.message)
        except LocationNotFound:
            form.add_error("location", gettext("There is no such store."))
        except PermissionDenied:
            form.add_error("location", gettext("Not one of your stores."))
        return None


def _table(result: registry.ReportResult, group_by: str) -> dict:
    rows = [{key: plain(value) for key, value in row.items()} for row in result.rows]
    totals = {key: plain(value) for key, value in result.totals.items()}
    columns = charts.columns(rows, totals, group_by)
    return {
        "columns": columns,
        "rows": [[(row.get(column.name), column.is_figure) for column in columns] for row in rows],
        "totals": [
            (
                totals.get(column.name)
                if column.name in totals
                else (gettext("Total") if index == 0 else ""),
                column.is_figure,
            )
            for index, column in enumerate(columns)
        ]
        if totals
        else [],
    }


def _csv_url(report: registry.Report, params: registry.ReportParams, location: str) -> str:
    query = {
        "from": params.date_from.isoformat(),
        "to": params.date_to.isoformat(),
        "group_by": params.group_by,
    }
    if params.split_by:
        query["split"] = params.split_by
    if location:
        query["location"] = location
    query["format"] = "csv"
    return f"{reverse('report', args=[report.name])}?{urlencode(query)}"


def _chart_links(request, chart) -> list[dict]:
    """Links that draw another figure (the same filters), when there is a choice."""
    if chart is None or not chart.svg or len(chart.choices) < 2:
        return []
    drawn = {column.name for column in chart.figures}
    links = []
    for column in chart.choices:
        query = {name: request.GET[name] for name in FILTERS if request.GET.get(name)}
        query["chart"] = column.name
        links.append(
            {"label": column.label, "url": f"?{urlencode(query)}", "current": column.name in drawn}
        )
    return links
