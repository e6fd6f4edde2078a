"""Database helpers: retry a transaction that lost a race once (then 409); insert in bulk;
send a request's append-only writes as one statement (`batched_writes`); nested atomic
blocks without savepoints where an error aborts the whole transaction; a cursor whose
statements PostgreSQL plans once per connection (`prepared_cursor`).

The apps lock balances in one global order (stock levels, then the points account, then
coupon counters), so deadlocks should not happen; if PostgreSQL still reports one (or a
serialization failure), the whole transaction is run again once, and a second failure
answers `concurrent_update` (409) in the error shape instead of a 500.
"""

import functools
import json as _json
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, time
from decimal import Decimal
from operator import attrgetter
from typing import Any, NamedTuple, TypeVar
from uuid import UUID

import orjson
from django.db import DEFAULT_DB_ALIAS, OperationalError, connection, connections, transaction
from django.db.backends.utils import CursorDebugWrapper
from django.db.models import signals
from django.db.models.base import Model, ModelState
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import Conflict

T = TypeVar("T")
RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure


class ConcurrentUpdate(Conflict):
    code = "concurrent_update"
    message = _("Another request changed the same data at the same moment; try again.")


def is_retryable(exc: BaseException) -> bool:
    cause = exc.__cause__ or exc
    return getattr(cause, "sqlstate", None) in RETRYABLE_SQLSTATES


def run_with_retry(operation: Callable[[], T]) -> T:
    """Run `operation` (which owns its outermost transaction); retry once on a lost race."""
    for attempt in (1, 2):
        try:
            return operation()
        except OperationalError as exc:
            if not is_retryable(exc) or connection.in_atomic_block:
                raise  # not a race, or an outer transaction that must roll back as a whole
            if attempt == 2:
                raise ConcurrentUpdate() from exc
    raise AssertionError("unreachable")


def insert_many(
    model,
    objs: list,
    *,
    batch_size: int = 2000,
    key: str | None = None,
    before: tuple[str, list] | None = None,
) -> None:
    """Insert model instances, reading nothing back (their ids stay unset).

    On PostgreSQL one `INSERT … SELECT FROM json_to_recordset(…)` per batch: the batch's
    rows are one JSON text parameter, written by the json module in C and quoted by the
    driver as one string (array parameters, one a column, as the ORM's bulk_create sends
    them, the driver quotes element by element in Python: a checkout's batch of writes
    took 0.8 ms of CPU to bind that way, 0.05 ms as JSON). Values are the instances'
    attributes as they are (model defaults are set when an instance is made; unset
    `auto_now(_add)` times are filled with now), each read by PostgreSQL's input of its
    column's type: a value the column cannot hold is refused as the ORM's insert refuses
    it. Elsewhere, the ORM's bulk_create. For ledgers and facts written in bulk (a till's
    sale batch). With `key`, a unique field, the new ids are read back (`RETURNING`) and
    set on the instances by it. Without `key`, inside `batched_writes()`, the insert waits
    for the end of the block. `before`: a data-modifying statement (SQL, parameters) of
    PostgreSQL's, sent in the same round trip ahead of the insert, as a CTE (with `key`,
    one batch: the stock levels' update of a reservation); elsewhere it is run first.
    """
    if before is not None and (key is None or len(objs) > batch_size):
        raise ValueError("`before` goes with a keyed insert of one batch")
    if not objs:
        if before is not None:
            write_now(*before)
        return
    if connection.vendor != "postgresql":
        if before is not None:
            write_now(*before)
        model.objects.bulk_create(objs, batch_size=500)
        return
    statement = _insert_statement(model)
    _stamp(statement, objs)
    sql = statement.sql
    if key is None:
        for start in range(0, len(objs), batch_size):
            write_later(sql, [_rows_json(statement, objs[start : start + batch_size])])
        return
    pk = model._meta.pk
    sql += f' RETURNING "{pk.column}", "{model._meta.get_field(key).column}"'
    prefix: list = []
    if before is not None:
        sql, prefix = f"WITH b0 AS ({before[0]}) {sql}", list(before[1])
    by_key = {getattr(obj, key): obj for obj in objs}
    with prepared_cursor() as cursor:
        for start in range(0, len(objs), batch_size):
            rows = _rows_json(statement, objs[start : start + batch_size])
            cursor.execute(sql, [*prefix, rows])
            for new_id, value in cursor.fetchall():
                found = by_key[value]
                found.pk = new_id
                found._state.adding = False
                found._state.db = DEFAULT_DB_ALIAS


class _InsertStatement(NamedTuple):
    sql: str
    row: Callable[[Any], tuple]  # an instance's values, in the statement's column order
    keys: tuple[str, ...]  # the rows' JSON keys, one a column: "0", "1", …
    json: list[tuple[str, Any]]  # the keys of JSONField columns and their fields' encoders
    stamped: list[str]  # auto_now(_add) attributes


@functools.cache
def _insert_statement(model) -> _InsertStatement:
    """A model's INSERT from one JSON parameter, and how to make its rows (made once).

    Each row is a JSON object keyed by column position (short keys: a batch's text is
    sent and parsed whole). The record's columns are declared without length or precision
    (`varchar`, not `varchar(16)`): read as `varchar(16)`, a longer string would be cut
    short; read as `varchar`, the INSERT refuses it (as it refuses an out-of-range integer),
    and a numeric is rounded to the column's scale as the ORM's insert rounds it. A
    JSONField's value goes in as its JSON text (`json.dumps` with the field's encoder, as
    the ORM writes it), so None is stored as JSON `null`, as insert_many always stored it
    (the ORM stores SQL NULL).
    """
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    stamped = [
        field.attname
        for field in fields
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
    ]
    keys = tuple(str(n) for n in range(len(fields)))
    declared, selected, json = [], [], []
    for key, field in zip(keys, fields, strict=True):
        if field.get_internal_type() == "JSONField":
            declared.append(f'"{key}" text')
            selected.append(f'"{key}"::jsonb')
            json.append((key, field.encoder))
            continue
        db_type = field.rel_db_type(connection) if field.is_relation else field.db_type(connection)
        declared.append(f'"{key}" {db_type.split("(")[0]}')
        selected.append(f'"{key}"')
    sql = (
        f'INSERT INTO "{model._meta.db_table}" ('
        + ", ".join(f'"{field.column}"' for field in fields)
        + ") SELECT "
        + ", ".join(selected)
        + " FROM json_to_recordset(%s::json) AS r("
        + ", ".join(declared)
        + ")"
    )
    attnames = [field.attname for field in fields]
    row = attrgetter(*attnames) if len(attnames) > 1 else lambda obj: (getattr(obj, attnames[0]),)
    return _InsertStatement(sql, row, keys, json, stamped)


def _stamp(statement: _InsertStatement, objs: list) -> None:
    """Fill the unset auto_now(_add) times of `objs` with now."""
    if statement.stamped:
        now = timezone.now()
        for attname in statement.stamped:
            for obj in objs:
                if getattr(obj, attname) is None:
                    setattr(obj, attname, now)


def _rows_json(statement: _InsertStatement, objs: list) -> str:
    """The rows of `objs` as the JSON text `statement` reads: written by orjson, in C
    (Python's json module cost a checkout's batch about 0.5 ms of CPU), with the text
    `_text_of` gives; what orjson refuses (an integer beyond 64 bits, a time of day with a
    zone, a string that is not valid Unicode) by the json module, as before."""
    keys, row = statement.keys, statement.row
    rows = [dict(zip(keys, row(obj), strict=True)) for obj in objs]
    try:
        for key, encoder in statement.json:
            dump = _json_text(encoder)
            for values in rows:
                values[key] = dump(values[key])
        return orjson.dumps(rows, default=_decimal_text).decode()
    except orjson.JSONEncodeError:
        pass
    rows = [dict(zip(keys, row(obj), strict=True)) for obj in objs]
    for key, encoder in statement.json:
        for values in rows:
            values[key] = _json.dumps(values[key], cls=encoder)
    return _json.dumps(
        rows,
        default=_text_of(),
        ensure_ascii=False,
        separators=(",", ":"),
        check_circular=False,  # fresh dicts of plain values: nothing can refer back
    )


def _json_text(encoder) -> Callable[[Any], str]:
    """A JSONField's value as its JSON text: by orjson for a field without an encoder of
    its own (the same values as the json module writes, formatting aside: the column is
    jsonb), else by the json module with that encoder, as the ORM writes it."""
    if encoder is None:
        return lambda value: orjson.dumps(value).decode()
    return lambda value: _json.dumps(value, cls=encoder)


def _decimal_text(value):
    """What orjson cannot write itself: a Decimal as its digits (never through a float)."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError


def _text_of() -> Callable[[Any], str]:
    """How a value the json module cannot write goes into a row: as the text PostgreSQL's
    input of its column's type reads exactly — a Decimal's digits (never through a float),
    a date or time in ISO 8601 (an aware time with its offset), a UUID's hex form."""
    times: dict[int, str] = {}  # by object: a batch's rows mostly share one `now`

    def text(value):
        if isinstance(value, (date, time)):  # datetime is a date
            found = times.get(id(value))
            if found is None:
                found = times[id(value)] = value.isoformat()
            return found
        if isinstance(value, (Decimal, UUID)):
            return str(value)
        raise TypeError(f"insert_many cannot send {type(value).__name__} values")

    return text


# --- writes that wait for the end of a block ---------------------------------------------
#
# A checkout appends to a handful of ledgers and facts (its lines, the stock movements, the
# change log, the report rows, the idempotency record): rows nothing in the request reads
# back. Each is a round trip to the database; inside `batched_writes()` they are queued and
# sent as one statement when the block ends — data-modifying CTEs, `WITH w1 AS (INSERT …),
# w2 AS (UPDATE …) INSERT …` — still inside the transaction, before its COMMIT.

_queued: ContextVar[list[tuple[str, list]] | None] = ContextVar("queued_writes", default=None)


@contextmanager
def batched_writes() -> Iterator[None]:
    """Queue the writes of `write_later` (and keyless `insert_many`) made inside the block
    and send them as one statement when it ends without an error (an error drops them, as
    its transaction rolls back). Only for writes nothing inside the block reads back.
    PostgreSQL only: elsewhere, and in a nested block, the writes run as they are made."""
    if connection.vendor != "postgresql" or _queued.get() is not None:
        yield
        return
    queue: list[tuple[str, list]] = []
    token = _queued.set(queue)
    try:
        yield
    finally:
        _queued.reset(token)
    _send(queue)


def write_now(sql: str, params: list) -> None:
    """Run a data-modifying statement that returns nothing, now (planned once per
    connection: the same text every time)."""
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)


def write_later(sql: str, params: list) -> None:
    """Run a data-modifying statement that returns nothing: at the end of the enclosing
    `batched_writes()` block, or now outside one."""
    queue = _queued.get()
    if queue is None:
        write_now(sql, params)
    else:
        queue.append((sql, params))


def write_queued_now() -> None:
    """Send the writes queued so far in the enclosing `batched_writes()` block now (for a
    reader of rows that would otherwise still wait); nothing outside one."""
    queue = _queued.get()
    if queue:
        _send(list(queue))
        queue.clear()


def _send(queue: list[tuple[str, list]]) -> None:
    if not queue:
        return
    *first, (last_sql, last_params) = queue
    params: list = []
    ctes = []
    for n, (sql, statement_params) in enumerate(first):
        ctes.append(f"w{n} AS ({sql})")
        params += statement_params
    sql = f"WITH {', '.join(ctes)} {last_sql}" if ctes else last_sql
    # The same text for every checkout of a kind: planned once per connection (planning
    # a checkout's batch of eight writes took PostgreSQL longer than running it).
    with prepared_cursor() as cursor:
        cursor.execute(sql, [*params, *last_params])


# --- savepoints that buy nothing ---------------------------------------------------------
#
# A service is atomic, so called inside another transaction it opens a savepoint: two
# statements (SAVEPOINT, RELEASE) that let a caller catch the service's error and carry on
# with its own transaction. A request whose transaction rolls back on any error (the
# Idempotency-Key record's: a failed handler leaves no trace) never does that, so there the
# services open their blocks without one.

_errors_abort = ContextVar("errors_abort_transaction", default=False)


@contextmanager
def errors_abort_transaction() -> Iterator[None]:
    """Inside the current atomic block, declare that no error is caught and carried on from:
    any error raised inside rolls the whole block back. `atomic()` then opens no savepoint.
    """
    token = _errors_abort.set(True)
    try:
        yield
    finally:
        _errors_abort.reset(token)


def atomic():
    """`transaction.atomic()` for a service: without a savepoint when nested inside
    `errors_abort_transaction()` (an error marks the outer transaction for rollback, which
    it is about to do anyway), with one everywhere else."""
    return transaction.atomic(savepoint=not _errors_abort.get())


def atomic_service(func: Callable[..., T]) -> Callable[..., T]:
    """Decorate a service like `@transaction.atomic`, deciding on the savepoint per call."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with atomic():
            return func(*args, **kwargs)

    return wrapper


def _converters(field) -> tuple[object, tuple]:
    """What the ORM does to a raw value of `field` read from this database: the column
    expression and the converter steps (none on PostgreSQL for most types)."""
    # By identity: a model field lives as long as the process, and hashing one (its model's
    # labels) cost more than the rest of a small read's conversion.
    key = (connection.vendor, id(field))
    found = _CONVERTERS.get(key)
    if found is None or found[2] is not field:
        col = field.get_col(field.model._meta.db_table)
        steps = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
        found = _CONVERTERS[key] = (col, tuple(steps), field)
    return found[0], found[1]


_CONVERTERS: dict[tuple, tuple[object, tuple, object]] = {}


def select_rows(sql: str, params, fields) -> list[tuple]:
    """The rows of hand-written SQL, each column converted as the ORM converts a value of
    the model field at its position in `fields` (None: used as the driver returns it).

    For hot reads that skip the ORM's query compiler but must give the very values the
    equivalent queryset gives. Their text is the same on every run, so they go through
    `prepared_cursor`: PostgreSQL plans each once per connection (planning the token
    check's four-table join took longer than running it).
    """
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return convert_rows(rows, fields)


def convert_rows(rows: list[tuple], fields) -> list[tuple]:
    """`rows` read by hand-written SQL, each column converted as the ORM converts a value
    of the model field at its position in `fields` (None: the column needs none)."""
    if not rows:
        return rows
    plan = _conversion_plan(tuple(fields))
    if not plan:
        return rows
    conn = connections[DEFAULT_DB_ALIAS]  # once: each `connection.x` is a lookup
    result = []
    for row in rows:
        row = list(row)
        for i, col, step in plan:
            row[i] = step(row[i], col, conn)
        result.append(tuple(row))
    return result


def _conversion_plan(fields: tuple) -> tuple:
    """(position, column, converter) for each conversion `fields` need, made once per
    distinct list of fields (keyed by their identities; the fields are kept with it)."""
    key = (connection.vendor, tuple(map(id, fields)))
    found = _PLANS.get(key)
    if found is None:
        plan = []
        for i, field in enumerate(fields):
            if field is not None:
                col, steps = _converters(field)
                plan.extend((i, col, step) for step in steps)
        found = _PLANS[key] = (tuple(plan), fields)
    return found[0]


_PLANS: dict[tuple, tuple[tuple, tuple]] = {}


@functools.cache
def columns_of(model, alias: str) -> str:
    """The concrete columns of `model` in field order, qualified by `alias`: what
    `select_models` expects for that model in a hand-written SELECT."""
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


def select_models(sql: str, params, *models) -> list[tuple]:
    """The rows of a hand-written SELECT of each model's `columns_of`, in turn, as model
    instances made as the ORM makes them (its converters; `from_db`, through `loaded`). A
    model whose primary key is NULL in a row (an outer join that found nothing) gives None.

    For the few statements run on every request, where the ORM would compile the same
    query again each time (a joined read of four models costs about half a millisecond).
    """
    fields, spans = _model_spans(models)
    alias = DEFAULT_DB_ALIAS
    return [
        tuple(
            None if row[pk_at] is None else loaded(model, names, row[a:b], alias)
            for model, names, a, b, pk_at in spans
        )
        for row in select_rows(sql, params, fields)
    ]


def loaded(model, attnames: list[str], values, alias: str = DEFAULT_DB_ALIAS):
    """`model.from_db(alias, attnames, values)` for a row of every concrete field, in
    order: the instance Django's loader makes, its values set as the loader sets them
    (the fields' descriptors only store them), without the constructor's per-field loop.
    A model with its own `from_db`, or one a pre_init or post_init handler watches, is
    made by `from_db`."""
    if _load_plain(model):
        return model.from_db(alias, attnames, values)
    obj = model.__new__(model)
    obj.__dict__.update(zip(attnames, values, strict=True))
    state = obj._state = ModelState()
    state.adding = False
    state.db = alias
    return obj


@functools.cache
def _load_plain(model) -> bool:
    return (
        model.from_db.__func__ is not Model.from_db.__func__
        or signals.pre_init.has_listeners(model)
        or signals.post_init.has_listeners(model)
    )


@functools.cache
def _model_spans(models: tuple) -> tuple[tuple, tuple]:
    """The fields of `models` in turn, and per model: its attribute names, where its columns
    start and end in a row, and where its primary key is."""
    fields, spans = [], []
    for model in models:
        own = model._meta.concrete_fields
        start = len(fields)
        pk_at = start + next(i for i, field in enumerate(own) if field.primary_key)
        spans.append((model, [f.attname for f in own], start, start + len(own), pk_at))
        fields.extend(own)
    return tuple(fields), tuple(spans)


def new(model, /, **values):
    """A new instance of `model`, as `model(**values)` makes it — the fields not given at
    their defaults, a foreign key given as an instance (or None) set with its id and kept
    as the related object — without Django's per-argument handling, which costs a
    checkout's appends (some 40 instances of 10 to 20 fields) about a tenth of its time.
    Only fields (no properties); for a model no post_init handler watches (else the
    ordinary constructor). For rows made to be inserted (`insert_many`)."""
    defaults, relations, known, plain = _new_plan(model)
    if plain:
        return model(**values)
    obj = model.__new__(model)
    state = obj._state = ModelState()
    fields = obj.__dict__
    for name, attname, default, call in defaults:
        if call:
            if name in values or attname in values:
                continue  # given: its default (a time, a token) is not made for nothing
            fields[attname] = default()
        else:
            fields[attname] = default
    for name, value in values.items():
        attname = relations.get(name)
        if attname is None:
            if name not in known:
                raise TypeError(f"{model.__name__} has no field {name!r}")
            fields[name] = value
        else:
            fields[attname] = None if value is None else value.pk
            state.fields_cache[name] = value
    return obj


@functools.cache
def _new_plan(model) -> tuple[tuple, dict[str, str], frozenset, bool]:
    """Per field (name, attribute, default, whether the default is called per instance); the
    foreign keys' names → attributes; the attributes; whether `new` must use the
    constructor instead."""
    defaults = []
    for field in model._meta.concrete_fields:
        if field.has_default() and callable(field.default):
            defaults.append((field.name, field.attname, field.default, True))
        elif field.has_db_default():
            defaults.append((field.name, field.attname, field.get_default, True))
        else:
            defaults.append((field.name, field.attname, field.get_default(), False))
    relations = {f.name: f.attname for f in model._meta.concrete_fields if f.is_relation}
    known = frozenset(f.attname for f in model._meta.concrete_fields)
    plain = signals.post_init.has_listeners(model) or signals.pre_init.has_listeners(model)
    return tuple(defaults), relations, known, plain


def any_of(column: str, values: list) -> tuple[str, list]:
    """`column` is one of `values`, as SQL and parameters: one array parameter on
    PostgreSQL (the same statement text for any number of values, kept in the driver's
    statement cache and planned faster than a list of literals), a list elsewhere."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(values)]
    if not values:
        return "1 = 0", []
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


_bound_factories: dict[str, type] = {}


def _server_binding_factory(conn) -> type:
    """The class of `conn`'s cursors, binding parameters server-side."""
    if conn.alias not in _bound_factories:
        from django.db.backends.postgresql.base import ServerBindingCursor

        factory: type = ServerBindingCursor
        counting = getattr(connections[conn.alias], "counting_cursor", None)
        if counting is not None:
            # Counted like every other statement when metrics are on (config.settings).
            factory = counting(factory)
        _bound_factories[conn.alias] = factory
    return _bound_factories[conn.alias]


@contextmanager
def prepared_cursor(conn=connection) -> Iterator[Any]:
    """A cursor for a statement run on every request, with its text the same each time.

    Django's cursors bind parameters on the client, so PostgreSQL parses and plans every
    statement anew (for a quote's statement, longer than running it). On PostgreSQL this
    cursor binds them on the server, so psycopg prepares a statement once it has run
    `prepare_threshold` times on the connection (config.settings) and later runs skip the
    planning. Elsewhere, or with prepared statements off, it is an ordinary cursor. Either
    way it is wrapped like any cursor of `conn` (query log, errors, statement counter).

    On PostgreSQL one driver cursor serves a connection's statements in turn (made and
    closed per statement, with Django's wrapper and the driver's adapters copied each
    time, it cost a checkout's statements about 4% of its time); a result of more than
    `_KEPT_ROWS` rows is not kept past the block (the cursor is closed).
    """
    if conn is connection:
        conn = connections[DEFAULT_DB_ALIAS]  # once: each `connection.x` is a lookup
    if conn.vendor != "postgresql":
        with conn.cursor() as cursor:
            yield cursor
        return
    conn.close_if_health_check_failed()
    conn.ensure_connection()
    raw = conn.connection
    bound = _bound_cursors.get(raw)
    if bound is None or bound.closed:
        factory = raw.cursor_factory
        raw.cursor_factory = _server_binding_factory(conn)
        try:
            # Django's own path (its time zone on the cursor), keeping the driver's cursor.
            bound = _bound_cursors[raw] = conn.cursor().cursor
        finally:
            raw.cursor_factory = factory
    with conn.wrap_database_errors:
        cursor = conn._prepare_cursor(bound)  # Django's wrapping: query log, thread check
    if isinstance(cursor, CursorDebugWrapper):
        cursor = _ComposedDebugWrapper(cursor.cursor, cursor.db)
    try:
        yield cursor
    finally:
        result = bound.pgresult
        if result is not None and result.ntuples > _KEPT_ROWS:
            bound.close()


# A connection's cursor for `prepared_cursor`, by driver connection (gone with it).
_bound_cursors: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_KEPT_ROWS = 1000


class _ComposedDebugWrapper(CursorDebugWrapper):
    """Logs a statement bound server-side with its parameters in it, as Django logs one
    bound client-side (psycopg keeps no text of a prepared statement's run)."""

    @contextmanager
    def debug_sql(self, sql=None, params=None, use_last_executed_query=False, many=False):
        if use_last_executed_query and not many:
            sql = self.db.ops.compose_sql(sql, params)
        with super().debug_sql(sql, params, use_last_executed_query=False, many=many):
            yield
