"""A customer's orders newest first, read in index order: (customer_id, id).

`me/orders/` lists `WHERE customer_id = %s ORDER BY id DESC LIMIT n`; with only the
foreign key's index PostgreSQL either walks the primary key backwards through every other
customer's orders or fetches all of this customer's to sort them. The composite index
serves both that page and every lookup by customer alone, so the foreign key's own index
goes (after the new one exists).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0006_customer_first_order"),
        ("inventory", "0004_low_stock_threshold_last_unit"),
        ("orders", "0008_cart_checkout_at"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="order",
            index=models.Index(fields=["customer", "id"], name="order_customer_id_idx"),
        ),
        migrations.AlterField(
            model_name="order",
            name="customer",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="orders",
                to="customers.customer",
            ),
        ),
    ]
