from django.db import migrations, models


def mark_checkouts(apps, schema_editor):
    """Carts that became orders or chose a pickup store reached checkout; when is not
    known for older carts, so their last change stands for it."""
    Cart = apps.get_model("orders", "Cart")
    Cart.objects.filter(
        models.Q(state="converted") | models.Q(fulfilment_type="pickup")
    ).update(checkout_at=models.F("updated_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0007_order_attribution_and_store"),
    ]

    operations = [
        migrations.AddField(
            model_name="cart",
            name="checkout_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(mark_checkouts, migrations.RunPython.noop),
    ]
