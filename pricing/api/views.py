"""Pricing endpoints: quote a basket, list the promotions live now. Public, read-only.

A quote writes nothing, so it needs no Idempotency-Key; a signed-in customer's id is
passed to the engine so per-customer coupon limits are checked.
"""

from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.throttles import ScopedThrottle
from pricing import selectors
from pricing.api.serializers import (
    PromotionOutputSerializer,
    QuoteInputSerializer,
    QuoteOutputSerializer,
)


def _request_customer_id(request) -> int | None:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    try:
        # The profile sits above pricing: read its id through the user, never import it.
        return user.customer.pk
    except (AttributeError, ObjectDoesNotExist):
        return None


class QuoteView(APIView):
    """Price a basket exactly as checkout will: base prices, promotions, coupon, VAT, totals."""

    permission_classes = [AllowAny]
    # A quote says whether a coupon code exists: limit how fast codes can be guessed.
    throttle_classes = [ScopedThrottle]
    throttle_scope = "pricing_quote"

    @extend_schema(
        request=QuoteInputSerializer,
        responses={200: QuoteOutputSerializer},
        description=(
            "Errors: 400 `validation_error` (shape), 400 `invalid_quantity`; 422 "
            "`unknown_sku`, `variant_inactive`, `no_price` (every bad line listed in "
            "details.lines); 422 `coupon_not_found` when no coupon has the code. A coupon "
            "that exists but does not apply is reported in `coupon.status`/`reason`."
        ),
        examples=[
            OpenApiExample(
                "basket",
                value={"lines": [{"sku": "TEE-BLK-M", "quantity": 2}], "coupon": "WELCOME10"},
                request_only=True,
            )
        ],
    )
    def post(self, request):
        data = QuoteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        quote = selectors.quote(
            data.validated_data["lines"],
            customer=_request_customer_id(request),
            coupon=data.validated_data.get("coupon"),
        )
        return Response(quote.as_dict())


class PromotionListView(APIView):
    """Promotions live now, highest priority first (for banners on every channel)."""

    permission_classes = [AllowAny]

    @extend_schema(responses={200: PromotionOutputSerializer(many=True)})
    def get(self, request):
        promotions = selectors.promotions_live()
        default = selectors.price_list_default()
        currency = default.currency if default else None
        context = {"request": request, "currency": currency}
        return Response(PromotionOutputSerializer(promotions, many=True, context=context).data)


class ShippingRateOutput(serializers.Serializer):
    code = serializers.CharField(help_text="Give it as the cart's `shipping_method`.")
    name = serializers.CharField()
    price = serializers.DecimalField(max_digits=10, decimal_places=2)
    free_above = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        allow_null=True,
        help_text="Free when the goods (after discounts) cost at least this.",
    )
    vat_rate = serializers.DecimalField(max_digits=5, decimal_places=2)


class ShippingRateListView(APIView):
    """The delivery methods and what they cost, the default first (a delivery quote adds
    the chosen one's fee to the total)."""

    permission_classes = [AllowAny]

    @extend_schema(responses={200: ShippingRateOutput(many=True)})
    def get(self, request):
        return Response(ShippingRateOutput(selectors.shipping_rates(), many=True).data)
