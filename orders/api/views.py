"""Orders API: carts that follow the customer, checkout, orders, and the store staff actions.

Each view validates the shape of its input and calls one service; domain errors become
the error shape through the project's exception handler.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotAuthenticated, PermissionDenied
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.idempotency import idempotent_response
from customers.selectors import customer_get_for_user
from inventory import selectors as inventory_selectors
from orders import selectors, services
from orders.api import serializers as s
from orders.domain import Actor, Status


def request_customer(request):
    """The customer profile of the logged-in user, or None for an anonymous request."""
    user = request.user
    if not user or not user.is_authenticated:
        return None
    return customer_get_for_user(user=user)


def cart_response(cart, *, status_code=status.HTTP_200_OK) -> Response:
    view = selectors.cart_view(cart=cart)
    services.cart_remember_quote(cart=cart, total=view.total)
    return Response(s.CartOutput(view).data, status=status_code)


class CartCreateView(APIView):
    """Start a cart. Anonymous: a new cart whose token the client keeps. Logged in: theirs."""

    permission_classes = [AllowAny]

    @extend_schema(request=s.CartCreateInput, responses={201: s.CartOutput})
    def post(self, request):
        data = s.CartCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        cart = services.cart_create(
            channel=data.validated_data["channel"], customer=request_customer(request)
        )
        return cart_response(cart, status_code=status.HTTP_201_CREATED)


class CartCurrentView(APIView):
    """The logged-in customer's one open cart, the same on every device."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses=s.CartOutput,
        parameters=[OpenApiParameter("channel", str, enum=s.CLIENT_CHANNELS)],
    )
    def get(self, request):
        channel = request.query_params.get("channel", "web")
        if channel not in s.CLIENT_CHANNELS:
            channel = "web"
        cart = services.cart_get_current(customer=request_customer(request), channel=channel)
        return cart_response(cart)


class CartDetailView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=s.CartOutput)
    def get(self, request, token):
        return cart_response(selectors.cart_get(token=token, customer=request_customer(request)))

    @extend_schema(request=s.CartUpdateInput, responses=s.CartOutput)
    def patch(self, request, token):
        cart = selectors.cart_get(token=token, customer=request_customer(request))
        data = s.CartUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        cart = services.cart_update(
            cart=cart,
            fulfilment_type=v.get("fulfilment_type"),
            pickup_location=v.get("pickup_location"),
            coupon_code=v.get("coupon"),
        )
        return cart_response(cart)


class CartLinesView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(request=s.CartLineAddInput, responses=s.CartOutput)
    def post(self, request, token):
        cart = selectors.cart_get(token=token, customer=request_customer(request))
        data = s.CartLineAddInput(data=request.data)
        data.is_valid(raise_exception=True)
        cart = services.cart_line_add(cart=cart, **data.validated_data)
        return cart_response(cart)


class CartLineView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(request=s.CartLineSetInput, responses=s.CartOutput)
    def patch(self, request, token, sku):
        cart = selectors.cart_get(token=token, customer=request_customer(request))
        data = s.CartLineSetInput(data=request.data)
        data.is_valid(raise_exception=True)
        cart = services.cart_line_set(cart=cart, sku=sku, **data.validated_data)
        return cart_response(cart)

    @extend_schema(responses=s.CartOutput)
    def delete(self, request, token, sku):
        cart = selectors.cart_get(token=token, customer=request_customer(request))
        return cart_response(services.cart_line_remove(cart=cart, sku=sku))


class CheckoutView(APIView):
    """Place an order from a cart. Requires an Idempotency-Key header: retries replay."""

    permission_classes = [AllowAny]

    @extend_schema(
        request=s.CheckoutInput,
        responses={201: s.OrderOutput},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, True)],
    )
    def post(self, request):
        customer = request_customer(request)

        def place() -> Response:
            data = s.CheckoutInput(data=request.data)
            data.is_valid(raise_exception=True)
            v = data.validated_data
            cart = selectors.cart_get(token=v["cart"], customer=customer)
            tender = v.get("tender")
            order = services.checkout_place(
                cart=cart,
                fulfilment=v["fulfilment"],
                tender=services.TenderInput(**tender) if tender else None,
                customer=customer,
                contact=v.get("contact"),
                redeem_points=v["redeem_points"],
                expected_total=v.get("expected_total"),
                channel=v.get("channel"),
                user=request.user,
            )
            return Response(s.OrderOutput(order).data, status=status.HTTP_201_CREATED)

        scope = f"checkout:{customer.pk if customer else 'guest'}"
        return idempotent_response(request, scope=scope, handler=place)


class OrderDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.OrderOutput)
    def get(self, request, number):
        order = selectors.order_get_for_customer(number=number, customer=request_customer(request))
        return Response(s.OrderOutput(order).data)


class OrderCancelView(APIView):
    """The customer cancels their order (allowed before a pickup is ready, or a delivery ships)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=s.OrderOutput)
    def post(self, request, number):
        order = selectors.order_get_for_customer(number=number, customer=request_customer(request))
        services.order_cancel_by_customer(order=order, user=request.user)
        return Response(s.OrderOutput(selectors.order_get(number=order.number)).data)


class MyOrdersView(generics.ListAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = s.OrderOutput

    def get_queryset(self):
        return selectors.orders_for_customer(customer=request_customer(self.request))


class StaffMixin:
    def staff_location_ids(self, request) -> set[int]:
        if not request.user.is_authenticated:
            raise NotAuthenticated()
        if not request.user.is_staff:
            raise PermissionDenied()
        return {loc.pk for loc in inventory_selectors.locations_for_staff(user=request.user)}


class StaffPickupQueueView(StaffMixin, APIView):
    """A store's pickup queue: orders to prepare and orders waiting for the customer."""

    @extend_schema(
        parameters=[OpenApiParameter("location", str, description="Location code")],
        responses=s.StaffOrderOutput(many=True),
    )
    def get(self, request):
        allowed = self.staff_location_ids(request)
        code = request.query_params.get("location")
        if code:
            location = inventory_selectors.location_get(code_or_id=code)
            if location.pk not in allowed:
                raise PermissionDenied()
            allowed = {location.pk}
        queue = selectors.pickup_queue(location_ids=allowed)
        return Response(
            {
                "to_prepare": s.StaffOrderOutput(queue["to_prepare"], many=True).data,
                "waiting": s.StaffOrderOutput(queue["waiting"], many=True).data,
            }
        )


STAFF_ACTIONS = {
    "ready": Status.READY_FOR_PICKUP,
    "handover": Status.COLLECTED,
    "cancel": Status.CANCELLED,
    "ship": Status.SHIPPED,
    "deliver": Status.DELIVERED,
}


class StaffOrderActionView(StaffMixin, APIView):
    """Store tablets: mark ready, hand over (with the pickup code), cancel, ship, deliver."""

    @extend_schema(request=s.StaffTransitionInput, responses=s.StaffOrderOutput)
    def post(self, request, number, action):
        allowed = self.staff_location_ids(request)
        data = s.StaffTransitionInput(data=request.data)
        data.is_valid(raise_exception=True)
        order = selectors.order_get(number=number)
        services.order_transition(
            order=order,
            target=STAFF_ACTIONS[action],
            actor=Actor.STAFF,
            user=request.user,
            note=data.validated_data.get("note", ""),
            pickup_code=data.validated_data.get("pickup_code"),
            staff_location_ids=allowed,
        )
        return Response(s.StaffOrderOutput(selectors.order_get(number=number)).data)
