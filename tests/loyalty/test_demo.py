"""The loyalty demo: default rules and tiers, and a sound history for demo customers."""

import io
import random

import pytest

from loyalty import demo
from loyalty.models import LoyaltyAccount, LoyaltyEntry, LoyaltyRules
from loyalty.selectors import rules_in_force
from loyalty.services import verify
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


def test_demo_customers_get_accounts_and_a_history_the_ledger_check_accepts():
    customers = CustomerFactory.create_batch(4)
    VariantFactory.create_batch(3)
    out = io.StringIO()
    demo.seed(rng=random.Random(7), stdout=out)
    assert LoyaltyAccount.objects.count() == 4
    kinds = set(LoyaltyEntry.objects.values_list("kind", flat=True))
    assert {"earn", "expire"} <= kinds
    assert verify() == []
    assert "ledger problems: 0" in out.getvalue()
    assert all(c.loyalty_account.balance >= 0 for c in customers)
