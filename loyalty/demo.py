"""Demo data of the loyalty app: the programme's rules and tiers.

The demo customers' points come from their purchases only: the year of demo history
(`demo.history`) places online orders and syncs till sales, which earn them through the
loyalty services (and spends some at checkout), so every entry has a sale behind it and
`verify` finds nothing wrong.
"""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from loyalty import selectors, services

DEFAULT_TIERS = [
    {"name": "Base", "min_spend": Decimal("0"), "multiplier": Decimal("1.00")},
    {"name": "Silver", "min_spend": Decimal("500"), "multiplier": Decimal("1.25")},
    {"name": "Gold", "min_spend": Decimal("1500"), "multiplier": Decimal("1.50")},
]


def seed(*, rng, stdout) -> None:
    now = timezone.now()
    if selectors.rules_in_force(at=now) is None:
        # The first version may start in the past, so that the demo history has rules.
        services.rules_publish(
            earn_rate=Decimal("1"),
            redemption_value=Decimal("0.05"),
            max_redeem_percent=Decimal("30"),
            points_lifetime_days=365,
            tiers=DEFAULT_TIERS,
            effective_from=now - timedelta(days=730),
            note="Demo programme: 1 point per currency unit, 1 point = 0.05, up to 30%.",
        )
    stdout.write(f"  loyalty: rules and tiers ({', '.join(t['name'] for t in DEFAULT_TIERS)})")
