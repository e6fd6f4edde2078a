"""Install the roles again: store staff work their tills and short pickups (POS)."""

from django.db import migrations


def install(apps, schema_editor):
    from staff.roles import roles_install

    roles_install(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("staff", "0002_roles"),
        ("pos", "0003_short_pickups"),
        ("orders", "0005_order_needs_attention"),
        ("loyalty", "0003_loyalty_hold"),
    ]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
