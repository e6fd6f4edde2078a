"""Auth and profile endpoints: register, token login and logout, own profile and timeline.

Every endpoint under /me/ works on the customer of the token's login only, so one
customer can never read or change another's data. Views validate shape, call one
service or selector, and render; errors keep the project's error shape.
"""

from urllib.parse import urlencode

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from customers import selectors, services
from customers.api.serializers import (
    AuthOutput,
    CustomerOutput,
    LoginInput,
    ProfileUpdateInput,
    RegisterInput,
    TimelineEntryOutput,
    TimelinePageOutput,
    TimelineQuery,
)
from customers.models import Customer

CONTACT_AND_NAME_FIELDS = ("first_name", "last_name", "email", "phone")


def profile_data(customer: Customer) -> dict:
    consents = selectors.customer_consents(customer=customer)
    return CustomerOutput(customer, context={"consents": consents}).data


def _auth_body(result: services.AuthResult) -> dict:
    # Hook results come first so that no handler can overwrite the token or the profile.
    return {**result.extras, "token": result.token, "customer": profile_data(result.customer)}


def _request_data(request) -> dict:
    return dict(request.data.items()) if hasattr(request.data, "items") else {}


class RegisterView(APIView):
    """Create a login and customer profile (or give a login to a customer known from a store)."""

    # No session authentication: a browser's admin cookie must not demand a CSRF token here.
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=RegisterInput, responses={201: AuthOutput})
    def post(self, request):
        data = RegisterInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        result = services.auth_register(
            request_data=_request_data(request),
            email=v.get("email"),
            phone=v.get("phone"),
            password=v["password"],
            first_name=v.get("first_name", ""),
            last_name=v.get("last_name", ""),
            consents=v.get("consents"),
            source=v["channel"],
        )
        return Response(_auth_body(result), status=status.HTTP_201_CREATED)


class TokenView(APIView):
    """Log in with an email or phone and a password; answers the API token and the profile."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=LoginInput,
        responses={200: AuthOutput, 401: OpenApiResponse(description="invalid_credentials")},
    )
    def post(self, request):
        data = LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.auth_login(
            login=data.validated_data["login"],
            password=data.validated_data["password"],
            request_data=_request_data(request),
        )
        return Response(_auth_body(result))


class LogoutView(APIView):
    """Delete the login's API token."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        services.auth_logout(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    """The logged-in customer's profile and marketing consents."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=CustomerOutput)
    def get(self, request):
        customer = selectors.customer_get_for_user(user=request.user)
        return Response(profile_data(customer))

    @extend_schema(request=ProfileUpdateInput, responses=CustomerOutput)
    def patch(self, request):
        customer = selectors.customer_get_for_user(user=request.user)
        data = ProfileUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        customer = services.customer_update(
            customer=customer,
            **{name: v[name] for name in CONTACT_AND_NAME_FIELDS if name in v},
            consents=v.get("consents"),
            source=v.get("channel", "web"),
            changed_by=request.user,
        )
        return Response(profile_data(customer))


class MeTimelineView(APIView):
    """Everything the customer did in every channel, newest first; follow `next` for older."""

    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[TimelineQuery], responses=TimelinePageOutput)
    def get(self, request):
        customer = selectors.customer_get_for_user(user=request.user)
        query = TimelineQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        limit = query.validated_data["limit"]
        entries, next_before = selectors.customer_timeline_page(
            customer=customer, limit=limit, before=query.validated_data.get("before")
        )
        next_url = None
        if next_before is not None:
            params = urlencode({"before": next_before.isoformat(), "limit": limit})
            next_url = request.build_absolute_uri(f"{request.path}?{params}")
        return Response({"results": TimelineEntryOutput(entries, many=True).data, "next": next_url})
