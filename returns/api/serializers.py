"""Serializers of the returns API: input shapes (validation only) and the return's shape."""

from rest_framework import serializers

from core.api.fields import WholeNumberField
from returns.models import Condition, Return, ReturnReason
from returns.services import OTHER_TENDERS

MAX_LINES = 200


class ReturnLineInput(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = WholeNumberField(min_value=1, max_value=10_000)
    condition = serializers.ChoiceField(
        choices=Condition.choices, default=Condition.RESALEABLE.value
    )


class CustomerReturnLineInput(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = WholeNumberField(min_value=1, max_value=10_000)


class ExchangeLineInput(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = WholeNumberField(min_value=1, max_value=999)


class ExchangePaymentInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["cash", "card"])
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True)


class ExchangeInput(serializers.Serializer):
    lines = ExchangeLineInput(many=True, min_length=1, max_length=MAX_LINES)
    payment = ExchangePaymentInput(
        required=False, help_text="How the customer pays when the new items cost more."
    )


class StaffReturnInput(serializers.Serializer):
    order = serializers.CharField(
        max_length=64, help_text="The order number, or a till sale's UUID from the receipt."
    )
    location = serializers.CharField(max_length=64, help_text="Where the goods are received.")
    reason = serializers.ChoiceField(choices=ReturnReason.choices)
    lines = ReturnLineInput(many=True, min_length=1, max_length=MAX_LINES)
    note = serializers.CharField(max_length=255, required=False, allow_blank=True)
    override_reason = serializers.CharField(
        max_length=255,
        required=False,
        allow_blank=True,
        help_text="Store managers: accept goods past their return window, saying why.",
    )
    refund_to = serializers.ChoiceField(
        choices=OTHER_TENDERS,
        required=False,
        help_text="Store managers: pay the money back in this tender instead of the "
        "original ones (with refund_to_reason).",
    )
    refund_to_reason = serializers.CharField(max_length=255, required=False, allow_blank=True)
    exchange = ExchangeInput(
        required=False, help_text="An exchange: the new items sold in the same step."
    )


class StaffCompleteInput(serializers.Serializer):
    lines = ReturnLineInput(
        many=True,
        min_length=1,
        max_length=MAX_LINES,
        required=False,
        help_text="What actually arrived; default: what the customer asked to return.",
    )
    location = serializers.CharField(max_length=64, required=False)
    refund_to = serializers.ChoiceField(choices=OTHER_TENDERS, required=False)
    refund_to_reason = serializers.CharField(max_length=255, required=False, allow_blank=True)


class CustomerReturnInput(serializers.Serializer):
    order = serializers.CharField(max_length=64)
    location = serializers.CharField(
        max_length=64, required=False, help_text="The store you will bring the goods to."
    )
    courier_pickup = serializers.BooleanField(
        default=False, help_text="Have a courier fetch the goods instead."
    )
    reason = serializers.ChoiceField(choices=ReturnReason.choices)
    lines = CustomerReturnLineInput(many=True, min_length=1, max_length=MAX_LINES)
    note = serializers.CharField(max_length=255, required=False, allow_blank=True)


class ReturnLineOutput(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    quantity = WholeNumberField()
    condition = serializers.CharField()
    value = serializers.DecimalField(max_digits=12, decimal_places=2)
    points_reversed = serializers.IntegerField()


class RefundTenderOutput(serializers.Serializer):
    kind = serializers.CharField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    points = serializers.IntegerField()
    status = serializers.CharField(help_text="pending (at the provider), refunded or failed")
    provider = serializers.CharField()


class RefundOutput(serializers.Serializer):
    amount = serializers.DecimalField(
        source="refund_amount",
        max_digits=12,
        decimal_places=2,
        help_text="Money paid back (points given back as points and exchange credit apart).",
    )
    currency = serializers.CharField()
    tenders = RefundTenderOutput(source="refunds", many=True)


class ReturnOutput(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.ChoiceField(choices=Return.Status.choices)
    order = serializers.CharField(source="order.number")
    order_channel = serializers.CharField(source="order.channel")
    location = serializers.CharField(source="location.code")
    courier_pickup = serializers.BooleanField()
    source = serializers.CharField()
    reason = serializers.CharField()
    note = serializers.CharField()
    lines = ReturnLineOutput(many=True)
    value = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="What the returned units were paid."
    )
    refund = RefundOutput(source="*")
    points_returned = serializers.IntegerField(help_text="Spent points given back.")
    points_reversed = serializers.IntegerField(help_text="Earned points taken back.")
    points_shortfall = serializers.IntegerField(
        help_text="Earned points already spent, so not taken back: deducted from the money."
    )
    shortfall_deduction = serializers.DecimalField(max_digits=12, decimal_places=2)
    window_override_reason = serializers.CharField()
    exchange_order = serializers.CharField(source="exchange_order.number", allow_null=True)
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
