"""Orders API: carts that follow the customer, checkout, orders, and the store staff actions.

Each view validates the shape of its input and calls one service; domain errors become
the error shape through the project's exception handler.
"""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotAuthenticated, PermissionDenied
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from core.api.bound import represent, represent_many, validated
from core.api.idempotency import idempotent_response
from core.api.pagination import CursorPagination
from core.db import run_with_retry
from customers.auth import profile_preloaded
from customers.selectors import customer_get_for_user
from inventory import selectors as inventory_selectors
from orders import selectors, services
from orders.api import serializers as s
from orders.api.output import order_data
from orders.domain import Actor, Status


def request_customer(request):
    """The customer profile of the logged-in user, or None for an anonymous request."""
    user = request.user
    if not user or not user.is_authenticated:
        return None
    return customer_get_for_user(user=user, preloaded=profile_preloaded(request))


def cart_response(cart, *, status_code=status.HTTP_200_OK, remember: bool = True) -> Response:
    """The cart with a fresh quote. After a change (`remember`), the total shown is kept for
    checkout's price check; a GET never writes, so it only shows."""
    view = selectors.cart_view(cart=cart)
    if remember:
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
            channel=data.validated_data["channel"],
            customer=request_customer(request),
            attribution=data.validated_data.get("attribution"),
        )
        return cart_response(cart, status_code=status.HTTP_201_CREATED)


class CartCurrentView(APIView):
    """The logged-in customer's one open cart, the same on every device."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.CartOutput)
    def get(self, request):
        cart = selectors.cart_current(customer=request_customer(request))
        return cart_response(cart, remember=False)


class CartDetailView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=s.CartOutput)
    def get(self, request, token):
        cart = selectors.cart_get(token=token, customer=request_customer(request))
        return cart_response(cart, remember=False)

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
            delivery_address=v.get("delivery_address"),
            shipping_method=v.get("shipping_method"),
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

    @extend_schema(responses={200: s.CartOutput})
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
            v = validated(s.CheckoutInput, request.data)
            # Read with its lock: checkout_place need not read it again.
            cart = selectors.cart_get(token=v["cart"], customer=customer, lock=True)
            payment = v.get("payment")
            order = services.checkout_place(
                cart=cart,
                cart_locked=True,
                fulfilment=v["fulfilment"],
                payment=services.PaymentInput(**payment) if payment else None,
                customer=customer,
                contact=v.get("contact"),
                redeem_points=v["redeem_points"],
                expected_total=v.get("expected_total"),
                channel=v.get("channel"),
                user=request.user,
            )
            return Response(order_data(order), status=status.HTTP_201_CREATED)

        scope = f"checkout:{customer.pk if customer else 'guest'}"
        return run_with_retry(
            lambda: idempotent_response(request, scope=scope, handler=place, batch_writes=True)
        )


class OrderDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.OrderOutput)
    def get(self, request, number):
        order = selectors.order_get_for_customer(number=number, customer=request_customer(request))
        return Response(order_data(order))


class OrderCancelView(APIView):
    """The customer cancels their order (allowed before a pickup is ready, or a delivery ships)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=s.OrderOutput)
    def post(self, request, number):
        order = selectors.order_get_for_customer(number=number, customer=request_customer(request))
        run_with_retry(lambda: services.order_cancel_by_customer(order=order, user=request.user))
        return Response(order_data(selectors.order_get(number=order.number)))


class MyOrdersView(generics.ListAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = s.OrderOutput

    def get_queryset(self):
        return selectors.orders_for_customer(customer=request_customer(self.request))


class StaffMixin:
    """Staff endpoints check the Django permission of the operation *and* the store."""

    def staff_location_ids(self, request, permission: str) -> set[int]:
        if not request.user.is_authenticated:
            raise NotAuthenticated()
        if not request.user.is_staff or not request.user.has_perm(permission):
            raise PermissionDenied()
        return {loc.pk for loc in inventory_selectors.locations_for_staff(user=request.user)}


class PickupQueuePagination(CursorPagination):
    ordering = ("placed_at", "id")
    page_size = 50


class StaffPickupQueueView(StaffMixin, APIView):
    """A store's pickup queue, oldest first: ship-to-store orders on their way to it,
    orders to prepare and orders waiting for the customer, a page at a time (`cursor`,
    `page_size`; follow `next` until it is null)."""

    @extend_schema(
        parameters=[
            s.StaffPickupQueueQuery,
            OpenApiParameter("cursor", str, description="Page cursor (from `next`)."),
            OpenApiParameter("page_size", int, description="Orders a page (default 50, max 100)."),
        ],
        responses=s.StaffPickupQueueOutput,
    )
    def get(self, request):
        allowed = self.staff_location_ids(request, "orders.work_pickup_queue")
        query = s.StaffPickupQueueQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        code = query.validated_data.get("location")
        if code:
            location = inventory_selectors.location_get(code_or_id=code)
            if location.pk not in allowed:
                raise PermissionDenied()
            allowed = {location.pk}
        queue = selectors.pickup_queue(
            location_ids=allowed, status=query.validated_data.get("status")
        )
        paginator = PickupQueuePagination()
        page = paginator.paginate_queryset(queue, request, view=self)
        return Response(
            {
                "next": paginator.get_next_link(),
                "previous": paginator.get_previous_link(),
                "incoming": represent_many(
                    s.StaffOrderOutput, [o for o in page if o.status == Status.IN_TRANSIT]
                ),
                "to_prepare": represent_many(
                    s.StaffOrderOutput, [o for o in page if o.status == Status.PLACED]
                ),
                "waiting": represent_many(
                    s.StaffOrderOutput, [o for o in page if o.status == Status.READY_FOR_PICKUP]
                ),
            }
        )


# action → (target status, the permission it needs)
STAFF_ACTIONS = {
    "ready": (Status.READY_FOR_PICKUP, "orders.work_pickup_queue"),
    "handover": (Status.COLLECTED, "orders.work_pickup_queue"),
    "cancel": (Status.CANCELLED, "orders.cancel_order"),
    "ship": (Status.SHIPPED, "orders.ship_order"),
    "deliver": (Status.DELIVERED, "orders.ship_order"),
}


class HandoverThrottle(UserRateThrottle):
    """Pickup codes are six digits: a member of staff may not try them in bulk."""

    scope = "pickup_handover"

    def get_rate(self) -> str:
        return settings.PICKUP_HANDOVER_RATE


class StaffOrderActionView(StaffMixin, APIView):
    """Store tablets: mark ready, hand over (with the pickup code), cancel, ship, deliver.

    A delivery split over several locations ships and is delivered shipment by shipment
    (`shipment`, with `carrier` and `tracking_number` on shipping), each by the staff of
    its location; the order is shipped when every shipment is, delivered when every one is.
    """

    def get_throttles(self):
        if self.kwargs.get("action") == "handover":
            return [HandoverThrottle()]
        return []

    @extend_schema(request=s.StaffTransitionInput, responses=s.StaffOrderOutput)
    def post(self, request, number, action):
        target, permission = STAFF_ACTIONS[action]
        allowed = self.staff_location_ids(request, permission)
        data = s.StaffTransitionInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        order = selectors.order_get(number=number)
        desk = v.get("desk_payment")
        if action == "ship":
            run_with_retry(
                lambda: services.shipment_ship(
                    order=order,
                    shipment_id=v.get("shipment"),
                    carrier=v.get("carrier", ""),
                    tracking_number=v.get("tracking_number", ""),
                    user=request.user,
                    note=v.get("note", ""),
                    staff_location_ids=allowed,
                )
            )
            return Response(represent(s.StaffOrderOutput, selectors.order_get(number=number)))
        if action == "deliver":
            run_with_retry(
                lambda: services.shipment_deliver(
                    order=order,
                    shipment_id=v.get("shipment"),
                    user=request.user,
                    note=v.get("note", ""),
                    staff_location_ids=allowed,
                )
            )
            return Response(represent(s.StaffOrderOutput, selectors.order_get(number=number)))
        run_with_retry(
            lambda: services.order_transition(
                order=order,
                target=target,
                actor=Actor.STAFF,
                user=request.user,
                note=v.get("note", ""),
                pickup_code=v.get("pickup_code"),
                desk_payment=services.DeskPayment(**desk) if desk else None,
                staff_location_ids=allowed,
            )
        )
        return Response(represent(s.StaffOrderOutput, selectors.order_get(number=number)))


class StaffOrderRerouteView(StaffMixin, APIView):
    """Move an open pickup to another store that holds its units: reserved there, released
    here, the customer told (the same service as the POS reconciliation's re-route). Needs
    `orders.reroute_order` and the order's current store among the staff member's."""

    @extend_schema(request=s.StaffRerouteInput, responses=s.StaffOrderOutput)
    def post(self, request, number):
        allowed = self.staff_location_ids(request, "orders.reroute_order")
        data = s.StaffRerouteInput(data=request.data)
        data.is_valid(raise_exception=True)
        order = selectors.order_get(number=number)
        run_with_retry(
            lambda: services.order_reroute(
                order=order,
                location=data.validated_data["location"],
                user=request.user,
                staff_location_ids=allowed,
            )
        )
        return Response(represent(s.StaffOrderOutput, selectors.order_get(number=number)))


class StaffOrderGoodsAtStoreView(StaffMixin, APIView):
    """A ship-to-store order whose transfer arrived short, is lost, or lost units to a till
    sale (`needs_attention`), when its goods are at the store after all (found, restocked):
    reserved there from the store's stock and ready for pickup, the customer told. Needs
    `orders.work_pickup_queue` and the order's store among the staff member's; 409
    `insufficient_stock` (every short line) while the store does not hold the units, 409
    `illegal_transition` for an order not in transit."""

    @extend_schema(request=None, responses=s.StaffOrderOutput)
    def post(self, request, number):
        allowed = self.staff_location_ids(request, "orders.work_pickup_queue")
        order = selectors.order_get(number=number)
        run_with_retry(
            lambda: services.order_goods_at_store(
                order=order, user=request.user, staff_location_ids=allowed
            )
        )
        return Response(represent(s.StaffOrderOutput, selectors.order_get(number=number)))
