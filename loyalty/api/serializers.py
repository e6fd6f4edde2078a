"""Serializers of the loyalty API: query parameters in, account summary and ledger out."""

from rest_framework import serializers

from loyalty.models import LoyaltyEntry
from loyalty.selectors import EXPIRING_SOON_DAYS, entry_title


class MyLoyaltyQuerySerializer(serializers.Serializer):
    expiring_within_days = serializers.IntegerField(
        required=False, min_value=1, max_value=365, default=EXPIRING_SOON_DAYS
    )


class TierSerializer(serializers.Serializer):
    name = serializers.CharField()
    min_spend = serializers.DecimalField(max_digits=12, decimal_places=2)
    multiplier = serializers.DecimalField(max_digits=5, decimal_places=2)


class ExpiringPointsSerializer(serializers.Serializer):
    expires_at = serializers.DateTimeField()
    points = serializers.IntegerField()


class LedgerEntrySerializer(serializers.ModelSerializer):
    title = serializers.SerializerMethodField()
    place = serializers.SerializerMethodField(help_text="Where it happened, e.g. the store.")

    class Meta:
        model = LoyaltyEntry
        fields = [
            "id",
            "kind",
            "points",
            "title",
            "place",
            "reference",
            "channel",
            "occurred_at",
            "expires_at",
            "remaining",
        ]

    def get_title(self, entry: LoyaltyEntry) -> str:
        return entry_title(entry)

    def get_place(self, entry: LoyaltyEntry) -> str | None:
        return (entry.details or {}).get("place")


class LedgerPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = LedgerEntrySerializer(many=True)


class MyLoyaltySerializer(serializers.Serializer):
    balance = serializers.IntegerField()
    balance_value = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    held_points = serializers.IntegerField(help_text="Set aside at a till for a sale in progress.")
    available_points = serializers.IntegerField(help_text="What can be spent now: balance − held.")
    rolling_spend = serializers.DecimalField(max_digits=12, decimal_places=2)
    tier = TierSerializer(allow_null=True)
    next_tier = TierSerializer(allow_null=True)
    spend_to_next_tier = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    expiring_within_days = serializers.IntegerField()
    expiring_soon_points = serializers.IntegerField()
    expiring_soon = ExpiringPointsSerializer(many=True)
    entries = LedgerPageSerializer()
