"""Serializers of the pricing API: the quote request's shape, and output shapes for the schema.

They validate shape only (a SKU is a string, a quantity an integer); the pricing rules —
quantity bounds included — live in the engine so every channel gets the same errors.
"""

from rest_framework import serializers


class QuoteLineInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64, trim_whitespace=True)
    quantity = serializers.IntegerField(help_text="1 to 10000.")


class QuoteInputSerializer(serializers.Serializer):
    lines = QuoteLineInputSerializer(many=True, allow_empty=False, max_length=500)
    coupon = serializers.CharField(
        max_length=64, required=False, allow_null=True, allow_blank=True, default=None
    )


class DiscountOutputSerializer(serializers.Serializer):
    promotion_id = serializers.IntegerField()
    promotion_name = serializers.CharField()
    kind = serializers.CharField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)


class QuoteLineOutputSerializer(serializers.Serializer):
    sku = serializers.CharField()
    variant_id = serializers.IntegerField()
    product_id = serializers.IntegerField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=2)
    subtotal = serializers.DecimalField(max_digits=14, decimal_places=2)
    discounts = DiscountOutputSerializer(many=True)
    discount_total = serializers.DecimalField(max_digits=14, decimal_places=2)
    line_total = serializers.DecimalField(max_digits=14, decimal_places=2)
    vat_rate = serializers.DecimalField(max_digits=5, decimal_places=2)
    vat_amount = serializers.DecimalField(max_digits=14, decimal_places=2)


class VatOutputSerializer(serializers.Serializer):
    rate = serializers.DecimalField(max_digits=5, decimal_places=2)
    base = serializers.DecimalField(max_digits=14, decimal_places=2, help_text="Net of VAT.")
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    gross = serializers.DecimalField(max_digits=14, decimal_places=2)


class CouponStatusOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    status = serializers.ChoiceField(choices=["applied", "not_applicable"])
    reason = serializers.CharField(
        allow_null=True,
        help_text=(
            "Why it did not apply: inactive, not_started, expired, usage_limit_reached, "
            "customer_limit_reached, customer_required, not_in_basket, conditions_not_met, "
            "not_combinable, no_saving."
        ),
    )


class QuoteOutputSerializer(serializers.Serializer):
    currency = serializers.CharField()
    lines = QuoteLineOutputSerializer(many=True)
    subtotal = serializers.DecimalField(max_digits=14, decimal_places=2)
    discount_total = serializers.DecimalField(max_digits=14, decimal_places=2)
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    vat = VatOutputSerializer(many=True)
    coupon = CouponStatusOutputSerializer(allow_null=True)
    priced_at = serializers.DateTimeField()


class PromotionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    kind = serializers.CharField()
    scope = serializers.CharField()
    value = serializers.DecimalField(max_digits=14, decimal_places=3)
    buy_quantity = serializers.IntegerField()
    get_quantity = serializers.IntegerField()
    threshold = serializers.DecimalField(max_digits=14, decimal_places=3)
    currency = serializers.SerializerMethodField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField(allow_null=True)
    priority = serializers.IntegerField()
    is_stackable = serializers.BooleanField()
    requires_coupon = serializers.BooleanField()
    variant_ids = serializers.SerializerMethodField()
    product_ids = serializers.SerializerMethodField()
    category_ids = serializers.SerializerMethodField()

    def get_currency(self, promotion) -> str:
        return self.context["currency"]

    def get_variant_ids(self, promotion) -> list[int]:
        return sorted(v.pk for v in promotion.variants.all())

    def get_product_ids(self, promotion) -> list[int]:
        return sorted(p.pk for p in promotion.products.all())

    def get_category_ids(self, promotion) -> list[int]:
        return sorted(c.pk for c in promotion.categories.all())
