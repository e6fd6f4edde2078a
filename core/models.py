"""Core models: the stored outcome of requests made with an Idempotency-Key."""

from django.db import models


class IdempotencyRecord(models.Model):
    """The first response to a (scope, key) request, replayed to retries with the same body."""

    scope = models.CharField(max_length=100)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="idempotency_scope_key_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"
