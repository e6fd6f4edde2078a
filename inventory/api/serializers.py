"""Input and output shapes of the inventory API. They validate shape only; every business
rule (enough stock, known SKU, allowed location) is the services' and selectors' job."""

from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from inventory.domain import is_open_at
from inventory.models import Location, StockMovement, Transfer

MAX_LINES = 500


class LocationQuerySerializer(serializers.Serializer):
    is_pickup_point = serializers.BooleanField(required=False, allow_null=True, default=None)
    ships_online = serializers.BooleanField(required=False, allow_null=True, default=None)
    kind = serializers.ChoiceField(choices=Location.Kind.choices, required=False)
    near = serializers.CharField(
        required=False, help_text=_("latitude,longitude — nearest locations first")
    )


class LocationSerializer(serializers.ModelSerializer):
    latitude = serializers.FloatField(allow_null=True)
    longitude = serializers.FloatField(allow_null=True)
    open_now = serializers.SerializerMethodField()
    distance_km = serializers.SerializerMethodField()

    class Meta:
        model = Location
        fields = [
            "code",
            "name",
            "kind",
            "address_line",
            "postal_code",
            "city",
            "country",
            "phone",
            "latitude",
            "longitude",
            "time_zone",
            "opening_hours",
            "open_now",
            "is_pickup_point",
            "ships_online",
            "distance_km",
        ]

    def get_open_now(self, location: Location) -> bool:
        local = timezone.now().astimezone(ZoneInfo(location.time_zone))
        return is_open_at(location.opening_hours or {}, local)

    def get_distance_km(self, location: Location) -> float | None:
        distance = self.context.get("distances", {}).get(location.pk)
        return None if distance is None else round(distance, 2)


class LocationListSerializer(serializers.Serializer):
    results = LocationSerializer(many=True)


class AvailabilityQuerySerializer(serializers.Serializer):
    sku = serializers.ListField(
        child=serializers.CharField(max_length=4000),
        help_text=_("One or more SKUs: repeat the parameter or separate with commas."),
    )
    location = serializers.ListField(
        child=serializers.CharField(max_length=32), required=False, default=list
    )
    near = serializers.CharField(required=False)


class AvailabilityLocationSerializer(serializers.Serializer):
    location = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    is_pickup_point = serializers.BooleanField()
    ships_online = serializers.BooleanField()
    available = serializers.IntegerField()
    distance_km = serializers.FloatField(allow_null=True)


class AvailabilitySerializer(serializers.Serializer):
    sku = serializers.CharField()
    variant_id = serializers.IntegerField()
    delivery = serializers.IntegerField(help_text=_("Units available for delivery orders."))
    locations = AvailabilityLocationSerializer(many=True)


class AvailabilityResponseSerializer(serializers.Serializer):
    results = AvailabilitySerializer(many=True)


class LineSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)


class SignedLineSerializer(LineSerializer):
    quantity = serializers.IntegerField(
        min_value=-1_000_000, max_value=1_000_000, help_text=_("Signed change, not zero.")
    )

    def validate_quantity(self, value: int) -> int:
        if value == 0:
            raise serializers.ValidationError(_("An adjustment of zero changes nothing."))
        return value


class CountLineSerializer(LineSerializer):
    quantity = serializers.IntegerField(
        min_value=0, max_value=1_000_000, help_text=_("The counted number of units.")
    )


class _LocationOperationSerializer(serializers.Serializer):
    location = serializers.CharField(max_length=32, help_text=_("Location code."))
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class ReceiptInputSerializer(_LocationOperationSerializer):
    lines = LineSerializer(many=True, allow_empty=False, max_length=MAX_LINES)


class AdjustmentInputSerializer(_LocationOperationSerializer):
    reason = serializers.CharField(max_length=255)
    lines = SignedLineSerializer(many=True, allow_empty=False, max_length=MAX_LINES)


class CountInputSerializer(_LocationOperationSerializer):
    lines = CountLineSerializer(many=True, allow_empty=False, max_length=MAX_LINES)


class TransferInputSerializer(serializers.Serializer):
    source = serializers.CharField(max_length=32)
    destination = serializers.CharField(max_length=32)
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    lines = LineSerializer(many=True, allow_empty=False, max_length=MAX_LINES)


class MovementSerializer(serializers.ModelSerializer):
    sku = serializers.SerializerMethodField()
    location = serializers.SerializerMethodField()

    class Meta:
        model = StockMovement
        fields = [
            "id",
            "kind",
            "sku",
            "location",
            "quantity",
            "on_hand_delta",
            "reserved_delta",
            "on_hand_after",
            "reserved_after",
            "reason",
            "reference",
            "created_at",
        ]

    def get_sku(self, movement: StockMovement) -> str:
        return self.context["skus"][movement.level.variant_id]

    def get_location(self, movement: StockMovement) -> str:
        return movement.level.location.code


class OperationResultSerializer(serializers.Serializer):
    location = serializers.CharField()
    movements = MovementSerializer(many=True)


class TransferSerializer(serializers.ModelSerializer):
    source = serializers.CharField(source="source.code")
    destination = serializers.CharField(source="destination.code")
    lines = serializers.SerializerMethodField()

    class Meta:
        model = Transfer
        fields = [
            "number",
            "source",
            "destination",
            "status",
            "reference",
            "lines",
            "created_at",
            "received_at",
        ]

    def get_lines(self, transfer: Transfer) -> list[dict]:
        return [
            {"sku": line.variant.sku, "quantity": line.quantity} for line in transfer.lines.all()
        ]
