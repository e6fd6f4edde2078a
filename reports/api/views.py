"""Reports API: `GET /api/v1/reports/<name>/?from=&to=&group_by=&location=[&format=csv]`.

Answers `{"from", "to", "group_by", "rows", "totals"}` (see reports.registry); staff with
`reports.view_reports` only, store managers for their own stores. Reads only.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotAuthenticated, PermissionDenied
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from reports import registry
from reports.api.renderers import ReportCSVRenderer
from reports.query import report_params
from reports.sql import plain


def report_data(report: registry.Report, params: registry.ReportParams) -> dict:
    result = report.run(params)
    return {
        "from": params.date_from.isoformat(),
        "to": params.date_to.isoformat(),
        "group_by": params.group_by,
        **({"split": params.split_by} if params.split_by else {}),
        "rows": [{key: plain(value) for key, value in row.items()} for row in result.rows],
        "totals": {key: plain(value) for key, value in result.totals.items()},
    }


class ReportView(APIView):
    renderer_classes = [JSONRenderer, ReportCSVRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "from", OpenApiTypes.DATE, description="First local day (default: 30 days ago)."
            ),
            OpenApiParameter(
                "to", OpenApiTypes.DATE, description="Last local day, included (default: today)."
            ),
            OpenApiParameter(
                "group_by",
                str,
                description="One of the report's groupings (day, week, month, channel, store, …).",
            ),
            OpenApiParameter(
                "split",
                str,
                description="A second key of every row, where the report offers one "
                "(sales: channel or store).",
            ),
            OpenApiParameter(
                "location", str, description="A store's code or id (store managers: one of theirs)."
            ),
            OpenApiParameter(
                "format", str, enum=["json", "csv"], description="csv: the rows and totals as CSV."
            ),
        ],
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT, description='{"from", "to", "group_by", "rows", "totals"}'
            ),
            400: OpenApiResponse(description="validation_error"),
            403: OpenApiResponse(description="permission_denied"),
            404: OpenApiResponse(description="report_not_found, location_not_found"),
        },
    )
    def get(self, request, name: str):
        if not request.user.is_authenticated:
            raise NotAuthenticated()
        report = registry.report_get(name)
        try:
            params = report_params(report=report, data=request.query_params, user=request.user)
        except DjangoPermissionDenied:
            raise PermissionDenied() from None
        response = Response(report_data(report, params))
        if request.accepted_renderer.format == "csv":
            response["Content-Disposition"] = (
                f'attachment; filename="{report.name}-{params.date_from}-{params.date_to}.csv"'
            )
        return response

    def handle_exception(self, exc):
        # Errors keep the JSON error shape, also when CSV was asked for.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)
