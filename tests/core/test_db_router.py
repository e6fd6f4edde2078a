"""The read replica router: which reads go to the `replica` alias, and which never do.

In tests the `replica` alias is a TEST MIRROR of `default`: a second connection to the
same test database, so a read routed to it really runs there (counted on that
connection) and sees what the primary committed. The routing tests are transactional:
inside the usual per-test transaction every read stays on the primary by design.
"""

import pytest
from django.db import DEFAULT_DB_ALIAS, connections, router, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from catalog.models import Product
from core.db_router import REPLICA, ReplicaRouter, read_connection, replica_reads
from customers.models import Customer
from inventory.models import StockLevel
from tests.factories.catalog import ProductFactory, VariantFactory
from tests.factories.customers import CustomerFactory

BOTH = ["default", "replica"]
replica_on = override_settings(DATABASE_REPLICA_READS=True)
replica_off = override_settings(DATABASE_REPLICA_READS=False)


def _queries(alias: str) -> CaptureQueriesContext:
    return CaptureQueriesContext(connections[alias])


def test_the_replica_alias_is_a_test_mirror_of_default():
    assert connections[REPLICA].settings_dict["TEST"]["MIRROR"] == DEFAULT_DB_ALIAS


@replica_off
def test_without_a_replica_configured_every_read_goes_to_the_primary():
    with replica_reads():
        assert router.db_for_read(Product) == DEFAULT_DB_ALIAS
        assert router.db_for_read(StockLevel) == DEFAULT_DB_ALIAS


@replica_on
def test_outside_a_replica_scope_reads_go_to_the_primary():
    assert router.db_for_read(Product) == DEFAULT_DB_ALIAS


@replica_on
def test_writes_and_migrations_never_go_to_the_replica():
    with replica_reads():
        assert router.db_for_write(Product) == DEFAULT_DB_ALIAS
        assert router.db_for_write(StockLevel) == DEFAULT_DB_ALIAS
    assert ReplicaRouter().allow_migrate(REPLICA, "catalog") is False
    assert ReplicaRouter().allow_migrate(DEFAULT_DB_ALIAS, "catalog") is None


@replica_on
@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_a_catalog_read_in_a_replica_scope_runs_on_the_replica():
    product = ProductFactory(name="Mirrored")
    with _queries(DEFAULT_DB_ALIAS) as primary, _queries(REPLICA) as replica:
        with replica_reads():
            names = list(Product.objects.values_list("name", flat=True))
    assert names == [product.name]  # the replica sees what the primary committed
    assert len(replica) == 1
    assert len(primary) == 0


@replica_on
@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_a_read_inside_a_write_transaction_stays_on_the_primary():
    ProductFactory()
    with _queries(DEFAULT_DB_ALIAS) as primary, _queries(REPLICA) as replica:
        with replica_reads(), transaction.atomic():
            assert router.db_for_read(Product) == DEFAULT_DB_ALIAS
            list(Product.objects.all())
            product = Product.objects.select_for_update().get()
            product.name = "Renamed"
            product.save(update_fields=["name"])
    assert len(replica) == 0
    assert len(primary) >= 3
    assert Product.objects.get().name == "Renamed"


@replica_on
@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_a_write_in_a_replica_scope_goes_to_the_primary():
    with _queries(REPLICA) as replica, replica_reads():
        product = ProductFactory()
    assert product._state.db == DEFAULT_DB_ALIAS
    assert not [q for q in replica.captured_queries if "INSERT" in q["sql"].upper()]


@replica_on
@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_logins_and_customer_profiles_are_never_read_from_the_replica():
    CustomerFactory()
    with _queries(REPLICA) as replica, replica_reads():
        assert router.db_for_read(Customer) == DEFAULT_DB_ALIAS
        list(Customer.objects.all())
    assert len(replica) == 0


@replica_on
@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_hand_written_sql_takes_its_connection_from_the_router():
    assert read_connection(Product).alias == DEFAULT_DB_ALIAS
    with replica_reads():
        assert read_connection(Product).alias == REPLICA


@replica_on
@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_the_catalog_list_is_served_from_the_replica_and_a_checkout_read_is_not():
    VariantFactory()
    client = APIClient()
    with _queries(REPLICA) as replica:
        assert client.get("/api/v1/catalog/products/").status_code == 200
    assert any("catalog_product" in q["sql"] for q in replica.captured_queries)

    with _queries(REPLICA) as replica:
        assert client.post("/api/v1/carts/", {"channel": "web"}, format="json").status_code == 201
        assert client.get("/api/v1/pricing/promotions/").status_code == 200
    # The cart is a write (primary); the promotions page reads pricing from the replica.
    assert all("orders_cart" not in q["sql"] for q in replica.captured_queries)
    assert any("pricing_promotion" in q["sql"] for q in replica.captured_queries)


@replica_on
@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_a_request_outside_the_replica_views_reads_only_the_primary():
    VariantFactory()
    with _queries(REPLICA) as replica:
        response = APIClient().post("/api/v1/carts/", {"channel": "web"}, format="json")
        assert response.status_code == 201
        APIClient().get("/healthz")
    assert len(replica) == 0


@replica_on
@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_the_replica_scope_ends_with_its_request():
    assert APIClient().get("/api/v1/catalog/categories/").status_code == 200
    assert router.db_for_read(Product) == DEFAULT_DB_ALIAS


@replica_on
@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_every_report_reads_only_the_replica_in_a_replica_scope():
    # Hand-written SQL (customers, attribution, the loyalty outstanding points of stores)
    # takes its connection from the router like the ORM's queries.
    from datetime import date

    from reports.registry import ReportParams, reports

    store = StockLevel._meta.get_field("location").related_model.objects.create(
        code="BER-MITTE", name="Berlin Mitte", time_zone="Europe/Berlin"
    )
    with _queries(DEFAULT_DB_ALIAS) as primary, _queries(REPLICA) as replica:
        with replica_reads():
            for report in reports():
                report.run(
                    ReportParams(
                        date(2026, 3, 1), date(2026, 3, 31), report.group_by[0], {store.pk}
                    )
                )
    assert len(replica) > 0
    assert [q["sql"] for q in primary] == []
