"""Indexes behind the catalog searches, so they cost the same at 100,000 variants as at 100.

- `variant_sku_upper_idx` (every database): the product search's exact SKU in any case,
  `sku__iexact`, which PostgreSQL compiles to `UPPER(sku) = UPPER(%s)`;
  `variant_vat_rate_idx`: the admin's VAT filter finds the few rates in use by probing
  it (`catalog.selectors.variant_vat_rates`) instead of reading every variant.
- PostgreSQL only: the `pg_trgm` extension and GIN trigram indexes on the expressions
  Django's lookups compile to — `UPPER(col::text)` for `icontains` (product name and
  brand, variant SKU and name) and `code::text` for `contains` (a part of a barcode) — so
  "a word anywhere in the name" reads a few index pages instead of every row. They are
  kept out of the model state (a GIN operator class does not exist on SQLite), so
  `makemigrations` stays clean on every database; other databases skip them and search
  the same way without them. The tables are analysed afterwards: the planner needs
  statistics of the new expressions to prefer these indexes for a rare word.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models
from django.db.models.functions import Upper


class PostgresOnlySQL(migrations.RunSQL):
    """RunSQL that runs on PostgreSQL and is a no-op on any other database.

    (A copy of the one in pricing 0002: a migration keeps its code frozen with it.)
    """

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


# index name → (table, indexed expression)
TRIGRAM_INDEXES = {
    "product_name_trgm_idx": ("catalog_product", "UPPER(name::text)"),
    "product_brand_trgm_idx": ("catalog_product", "UPPER(brand::text)"),
    "variant_sku_trgm_idx": ("catalog_variant", "UPPER(sku::text)"),
    "variant_name_trgm_idx": ("catalog_variant", "UPPER(name::text)"),
    "barcode_code_trgm_idx": ("catalog_barcode", "(code::text)"),
}


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="variant",
            index=models.Index(Upper("sku"), name="variant_sku_upper_idx"),
        ),
        migrations.AddIndex(
            model_name="variant",
            index=models.Index(fields=["vat_rate"], name="variant_vat_rate_idx"),
        ),
        TrigramExtension(),
        *(
            PostgresOnlySQL(
                sql=f"CREATE INDEX {name} ON {table} USING gin ({expression} gin_trgm_ops)",
                reverse_sql=f"DROP INDEX IF EXISTS {name}",
            )
            for name, (table, expression) in TRIGRAM_INDEXES.items()
        ),
        PostgresOnlySQL(
            sql="ANALYZE catalog_product, catalog_variant, catalog_barcode",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
