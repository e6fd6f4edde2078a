"""`core.db.prepared_cursor`: the same rows as an ordinary cursor, planned once per
connection on PostgreSQL, and logged and wrapped like any other statement."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from prometheus_client import REGISTRY

from core.db import prepared_cursor
from tests.factories.catalog import VariantFactory

pytestmark = pytest.mark.django_db

SQL = "SELECT id, sku FROM catalog_variant WHERE sku = ANY(%s) AND is_active = %s ORDER BY id"


def _sql_of(make_cursor, params) -> str:
    """The statement as the query log records it."""
    with CaptureQueriesContext(connection) as ctx, make_cursor() as cursor:
        cursor.execute(SQL, params)
    [query] = ctx.captured_queries
    return query["sql"]


def test_a_prepared_cursor_reads_the_rows_an_ordinary_cursor_reads():
    variants = VariantFactory.create_batch(3)
    skus = [v.sku for v in variants[:2]]
    sql = SQL if connection.vendor == "postgresql" else SQL.replace("= ANY(%s)", "IN (%s, %s)")
    params = [skus, True] if connection.vendor == "postgresql" else [*skus, True]

    def rows(cursor_context):
        with cursor_context as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    for _run in range(8):  # past the threshold: prepared on PostgreSQL
        assert rows(prepared_cursor()) == rows(connection.cursor())
    assert rows(prepared_cursor()) == [(v.pk, v.sku) for v in variants[:2]]


@pytest.mark.postgres
def test_a_statement_run_often_is_prepared_and_logged_with_its_parameters():
    variant = VariantFactory(sku="PREP-1")
    params = [[variant.sku, "PREP-none"], True]

    logged = [_sql_of(prepared_cursor, params) for _run in range(8)]

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans + custom_plans FROM pg_prepared_statements WHERE statement = %s",
            [SQL.replace("%s", "$1", 1).replace("%s", "$2", 1)],
        )
        [(runs,)] = cursor.fetchall()
    assert runs >= 2  # prepared at the threshold, then run from the prepared statement
    # Every run, prepared or not, is in the query log with its values, as Django logs one.
    assert set(logged) == {_sql_of(connection.cursor, params)}
    assert "PREP-1" in logged[-1] and "%s" not in logged[-1]


@pytest.mark.postgres
def test_a_prepared_cursor_statement_is_counted_like_any_other():
    def executed() -> float:
        labels = {"alias": "default", "vendor": connection.vendor}
        return REGISTRY.get_sample_value("django_db_execute_total", labels) or 0.0

    before = executed()
    for _run in range(8):
        with prepared_cursor() as cursor:
            cursor.execute(SQL, [["none"], True])
    assert executed() == before + 8


def _driver_cursor():
    with prepared_cursor() as cursor:
        cursor.execute("SELECT %s::int", [1])
        assert cursor.fetchone() == (1,)
        return cursor.cursor


@pytest.mark.postgres
def test_one_driver_cursor_serves_a_connections_statements_in_turn():
    first = _driver_cursor()
    assert _driver_cursor() is first and not first.closed


@pytest.mark.postgres
def test_a_large_result_is_not_kept_by_the_cursor_after_its_block():
    with prepared_cursor() as cursor:
        cursor.execute("SELECT generate_series(1, %s::int)", [5000])
        assert len(cursor.fetchall()) == 5000
        driver = cursor.cursor
    assert driver.closed  # its rows let go of; the next block makes a new cursor
    assert _driver_cursor() is not driver


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_new_connection_gets_a_new_cursor():
    first = _driver_cursor()
    connection.close()
    second = _driver_cursor()
    assert second is not first and not second.closed


@pytest.mark.postgres
def test_a_prepared_statement_runs_its_generic_plan_and_is_never_planned_again():
    """The quote's statement, left to PostgreSQL's choice, was planned anew on every run;
    the sessions run prepared statements' generic plans (config.settings)."""
    from pricing.selectors import quote
    from tests.factories.orders import make_shop

    shop = make_shop()
    variants = [shop.sku(price="9.99"), shop.sku(price="4.50")]
    for _run in range(8):
        quote([{"sku": v.sku, "quantity": 1} for v in variants])
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone() == ("force_generic_plan",)
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE %s",
            ["%WITH book AS%"],
        )
        plans = cursor.fetchall()
    assert plans and all(generic >= 1 and custom == 0 for generic, custom in plans), plans
