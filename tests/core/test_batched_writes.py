"""`core.db.batched_writes`: the writes queued inside the block reach the database as one
statement when it ends, in its transaction; an error drops them with the transaction."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from core.changelog import changes_record
from core.db import batched_writes, write_later
from core.models import Change

pytestmark = pytest.mark.django_db

COUNT = "SELECT count(*) FROM core_change WHERE topic = 'stock' AND key IN (901, 902, 903)"


def _written() -> int:
    with connection.cursor() as cursor:
        cursor.execute(COUNT)
        return cursor.fetchone()[0]


def _mark(key: int) -> None:
    changes_record(topic="stock", keys=[key], scope=None)


@pytest.mark.postgres
def test_writes_queued_in_a_block_are_one_statement_sent_when_it_ends():
    with CaptureQueriesContext(connection) as ctx, transaction.atomic(), batched_writes():
        _mark(901)
        _mark(902)
        write_later("UPDATE core_change SET scope = %s WHERE key = %s", [7, 999999])
        assert _written() == 0  # queued, not sent
    sent = [q["sql"] for q in ctx.captured_queries if "INSERT INTO core_change" in q["sql"]]
    assert len(sent) == 1 and sent[0].startswith("WITH w0 AS (INSERT"), sent
    assert _written() == 2


@pytest.mark.postgres
def test_an_error_in_the_block_sends_nothing():
    with pytest.raises(RuntimeError), transaction.atomic(), batched_writes():
        _mark(901)
        raise RuntimeError("the handler failed")
    assert _written() == 0


@pytest.mark.postgres
def test_a_nested_block_belongs_to_the_outer_one():
    with transaction.atomic(), batched_writes():
        with batched_writes():
            _mark(901)
        assert _written() == 0
        _mark(902)
    assert _written() == 2


def test_outside_a_block_and_on_every_database_a_write_runs_at_once():
    _mark(903)
    assert Change.objects.filter(topic="stock", key=903).count() == 1


def test_on_sqlite_a_block_writes_as_it_goes():
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL batches the block's writes (the tests above)")
    with transaction.atomic(), batched_writes():
        _mark(901)
        assert _written() == 1


@pytest.mark.postgres
def test_queued_writes_can_be_sent_before_the_block_ends():
    from core.db import write_queued_now

    with transaction.atomic(), batched_writes():
        _mark(901)
        write_queued_now()
        assert _written() == 1  # sent, in the transaction
        _mark(902)
        assert _written() == 1
    assert _written() == 2
