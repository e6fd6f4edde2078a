"""Auth and profile endpoints: register and verify, token login per device, sessions, own profile.

Every endpoint under /me/ works on the customer of the token's login only, so one
customer can never read or change another's data. Registration and contact changes
answer the same whether or not someone already holds the contact; a contact joins a
login only with the code sent to it. Login, registration and codes are throttled
(429 with Retry-After). Views validate shape, call one service or selector, and
render; errors keep the project's error shape.
"""

from urllib.parse import urlencode

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from knox.models import AuthToken
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.throttles import ScopedThrottle
from customers import selectors, services
from customers.api.serializers import (
    AuthOutput,
    ContactVerifyInput,
    CustomerOutput,
    EraseInput,
    LoginInput,
    ProfileUpdateInput,
    RegisterInput,
    RegistrationOutput,
    ResendInput,
    SessionOutput,
    TimelineEntryOutput,
    TimelinePageOutput,
    TimelineQuery,
    VerificationOutput,
    VerifyInput,
)
from customers.domain import ReauthenticationFailed
from customers.models import Customer

NAME_FIELDS = ("first_name", "last_name")
CONTACT_FIELDS = ("email", "phone")

THROTTLED = OpenApiResponse(description="throttled (429, with Retry-After)")


def profile_data(customer: Customer) -> dict:
    consents = selectors.customer_consents(customer=customer)
    pending = selectors.pending_contact_changes(customer=customer)
    return CustomerOutput(customer, context={"consents": consents, "pending": pending}).data


def _auth_body(result: services.AuthResult) -> dict:
    # Hook results come first so that no handler can overwrite the token or the profile.
    return {
        **result.extras,
        "token": result.token,
        "expiry": AuthOutput().fields["expiry"].to_representation(result.session.token.expiry),
        "session": result.session.pk,
        "customer": profile_data(result.customer),
    }


def _request_data(request) -> dict:
    return dict(request.data.items()) if hasattr(request.data, "items") else {}


def _device(request, given: str) -> str:
    # Without a name the client's own description is the best label a customer will
    # recognise; whatever a client puts in that header must not fail the login.
    if given:
        return given
    agent = request.headers.get("User-Agent", "")
    return "".join(ch for ch in agent if ch.isprintable())[:100]


class RegisterView(APIView):
    """Start a registration: a code goes to the email (or phone); nothing else happens yet.

    Always 202 with the same shape, whether or not the contact is known: a free contact
    or one of a customer known from a store gets a code; a contact that already has a
    login gets a message saying so. Finish with POST auth/verify/.
    """

    # No session authentication: a browser's admin cookie must not demand a CSRF token here.
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "auth_register"

    @extend_schema(request=RegisterInput, responses={202: RegistrationOutput, 429: THROTTLED})
    def post(self, request):
        data = RegisterInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        verification = services.registration_start(
            email=v.get("email"),
            phone=v.get("phone"),
            password=v["password"],
            first_name=v.get("first_name", ""),
            last_name=v.get("last_name", ""),
            consents=v.get("consents"),
            source=v["channel"],
        )
        body = {
            "verification": VerificationOutput(verification).data,
            "message": _("Check your email or phone to continue: we sent you a message."),
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)


class RegisterVerifyView(APIView):
    """Finish a registration with the code: creates the login and logs this device in.

    A profile known from a store or a guest order with the proven contact is merged
    into the new one now (its points, orders and pickup codes follow). A phone given
    with an email at registration is listed in customer.pending_contacts with its own
    verification (finish it with POST me/contacts/verify/).
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "verification_check"

    @extend_schema(
        request=VerifyInput,
        responses={
            201: AuthOutput,
            400: OpenApiResponse(description="invalid_code (details.attempts_left)"),
            404: OpenApiResponse(description="verification_not_found"),
            410: OpenApiResponse(description="verification_expired, verification_locked"),
            429: THROTTLED,
        },
    )
    def post(self, request):
        data = VerifyInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        result = services.registration_complete(
            verification_id=v["verification"],
            code=v["code"],
            device=_device(request, v.get("device", "")),
            request_data=_request_data(request),
        )
        return Response(_auth_body(result), status=status.HTTP_201_CREATED)


class VerificationResendView(APIView):
    """Send a new code for a registration or a contact change (the old code stops working)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "verification_send"

    @extend_schema(
        request=ResendInput,
        responses={
            202: VerificationOutput,
            404: OpenApiResponse(description="verification_not_found"),
            409: OpenApiResponse(description="too_many_codes"),
            410: OpenApiResponse(description="verification_locked"),
            429: THROTTLED,
        },
    )
    def post(self, request):
        data = ResendInput(data=request.data)
        data.is_valid(raise_exception=True)
        verification = services.verification_resend(
            verification_id=data.validated_data["verification"]
        )
        return Response(VerificationOutput(verification).data, status=status.HTTP_202_ACCEPTED)


class TokenView(APIView):
    """Log in with an email or phone and a password: a new token for this device.

    Each login is its own session with an expiry; the token is shown only here.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "auth_login"

    @extend_schema(
        request=LoginInput,
        responses={
            200: AuthOutput,
            401: OpenApiResponse(description="invalid_credentials"),
            429: THROTTLED,
        },
    )
    def post(self, request):
        data = LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.auth_login(
            login=data.validated_data["login"],
            password=data.validated_data["password"],
            device=_device(request, data.validated_data.get("device", "")),
            request_data=_request_data(request),
        )
        return Response(_auth_body(result))


class LogoutView(APIView):
    """End this device's session: its token stops working; other devices stay logged in."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        if isinstance(request.auth, AuthToken):
            services.auth_logout(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(APIView):
    """Log out everywhere: every token of this login stops working."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        services.auth_logout_all(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeSessionsView(APIView):
    """The devices logged in to this account: name, created, expiry, last used (never the token)."""

    permission_classes = [IsAuthenticated]
    pagination_class = None

    @extend_schema(responses=SessionOutput(many=True))
    def get(self, request):
        current = request.auth.pk if isinstance(request.auth, AuthToken) else None
        sessions = selectors.login_sessions(user=request.user)
        return Response(SessionOutput(sessions, many=True, context={"current": current}).data)


class MeSessionView(APIView):
    """End one of this login's sessions (e.g. a lost phone)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={204: None, 404: OpenApiResponse(description="session_not_found")},
    )
    def delete(self, request, session_id: int):
        services.session_end(user=request.user, session_id=session_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    """The logged-in customer's profile and marketing consents.

    PATCH applies names and consents at once; a new email or phone is only pending
    (listed in pending_contacts) until the code sent to it is given at
    POST me/contacts/verify/. Removing a contact is immediate. DELETE erases the account
    (see its own description).
    """

    permission_classes = [IsAuthenticated]
    throttle_scope = "verification_send"

    def get_throttles(self):
        if self.request.method == "DELETE":
            # The password is checked again: as few guesses as at login.
            self.throttle_scope = "auth_login"
            return [ScopedThrottle()]
        # Only a contact change sends a message; names and consents are not limited.
        if self.request.method == "PATCH" and hasattr(self.request.data, "keys"):
            if any(self.request.data.get(name) for name in CONTACT_FIELDS):
                return [ScopedThrottle()]
        return []

    @extend_schema(responses=CustomerOutput)
    def get(self, request):
        customer = selectors.customer_get_for_user(user=request.user)
        return Response(profile_data(customer))

    @extend_schema(request=ProfileUpdateInput, responses={200: CustomerOutput, 429: THROTTLED})
    def patch(self, request):
        customer = selectors.customer_get_for_user(user=request.user)
        data = ProfileUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        customer, _pending = services.profile_update(
            customer=customer,
            **{name: v[name] for name in (*NAME_FIELDS, *CONTACT_FIELDS) if name in v},
            consents=v.get("consents"),
            source=v.get("channel", "web"),
        )
        return Response(profile_data(customer))

    @extend_schema(
        request=EraseInput,
        description=(
            "Erase the account on the customer's request. The JSON body must carry the "
            'login\'s password again: {"password": "…", "channel": "web"|"app"}. Names, '
            "contacts and card leave the profile, every marketing consent is withdrawn, "
            "the login is deleted and every token of it stops working. Orders, returns and "
            "points stay for accounting without the contacts. A wrong or missing password "
            "is a 403 (reauthentication_failed) and changes nothing; an order or a return "
            "still open is a 409 (customer_has_open_orders, customer_has_open_returns)."
        ),
        responses={
            204: None,
            400: OpenApiResponse(description="validation_error"),
            403: OpenApiResponse(description="reauthentication_failed"),
            409: OpenApiResponse(
                description="customer_has_open_orders, customer_has_open_returns, "
                "customer_erased, staff_login_not_erasable"
            ),
            429: THROTTLED,
        },
    )
    def delete(self, request):
        body = _request_data(request)
        data = EraseInput(data={**body, "password": body.get("password") or ""})
        if not data.is_valid():
            if "password" in data.errors:
                # No password, or not a string: the same answer as a wrong one.
                raise ReauthenticationFailed()
            data.is_valid(raise_exception=True)  # e.g. an unknown channel: 400
        services.customer_erase_own(
            user=request.user,
            password=data.validated_data["password"],
            source=data.validated_data["channel"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeExportView(APIView):
    """Everything held about the logged-in customer, as one JSON document (right of access):
    profile, login and devices, consents and their history, orders of every channel with
    their contacts and lines, returns, points and their ledger. Reads only."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        customer = selectors.customer_get_for_user(user=request.user)
        return Response(selectors.customer_export(customer=customer))


class MeContactVerifyView(APIView):
    """Prove a new email or phone with its code: it becomes the profile's and the login's.

    A profile known from a store with this contact is merged into the customer's now.
    """

    permission_classes = [IsAuthenticated]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "verification_check"

    @extend_schema(
        request=ContactVerifyInput,
        responses={
            200: CustomerOutput,
            400: OpenApiResponse(description="invalid_code (details.attempts_left)"),
            404: OpenApiResponse(description="verification_not_found"),
            410: OpenApiResponse(description="verification_expired, verification_locked"),
            429: THROTTLED,
        },
    )
    def post(self, request):
        customer = selectors.customer_get_for_user(user=request.user)
        data = ContactVerifyInput(data=request.data)
        data.is_valid(raise_exception=True)
        customer = services.contact_change_complete(
            customer=customer,
            verification_id=data.validated_data["verification"],
            code=data.validated_data["code"],
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
