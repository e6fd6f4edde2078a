"""Staff cart API: selling on a customer's behalf from a store's tablet (endless aisle) or
the call centre.

Every view checks the Django permission of selling (the channel's) for a staff login,
then reaches the cart through `orders.assisted.staff_cart_get`, which answers 404 for a
cart of another store or of the other kind of seller. Each view validates its input's
shape and calls one service, as the customer cart API does.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotAuthenticated, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.bound import represent
from core.api.idempotency import idempotent_response
from core.db import run_with_retry
from customers.selectors import customer_identify
from orders import assisted, selectors, services
from orders.api import assisted_serializers as s
from orders.api import serializers as cart_s


def staff_cart_response(cart, sale, *, status_code=status.HTTP_200_OK, remember=True) -> Response:
    """The staff cart with a fresh quote for its customer; after a change the total is kept
    for checkout's price check (a GET only shows)."""
    view = assisted.staff_cart_view(cart=cart, assisted=sale)
    if remember:
        services.cart_remember_quote(cart=cart, total=view.total)
    return Response(s.StaffCartOutput(view).data, status=status_code)


class SellerView(APIView):
    """A member of staff who may sell on a customer's behalf through some channel."""

    def seller_channels(self, request) -> list[str]:
        if not request.user.is_authenticated:
            raise NotAuthenticated()
        channels = assisted.seller_channels(user=request.user)
        if not channels:
            raise PermissionDenied()
        return channels

    def staff_cart(self, request, token):
        self.seller_channels(request)
        return assisted.staff_cart_get(token=token, user=request.user)


class StaffCartCreateView(SellerView):
    """Start a cart for an identified customer (found by phone or loyalty card)."""

    @extend_schema(
        request=s.StaffCartCreateInput,
        responses={201: s.StaffCartOutput},
        description="Errors: 400 `validation_error`, `customer_identifier_required`, "
        "`invalid_phone`, `invalid_card_number`, `store_required`; 403 `selling_not_allowed`, "
        "`store_not_allowed`; 404 `customer_not_found`.",
    )
    def post(self, request):
        channels = self.seller_channels(request)
        data = s.StaffCartCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        customer = customer_identify(**v["customer"])
        cart, sale = assisted.staff_cart_create(
            user=request.user,
            customer=customer,
            channel=v.get("channel") or channels[0],
            store=v.get("store"),
            attribution=v.get("attribution"),
        )
        return staff_cart_response(cart, sale, status_code=status.HTTP_201_CREATED)


class StaffCartDetailView(SellerView):
    @extend_schema(responses=s.StaffCartOutput)
    def get(self, request, token):
        cart, sale = self.staff_cart(request, token)
        return staff_cart_response(cart, sale, remember=False)

    @extend_schema(
        request=cart_s.CartUpdateInput,
        responses=s.StaffCartOutput,
        description="A coupon is the customer's: 403 `customer_confirmation_required` until "
        "they confirmed with their code.",
    )
    def patch(self, request, token):
        cart, sale = self.staff_cart(request, token)
        data = cart_s.CartUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        cart = assisted.staff_cart_update(
            cart=cart,
            assisted=sale,
            fulfilment_type=v.get("fulfilment_type"),
            pickup_location=v.get("pickup_location"),
            coupon_code=v.get("coupon"),
            delivery_address=v.get("delivery_address"),
            shipping_method=v.get("shipping_method"),
        )
        return staff_cart_response(cart, sale)


class StaffCartLinesView(SellerView):
    @extend_schema(request=cart_s.CartLineAddInput, responses=s.StaffCartOutput)
    def post(self, request, token):
        cart, sale = self.staff_cart(request, token)
        data = cart_s.CartLineAddInput(data=request.data)
        data.is_valid(raise_exception=True)
        cart = services.cart_line_add(cart=cart, **data.validated_data)
        return staff_cart_response(cart, sale)


class StaffCartLineView(SellerView):
    @extend_schema(request=cart_s.CartLineSetInput, responses=s.StaffCartOutput)
    def patch(self, request, token, sku):
        cart, sale = self.staff_cart(request, token)
        data = cart_s.CartLineSetInput(data=request.data)
        data.is_valid(raise_exception=True)
        cart = services.cart_line_set(cart=cart, sku=sku, **data.validated_data)
        return staff_cart_response(cart, sale)

    @extend_schema(responses={200: s.StaffCartOutput})
    def delete(self, request, token, sku):
        cart, sale = self.staff_cart(request, token)
        return staff_cart_response(services.cart_line_remove(cart=cart, sku=sku), sale)


class StaffCartConfirmationView(SellerView):
    """Send the customer a code (to a contact of their profile) that lets staff use their
    points and coupons on this cart; again, a new code."""

    @extend_schema(
        request=None,
        responses={202: s.ConsentRequestOutput},
        description="Errors: 400 `contact_unreachable`; 409 `too_many_codes`; 410 "
        "`verification_locked` after too many wrong codes.",
    )
    def post(self, request, token):
        _cart, sale = self.staff_cart(request, token)
        sale = run_with_retry(lambda: assisted.staff_cart_consent_request(assisted=sale))
        verification = sale.consent
        return Response(
            {
                "confirmation": assisted.consent_state(sale),
                "sent_to": verification.field if verification else None,
                "expires_at": verification.expires_at if verification else None,
            },
            status=status.HTTP_202_ACCEPTED,
        )


class StaffCartConfirmView(SellerView):
    """The code the customer gives: their points and coupons may be used on this cart."""

    @extend_schema(
        request=s.ConsentCodeInput,
        responses=s.StaffCartOutput,
        description="Errors: 400 `invalid_code` (attempts left in details); 409 "
        "`confirmation_not_requested`; 410 `verification_expired`, `verification_locked`.",
    )
    def post(self, request, token):
        cart, sale = self.staff_cart(request, token)
        data = s.ConsentCodeInput(data=request.data)
        data.is_valid(raise_exception=True)
        sale = assisted.staff_cart_consent_confirm(assisted=sale, code=data.validated_data["code"])
        return staff_cart_response(cart, sale, remember=False)


class StaffCheckoutView(SellerView):
    """Place the order of a staff cart for its customer: pickup in any store, delivery.
    Requires an Idempotency-Key header: retries replay."""

    @extend_schema(
        request=s.StaffCheckoutInput,
        responses={201: s.AssistedOrderOutput},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, True)],
        description="The checkout's errors, and 403 `customer_confirmation_required` for "
        "points or a coupon the customer has not confirmed.",
    )
    def post(self, request):
        self.seller_channels(request)

        def place() -> Response:
            data = s.StaffCheckoutInput(data=request.data)
            data.is_valid(raise_exception=True)
            v = data.validated_data
            cart, sale = assisted.staff_cart_get(token=v["cart"], user=request.user)
            payment = v.get("payment")
            order = assisted.staff_checkout_place(
                cart=cart,
                assisted=sale,
                user=request.user,
                fulfilment=v["fulfilment"],
                payment=services.PaymentInput(**payment) if payment else None,
                redeem_points=v["redeem_points"],
                expected_total=v.get("expected_total"),
            )
            order = selectors.order_get(number=order.number)
            return Response(represent(s.AssistedOrderOutput, order), status=status.HTTP_201_CREATED)

        scope = f"staff-checkout:{request.user.pk}"
        return run_with_retry(lambda: idempotent_response(request, scope=scope, handler=place))
