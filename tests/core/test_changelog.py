"""The change log: entries in commit-safe order; a feed reader never skips a late commit."""

import random
import threading
import time

import pytest
from django.db import connection, transaction

from core.changelog import (
    Position,
    changes_after,
    changes_record,
    current_position,
)
from core.models import Change
from tests.factories.pos import settle_change_log

# Transactional: on PostgreSQL a reader's horizon stops below any transaction still open,
# which would include a test's own wrapping transaction.
pytestmark = pytest.mark.django_db(transaction=True)

START = Position()


def _settled():
    settle_change_log()


def _read_all(topic, position=START, limit=50):
    _settled()
    seen = []
    while True:
        page, position, more = changes_after(topic=topic, position=position, limit=limit)
        seen += [c.key for c in page]
        if not more:
            return seen, position


def test_recorded_changes_are_read_in_pages_and_a_cursor_continues_where_it_stopped():
    changes_record(topic="variant", keys=[3, 1, 2, 2])
    changes_record(topic="stock", keys=[7], scope=1)
    seen, position = _read_all("variant", limit=2)
    assert seen == [1, 2, 3]
    changes_record(topic="variant", keys=[9])
    assert _read_all("variant", position)[0] == [9]
    assert _read_all("stock")[0] == [7]


def test_a_change_rolled_back_with_its_transaction_leaves_no_entry():
    with pytest.raises(RuntimeError), transaction.atomic():
        changes_record(topic="price", keys=[5])
        raise RuntimeError("the change failed")
    assert not Change.objects.filter(topic="price").exists()


def test_an_unknown_topic_is_a_programming_error():
    with pytest.raises(ValueError):
        changes_record(topic="gossip", keys=[1])


@pytest.mark.postgres
def test_a_reader_paging_while_writers_commit_out_of_order_sees_every_change():
    """Writers take ids, then wait a random while before committing (so ids commit out of
    order); a reader pages through all the time. At the end it has seen every committed
    entry exactly once — and in this very run, reading by id alone would have skipped some."""
    writers, per_writer = 6, 40
    committed: list[int] = []
    done = threading.Event()
    lock = threading.Lock()
    rng = random.Random(7)
    delays = [[rng.uniform(0, 0.02) for _ in range(per_writer)] for _ in range(writers)]

    def write(n: int):
        try:
            for i in range(per_writer):
                key = n * 1000 + i
                with transaction.atomic():
                    changes_record(topic="variant", keys=[key])
                    time.sleep(delays[n][i])  # hold the id uncommitted for a while
                with lock:
                    committed.append(key)
        finally:
            connection.close()

    seen: list[int] = []
    naive_seen: list[int] = []

    def read():
        position, naive_last = Position(), 0
        try:
            while True:
                finished = done.is_set()
                page, position, more = changes_after(topic="variant", position=position, limit=7)
                seen.extend(c.key for c in page)
                # The naive reader: id > last id seen, no horizon.
                naive = list(
                    Change.objects.filter(topic="variant", id__gt=naive_last).order_by("id")[:7]
                )
                naive_seen.extend(c.key for c in naive)
                if naive:
                    naive_last = naive[-1].id
                if finished and not more and not page:
                    _settled()
                    page, position, more = changes_after(
                        topic="variant", position=position, limit=10_000
                    )
                    seen.extend(c.key for c in page)
                    naive_rest = Change.objects.filter(topic="variant", id__gt=naive_last)
                    naive_seen.extend(c.key for c in naive_rest.order_by("id"))
                    return
                time.sleep(0.002)
        finally:
            connection.close()

    reader = threading.Thread(target=read)
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    reader.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    done.set()
    reader.join(timeout=120)

    assert len(committed) == writers * per_writer
    assert sorted(seen) == sorted(committed)  # every change, each exactly once
    assert len(set(naive_seen)) < len(committed)  # ids alone would have skipped late commits


def test_a_full_snapshot_position_is_after_everything_already_committed():
    changes_record(topic="promotion", keys=[1, 2])
    start = current_position()
    changes_record(topic="promotion", keys=[3])
    served = _read_all("promotion", start)[0]
    # Never skips; may repeat an entry the snapshot already covered when another
    # transaction held the horizon back (feeds are idempotent upserts).
    assert 3 in served and set(served) <= {1, 2, 3}
