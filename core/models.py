"""Core models: the stored outcome of requests made with an Idempotency-Key, the change log,
and the outbox of tasks committed with their transactions."""

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


class Change(models.Model):
    """One entry of the change log: entity `key` of `topic` changed in transaction `xid`.

    Written by the catalog, pricing and inventory services in the same transaction as the
    change (`core.changelog.changes_record`), read by feeds (the POS sync) in (xid, id)
    order up to a safe horizon, so that a change committed late is never skipped.
    """

    topic = models.CharField(max_length=20)
    key = models.BigIntegerField()
    # The location of a stock change (feeds of one store read only theirs); null otherwise.
    scope = models.BigIntegerField(null=True, blank=True)
    # The writing transaction's 64-bit id on PostgreSQL; 0 on SQLite (one writer at a time).
    xid = models.BigIntegerField(default=0)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["topic", "xid", "id"], name="change_topic_xid_idx"),
            models.Index(fields=["topic", "scope", "xid", "id"], name="change_scope_xid_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.topic}:{self.key} #{self.pk}"


class OutboxMessage(models.Model):
    """A background task queued by a transaction, written in it: the task exists exactly
    when the transaction committed. The relay (`core.background.outbox_relay`, run by beat)
    hands it to the broker and deletes it (`core.background.enqueue_on_commit`)."""

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    # Message headers to publish with (the request id of the request that queued it).
    headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.task} #{self.pk}"
