"""Install the roles again: head office sees the reports of every store, a store manager
those of their stores."""

from django.db import migrations


def install(apps, schema_editor):
    from staff.roles import roles_install

    roles_install(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("staff", "0005_roles_back_office"),
        ("reports", "0001_initial"),
    ]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
