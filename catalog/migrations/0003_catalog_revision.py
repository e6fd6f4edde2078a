"""The catalog revision: one row, and triggers that change its token in the same
transaction as every write to variants and barcodes (what the product API caches).

PostgreSQL: one statement-level trigger per table (INSERT, UPDATE, DELETE, TRUNCATE) and a
sequence for the token, which a rollback never gives back. SQLite: a row-level trigger
per table and operation, a random 64-bit token. See `catalog.models.CatalogRevision`.
"""

from django.db import migrations, models

TABLES = ("catalog_variant", "catalog_barcode")

POSTGRES_FORWARD = [
    "CREATE SEQUENCE catalog_catalogrevision_token",
    """
    CREATE FUNCTION catalog_revision_bump() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO catalog_catalogrevision (id, token, changed_at)
        VALUES (1, nextval('catalog_catalogrevision_token'), now())
        ON CONFLICT (id) DO UPDATE
            SET token = EXCLUDED.token, changed_at = EXCLUDED.changed_at;
        RETURN NULL;
    END
    $$
    """,
    # The row from the start, so an existing catalog is cached before its first write.
    "INSERT INTO catalog_catalogrevision (id, token, changed_at) "
    "VALUES (1, nextval('catalog_catalogrevision_token'), now())",
    *(
        f"CREATE TRIGGER catalog_revision AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
        f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION catalog_revision_bump()"
        for table in TABLES
    ),
]
POSTGRES_BACKWARD = [
    *(f"DROP TRIGGER IF EXISTS catalog_revision ON {table}" for table in TABLES),
    "DROP FUNCTION IF EXISTS catalog_revision_bump()",
    "DROP SEQUENCE IF EXISTS catalog_catalogrevision_token",
]

OPERATIONS = ("INSERT", "UPDATE", "DELETE")
SQLITE_FORWARD = [
    "INSERT INTO catalog_catalogrevision (id, token, changed_at) "
    "VALUES (1, random(), strftime('%Y-%m-%d %H:%M:%f', 'now'))",
    *(
        f"CREATE TRIGGER catalog_revision_{table}_{op.lower()} AFTER {op} ON {table} "
        "BEGIN INSERT OR REPLACE INTO catalog_catalogrevision (id, token, changed_at) "
        "VALUES (1, random(), strftime('%Y-%m-%d %H:%M:%f', 'now')); END"
        for table in TABLES
        for op in OPERATIONS
    ),
]
SQLITE_BACKWARD = [
    f"DROP TRIGGER IF EXISTS catalog_revision_{table}_{op.lower()}"
    for table in TABLES
    for op in OPERATIONS
]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        for sql in statements.get(vendor, []):
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0002_search_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="CatalogRevision",
            fields=[
                (
                    "id",
                    models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False),
                ),
                ("token", models.BigIntegerField(default=0)),
                ("changed_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "verbose_name": "catalog revision",
                "verbose_name_plural": "catalog revision",
            },
        ),
        migrations.RunPython(
            _run({"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": POSTGRES_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        ),
    ]
