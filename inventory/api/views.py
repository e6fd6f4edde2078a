"""Inventory endpoints: public locations and availability; staff stock operations.

Reads are public (a product page asks "where can I get it?"). Receipts, adjustments,
counts and transfers are for staff sessions or integration tokens of staff users holding
the operation's permission, as in the admin (`inventory.receive_stock` for receipts,
counts and receiving transfers, `inventory.adjust_stock` for adjustments,
`inventory.transfer_stock` for sending stock; see staff.roles): the user must also be
allowed at the location (assigned to it, or holding `inventory.operate_any_location`,
which alone is head office's right to read every store, not to move its stock), and each
POST needs an `Idempotency-Key` so a retried request never moves stock twice.
"""

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, BasePermission, IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.errors import UnknownSku
from catalog.selectors import variants_by_sku
from core.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, idempotent_response
from core.errors import ValidationFailed
from inventory import selectors, services
from inventory.api import serializers as s
from inventory.domain import parse_near
from inventory.errors import LocationForbidden, LocationNotFound
from inventory.models import Location

MAX_SKUS = 50


def _split(values: list[str]) -> list[str]:
    """`?sku=a&sku=b,c` → ["a", "b", "c"] (order kept, duplicates dropped)."""
    items = [part.strip() for value in values for part in value.split(",")]
    return list(dict.fromkeys(item for item in items if item))


def _variants_for(skus: list[str]) -> dict:
    variants = variants_by_sku(skus=skus)
    unknown = [sku for sku in skus if sku not in variants]
    if unknown:
        raise UnknownSku(details={"skus": unknown})
    return variants


class LocationListView(APIView):
    """Active stores and warehouses; nearest first when `near=lat,lng` is given."""

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="v1_inventory_locations_list",
        parameters=[s.LocationQuerySerializer],
        responses=s.LocationListSerializer,
    )
    def get(self, request):
        query = s.LocationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        locations = list(
            selectors.location_list(
                is_pickup_point=params.get("is_pickup_point"),
                ships_online=params.get("ships_online"),
                kind=params.get("kind"),
            )
        )
        distances = {}
        if params.get("near"):
            lat, lng = parse_near(params["near"])
            ranked = selectors.locations_by_distance(locations, lat=lat, lng=lng)
            locations = [row.location for row in ranked]
            distances = {row.location.pk: row.distance_km for row in ranked}
        data = s.LocationSerializer(locations, many=True, context={"distances": distances}).data
        return Response({"results": data})


class LocationDetailView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=s.LocationSerializer)
    def get(self, request, code: str):
        location = selectors.location_get(code_or_id=code, include_inactive=False)
        return Response(s.LocationSerializer(location).data)


class AvailabilityView(APIView):
    """Units available per location for one or more SKUs, and the total for delivery.

    Constant queries however many SKUs and stores: cheap enough for a product page.
    """

    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[
            OpenApiParameter("sku", OpenApiTypes.STR, many=True, required=True),
            OpenApiParameter("location", OpenApiTypes.STR, many=True),
            OpenApiParameter("near", OpenApiTypes.STR, description="latitude,longitude"),
        ],
        responses=s.AvailabilityResponseSerializer,
    )
    def get(self, request):
        query = s.AvailabilityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        skus = _split(params["sku"])
        if not skus:
            raise ValidationFailed(_("Give at least one SKU."), details={"fields": {"sku": []}})
        if len(skus) > MAX_SKUS:
            raise ValidationFailed(
                _("Ask for at most %(n)d SKUs at once.") % {"n": MAX_SKUS},
                details={"max": MAX_SKUS},
            )
        variants = _variants_for(skus)
        locations = selectors.location_list()
        codes = [code.upper() for code in _split(params["location"])]
        if codes:
            found = selectors.locations_by_codes(codes=codes)
            unknown = [c for c in codes if c not in found or not found[c].is_active]
            if unknown:
                raise LocationNotFound(details={"locations": unknown})
            locations = locations.filter(pk__in=[loc.pk for loc in found.values()])
        locations = list(locations)
        distances: dict[int, float | None] = {}
        if params.get("near"):
            lat, lng = parse_near(params["near"])
            ranked = selectors.locations_by_distance(locations, lat=lat, lng=lng)
            locations = [row.location for row in ranked]
            distances = {row.location.pk: row.distance_km for row in ranked}

        ids = [variants[sku].pk for sku in skus]
        per_location = selectors.availability(
            variant_ids=ids, location_ids=[loc.pk for loc in locations]
        )
        delivery = selectors.delivery_available(variant_ids=ids)
        results = []
        for sku in skus:
            vid = variants[sku].pk
            results.append(
                {
                    "sku": sku,
                    "variant_id": vid,
                    "delivery": delivery[vid],
                    "locations": [
                        {
                            "location": loc.code,
                            "name": loc.name,
                            "kind": loc.kind,
                            "is_pickup_point": loc.is_pickup_point,
                            "ships_online": loc.ships_online,
                            "available": per_location[vid].get(loc.pk, 0),
                            "distance_km": (
                                None
                                if distances.get(loc.pk) is None
                                else round(distances[loc.pk], 2)
                            ),
                        }
                        for loc in locations
                    ],
                }
            )
        return Response({"results": results})


class HasOperationPermission(BasePermission):
    """The Django permission of the view's stock operation (`operation_permission`)."""

    def has_permission(self, request, view) -> bool:
        return request.user.has_perm(view.operation_permission)


class _StaffStockView(APIView):
    """Shared plumbing: staff with the operation's permission, location permission, SKU
    lookup, idempotent POSTs."""

    permission_classes = [IsAdminUser, HasOperationPermission]
    operation_permission = ""
    scope = ""

    def location(self, code: str) -> Location:
        location = selectors.location_get(code_or_id=code)
        if not selectors.user_can_operate_at(user=self.request.user, location=location):
            raise LocationForbidden(details={"location": location.code})
        return location

    def idempotent(self, request, handler) -> Response:
        return idempotent_response(
            request, scope=f"inventory.{self.scope}:{request.user.pk}", handler=handler
        )

    def _valid(self, serializer_class) -> dict:
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @staticmethod
    def lines(rows: list[dict]) -> tuple[list[tuple[int, int]], dict[int, str]]:
        variants = _variants_for(list(dict.fromkeys(row["sku"] for row in rows)))
        lines = [(variants[row["sku"]].pk, row["quantity"]) for row in rows]
        return lines, {v.pk: v.sku for v in variants.values()}

    @staticmethod
    def result(location: Location, movements, skus: dict[int, str], code=status.HTTP_201_CREATED):
        data = s.OperationResultSerializer(
            {"location": location.code, "movements": movements}, context={"skus": skus}
        ).data
        return Response(data, status=code)


class ReceiptView(_StaffStockView):
    """Goods received at a location (a supplier delivery): on hand goes up."""

    operation_permission = "inventory.receive_stock"
    scope = "receipts"

    @extend_schema(
        request=s.ReceiptInputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={201: s.OperationResultSerializer},
    )
    def post(self, request):
        def handler() -> Response:
            data = self._valid(s.ReceiptInputSerializer)
            location = self.location(data["location"])
            lines, skus = self.lines(data["lines"])
            movements = services.stock_receive(
                lines=lines,
                location=location,
                reference=data["reference"],
                reason=data["reason"],
                actor=request.user,
            )
            return self.result(location, movements, skus)

        return self.idempotent(request, handler)


class AdjustmentView(_StaffStockView):
    """A signed correction of on hand units, with a reason (damage found, miscount…)."""

    operation_permission = "inventory.adjust_stock"
    scope = "adjustments"

    @extend_schema(
        request=s.AdjustmentInputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={201: s.OperationResultSerializer},
    )
    def post(self, request):
        def handler() -> Response:
            data = self._valid(s.AdjustmentInputSerializer)
            location = self.location(data["location"])
            lines, skus = self.lines(data["lines"])
            movements = services.stock_adjust(
                lines=lines,
                location=location,
                reason=data["reason"],
                reference=data["reference"],
                actor=request.user,
            )
            return self.result(location, movements, skus)

        return self.idempotent(request, handler)


class CountView(_StaffStockView):
    """Physically counted figures: on hand is set to them, the difference is ledgered."""

    operation_permission = "inventory.receive_stock"
    scope = "counts"

    @extend_schema(
        request=s.CountInputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={201: s.OperationResultSerializer},
    )
    def post(self, request):
        def handler() -> Response:
            data = self._valid(s.CountInputSerializer)
            location = self.location(data["location"])
            lines, skus = self.lines(data["lines"])
            movements = services.stock_count(
                counts=lines,
                location=location,
                reference=data["reference"],
                reason=data["reason"],
                actor=request.user,
            )
            return self.result(location, movements, skus)

        return self.idempotent(request, handler)


class TransferCreateView(_StaffStockView):
    """Ship stock to another location: out of the source now, in on receipt."""

    operation_permission = "inventory.transfer_stock"
    scope = "transfers"

    @extend_schema(
        request=s.TransferInputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={201: s.TransferSerializer},
    )
    def post(self, request):
        def handler() -> Response:
            data = self._valid(s.TransferInputSerializer)
            source = self.location(data["source"])
            destination = selectors.location_get(code_or_id=data["destination"])
            lines, _skus = self.lines(data["lines"])
            transfer = services.stock_transfer(
                lines=lines,
                source=source,
                destination=destination,
                reference=data["reference"],
                actor=request.user,
            )
            transfer = selectors.transfer_get(number=transfer.number)
            return Response(s.TransferSerializer(transfer).data, status=status.HTTP_201_CREATED)

        return self.idempotent(request, handler)


class TransferDetailView(_StaffStockView):
    operation_permission = "inventory.view_transfer"

    @extend_schema(responses=s.TransferSerializer)
    def get(self, request, number: str):
        transfer = selectors.transfer_get(number=number)
        allowed = selectors.locations_for_staff(user=request.user).filter(
            pk__in=[transfer.source_id, transfer.destination_id]
        )
        if not allowed.exists():
            raise LocationForbidden(details={"transfer": transfer.number})
        return Response(s.TransferSerializer(transfer).data)


class TransferReceiveView(_StaffStockView):
    """The destination confirms the goods arrived: on hand goes up there."""

    operation_permission = "inventory.receive_stock"
    scope = "transfer-receipts"

    @extend_schema(
        request=None, parameters=[IDEMPOTENCY_KEY_PARAMETER], responses=s.TransferSerializer
    )
    def post(self, request, number: str):
        def handler() -> Response:
            transfer = selectors.transfer_get(number=number)
            self.location(transfer.destination.code)
            services.transfer_receive(transfer=transfer, actor=request.user)
            return Response(s.TransferSerializer(selectors.transfer_get(number=number)).data)

        return self.idempotent(request, handler)
