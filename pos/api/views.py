"""POS API: the change feeds of a till's store, and the till's acknowledgement of a cursor.

Only terminals (`Authorization: Terminal <token>`) may call these endpoints; a customer's
or staff member's token is refused. Feed GETs only read; a till reports the cursor it has
applied with `POST sync/ack/`, which is what the admin shows as its sync state.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.db import run_with_retry
from pos import selectors, services
from pos.api import serializers as s
from pos.auth import IsTerminal, TerminalAuthentication
from pos.domain import cursor_decode
from pos.errors import InvalidCursor


class TerminalView(APIView):
    authentication_classes = [TerminalAuthentication]
    permission_classes = [IsTerminal]


class FeedView(TerminalView):
    feed = ""

    @extend_schema(parameters=[s.FeedQuery], responses=s.FeedPageOutput)
    def get(self, request):
        query = s.FeedQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = selectors.feed_page(
            feed_name=self.feed,
            terminal=request.auth,
            cursor=query.validated_data.get("cursor"),
            limit=query.validated_data["limit"],
        )
        return Response({"results": page.results, "cursor": page.cursor, "has_more": page.has_more})


def _feed_view(name: str, doc: str):
    return type(f"{name.title()}FeedView", (FeedView,), {"feed": name, "__doc__": doc})


CatalogFeedView = _feed_view("catalog", "Sellable variants with barcodes and category path.")
PricesFeedView = _feed_view("prices", "Each variant's base price now and its scheduled changes.")
PromotionsFeedView = _feed_view(
    "promotions", "Promotion rules that are or will be live, with their scope and coupon codes."
)
StockFeedView = _feed_view("stock", "Stock levels of the terminal's own store.")


class AckView(TerminalView):
    """The till says which cursor of a feed it has applied (the admin shows its sync state)."""

    @extend_schema(request=s.AckInput, responses={204: None})
    def post(self, request):
        data = s.AckInput(data=request.data)
        data.is_valid(raise_exception=True)
        feed, cursor = data.validated_data["feed"], data.validated_data["cursor"]
        try:
            cursor_decode(cursor, feed=feed)
        except ValueError:
            raise InvalidCursor(details={"feed": feed}) from None
        services.terminal_synced(terminal=request.auth, feed=feed, cursor=cursor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SalesSyncView(TerminalView):
    """Push a batch of up to 500 sales made at the till (offline or not): each is recorded
    exactly once by its UUID; the answer says per sale created, duplicate or rejected."""

    @extend_schema(request=s.SalesBatchDoc, responses=s.SalesBatchOutput)
    def post(self, request):
        data = s.SalesBatchInput(data=request.data)
        data.is_valid(raise_exception=True)
        results = run_with_retry(
            lambda: services.sales_sync(terminal=request.auth, sales=data.validated_data["sales"])
        )
        return Response({"results": [r.as_dict() for r in results]})
