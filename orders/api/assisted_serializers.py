"""Serializers of the staff cart API (selling on a customer's behalf): input shapes and the
staff cart and order outputs. The cart and order shapes are the customer API's, plus who
the sale is for and by, the customer's consent, and where each line's stock is."""

from rest_framework import serializers

from orders.api.serializers import (
    AttributionInput,
    CartOutput,
    CheckoutInput,
    StaffOrderOutput,
)
from orders.domain import Channel


class CustomerRefInput(serializers.Serializer):
    """Exactly one of the customer's phone or loyalty card number."""

    phone = serializers.CharField(required=False, max_length=32)
    card = serializers.CharField(required=False, max_length=32)

    def validate(self, attrs):
        if len([v for v in attrs.values() if v]) != 1:
            raise serializers.ValidationError("Give exactly one of phone or card.")
        return attrs


class StaffCartCreateInput(serializers.Serializer):
    customer = CustomerRefInput(help_text="The identified customer the cart is for.")
    channel = serializers.ChoiceField(
        choices=[Channel.STORE_ASSISTED.value, Channel.CALL_CENTRE.value],
        required=False,
        help_text="store_assisted (a store's staff) or call_centre; default: the one your "
        "role allows (store_assisted when both do).",
    )
    store = serializers.CharField(
        required=False,
        max_length=64,
        help_text="store_assisted: the store you sell from (code or id), one of yours; "
        "default: your only store.",
    )
    attribution = AttributionInput(required=False)


class ConsentCodeInput(serializers.Serializer):
    code = serializers.CharField(max_length=12, help_text="The code the customer received.")


class AssistedCustomerOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.SerializerMethodField()
    card_number = serializers.CharField(allow_null=True)

    def get_name(self, customer) -> str:
        return f"{customer.first_name} {customer.last_name}".strip()


class AssistedSaleOutput(serializers.Serializer):
    channel = serializers.CharField()
    customer = AssistedCustomerOutput()
    staff = serializers.CharField(source="staff.email", help_text="Who started the cart.")
    store = serializers.CharField(source="store.code", allow_null=True, default=None)
    confirmation = serializers.SerializerMethodField(
        help_text="The customer's consent to their points and coupons: none, requested "
        "(a code was sent) or confirmed."
    )

    def get_confirmation(self, assisted) -> str:
        from orders.assisted import consent_state

        return consent_state(assisted)


class StockPlaceOutput(serializers.Serializer):
    location = serializers.CharField()
    name = serializers.CharField()
    available = serializers.IntegerField()


class StaffCartOutput(CartOutput):
    """The cart as the customer API shows it, priced for its customer, plus the sale."""

    assisted = AssistedSaleOutput(help_text="Who the cart is for and by.")
    stock = serializers.DictField(
        child=StockPlaceOutput(many=True),
        help_text="SKU → the locations holding it now (any of them can fulfil: pickup there, "
        "delivery, or ship-to-store).",
    )


class ConsentRequestOutput(serializers.Serializer):
    confirmation = serializers.CharField(help_text="requested, or confirmed already.")
    sent_to = serializers.CharField(
        allow_null=True, help_text="phone or email: the kind of contact the code went to."
    )
    expires_at = serializers.DateTimeField(allow_null=True)


class StaffCheckoutInput(CheckoutInput):
    """Checkout of a staff cart: the customer API's checkout without contact or channel
    (the order is the cart's customer's, of the sale's channel)."""

    contact = None
    channel = None
    redeem_points = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=10_000_000,
        default=0,
        help_text="The customer's points to spend: only after they confirmed with their code.",
    )


class AssistedOrderOutput(StaffOrderOutput):
    """The order as staff see it (no pickup code: the customer gets it), with who sold it."""

    sold_by = serializers.SerializerMethodField()

    class Meta(StaffOrderOutput.Meta):
        fields = [*StaffOrderOutput.Meta.fields, "sold_by"]

    def get_sold_by(self, order) -> dict | None:
        sale = getattr(order, "assisted_sale", None)
        if sale is None:
            return None
        return {
            "staff": sale.placed_by.email if sale.placed_by_id else sale.staff.email,
            "store": sale.store.code if sale.store_id else None,
        }
