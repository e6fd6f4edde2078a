"""The audit app: one filterable list of who changed prices, promotions, coupons, stock,
points and order states, when and why, assembled from the history each app already keeps."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "audit"
    verbose_name = _("Audit")
