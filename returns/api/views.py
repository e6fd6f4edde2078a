"""Returns API: store tablets take returns and exchanges; customers ask to return goods.

Each view validates the shape of its input and calls one service; every write takes an
`Idempotency-Key` (a retry replays the first answer). Staff need the Django permission and
act only at their own stores; a customer reaches only their own orders and returns.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotAuthenticated, PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, idempotent_response
from core.db import run_with_retry
from customers.errors import CustomerNotFound
from customers.selectors import customer_get_for_user
from inventory import selectors as inventory_selectors
from returns import selectors, services
from returns.api import serializers as s
from returns.errors import ReturnNotFound
from returns.models import Return


def _staff_locations(request, permission: str) -> set[int]:
    if not request.user.is_authenticated:
        raise NotAuthenticated()
    if not request.user.is_staff or not request.user.has_perm(permission):
        raise PermissionDenied()
    return {loc.pk for loc in inventory_selectors.locations_for_staff(user=request.user)}


def _customer(request):
    """The logged-in customer's profile (404 `customer_not_found` for a login without one)."""
    return customer_get_for_user(user=request.user)


def _shown(ret: Return) -> dict:
    return s.ReturnOutput(selectors.return_get_for_staff(number=ret.number, location_ids=None)).data


class StaffReturnsView(generics.ListAPIView):
    """Returns received (or expected) at the staff member's stores; POST takes one."""

    serializer_class = s.ReturnOutput

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Return.objects.none()
        allowed = _staff_locations(self.request, "returns.view_return")
        location_id = None
        code = self.request.query_params.get("location")
        if code:
            location = inventory_selectors.location_get(code_or_id=code[:64])
            if location.pk not in allowed:
                raise PermissionDenied()
            location_id = location.pk
        wanted = self.request.query_params.get("status", "")
        status_filter = wanted if wanted in Return.Status.values else ""
        return selectors.return_list_for_staff(
            location_ids=allowed, location_id=location_id, status=status_filter
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("location", str, description="Location code"),
            OpenApiParameter("status", str, enum=Return.Status.values),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=s.StaffReturnInput,
        responses={201: s.ReturnOutput},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
    )
    def post(self, request):
        allowed = _staff_locations(request, "returns.add_return")

        def take() -> Response:
            data = s.StaffReturnInput(data=request.data)
            data.is_valid(raise_exception=True)
            v = data.validated_data
            exchange = v.get("exchange")
            ret = services.return_create(
                order=services.order_find(reference=v["order"]),
                location=v["location"],
                reason=v["reason"],
                lines=[dict(line) for line in v["lines"]],
                source=Return.Source.STAFF_API,
                user=request.user,
                note=v.get("note", ""),
                override_reason=v.get("override_reason", ""),
                refund_to=v.get("refund_to", ""),
                refund_to_reason=v.get("refund_to_reason", ""),
                exchange=services.ExchangeInput(
                    lines=tuple((line["sku"], line["quantity"]) for line in exchange["lines"]),
                    payment_kind=(exchange.get("payment") or {}).get("kind", ""),
                    payment_reference=(exchange.get("payment") or {}).get("reference", ""),
                )
                if exchange
                else None,
                staff_location_ids=allowed,
            )
            return Response(_shown(ret), status=status.HTTP_201_CREATED)

        scope = f"staff-return:{request.user.pk}"
        return run_with_retry(lambda: idempotent_response(request, scope=scope, handler=take))


class StaffReturnDetailView(APIView):
    @extend_schema(responses=s.ReturnOutput)
    def get(self, request, number):
        allowed = _staff_locations(request, "returns.view_return")
        ret = selectors.return_get_for_staff(number=number, location_ids=allowed)
        return Response(s.ReturnOutput(ret).data)


class StaffReturnCompleteView(APIView):
    """The goods of a customer's request arrived: take them in (as found) and refund."""

    @extend_schema(
        request=s.StaffCompleteInput,
        responses=s.ReturnOutput,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
    )
    def post(self, request, number):
        allowed = _staff_locations(request, "returns.add_return")

        def complete() -> Response:
            data = s.StaffCompleteInput(data=request.data)
            data.is_valid(raise_exception=True)
            v = data.validated_data
            ret = selectors.return_get_for_staff(number=number, location_ids=None)
            if v.get("location") is None and ret.location_id not in allowed:
                raise ReturnNotFound(details={"return": ret.number})
            done = services.return_request_complete(
                ret=ret,
                user=request.user,
                lines=[dict(line) for line in v["lines"]] if "lines" in v else None,
                location=v.get("location"),
                refund_to=v.get("refund_to", ""),
                refund_to_reason=v.get("refund_to_reason", ""),
                staff_location_ids=allowed,
            )
            return Response(_shown(done))

        scope = f"staff-return-complete:{request.user.pk}"
        return run_with_retry(lambda: idempotent_response(request, scope=scope, handler=complete))


class StaffReturnCancelView(APIView):
    """Cancel a customer's open request (the goods never came)."""

    @extend_schema(request=None, responses=s.ReturnOutput, parameters=[IDEMPOTENCY_KEY_PARAMETER])
    def post(self, request, number):
        allowed = _staff_locations(request, "returns.add_return")

        def cancel() -> Response:
            ret = selectors.return_get_for_staff(number=number, location_ids=allowed)
            services.return_request_cancel(ret=ret, user=request.user, staff_location_ids=allowed)
            return Response(_shown(ret))

        scope = f"staff-return-cancel:{request.user.pk}"
        return idempotent_response(request, scope=scope, handler=cancel)


class MyReturnsView(generics.ListAPIView):
    """The customer's returns of every channel; POST asks to return goods of an order."""

    permission_classes = [IsAuthenticated]
    serializer_class = s.ReturnOutput

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Return.objects.none()
        try:
            customer = customer_get_for_user(user=self.request.user)
        except CustomerNotFound:
            return Return.objects.none()
        return selectors.return_list_for_customer(customer=customer)

    @extend_schema(
        request=s.CustomerReturnInput,
        responses={201: s.ReturnOutput},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
    )
    def post(self, request):
        customer = _customer(request)

        def ask() -> Response:
            data = s.CustomerReturnInput(data=request.data)
            data.is_valid(raise_exception=True)
            v = data.validated_data
            ret = services.return_request(
                order=services.order_find(reference=v["order"]),
                customer=customer,
                location=v.get("location"),
                courier_pickup=v["courier_pickup"],
                reason=v["reason"],
                lines=[dict(line) for line in v["lines"]],
                note=v.get("note", ""),
            )
            return Response(_shown(ret), status=status.HTTP_201_CREATED)

        scope = f"my-return:{customer.pk}"
        return run_with_retry(lambda: idempotent_response(request, scope=scope, handler=ask))


class MyReturnDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.ReturnOutput)
    def get(self, request, number):
        ret = selectors.return_get_for_customer(number=number, customer=_customer(request))
        return Response(s.ReturnOutput(ret).data)


class MyReturnCancelView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=s.ReturnOutput, parameters=[IDEMPOTENCY_KEY_PARAMETER])
    def post(self, request, number):
        customer = _customer(request)

        def cancel() -> Response:
            ret = selectors.return_get_for_customer(number=number, customer=customer)
            services.return_request_cancel(ret=ret, customer=customer, user=request.user)
            return Response(_shown(ret))

        return idempotent_response(request, scope=f"my-return-cancel:{customer.pk}", handler=cancel)
