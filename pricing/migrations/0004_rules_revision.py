"""The promotion rules revision: one row, and triggers that change its token in the same
transaction as every write to the tables the rules are built from.

PostgreSQL: one statement-level trigger per table (INSERT, UPDATE, DELETE, TRUNCATE) and a
sequence for the token, which a rollback never gives back. SQLite: a row-level trigger
per table and operation, a random 64-bit token. See `pricing.models.RulesRevision`.
"""

from django.db import migrations, models

# Every table the promotion rules (and prices) are read from. Categories belong to the
# catalog: a category-scoped promotion covers the sub-categories, so the tree matters.
TABLES = (
    "pricing_pricelist",
    "pricing_price",
    "pricing_promotion",
    "pricing_promotion_variants",
    "pricing_promotion_products",
    "pricing_promotion_categories",
    "pricing_coupon",
    "catalog_category",
)

POSTGRES_FORWARD = [
    "CREATE SEQUENCE pricing_rulesrevision_token",
    """
    CREATE FUNCTION pricing_rules_revision_bump() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO pricing_rulesrevision (id, token, changed_at)
        VALUES (1, nextval('pricing_rulesrevision_token'), now())
        ON CONFLICT (id) DO UPDATE
            SET token = EXCLUDED.token, changed_at = EXCLUDED.changed_at;
        RETURN NULL;
    END
    $$
    """,
    *(
        f"CREATE TRIGGER pricing_rules_revision AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
        f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION pricing_rules_revision_bump()"
        for table in TABLES
    ),
]
POSTGRES_BACKWARD = [
    *(f"DROP TRIGGER IF EXISTS pricing_rules_revision ON {table}" for table in TABLES),
    "DROP FUNCTION IF EXISTS pricing_rules_revision_bump()",
    "DROP SEQUENCE IF EXISTS pricing_rulesrevision_token",
]

OPERATIONS = ("INSERT", "UPDATE", "DELETE")
SQLITE_FORWARD = [
    f"CREATE TRIGGER pricing_rules_revision_{table}_{op.lower()} AFTER {op} ON {table} "
    "BEGIN INSERT OR REPLACE INTO pricing_rulesrevision (id, token, changed_at) "
    "VALUES (1, random(), strftime('%Y-%m-%d %H:%M:%f', 'now')); END"
    for table in TABLES
    for op in OPERATIONS
]
SQLITE_BACKWARD = [
    f"DROP TRIGGER IF EXISTS pricing_rules_revision_{table}_{op.lower()}"
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
        ("catalog", "0001_initial"),
        ("pricing", "0003_history"),
    ]

    operations = [
        migrations.CreateModel(
            name="RulesRevision",
            fields=[
                (
                    "id",
                    models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False),
                ),
                ("token", models.BigIntegerField(default=0)),
                ("changed_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "verbose_name": "promotion rules revision",
                "verbose_name_plural": "promotion rules revision",
            },
        ),
        migrations.RunPython(
            _run({"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": POSTGRES_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        ),
    ]
