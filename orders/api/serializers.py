"""Serializers of the orders API: input shapes (validation only) and output shapes."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orders import domain
from orders.domain import ATTRIBUTION_LIMITS, Channel, Fulfilment
from orders.models import Order
from orders.selectors import days_left

CLIENT_CHANNELS = [Channel.WEB.value, Channel.APP.value]


class AttributionText(serializers.CharField):
    """A string as `orders.domain.attribution_value` takes it: printable (no control
    characters), stripped, within the column's length; anything else is a 400."""

    default_error_messages = {
        "not_a_string": "Must be a string.",
        "not_printable": "Must not contain control or unprintable characters.",
        "too_long": "Ensure this field has no more than {max_length} characters.",
    }

    def __init__(self, **kwargs):
        # Whitespace is stripped by the rule itself, after refusing control characters: a
        # trailing line break is refused, not silently cut off.
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return domain.attribution_value(self.field_name, data)
        except domain.AttributionRefused as refused:
            self.fail(refused.reason, max_length=self.max_length)


class AttributionInput(serializers.Serializer):
    """Where the shopper came from, as the client knows it; every field optional."""

    device = AttributionText(
        max_length=ATTRIBUTION_LIMITS["device"], help_text='The client: "ios", "android", "web".'
    )
    app_version = AttributionText(max_length=ATTRIBUTION_LIMITS["app_version"])
    utm_source = AttributionText(
        max_length=ATTRIBUTION_LIMITS["utm_source"], help_text="Stored lower-case."
    )
    utm_medium = AttributionText(
        max_length=ATTRIBUTION_LIMITS["utm_medium"], help_text="Stored lower-case."
    )
    utm_campaign = AttributionText(max_length=ATTRIBUTION_LIMITS["utm_campaign"])
    referrer = AttributionText(max_length=ATTRIBUTION_LIMITS["referrer"])


class AttributionOutput(serializers.Serializer):
    device = serializers.CharField()
    app_version = serializers.CharField()
    utm_source = serializers.CharField()
    utm_medium = serializers.CharField()
    utm_campaign = serializers.CharField()
    referrer = serializers.CharField()


class CartCreateInput(serializers.Serializer):
    channel = serializers.ChoiceField(choices=CLIENT_CHANNELS, default=Channel.WEB.value)
    attribution = AttributionInput(
        required=False,
        help_text="Where the shopper came from; copied to the order at checkout. A logged-in "
        "customer's existing cart keeps its own, or takes this one when it has none.",
    )


class CartUpdateInput(serializers.Serializer):
    fulfilment_type = serializers.ChoiceField(choices=[f.value for f in Fulfilment], required=False)
    pickup_location = serializers.CharField(required=False, max_length=64)
    coupon = serializers.CharField(required=False, allow_blank=True, max_length=64)
    delivery_address = serializers.DictField(
        child=serializers.CharField(max_length=200, allow_blank=True),
        required=False,
        help_text="A delivery's address (street, postal_code, city, country, and optionally "
        "latitude/longitude): the cart plans its shipments from the locations nearest to it.",
    )
    shipping_method = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=32,
        help_text="A delivery method's code (GET /api/v1/pricing/shipping-rates/); blank: "
        "the default.",
    )


class CartLineAddInput(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=999, default=1)


class CartLineSetInput(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=1, max_value=999)


class CartLineOutput(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    quantity = serializers.IntegerField()
    available = serializers.IntegerField()
    in_stock = serializers.BooleanField()
    problem = serializers.CharField(allow_null=True)
    line_total = serializers.CharField(required=False)


class CartOutput(serializers.Serializer):
    token = serializers.UUIDField(source="cart.token")
    state = serializers.CharField(source="cart.state")
    channel = serializers.CharField(source="cart.channel")
    fulfilment_type = serializers.CharField(source="cart.fulfilment_type")
    pickup_location = serializers.SerializerMethodField()
    coupon = serializers.CharField(source="cart.coupon_code")
    delivery_address = serializers.JSONField(source="cart.delivery_address")
    shipping_method = serializers.CharField(source="cart.shipping_method")
    attribution = AttributionOutput(source="cart.attribution")
    lines = CartLineOutput(many=True)
    quote = serializers.JSONField(allow_null=True, help_text="A fresh quote from the engine.")
    problems = serializers.JSONField()
    fulfilment = serializers.JSONField(
        help_text="Whether checkout could reserve the whole cart now for the chosen fulfilment: "
        '{"ready", "reason"}; a delivery also has "ships_from" (the first location) and '
        '"shipments": [{"from", "lines": [{"sku", "quantity"}]}] (one per location, chosen '
        "by fewest shipments, then nearest to the address, then warehouse before store), "
        'or "unavailable": [sku]; a pickup the store cannot fill also has '
        '"ship_to_store": {"possible", "ready_from" (date), "lines": [{"sku", "quantity", '
        '"from"}], "unavailable": [sku]} — what checkout with `allow_transfer` would send.'
    )
    points = serializers.JSONField(
        allow_null=True,
        help_text="Logged-in customers: balance, points usable on this cart and their value.",
    )

    def get_pickup_location(self, view) -> str | None:
        location = view.cart.pickup_location
        return location.code if location else None


class FulfilmentInput(serializers.Serializer):
    type = serializers.ChoiceField(choices=[f.value for f in Fulfilment])
    location = serializers.CharField(required=False, max_length=64)
    address = serializers.DictField(child=serializers.CharField(max_length=200), required=False)
    shipping_method = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=32,
        help_text="Delivery: the method's code; default: the cart's, else the default rate.",
    )
    allow_transfer = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Pickup: lines the store lacks may come from another location on a transfer "
        "(the cart's `fulfilment.ship_to_store` says which and from when); the order is "
        "`in_transit` until the store receives them.",
    )

    def validate(self, attrs):
        if attrs["type"] == Fulfilment.PICKUP and not attrs.get("location"):
            raise serializers.ValidationError({"location": "A pickup needs a location."})
        if attrs["type"] == Fulfilment.DELIVERY and not attrs.get("address"):
            raise serializers.ValidationError({"address": "A delivery needs an address."})
        return attrs


class ContactInput(serializers.Serializer):
    # Bounded by the order's columns: a value that cannot be stored is a 400, not a 500.
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=20)


class PaymentInputSerializer(serializers.Serializer):
    """`{"provider": "test", "token": "tok_ok"}`, or `{"method": "pay_in_store"}` for a pickup."""

    method = serializers.ChoiceField(choices=["online", "pay_in_store"], default="online")
    provider = serializers.CharField(required=False, allow_blank=True, max_length=50)
    token = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=255,
        help_text="The payment provider's one-time token from the client (test: tok_ok).",
    )

    def validate(self, attrs):
        if attrs["method"] == "online" and not (attrs.get("provider") and attrs.get("token")):
            raise serializers.ValidationError(
                {"token": "An online payment needs a provider and a token."}
            )
        return attrs


class CheckoutInput(serializers.Serializer):
    cart = serializers.UUIDField()
    fulfilment = FulfilmentInput()
    contact = ContactInput(required=False)
    payment = PaymentInputSerializer(
        required=False,
        help_text="Required unless points cover the whole amount: the provider authorizes "
        "the amount due at checkout and it is captured on handover or shipping.",
    )
    redeem_points = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=10_000_000,
        default=0,
        help_text="Points to spend; only for the logged-in owner of the points.",
    )
    expected_total = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        required=False,
        help_text="The total the shopper was shown; 409 price_changed when the quote differs.",
    )
    channel = serializers.ChoiceField(
        choices=CLIENT_CHANNELS,
        required=False,
        help_text="Where the order is placed; default: the channel the cart was started in.",
    )


class OrderLineOutput(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    discount_total = serializers.DecimalField(max_digits=12, decimal_places=2)
    line_total = serializers.DecimalField(max_digits=12, decimal_places=2)
    vat_rate = serializers.DecimalField(max_digits=5, decimal_places=2)
    vat_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    discounts = serializers.JSONField()


class TransitionOutput(serializers.Serializer):
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    actor_kind = serializers.CharField()
    at = serializers.DateTimeField()


class TenderOutput(serializers.Serializer):
    kind = serializers.CharField()
    provider = serializers.CharField()
    status = serializers.CharField(help_text="authorized, captured or voided")
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()


class ShipmentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    location = serializers.CharField(source="location.code", help_text="Ships from here.")
    carrier = serializers.CharField()
    tracking_number = serializers.CharField()
    shipped_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    lines = serializers.ListField(child=serializers.CharField(), help_text="The SKUs it carries.")


class OrderOutput(serializers.ModelSerializer):
    location = serializers.CharField(source="location.code")
    store = serializers.CharField(
        source="location.name", help_text="Where it was sold or is picked up."
    )
    lines = OrderLineOutput(many=True)
    transitions = TransitionOutput(many=True)
    tenders = TenderOutput(many=True)
    shipments = serializers.SerializerMethodField(
        help_text="A delivery's parcels, one per shipping location."
    )
    pickup_days_left = serializers.SerializerMethodField()
    attribution = AttributionOutput(
        read_only=True, help_text="Where the order came from, as its cart was started."
    )

    class Meta:
        model = Order
        fields = [
            "number",
            "channel",
            "fulfilment_type",
            "status",
            "location",
            "store",
            "delivery_address",
            "currency",
            "subtotal",
            "discount_total",
            "shipping_method",
            "shipping_total",
            "total",
            "points_redeemed",
            "points_value",
            "amount_due",
            "coupon_code",
            "payment_method",
            "pickup_code",
            "pickup_expires_at",
            "pickup_days_left",
            "ready_from",
            "placed_at",
            "attribution",
            "lines",
            "tenders",
            "shipments",
            "transitions",
        ]

    @extend_schema_field(ShipmentOutput(many=True))
    def get_shipments(self, order) -> list[dict]:
        lines = list(order.lines.all())
        return [
            ShipmentOutput(
                {
                    "id": shipment.pk,
                    "location": shipment.location,
                    "carrier": shipment.carrier,
                    "tracking_number": shipment.tracking_number,
                    "shipped_at": shipment.shipped_at,
                    "delivered_at": shipment.delivered_at,
                    "lines": [line.sku for line in lines if line.shipment_id == shipment.pk],
                }
            ).data
            for shipment in order.shipments.all()
        ]

    def get_pickup_days_left(self, order) -> int | None:
        return days_left(order)


class StaffOrderOutput(OrderOutput):
    """Staff see the order without the pickup code (the customer shows it at the counter),
    and whether it needs them: flagged by a till sale that took its units, a ship-to-store
    transfer that arrived short or is overdue, with the reason in `attention_note`."""

    needs_attention = serializers.BooleanField(
        read_only=True, help_text="Staff must look at it: see `attention_note`."
    )
    attention_note = serializers.CharField(
        read_only=True, help_text="Why it needs staff, and what they can do; blank otherwise."
    )

    class Meta(OrderOutput.Meta):
        fields = [
            *(f for f in OrderOutput.Meta.fields if f != "pickup_code"),
            "needs_attention",
            "attention_note",
        ]


class DeskPaymentInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["cash", "card"])
    reference = serializers.CharField(required=False, allow_blank=True, max_length=100)


class StaffPickupQueueQuery(serializers.Serializer):
    location = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Location code or id; default (or blank): every store of yours.",
    )
    status = serializers.ChoiceField(
        choices=[
            domain.Status.IN_TRANSIT.value,
            domain.Status.PLACED.value,
            domain.Status.READY_FOR_PICKUP.value,
        ],
        required=False,
        help_text="Only the orders on their way (in_transit), to prepare (placed) or "
        "waiting (ready_for_pickup).",
    )


class StaffPickupQueueOutput(serializers.Serializer):
    """One page of the queue, oldest order first, split by what staff do with it."""

    next = serializers.URLField(allow_null=True, help_text="The next page; null on the last.")
    previous = serializers.URLField(allow_null=True, help_text="The page before; null first.")
    incoming = StaffOrderOutput(
        many=True,
        help_text="In transit: ship-to-store orders on their way to the store, expected by "
        "`ready_from`; ready for pickup by themselves when the transfer is received "
        "(`needs_attention` when it arrived short or is overdue).",
    )
    to_prepare = StaffOrderOutput(many=True, help_text="Placed: pick and mark ready.")
    waiting = StaffOrderOutput(many=True, help_text="Ready: waiting for the customer.")


class StaffTransitionInput(serializers.Serializer):
    pickup_code = serializers.CharField(required=False, allow_blank=True, max_length=8)
    note = serializers.CharField(required=False, allow_blank=True, max_length=255)
    desk_payment = DeskPaymentInput(
        required=False, help_text="Handover of a pay-in-store order: how the customer paid."
    )
    shipment = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="Ship or deliver: the shipment (id); needed when several are open.",
    )
    carrier = serializers.CharField(required=False, allow_blank=True, max_length=64)
    tracking_number = serializers.CharField(required=False, allow_blank=True, max_length=100)


class StaffRerouteInput(serializers.Serializer):
    location = serializers.CharField(
        max_length=32, help_text="Code (or id) of the pickup store that takes the order over."
    )
