"""The demo catalog: big and real-looking enough, valid barcodes, deterministic, fast."""

import hashlib
import io
import random
import re
import time
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import transaction

from catalog import demo
from catalog.domain import gtin_kind
from catalog.models import Barcode, Category, Product, Variant

pytestmark = pytest.mark.django_db


def _depth(category_id: int, parents: dict[int, int | None]) -> int:
    depth = 0
    while category_id is not None:
        depth += 1
        category_id = parents[category_id]
    return depth


def _digest() -> str:
    """Everything the seed decides, in a stable order (ids and timestamps excluded)."""
    rows = (
        Variant.objects.order_by("sku")
        .values_list(
            "sku",
            "name",
            "options",
            "vat_rate",
            "is_active",
            "product__slug",
            "product__name",
            "product__brand",
            "product__category__slug",
        )
        .iterator()
    )
    codes = Barcode.objects.order_by("code").values_list("code", "kind", "variant__sku")
    text = repr([(*row[:2], sorted(row[2].items()), *row[3:]) for row in rows]) + repr(list(codes))
    return hashlib.sha256(text.encode()).hexdigest()


def _seed_and_digest(seed: int) -> str:
    """Seed inside a transaction that is rolled back, so each call starts from empty."""
    with transaction.atomic():
        demo.seed(rng=random.Random(seed), stdout=io.StringIO())
        digest = _digest()
        transaction.set_rollback(True)
    assert not Variant.objects.exists()
    return digest


def test_seed_demo_builds_a_real_looking_catalog_in_well_under_30_seconds():
    out = io.StringIO()
    started = time.monotonic()
    call_command("seed_demo", days=0, stdout=out)  # the shop without its year of history
    elapsed = time.monotonic() - started

    catalog_seconds = float(re.search(r"catalog\.demo: ([\d.]+)s", out.getvalue()).group(1))
    print(f"\ncatalog.demo took {catalog_seconds:.1f}s (whole seed_demo {elapsed:.1f}s)")
    assert catalog_seconds < 30
    assert Product.objects.count() >= 300
    assert Variant.objects.count() >= 1000

    parents = dict(Category.objects.values_list("id", "parent_id"))
    leaf_ids = set(Product.objects.values_list("category_id", flat=True))
    assert min(_depth(pk, parents) for pk in leaf_ids) >= 3

    # Every variant can be scanned, and every stored code is a valid GTIN of its kind.
    assert not Variant.objects.filter(barcodes__isnull=True).exists()
    for code, kind in Barcode.objects.values_list("code", "kind"):
        assert gtin_kind(code) == kind
    electronics = Barcode.objects.filter(variant__product__category__slug__startswith="electronics")
    assert electronics.filter(kind="EAN-13").exists()

    def options_of(root: str) -> list[dict]:
        variants = Variant.objects.filter(product__category__slug__startswith=root)
        return list(variants.values_list("options", flat=True))

    assert all({"size", "colour"} <= set(o) for o in options_of("apparel"))
    assert all(o["size"].startswith("EU ") for o in options_of("footwear"))
    # German VAT (every demo store is in Germany): 19% standard, 7% for books and food.
    assert set(Variant.objects.values_list("vat_rate", flat=True)) == {
        Decimal("19.00"),
        Decimal("7.00"),
    }
    for root in ("books", "grocery"):
        assert set(
            Variant.objects.filter(product__category__slug__startswith=root).values_list(
                "vat_rate", flat=True
            )
        ) == {Decimal("7.00")}
    # A brand never sells two products of one name.
    names = list(Product.objects.values_list("brand", "name"))
    assert len(names) == len(set(names))


def test_the_same_seed_builds_the_same_catalog_and_another_seed_a_different_one():
    first = _seed_and_digest(42)
    assert _seed_and_digest(42) == first
    assert _seed_and_digest(7) != first


def test_seeding_again_leaves_an_existing_demo_catalog_alone():
    demo.seed(rng=random.Random(1), stdout=io.StringIO())
    before = _digest()
    out = io.StringIO()

    demo.seed(rng=random.Random(2), stdout=out)

    assert "already exist" in out.getvalue()
    assert _digest() == before
