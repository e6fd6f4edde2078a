"""PostgreSQL only: no two prices of a variant in a price list may overlap in time.

An exclusion constraint over (price_list, variant, tstzrange(valid_from, valid_until, '[)'))
needs the btree_gist extension. Both operations do nothing on other databases (SQLite
keeps migrating; there `pricing.services` validation is the guard), and the constraint
is kept out of the model state so `makemigrations` stays clean on every database.
"""

from django.contrib.postgres.operations import BtreeGistExtension
from django.db import migrations


class PostgresOnlySQL(migrations.RunSQL):
    """RunSQL that runs on PostgreSQL and is a no-op on any other database."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [
        ("pricing", "0001_initial"),
    ]

    operations = [
        BtreeGistExtension(),
        PostgresOnlySQL(
            sql=(
                "ALTER TABLE pricing_price ADD CONSTRAINT price_no_overlap EXCLUDE USING gist ("
                "price_list_id WITH =, variant_id WITH =, "
                "tstzrange(valid_from, valid_until, '[)') WITH &&)"
            ),
            reverse_sql="ALTER TABLE pricing_price DROP CONSTRAINT price_no_overlap",
        ),
    ]
