"""The loyalty demo: default rules and tiers; points only ever come from real sales."""

import io
import random

import pytest

from loyalty import demo
from loyalty.models import LoyaltyAccount, LoyaltyEntry, LoyaltyRules
from loyalty.selectors import rules_in_force
from tests.factories.catalog import VariantFactory
from tests.factories.customers import CustomerFactory

pytestmark = pytest.mark.django_db


def test_without_customers_the_demo_seeds_only_rules_and_tiers():
    demo.seed(rng=random.Random(1), stdout=io.StringIO())
    rules = rules_in_force()
    assert [t.name for t in rules.tiers.all()] == ["Base", "Silver", "Gold"]
    assert not LoyaltyAccount.objects.exists()
    demo.seed(rng=random.Random(1), stdout=io.StringIO())
    assert LoyaltyRules.objects.count() == 1  # a second run does not add a version


def test_the_demo_writes_no_points_without_a_sale_behind_them():
    CustomerFactory.create_batch(4)
    VariantFactory.create_batch(3)
    demo.seed(rng=random.Random(7), stdout=io.StringIO())
    # Demo points come from synced till sales and online orders (pos.demo, orders.demo).
    assert not LoyaltyEntry.objects.exists()
    assert rules_in_force() is not None
