"""Install the roles again: store associates (and so managers) sell on a customer's behalf
from their stores; the new call-centre role sells for any store."""

from django.db import migrations


def install(apps, schema_editor):
    from staff.roles import roles_install

    roles_install(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("staff", "0006_roles_reports"),
        ("orders", "0012_assisted_sale"),
    ]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
