"""Idempotency-Key handling for POSTs that create money or stock effects.

`idempotent_response(request, scope=..., handler=...)` runs `handler()` at most once per
(scope, key): the record row is inserted first (`INSERT … ON CONFLICT DO NOTHING`, one
statement and no savepoint), inside the same transaction as the handler's writes, so a
concurrent retry blocks on the unique index until the first request commits and then
replays its stored response. The handler runs inside `core.db.errors_abort_transaction`:
its services open no savepoints, since any error rolls the record back with the rest. A
failed handler rolls the record back with everything else, so the client may retry. The
same key with a different body is refused with `idempotency_key_reused` (422).
"""

import hashlib
import json
from collections.abc import Callable
from contextlib import nullcontext

import orjson
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.response import Response

from core.db import batched_writes, errors_abort_transaction, prepared_cursor, write_later
from core.errors import IdempotencyKeyReused, ValidationFailed
from core.models import IdempotencyRecord

HEADER = "Idempotency-Key"

# For `extend_schema(parameters=[IDEMPOTENCY_KEY_PARAMETER])` on every view that needs it.
IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description="Any unique string (e.g. a UUID), at most 255 printable characters; a retry "
    "with the same key and body replays the first response.",
)


def request_fingerprint(request, extra: str = "") -> str:
    body = json.dumps(request.data, sort_keys=True, default=str)
    return hashlib.sha256(f"{request.path}|{extra}|{body}".encode()).hexdigest()


def idempotency_key(request, *, required: bool = True) -> str | None:
    key = request.headers.get(HEADER, "").strip()
    if not key:
        if required:
            raise ValidationFailed(
                _("The Idempotency-Key header is required."), code="idempotency_key_required"
            )
        return None
    if len(key) > 255:
        raise ValidationFailed(_("The Idempotency-Key header is too long."))
    if not key.isprintable():  # a NUL or control character would never reach the database
        raise ValidationFailed(_("The Idempotency-Key header contains control characters."))
    return key


def idempotent_response(
    request,
    *,
    scope: str,
    handler: Callable[[], Response],
    required: bool = True,
    batch_writes: bool = False,
) -> Response:
    """Run handler once per Idempotency-Key; replay its response to retries.

    With `batch_writes`, the handler's append-only writes and the stored response go to
    the database as one statement at its end (`core.db.batched_writes`): for a handler
    that reads none of them back (the checkout)."""
    key = idempotency_key(request, required=required)
    if key is None:
        return handler()
    fingerprint = request_fingerprint(request)
    for _attempt in range(2):
        with transaction.atomic():
            try:
                record, created = _record_claim(scope=scope, key=key, fingerprint=fingerprint)
            except IntegrityError:
                # A concurrent request with the same key inserted first; read its outcome.
                # Only the record's insert is caught here: an IntegrityError of the handler's
                # own writes is the handler's error and must reach the client as such.
                continue
            if record.request_hash != fingerprint:
                raise IdempotencyKeyReused(details={"key": key})
            if not created and record.response_status is not None:
                replay = Response(record.response_body, status=record.response_status)
                replay["Idempotent-Replayed"] = "true"
                return replay
            with errors_abort_transaction(), batched_writes() if batch_writes else nullcontext():
                response = handler()
                _record_store(record, response)
            return response
    raise IdempotencyKeyReused(
        _("A request with this Idempotency-Key is still being processed."),
        code="idempotency_in_progress",
        http_status=409,
    )


_TABLE = IdempotencyRecord._meta.db_table
# Waits for a concurrent insert of the same key to commit or roll back, then inserts or
# does nothing; either way, no savepoint is needed to go on.
_CLAIM_SQL = (
    f'INSERT INTO "{_TABLE}" ("scope", "key", "request_hash", "created_at") '
    "VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (scope, key) DO NOTHING RETURNING id"
)


def _record_claim(*, scope: str, key: str, fingerprint: str) -> tuple[IdempotencyRecord, bool]:
    """The (scope, key) record, locked: (the new record, True) or (the stored one, False)."""
    if connection.vendor == "postgresql":
        with prepared_cursor() as cursor:  # every write request's first statement
            cursor.execute(_CLAIM_SQL, [scope, key, fingerprint, timezone.now()])
            inserted = cursor.fetchone()
        if inserted is not None:
            record = IdempotencyRecord(
                pk=inserted[0], scope=scope, key=key, request_hash=fingerprint
            )
            record._state.adding = False
            return record, True
        return IdempotencyRecord.objects.select_for_update().get(scope=scope, key=key), False
    return IdempotencyRecord.objects.select_for_update().get_or_create(
        scope=scope, key=key, defaults={"request_hash": fingerprint}
    )


_STORE_SQL = f'UPDATE "{_TABLE}" SET response_status = %s, response_body = %s::jsonb WHERE id = %s'


def _body_json(data) -> str:
    """The response's data as stored for replays: as `json.dumps(data, default=str)` writes
    it (anything not JSON as its str()), written by orjson where it can (a checkout's order
    of ten lines in a tenth of the time), else by the json module."""
    try:
        return orjson.dumps(
            data,
            default=str,
            option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS,
        ).decode()
    except orjson.JSONEncodeError:
        return json.dumps(data, default=str)


def _record_store(record: IdempotencyRecord, response: Response) -> None:
    """Keep the response for replays (inside `batched_writes`, with the handler's writes)."""
    body = _body_json(response.data)
    if connection.vendor == "postgresql":
        write_later(_STORE_SQL, [response.status_code, body, record.pk])
        return
    record.response_status = response.status_code
    record.response_body = json.loads(body)
    record.save(update_fields=["response_status", "response_body"])
