"""Install the ready-made roles (permission groups) defined in staff.roles.

Depends on the latest migration of every app whose permissions a role grants, so the
historical models carry their custom permissions (orders' pickup queue, loyalty's
adjustments) when the permissions are created here.
"""

from django.db import migrations


def install(apps, schema_editor):
    from staff.roles import roles_install

    roles_install(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("staff", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("catalog", "0001_initial"),
        ("pricing", "0002_price_no_overlap_postgres"),
        ("inventory", "0002_stock_level_bounds"),
        ("orders", "0003_payments_and_pickup_attempts"),
        ("customers", "0004_verification_and_sessions"),
        ("loyalty", "0002_adjust_reason_and_permissions"),
    ]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
