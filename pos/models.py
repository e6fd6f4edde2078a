"""Terminals: the registered tills of a store, each with its own hashed API token."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Terminal(models.Model):
    """A till of one store. Its token is shown once at registration and stored hashed.

    `last_cursor` and `last_sale_at` say how far the till has synced (admin: sync lag).
    """

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100, blank=True)
    location = models.ForeignKey(
        "inventory.Location", on_delete=models.PROTECT, related_name="+", verbose_name=_("store")
    )
    is_active = models.BooleanField(_("active"), default=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_hint = models.CharField(
        _("token hint"), max_length=8, editable=False, help_text=_("The token's first characters.")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True, editable=False)
    last_cursor = models.JSONField(default=dict, blank=True, editable=False)
    last_sale_at = models.DateTimeField(
        _("last sale synced"), null=True, blank=True, editable=False
    )

    class Meta:
        ordering = ["location__code", "code"]

    def __str__(self) -> str:
        return self.code

    # DRF's permission checks read these of `request.user`-like objects; a terminal is
    # authenticated, but it is not a person and has no staff rights.
    is_authenticated = True
    is_staff = False
