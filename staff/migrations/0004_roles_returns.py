"""Install the roles again: store staff take returns, managers accept late ones and refund
to another tender, head office sets the return windows."""

from django.db import migrations


def install(apps, schema_editor):
    from staff.roles import roles_install

    roles_install(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("staff", "0003_roles_pos"),
        ("returns", "0001_initial"),
    ]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
