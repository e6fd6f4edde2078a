from django.db import migrations


def locate_entries(apps, schema_editor):
    """Entries of a sale ("order:<number>") get that order's location; a reversal its
    original's."""
    Entry = apps.get_model("loyalty", "LoyaltyEntry")
    Order = apps.get_model("orders", "Order")
    if not Entry.objects.exists():
        return
    quote = schema_editor.connection.ops.quote_name
    entry, order = quote(Entry._meta.db_table), quote(Order._meta.db_table)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {entry} SET location_id = (SELECT o.location_id FROM {order} o"
            f" WHERE o.number = SUBSTR({entry}.reference, 7))"
            f" WHERE reference LIKE 'order:%'"
        )
        cursor.execute(
            f"UPDATE {entry} SET location_id = (SELECT r.location_id FROM {entry} r"
            f" WHERE r.id = {entry}.reverses_id) WHERE reverses_id IS NOT NULL"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("loyalty", "0004_entry_location"),
        ("orders", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(locate_entries, migrations.RunPython.noop),
    ]
