"""Fill in every customer's second order and first campaign (customers 0007) from the
orders already placed; from then on `customer_first_order_record` keeps them."""

from django.db import migrations
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce


def backfill(apps, schema_editor):
    Customer = apps.get_model("customers", "Customer")
    Order = apps.get_model("orders", "Order")
    theirs = Order.objects.filter(customer_id=OuterRef("pk")).order_by("placed_at", "pk")
    customers = Customer.objects.filter(first_order_at__isnull=False)
    customers.update(
        **{
            f"first_{name}": Coalesce(Subquery(theirs.values(name)[:1]), Value(""))
            for name in ("utm_source", "utm_medium", "utm_campaign")
        }
    )
    customers.update(
        second_order_at=Subquery(
            theirs.filter(placed_at__gt=OuterRef("first_order_at")).values("placed_at")[:1]
        )
    )


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0007_customer_second_order_and_first_campaign"),
        ("orders", "0009_order_customer_id_index"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
