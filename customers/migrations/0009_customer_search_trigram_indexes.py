"""Trigram indexes behind the staff's customer search (`customers.selectors.customer_search`),
so a part of a name, email, card or phone reads a few index pages instead of every profile.

PostgreSQL only, like the catalog's (catalog 0002): GIN trigram indexes on the expressions
Django's lookups compile to — `UPPER(col::text)` for `icontains` (first and last name,
email, card number) and `phone::text` for `contains` (four or more digits of a phone) —
which PostgreSQL combines for the search's OR. Kept out of the model state (a GIN operator
class does not exist on SQLite), so `makemigrations` stays clean on every database.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


class PostgresOnlySQL(migrations.RunSQL):
    """RunSQL that runs on PostgreSQL and is a no-op on any other database (a copy of the
    one in catalog 0002: a migration keeps its code frozen with it)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


# index name → indexed expression on customers_customer
TRIGRAM_INDEXES = {
    "customer_first_name_trgm_idx": "UPPER(first_name::text)",
    "customer_last_name_trgm_idx": "UPPER(last_name::text)",
    "customer_email_trgm_idx": "UPPER(email::text)",
    "customer_card_trgm_idx": "UPPER(card_number::text)",
    "customer_phone_trgm_idx": "(phone::text)",
}


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0008_verification_assisted_sale"),
    ]

    operations = [
        TrigramExtension(),
        *(
            PostgresOnlySQL(
                sql=f"CREATE INDEX {name} ON customers_customer USING gin ({expression} gin_trgm_ops)",
                reverse_sql=f"DROP INDEX IF EXISTS {name}",
            )
            for name, expression in TRIGRAM_INDEXES.items()
        ),
        PostgresOnlySQL(sql="ANALYZE customers_customer", reverse_sql=migrations.RunSQL.noop),
    ]
