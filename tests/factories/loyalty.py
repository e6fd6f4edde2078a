"""Factories for the loyalty app: rules versions and their tiers.

Ledger entries have no factory on purpose: they are written only through the services,
so every test ledger is one the services could have produced. A rules version made here
(instead of through `rules_publish`) may start in the past, which tests of versioning need.
"""

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from loyalty.models import LoyaltyRules, Tier


class LoyaltyRulesFactory(factory.django.DjangoModelFactory):
    """1 point per currency unit, 1 point pays 0.10, up to 50 % of an order, 365-day lifetime."""

    class Meta:
        model = LoyaltyRules

    effective_from = factory.LazyFunction(lambda: timezone.now() - timedelta(days=3 * 365))
    earn_rate = Decimal("1")
    redemption_value = Decimal("0.10")
    max_redeem_percent = Decimal("50")
    points_lifetime_days = 365


class TierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tier

    rules = factory.SubFactory(LoyaltyRulesFactory)
    name = factory.Sequence(lambda n: f"Tier {n}")
    min_spend = Decimal("500.00")
    multiplier = Decimal("1.50")
