"""Install the roles again: store managers and head office export a customer's data and read
the audit log; head office erases a customer on request."""

from django.db import migrations


def install(apps, schema_editor):
    from staff.roles import roles_install

    roles_install(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("staff", "0004_roles_returns"),
        ("customers", "0005_customer_erasure_and_data_permissions"),
        ("audit", "0001_initial"),
        ("pricing", "0003_history"),
    ]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
