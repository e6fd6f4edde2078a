"""No tables of its own: the audit log reads the history the other apps keep.

`Audit` is a proxy that gives the log its place in the admin index and its permission,
`audit.view_audit` (the only one: the log is never added to, changed or deleted). It
proxies the admin's own action log only because a proxy needs a concrete model; the
audit page does not list those rows.
"""

from django.contrib.admin.models import LogEntry
from django.utils.translation import gettext_lazy as _


class Audit(LogEntry):
    class Meta:
        proxy = True
        default_permissions = ("view",)
        verbose_name = _("audit log")
        verbose_name_plural = _("audit log")
