"""Catalog reads written in SQL by hand give exactly what the equivalent querysets give."""

from decimal import Decimal

import pytest

from catalog.models import Variant
from catalog.selectors import variant_rows
from tests.factories.catalog import BarcodeFactory, ProductFactory, VariantFactory

pytestmark = pytest.mark.django_db


def test_variant_rows_give_what_the_orm_gives_in_display_order_with_barcodes_by_id():
    product, other, empty = ProductFactory(), ProductFactory(), ProductFactory()
    shapes = [
        (2, Decimal("19"), {"size": "M", "fit": [1, 2.5]}, True),
        (0, Decimal("7.5"), {}, False),
        (1, Decimal("0"), {"a": None}, True),
        (1, Decimal("99.99"), {"ü": "ß"}, True),
    ]
    for position, vat, options, active in shapes:
        variant = VariantFactory(
            product=product, position=position, vat_rate=vat, options=options, is_active=active
        )
        for _ in range(position + 1):
            BarcodeFactory(variant=variant)
    VariantFactory(product=other)

    rows = variant_rows(product_ids=[product.pk, other.pk, empty.pk, product.pk])

    assert set(rows) == {product.pk, other.pk, empty.pk}
    assert rows[empty.pk] == []
    for product_id, shown in rows.items():
        expected = Variant.objects.filter(product_id=product_id).order_by("position", "id")
        assert [
            (
                r.pk,
                r.product_id,
                r.sku,
                r.name,
                r.options,
                r.vat_rate,
                r.is_active,
                r.updated_at,
                list(r.barcodes),
            )
            for r in shown
        ] == [
            (
                v.pk,
                v.product_id,
                v.sku,
                v.name,
                v.options,
                v.vat_rate,
                v.is_active,
                v.updated_at,
                [b.code for b in v.barcodes.order_by("id")],
            )
            for v in expected
        ]
    assert [str(r.vat_rate) for r in rows[product.pk]] == ["7.50", "0.00", "99.99", "19.00"]
    assert variant_rows(product_ids=[]) == {}
