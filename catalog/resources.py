"""Bulk CSV/XLSX import and export of products and variants (django-import-export).

One row per variant, with its product's columns repeated on every row of that product:

    sku, product (slug), product_name, category (slug), brand, variant_name,
    options ("size=M; colour=Red"), vat_rate, barcodes ("code1|code2"), is_active

An import is all-or-nothing. Before any row is written the whole file is checked — inside
the file (a SKU or a barcode given twice, rows of one product that disagree about its
name, category or brand) and against the database (unknown category, a SKU that belongs
to another product or differs from an existing SKU only in letter case, a barcode that
belongs to another variant), plus every cell on its own (bad barcode check digit, bad VAT
rate, malformed options). Every bad row is reported with its number (the first data row
under the header is row 1) and the reasons; when there is any, the transaction is rolled
back and nothing is loaded. Good rows are written through `catalog.services.variant_upsert`,
the same rules the admin and the API follow.

What a row means: the product is found by slug (created when new), the variant by SKU
(created when new, otherwise updated in place); the barcodes of a variant become exactly
the ones listed. Optional columns left out of the file (brand, variant_name, options,
barcodes, is_active) keep their current values; a column that is present is the value,
so an empty `barcodes` cell removes the variant's barcodes. Variants missing from the
file are left alone. Rows that would change nothing are reported as skipped, so an
exported file re-imports as "nothing to do".
"""

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError
from django.db.models import Prefetch, QuerySet
from django.db.models.functions import Upper
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export import resources, widgets
from import_export.fields import Field

from catalog import services
from catalog.domain import is_valid_vat_rate
from catalog.errors import DuplicateBarcode, DuplicateSku, InvalidBarcode, InvalidVatRate
from catalog.models import Barcode, Category, Product, Variant
from core.errors import DomainError

COLUMNS = (
    "sku",
    "product",
    "product_name",
    "category",
    "brand",
    "variant_name",
    "options",
    "vat_rate",
    "barcodes",
    "is_active",
)
REQUIRED_COLUMNS = ("sku", "product", "product_name", "category", "vat_rate")
PRODUCT_COLUMNS = ("product_name", "category", "brand")

_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off"}
_BARCODE_SEPARATORS = re.compile(r"[|,;\s]+")
_CENT = Decimal("0.01")


# --- cell formats, shared with the admin forms -------------------------------------------


def text_cell(value: Any) -> str:
    """A cell as stripped text. Spreadsheets hand over numbers typed into a cell (a SKU, a
    barcode) as int or float; 4006381333931.0 must read as "4006381333931"."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def options_parse(text: str) -> dict[str, str]:
    """Parse "size=M; colour=Red" into {"size": "M", "colour": "Red"}; ValueError says why not."""
    options: dict[str, str] = {}
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise ValueError(
                _('"%(part)s" is not a name=value pair (e.g. "size=M; colour=Red").')
                % {"part": part}
            )
        if name in options:
            raise ValueError(_('The option "%(name)s" is given twice.') % {"name": name})
        options[name] = value
    return options


def options_format(options: dict[str, Any] | None) -> str:
    """Options as "colour=Red; size=M", names sorted: PostgreSQL's jsonb does not keep the
    order they were written in, and an export must read the same on every database."""
    return "; ".join(f"{name}={value}" for name, value in sorted((options or {}).items()))


def barcodes_parse(text: str) -> list[str]:
    """Split "code1|code2" (commas, semicolons and spaces work too) keeping order, no repeats."""
    return list(dict.fromkeys(code for code in _BARCODE_SEPARATORS.split(text or "") if code))


def barcodes_format(codes: list[str]) -> str:
    return "|".join(codes)


def vat_rate_parse(value: Any) -> Decimal:
    """A VAT percentage such as "20", "20.00", "7.5%" or a spreadsheet number."""
    text = text_cell(value).removesuffix("%").strip().replace(",", ".")
    try:
        rate = Decimal(text)
    except (InvalidOperation, ValueError):
        raise ValueError(_('"%(value)s" is not a number.') % {"value": text}) from None
    if not rate.is_finite() or not is_valid_vat_rate(rate):
        raise ValueError(_("A VAT rate is a percentage from 0 to 99.99."))
    if rate != rate.quantize(_CENT):
        raise ValueError(_("A VAT rate has at most two decimal places."))
    return rate.quantize(_CENT)


def active_parse(value: Any) -> bool:
    """Yes/no cell; empty means active (the default for new variants)."""
    if isinstance(value, bool):
        return value
    text = text_cell(value).lower()
    if text == "" or text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(_('"%(value)s" is not a yes/no value (1/0, true/false).') % {"value": text})


# --- one parsed row -----------------------------------------------------------------------


@dataclass
class CatalogRow:
    """One file row parsed and checked; `None` in a field means "column not in the file"."""

    number: int
    sku: str = ""
    product_slug: str = ""
    product_name: str = ""
    category_slug: str = ""
    brand: str | None = None
    variant_name: str | None = None
    options: dict[str, str] | None = None
    vat_rate: Decimal | None = None
    barcodes: list[str] | None = None
    is_active: bool | None = None
    blank: bool = False
    unchanged: bool = False
    category: Category | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)

    def add_error(self, column: str, message: str) -> None:
        self.errors.setdefault(column, []).append(str(message))

    @classmethod
    def parse(cls, number: int, cells: dict[str, Any]) -> "CatalogRow":
        row = cls(number=number)
        if all(text_cell(value) == "" for value in cells.values()):
            row.blank = True  # spreadsheets often carry empty trailing lines
            return row
        row.sku = text_cell(cells.get("sku"))
        row.product_slug = text_cell(cells.get("product"))
        row.product_name = text_cell(cells.get("product_name"))
        row.category_slug = text_cell(cells.get("category"))
        for column in REQUIRED_COLUMNS:
            if text_cell(cells.get(column)) == "":
                row.add_error(column, _("This column is required."))
        row._check_length("sku", row.sku, Variant._meta.get_field("sku").max_length)
        row._check_length("product", row.product_slug, Product._meta.get_field("slug").max_length)
        row._check_length(
            "product_name", row.product_name, Product._meta.get_field("name").max_length
        )
        if row.product_slug:
            try:
                validate_slug(row.product_slug)
            except ValidationError:
                row.add_error(
                    "product",
                    _("A product slug has only letters, digits, hyphens and underscores."),
                )
        if "brand" in cells:
            row.brand = text_cell(cells["brand"])
            row._check_length("brand", row.brand, Product._meta.get_field("brand").max_length)
        if "variant_name" in cells:
            row.variant_name = text_cell(cells["variant_name"])
            row._check_length(
                "variant_name", row.variant_name, Variant._meta.get_field("name").max_length
            )
        row._parse_cell(cells, "options", "options", lambda v: options_parse(text_cell(v)))
        if text_cell(cells.get("vat_rate")):
            row._parse_cell(cells, "vat_rate", "vat_rate", vat_rate_parse)
        row._parse_cell(cells, "is_active", "is_active", active_parse)
        if "barcodes" in cells:
            row.barcodes = barcodes_parse(text_cell(cells["barcodes"]))
            for code in row.barcodes:
                try:
                    services.barcode_validate(code=code)
                except InvalidBarcode as exc:
                    row.add_error(
                        "barcodes",
                        _("%(code)s is not a valid barcode: %(reason)s.")
                        % {"code": code, "reason": exc.details.get("reason", exc.message)},
                    )
        return row

    def _check_length(self, column: str, value: str, limit: int) -> None:
        if len(value) > limit:
            self.add_error(
                column,
                _("At most %(limit)d characters (this has %(n)d).")
                % {
                    "limit": limit,
                    "n": len(value),
                },
            )

    def _parse_cell(self, cells: dict[str, Any], column: str, attr: str, parse) -> None:
        if column not in cells:
            return
        try:
            setattr(self, attr, parse(cells[column]))
        except ValueError as exc:
            self.add_error(column, str(exc))

    def product_values(self) -> dict[str, str | None]:
        return {
            "product_name": self.product_name,
            "category": self.category_slug,
            "brand": self.brand,
        }


# --- whole-file checks --------------------------------------------------------------------


def _rows_list(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers)


def check_rows_against_each_other(rows: list[CatalogRow]) -> None:
    """A SKU or barcode given twice, and rows of one product that disagree about it."""
    by_sku: dict[str, list[CatalogRow]] = {}
    by_barcode: dict[str, list[CatalogRow]] = {}
    by_product: dict[str, CatalogRow] = {}
    for row in rows:
        if row.blank:
            continue
        if row.sku:
            by_sku.setdefault(row.sku.upper(), []).append(row)
        for code in row.barcodes or ():
            by_barcode.setdefault(code, []).append(row)
        if not row.product_slug:
            continue
        first = by_product.setdefault(row.product_slug, row)
        if first is row:
            continue
        for column, value in row.product_values().items():
            expected = first.product_values()[column]
            if value is not None and expected is not None and value != expected:
                row.add_error(
                    column,
                    _(
                        '"%(value)s" differs from "%(expected)s" in row %(row)d of the same '
                        "product %(product)s."
                    )
                    % {
                        "value": value,
                        "expected": expected,
                        "row": first.number,
                        "product": row.product_slug,
                    },
                )
    for same in by_sku.values():
        if len(same) > 1:
            numbers = [r.number for r in same]
            for row in same:
                row.add_error(
                    "sku",
                    _("The SKU %(sku)s appears more than once in the file (rows %(rows)s).")
                    % {"sku": row.sku, "rows": _rows_list(numbers)},
                )
    for code, same in by_barcode.items():
        if len(same) > 1:
            numbers = [r.number for r in same]
            for row in same:
                row.add_error(
                    "barcodes",
                    _("The barcode %(code)s appears in more than one row (rows %(rows)s).")
                    % {"code": code, "rows": _rows_list(numbers)},
                )


def _existing_variants(rows: list[CatalogRow]) -> list[Variant]:
    """Variants whose SKU equals a file SKU ignoring case.

    An import-only read kept next to its one caller: it compares case-insensitively and
    prefetches exactly what the change detection below needs.
    """
    uppers = {row.sku.upper() for row in rows if row.sku}
    if not uppers:
        return []
    return list(
        Variant.objects.annotate(sku_upper=Upper("sku"))
        .filter(sku_upper__in=uppers)
        .select_related("product", "product__category")
        .prefetch_related(Prefetch("barcodes", queryset=Barcode.objects.order_by("id")))
    )


def check_rows_against_database(rows: list[CatalogRow]) -> dict[str, Variant]:
    """Categories, SKU ownership and barcode ownership; fills columns left out of the file
    from the current variant, and marks rows that would change nothing.

    Returns the existing variants by exact SKU (the import's instances).
    """
    live = [row for row in rows if not row.blank]
    categories = {
        c.slug: c
        for c in Category.objects.filter(
            slug__in={r.category_slug for r in live if r.category_slug}
        )
    }
    products = {
        p.slug: p
        for p in Product.objects.filter(slug__in={r.product_slug for r in live if r.product_slug})
    }
    found = _existing_variants(live)
    variants = {variant.sku: variant for variant in found}
    variants_by_upper = {variant.sku_upper: variant for variant in found}
    codes = {code for row in live for code in row.barcodes or ()}
    owners = dict(Barcode.objects.filter(code__in=codes).values_list("code", "variant__sku"))

    for row in live:
        if row.category_slug:
            row.category = categories.get(row.category_slug)
            if row.category is None:
                row.add_error(
                    "category",
                    _("Unknown category %(slug)s (use the slug of an existing category).")
                    % {"slug": row.category_slug},
                )
        existing = variants.get(row.sku)
        twin = variants_by_upper.get(row.sku.upper()) if row.sku and not existing else None
        if twin is not None:
            row.add_error(
                "sku",
                _("The SKU %(sku)s differs from the existing SKU %(existing)s only in letter case.")
                % {"sku": row.sku, "existing": twin.sku},
            )
        if existing is not None and row.product_slug and existing.product.slug != row.product_slug:
            row.add_error(
                "sku",
                _(
                    "The SKU %(sku)s belongs to product %(owner)s; a variant cannot move to "
                    "another product."
                )
                % {"sku": row.sku, "owner": existing.product.slug},
            )
        for code in row.barcodes or ():
            owner = owners.get(code)
            if owner is not None and owner != row.sku:
                row.add_error(
                    "barcodes",
                    _(
                        "The barcode %(code)s already belongs to variant %(owner)s; remove it "
                        "there first."
                    )
                    % {"code": code, "owner": owner},
                )
        _fill_absent_columns(row, existing, products.get(row.product_slug))
        if existing is not None and not row.errors:
            row.unchanged = _row_matches(row, existing)
    return variants


def _fill_absent_columns(row: CatalogRow, variant: Variant | None, product: Product | None) -> None:
    """Columns left out of the file keep the current values (defaults for new rows)."""
    if row.brand is None:
        row.brand = product.brand if product is not None else ""
    if row.variant_name is None:
        row.variant_name = variant.name if variant is not None else ""
    if row.options is None:
        row.options = dict(variant.options) if variant is not None else {}
    if row.is_active is None:
        row.is_active = variant.is_active if variant is not None else True
    if row.barcodes is None:
        row.barcodes = [b.code for b in variant.barcodes.all()] if variant is not None else []


def _row_matches(row: CatalogRow, variant: Variant) -> bool:
    product = variant.product
    return (
        product.name == row.product_name
        and product.category.slug == row.category_slug
        and product.brand == row.brand
        and variant.name == row.variant_name
        and variant.options == row.options
        and variant.vat_rate == row.vat_rate
        and variant.is_active == row.is_active
        and {b.code for b in variant.barcodes.all()} == set(row.barcodes or ())
    )


# --- export widgets -------------------------------------------------------------------------


class OptionsWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        return options_parse(text_cell(value))

    def render(self, value, obj=None, **kwargs):
        return options_format(value)


class BarcodesWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        return barcodes_parse(text_cell(value))

    def render(self, value, obj=None, **kwargs):
        if value is None or getattr(value, "instance", None) is None or not value.instance.pk:
            return ""  # a variant not saved yet has no barcodes
        # Sorted in Python, not with order_by, so a prefetched export stays one query.
        return barcodes_format([b.code for b in sorted(value.all(), key=lambda b: b.pk)])


class VatRateWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        return vat_rate_parse(value)

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(Decimal(value).quantize(_CENT))


class TextWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        return text_cell(value)


_DOMAIN_ERROR_COLUMNS = {
    DuplicateSku: "sku",
    InvalidBarcode: "barcodes",
    DuplicateBarcode: "barcodes",
    InvalidVatRate: "vat_rate",
}


def _adopt(target: Variant, source: Variant) -> None:
    """Make the import's instance the row the service saved (the row result reports it)."""
    for model_field in Variant._meta.concrete_fields:
        setattr(target, model_field.attname, getattr(source, model_field.attname))
    target._state.adding = False
    target._state.db = source._state.db
    target._state.fields_cache = dict(source._state.fields_cache)  # product, category
    target._prefetched_objects_cache = {}


class CatalogRowResource(resources.ModelResource):
    """Products and variants, one row per variant (see the module docstring)."""

    sku = Field(attribute="sku", column_name="sku", widget=TextWidget())
    product = Field(attribute="product__slug", column_name="product")
    product_name = Field(attribute="product__name", column_name="product_name")
    category = Field(attribute="product__category__slug", column_name="category")
    brand = Field(attribute="product__brand", column_name="brand")
    variant_name = Field(attribute="name", column_name="variant_name")
    options = Field(attribute="options", column_name="options", widget=OptionsWidget())
    vat_rate = Field(attribute="vat_rate", column_name="vat_rate", widget=VatRateWidget())
    barcodes = Field(attribute="barcodes", column_name="barcodes", widget=BarcodesWidget())
    is_active = Field(
        attribute="is_active", column_name="is_active", widget=widgets.BooleanWidget()
    )

    class Meta:
        model = Variant
        name = gettext_lazy("Products and variants (one row per variant)")
        fields = COLUMNS
        import_order = COLUMNS
        export_order = COLUMNS
        import_id_fields = ["sku"]
        use_transactions = True
        skip_unchanged = True
        report_skipped = True
        # The admin names the SKU of each row in its preview warnings and tells empty
        # lines from unchanged ones.
        store_row_values = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._rows: dict[int, CatalogRow] = {}
        self._variants: dict[str, Variant] = {}

    # -- import --

    def import_data(self, dataset, dry_run=False, raise_errors=False, **kwargs):
        """Always in one transaction, rolled back when any row is invalid: a file loads
        whole or not at all, whoever calls (the admin's confirm step, the `import` command)."""
        kwargs["use_transactions"] = True
        kwargs["rollback_on_validation_errors"] = True
        return super().import_data(dataset, dry_run=dry_run, raise_errors=raise_errors, **kwargs)

    def before_import(self, dataset, **kwargs):
        dataset.headers = [text_cell(h).lower() for h in dataset.headers or []]
        missing = [column for column in REQUIRED_COLUMNS if column not in dataset.headers]
        if missing:
            raise ValueError(
                _("The file has no %(missing)s column. The columns are: %(columns)s.")
                % {"missing": ", ".join(missing), "columns": ", ".join(COLUMNS)}
            )
        rows = [
            CatalogRow.parse(number, dict(zip(dataset.headers, values, strict=False)))
            for number, values in enumerate(dataset, 1)
        ]
        check_rows_against_each_other(rows)
        self._variants = check_rows_against_database(rows)
        self._rows = {row.number: row for row in rows}

    def get_instance(self, instance_loader, row):
        return self._variants.get(text_cell(row.get("sku")))

    def import_instance(self, instance, row, **kwargs):
        parsed = self._rows[kwargs["row_number"]]
        if parsed.errors:
            raise ValidationError(parsed.errors)
        instance._catalog_row = parsed

    def skip_row(self, instance, original, row, import_validation_errors=None):
        if import_validation_errors:
            return False
        parsed = getattr(instance, "_catalog_row", None)
        return parsed is not None and (parsed.blank or parsed.unchanged)

    def do_instance_save(self, instance, is_create):
        row: CatalogRow = instance._catalog_row
        try:
            variant, _created = services.variant_upsert(
                sku=row.sku,
                product_slug=row.product_slug,
                product_name=row.product_name,
                category=row.category,
                vat_rate=row.vat_rate,
                brand=row.brand or "",
                variant_name=row.variant_name or "",
                options=row.options or {},
                barcodes=row.barcodes or [],
                is_active=bool(row.is_active),
            )
        except DomainError as exc:
            # The checks above should have caught it; a concurrent writer may still win.
            column = _DOMAIN_ERROR_COLUMNS.get(type(exc), NON_FIELD_ERRORS)
            detail = ", ".join(f"{k}: {v}" for k, v in exc.details.items())
            message = f"{exc.message} ({detail})" if detail else exc.message
            raise ValidationError({column: message}) from exc
        except IntegrityError as exc:
            # Someone created the same product, SKU or barcode after this file was checked.
            raise ValidationError(
                {
                    NON_FIELD_ERRORS: _(
                        "The catalog changed while this file was being imported; import it again."
                    )
                }
            ) from exc
        _adopt(instance, variant)

    def after_import(self, dataset, result, **kwargs):
        # ModelResource resets the table's id sequence here, which only matters when a file
        # carries explicit ids. Ours never does, and on PostgreSQL a reset can move the
        # sequence below ids other transactions have just taken.
        pass

    # -- export --

    def filter_export(self, queryset, **kwargs):
        return self.export_queryset(queryset)

    @staticmethod
    def export_queryset(queryset: QuerySet[Variant] | None = None) -> QuerySet[Variant]:
        """Variants grouped by product, with everything a row shows in a constant number of
        queries per chunk."""
        queryset = Variant.objects.all() if queryset is None else queryset
        return (
            queryset.select_related("product", "product__category")
            .prefetch_related(Prefetch("barcodes", queryset=Barcode.objects.order_by("id")))
            .order_by("product__slug", "position", "id")
        )
