"""Loyalty endpoints for the signed-in customer: balance, tier, expiring points, ledger."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.pagination import CursorPagination
from customers.models import Customer
from loyalty import selectors
from loyalty.api.serializers import MyLoyaltyQuerySerializer, MyLoyaltySerializer
from loyalty.errors import CustomerProfileMissing


class LedgerPagination(CursorPagination):
    ordering = "-id"
    page_size = 20


def _customer_of(user) -> Customer:
    try:
        return user.customer
    except Customer.DoesNotExist as exc:
        raise CustomerProfileMissing() from exc


class MyLoyaltyView(APIView):
    """The customer's loyalty account: the same balance in the app, on the web and at the till.

    Balance and its money value, tier by rolling 12-month spend and what the next tier
    needs, points expiring within `expiring_within_days` (default 30), and the ledger,
    newest first, cursor-paginated (`cursor`, `page_size`). A login without a customer
    profile gets 404 `customer_profile_missing`.
    """

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[
            MyLoyaltyQuerySerializer,
            OpenApiParameter("cursor", str, description="Ledger page cursor."),
            OpenApiParameter("page_size", int, description="Ledger entries per page (max 100)."),
        ],
        responses=MyLoyaltySerializer,
    )
    def get(self, request):
        query = MyLoyaltyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        customer = _customer_of(request.user)
        summary = selectors.account_summary(
            customer=customer, expiring_within_days=query.validated_data["expiring_within_days"]
        )
        paginator = LedgerPagination()
        page = paginator.paginate_queryset(
            selectors.ledger_entries(customer=customer), request, view=self
        )
        summary["entries"] = {
            "next": paginator.get_next_link(),
            "previous": paginator.get_previous_link(),
            "results": page,
        }
        return Response(MyLoyaltySerializer(summary).data)
