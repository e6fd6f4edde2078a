"""Fill in every customer's second order and first campaign (customers 0007) from the
orders already placed; from then on `customer_first_order_record` keeps them."""

from django.db import migrations
from django.db.models import F, Window
from django.db.models.functions import DenseRank


def backfill(apps, schema_editor):
    """Each customer's two earliest distinct order times, in one ranked pass over the
    orders, written in batches (a correlated subquery per customer can walk the orders'
    time index for each of them)."""
    Customer = apps.get_model("customers", "Customer")
    Order = apps.get_model("orders", "Order")
    ranked = (
        Order.objects.filter(customer__isnull=False)
        .annotate(
            _rank=Window(
                DenseRank(), partition_by=[F("customer_id")], order_by=F("placed_at").asc()
            )
        )
        .filter(_rank__lte=2)
        .order_by("customer_id", "placed_at", "pk")
        .values_list(
            "customer_id", "_rank", "placed_at", "utm_source", "utm_medium", "utm_campaign"
        )
    )
    found = {}
    for customer_id, rank, at, source, medium, campaign in ranked.iterator(chunk_size=10_000):
        if customer_id not in found:
            found[customer_id] = Customer(
                pk=customer_id,
                first_utm_source=source,
                first_utm_medium=medium,
                first_utm_campaign=campaign,
                second_order_at=None,
            )
        elif rank == 2 and found[customer_id].second_order_at is None:
            found[customer_id].second_order_at = at
    Customer.objects.bulk_update(
        list(found.values()),
        ["first_utm_source", "first_utm_medium", "first_utm_campaign", "second_order_at"],
        batch_size=2000,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0007_customer_second_order_and_first_campaign"),
        ("orders", "0009_order_customer_id_index"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
