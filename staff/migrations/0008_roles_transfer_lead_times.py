"""Install the roles again: head office opens the ship-to-store routes (transfer lead
times between locations)."""

from django.db import migrations


def install(apps, schema_editor):
    from staff.roles import roles_install

    roles_install(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("staff", "0007_roles_assisted_sales"),
        ("inventory", "0005_transfer_lead_time"),
    ]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
