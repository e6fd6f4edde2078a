"""Demo data of the loyalty app: default rules and tiers, and a points history per customer.

Everything goes through the loyalty services, so the demo ledger obeys the same rules as
real sales (tiers, FIFO, expiry) and `verify` finds nothing wrong with it. Customers are
read, never written; without customers only the rules and tiers are seeded.
"""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from catalog.models import Variant
from customers.models import Customer
from loyalty import selectors, services
from loyalty.models import Channel

DEFAULT_TIERS = [
    {"name": "Base", "min_spend": Decimal("0"), "multiplier": Decimal("1.00")},
    {"name": "Silver", "min_spend": Decimal("500"), "multiplier": Decimal("1.25")},
    {"name": "Gold", "min_spend": Decimal("1500"), "multiplier": Decimal("1.50")},
]
MAX_CUSTOMERS = 40


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
    customers = list(
        Customer.objects.filter(merged_into__isnull=True, is_active=True).order_by("pk")[
            :MAX_CUSTOMERS
        ]
    )
    variants = list(Variant.objects.values_list("id", "product__category_id")[:200])
    earned = redeemed = expired = 0
    for customer in customers:
        sales = sorted(rng.sample(range(5, 480), rng.randint(2, 7)), reverse=True)
        for number, days_ago in enumerate(sales):
            lines = []
            for _line in range(rng.randint(1, 3)):
                variant_id, category_id = rng.choice(variants) if variants else (None, None)
                amount = Decimal(rng.randint(1500, 25000)) / 100
                lines.append(
                    {"variant_id": variant_id, "category_id": category_id, "amount_paid": amount}
                )
            entry = services.points_earn(
                customer=customer,
                reference=f"demo-sale:{customer.pk}-{number}",
                channel=rng.choice([Channel.WEB, Channel.APP, Channel.POS]),
                lines=lines,
                at=now - timedelta(days=days_ago, hours=rng.randint(0, 10)),
            )
            earned += entry.points if entry else 0
        # Expire first, so that the redemption below spends only points still valid.
        expired += services.points_expire_due(at=now)
        order_total = Decimal(rng.randint(4000, 30000)) / 100
        spendable = selectors.points_redeemable_max(customer=customer, order_total=order_total)
        if spendable >= 20 and rng.random() < 0.6:
            points = rng.randint(10, spendable)
            services.points_redeem(
                customer=customer,
                points=points,
                reference=f"demo-order:{customer.pk}",
                order_total=order_total,
                channel=rng.choice([Channel.WEB, Channel.APP, Channel.POS]),
            )
            redeemed += points
    problems = services.verify()
    stdout.write(
        f"  loyalty: {len(customers)} accounts, {earned} points earned, "
        f"{redeemed} redeemed, {expired} expired, ledger problems: {len(problems)}"
    )
