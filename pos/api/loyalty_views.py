"""POS API for bonuses at the till: customer lookup, basket quote, points holds.

Terminal auth only, like the feeds. A till learns no more of a customer than it needs
to take points: initials, tier and points (no names, contacts or history); lookups are
throttled per till so a till cannot walk the customer base. Holds set points aside for
a sale in progress; the synced sale that names the hold converts it into a redemption.
"""

from decimal import Decimal

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from catalog import selectors as catalog_selectors
from core.api.idempotency import idempotent_response
from core.api.throttles import ScopedThrottle
from core.db import run_with_retry
from loyalty import services as loyalty_services
from loyalty.models import LoyaltyHold
from pos import loyalty as pos_loyalty
from pos.api.views import TerminalView
from pricing import selectors as pricing_selectors
from pricing.errors import UnknownSku

MONEY = {"max_digits": 12, "decimal_places": 2}


class CustomerRefSerializer(serializers.Serializer):
    """Exactly one of phone, card or id (the id a lookup answered)."""

    phone = serializers.CharField(required=False, max_length=32)
    card = serializers.CharField(required=False, max_length=32)
    id = serializers.IntegerField(required=False, min_value=1, max_value=2**62)

    def validate(self, attrs):
        if len(attrs) != 1:
            raise serializers.ValidationError("Give exactly one of phone, card or id.")
        return attrs


class CustomerCardSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Send it back as customer.id in holds and sales.")
    initials = serializers.CharField(help_text='"A. K.": all a till shows of the name.')
    tier = serializers.CharField(allow_null=True)
    tier_multiplier = serializers.DecimalField(max_digits=5, decimal_places=2)
    points_available = serializers.IntegerField(
        help_text="Balance minus overdue points and points held at tills: spendable now."
    )
    points_value = serializers.DecimalField(**MONEY)
    currency = serializers.CharField()
    redeemable_points = serializers.IntegerField(
        allow_null=True, help_text="Points that may pay for a basket of `total` (null without)."
    )
    redeemable_value = serializers.DecimalField(**MONEY, allow_null=True)


def _identify(ref: dict):
    return pos_loyalty.customer_identify(**ref)


class CustomerLookupView(TerminalView):
    """Find a customer by phone or loyalty card: initials, tier and points — never the
    profile. With `total`, also how many points may pay for a basket of that total."""

    throttle_classes = [ScopedThrottle]
    throttle_scope = "pos_customer_lookup"

    class LookupQuerySerializer(serializers.Serializer):
        phone = serializers.CharField(required=False, max_length=32)
        card = serializers.CharField(required=False, max_length=32)
        total = serializers.DecimalField(**MONEY, required=False, min_value=Decimal(0))

        def validate(self, attrs):
            if ("phone" in attrs) == ("card" in attrs):
                raise serializers.ValidationError("Give either phone or card.")
            return attrs

    @extend_schema(
        parameters=[LookupQuerySerializer],
        responses={200: CustomerCardSerializer},
        description=(
            "Errors: 400 `validation_error`, `invalid_phone`, `invalid_card_number`; 404 "
            "`customer_not_found`; 429 when the till looks up too many customers."
        ),
    )
    def get(self, request):
        query = self.LookupQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = dict(query.validated_data)
        total = data.pop("total", None)
        customer = _identify(data)
        return Response(
            CustomerCardSerializer(
                pos_loyalty.customer_card(customer=customer, order_total=total)
            ).data
        )


class QuoteView(TerminalView):
    """Price a basket with the one engine (promotions, coupon, VAT) for the till; for an
    identified customer also the points that may pay for it and the points it earns."""

    throttle_classes = [ScopedThrottle]
    throttle_scope = "pricing_quote"

    class PosQuoteLineSerializer(serializers.Serializer):
        sku = serializers.CharField(required=False, max_length=64)
        barcode = serializers.CharField(required=False, max_length=14)
        quantity = serializers.IntegerField(help_text="1 to 10000.")

        def validate(self, attrs):
            if ("sku" in attrs) == ("barcode" in attrs):
                raise serializers.ValidationError("Give either sku or barcode.")
            return attrs

    class PosQuoteInputSerializer(serializers.Serializer):
        lines = serializers.ListField(allow_empty=False, max_length=500)
        customer = CustomerRefSerializer(required=False, allow_null=True)
        coupon = serializers.CharField(
            required=False, allow_null=True, allow_blank=True, max_length=64
        )

        def validate_lines(self, value):
            lines = QuoteView.PosQuoteLineSerializer(data=value, many=True)
            lines.is_valid(raise_exception=True)
            return lines.validated_data

    class PosQuoteOutputSerializer(serializers.Serializer):
        quote = serializers.DictField(help_text="The engine's quote, as POST /pricing/quote/.")
        customer = CustomerCardSerializer(allow_null=True)
        points_to_earn = serializers.IntegerField(allow_null=True)

    @extend_schema(
        request=PosQuoteInputSerializer,
        responses={200: PosQuoteOutputSerializer},
        description=(
            "Errors: 400 `validation_error`, `invalid_quantity`; 404 `customer_not_found`; "
            "422 `unknown_sku` (barcodes too), `variant_inactive`, `no_price`, "
            "`coupon_not_found`."
        ),
        examples=[
            OpenApiExample(
                "basket",
                value={
                    "lines": [{"barcode": "4006381333931", "quantity": 2}],
                    "customer": {"card": "2000000000015"},
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):
        data = self.PosQuoteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lines = data.validated_data["lines"]
        codes = {line["barcode"] for line in lines if "barcode" in line}
        by_code = catalog_selectors.variants_by_barcode(codes=codes) if codes else {}
        unknown = [
            {"index": i, "barcode": line["barcode"], "code": UnknownSku.code}
            for i, line in enumerate(lines)
            if "barcode" in line and line["barcode"] not in by_code
        ]
        if unknown:
            raise UnknownSku(details={"lines": unknown})
        basket = [
            {
                "sku": line.get("sku") or by_code[line["barcode"]].sku,
                "quantity": line["quantity"],
            }
            for line in lines
        ]
        ref = data.validated_data.get("customer")
        customer = _identify(ref) if ref else None
        quote = pricing_selectors.quote(
            basket, customer=customer, coupon=data.validated_data.get("coupon")
        )
        card, earn = None, None
        if customer is not None:
            card = pos_loyalty.customer_card(customer=customer, order_total=quote.total)
            earn = pos_loyalty.points_to_earn(customer=customer, quote=quote)
        return Response(
            {
                "quote": quote.as_dict(),
                "customer": CustomerCardSerializer(card).data if card else None,
                "points_to_earn": earn,
            }
        )


class HoldSerializer(serializers.ModelSerializer):
    class Meta:
        model = LoyaltyHold
        fields = [
            "id",
            "status",
            "points",
            "order_total",
            "reference",
            "expires_at",
            "confirmation_required",
            "confirmed_at",
        ]


def _hold_answer(hold, code=status.HTTP_200_OK) -> Response:
    return Response(HoldSerializer(hold).data, status=code)


class HoldCreateView(TerminalView):
    """Set points aside for the sale in progress (expires after LOYALTY_HOLD_MINUTES).

    Above LOYALTY_HOLD_CONFIRM_POINTS the customer gets a one-time code to give the
    cashier (`confirmation_required`); confirm it with `POST holds/{id}/confirm/`. Name
    the hold in the synced sale (`hold`) to turn it into the redemption. Needs an
    Idempotency-Key: a retry answers the same hold.
    """

    class HoldCreateInputSerializer(serializers.Serializer):
        customer = CustomerRefSerializer()
        points = serializers.IntegerField(min_value=1, max_value=10**9)
        total = serializers.DecimalField(**MONEY, min_value=Decimal(0))
        reference = serializers.CharField(required=False, allow_blank=True, max_length=100)

    @extend_schema(
        request=HoldCreateInputSerializer,
        responses={201: HoldSerializer},
        description=(
            "Errors: 400 `validation_error`, `idempotency_key_required`; 404 "
            "`customer_not_found`; 422 `insufficient_points` (details.available), "
            "`redemption_limit_exceeded`, `loyalty_not_configured`, "
            "`confirmation_unreachable`, `idempotency_key_reused`."
        ),
    )
    def post(self, request):
        data = self.HoldCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        terminal = request.auth

        def create() -> Response:
            hold = loyalty_services.hold_create(
                customer=_identify(values["customer"]),
                points=values["points"],
                order_total=values["total"],
                terminal_code=terminal.code,
                reference=values.get("reference", ""),
            )
            return _hold_answer(hold, status.HTTP_201_CREATED)

        return run_with_retry(
            lambda: idempotent_response(
                request, scope=f"pos-loyalty-hold:{terminal.pk}", handler=create
            )
        )


class HoldView(TerminalView):
    """A hold made by this till: see it, or release it (`DELETE`) when the sale is off."""

    @extend_schema(responses={200: HoldSerializer}, description="Errors: 404 `hold_not_found`.")
    def get(self, request, hold_id):
        hold = pos_loyalty.hold_of_terminal(hold_id=hold_id, terminal=request.auth)
        return _hold_answer(hold)

    @extend_schema(
        responses={200: HoldSerializer},
        description="Errors: 404 `hold_not_found`; 409 `hold_not_open` (already converted).",
    )
    def delete(self, request, hold_id):
        hold = loyalty_services.hold_release(hold_id=hold_id, terminal_code=request.auth.code)
        return _hold_answer(hold)


class HoldConfirmView(TerminalView):
    """The customer's one-time code confirms a hold above the confirmation limit."""

    class HoldConfirmInputSerializer(serializers.Serializer):
        code = serializers.CharField(max_length=12)

    @extend_schema(
        request=HoldConfirmInputSerializer,
        responses={200: HoldSerializer},
        description=(
            "Errors: 400 `invalid_code` (details.attempts_left); 404 `hold_not_found`; 409 "
            "`hold_not_open`; 410 `code_expired`, `hold_locked` (too many wrong codes: "
            "the hold was released)."
        ),
    )
    def post(self, request, hold_id):
        data = self.HoldConfirmInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        hold = loyalty_services.hold_confirm(
            hold_id=hold_id, terminal_code=request.auth.code, code=data.validated_data["code"]
        )
        return _hold_answer(hold)
