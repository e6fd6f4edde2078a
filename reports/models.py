"""No tables of its own: the reports aggregate the other apps' rows in the database.

`Report` exists for its permission, `reports.view_reports` (head office sees every store,
a store manager only their stores), and to give the reports their place in the admin.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Report(models.Model):
    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_reports", "Can see the cross-channel reports")]
        verbose_name = _("report")
        verbose_name_plural = _("reports")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)
