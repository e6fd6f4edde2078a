"""Install the roles again: head office sets the delivery methods' rates."""

from django.db import migrations


def install(apps, schema_editor):
    from staff.roles import roles_install

    roles_install(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("staff", "0008_roles_transfer_lead_times"),
        ("pricing", "0005_shippingrate"),
    ]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
