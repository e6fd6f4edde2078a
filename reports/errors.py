from django.utils.translation import gettext_lazy as _

from core.errors import DomainError, NotFound


class ReportNotFound(NotFound):
    code = "report_not_found"
    message = _("There is no report of that name.")


class InvalidReportQuery(DomainError):
    code = "validation_error"
    message = _("The report's filters are not valid.")
    http_status = 400
