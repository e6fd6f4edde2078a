"""Shapes of the auth and profile API. Validation of shape only; the rules live in services."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from customers.models import (
    ConsentChannel,
    ContactVerification,
    Customer,
    MarketingConsent,
    Source,
)

CLIENT_CHANNELS = [Source.WEB, Source.APP]


class ConsentsInput(serializers.Serializer):
    """A decision per marketing channel; channels left out stay as they are."""

    email = serializers.BooleanField(required=False)
    sms = serializers.BooleanField(required=False)
    messenger = serializers.BooleanField(required=False)
    push = serializers.BooleanField(required=False)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: [_("Unknown consent channel.")] for name in unknown}
                )
        return super().to_internal_value(data)


# Not trimmed here: the services strip spaces and refuse line breaks and control characters
# instead of silently dropping them.
def _contact(max_length: int) -> serializers.CharField:
    return serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=max_length,
        trim_whitespace=False,
    )


def _name() -> serializers.CharField:
    return serializers.CharField(
        required=False, allow_blank=True, max_length=100, trim_whitespace=False
    )


def _channel() -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=CLIENT_CHANNELS,
        default=Source.WEB,
        help_text=_("The client the customer uses: web or app (recorded with consents)."),
    )


def _device() -> serializers.CharField:
    return serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        trim_whitespace=False,
        help_text=_('A name for this device or app, shown in the session list ("Anna\'s phone").'),
    )


def _cart_token() -> serializers.CharField:
    return serializers.CharField(
        required=False,
        max_length=64,
        help_text=_("An anonymous cart to merge into the customer's (handled by login hooks)."),
    )


class RegisterInput(serializers.Serializer):
    email = _contact(254)
    phone = _contact(32)
    password = serializers.CharField(max_length=128, trim_whitespace=False, write_only=True)
    first_name = _name()
    last_name = _name()
    consents = ConsentsInput(required=False)
    channel = _channel()


class VerificationOutput(serializers.Serializer):
    id = serializers.UUIDField(help_text=_("Send it with the code to finish."))
    field = serializers.ChoiceField(
        choices=ContactVerification.Field.choices, help_text=_("Where the code was sent.")
    )
    value = serializers.CharField(help_text=_("The contact being proven."))
    expires_at = serializers.DateTimeField()


class RegistrationOutput(serializers.Serializer):
    """The same answer whether or not the contact is known: the message sent differs."""

    verification = VerificationOutput()
    message = serializers.CharField()


class VerifyInput(serializers.Serializer):
    verification = serializers.UUIDField()
    code = serializers.CharField(max_length=12, help_text=_("The code from the message."))
    device = _device()
    cart_token = _cart_token()


class ContactVerifyInput(serializers.Serializer):
    verification = serializers.UUIDField()
    code = serializers.CharField(max_length=12, help_text=_("The code from the message."))


class ResendInput(serializers.Serializer):
    verification = serializers.UUIDField()


class LoginInput(serializers.Serializer):
    login = serializers.CharField(
        required=False, max_length=254, help_text=_("Email or phone; or send email / phone.")
    )
    email = serializers.CharField(required=False, max_length=254)
    phone = serializers.CharField(required=False, max_length=32)
    password = serializers.CharField(max_length=128, trim_whitespace=False, write_only=True)
    device = _device()
    cart_token = _cart_token()

    def validate(self, attrs):
        login = attrs.get("login") or attrs.get("email") or attrs.get("phone")
        if not login:
            raise serializers.ValidationError({"login": [_("Give an email or a phone.")]})
        attrs["login"] = login
        return attrs


class ProfileUpdateInput(serializers.Serializer):
    first_name = _name()
    last_name = _name()
    email = _contact(254)
    phone = _contact(32)
    consents = ConsentsInput(required=False)
    channel = _channel()


class EraseInput(serializers.Serializer):
    """DELETE me/: the account's password again, so that a token alone cannot erase it."""

    password = serializers.CharField(
        max_length=4096, trim_whitespace=False, help_text=_("The login's password, again.")
    )
    channel = _channel()


class ConsentOutput(serializers.Serializer):
    granted = serializers.BooleanField()
    changed_at = serializers.DateTimeField(allow_null=True)
    source = serializers.CharField(allow_null=True)


class ConsentsOutput(serializers.Serializer):
    email = ConsentOutput()
    sms = ConsentOutput()
    messenger = ConsentOutput()
    push = ConsentOutput()


def consents_output(consents: dict[str, MarketingConsent | None]) -> dict:
    return {
        channel: {
            "granted": bool(c and c.granted),
            "changed_at": c.changed_at if c else None,
            "source": c.source if c else None,
        }
        for channel, c in ((ch, consents.get(ch)) for ch in ConsentChannel.values)
    }


class CustomerOutput(serializers.ModelSerializer):
    """The profile; `consents` is given by the view (from the consents selector)."""

    has_login = serializers.SerializerMethodField()
    consents = serializers.SerializerMethodField()
    pending_contacts = serializers.SerializerMethodField(
        help_text=_("New emails or phones waiting for their code; they apply once verified.")
    )

    class Meta:
        model = Customer
        fields = [
            "id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "card_number",
            "has_login",
            "signup_channel",
            "registered_at",
            "created_at",
            "consents",
            "pending_contacts",
        ]

    def get_has_login(self, customer) -> bool:
        return customer.user_id is not None

    @extend_schema_field(ConsentsOutput)
    def get_consents(self, customer) -> dict:
        return ConsentsOutput(consents_output(self.context["consents"])).data

    @extend_schema_field(VerificationOutput(many=True))
    def get_pending_contacts(self, customer) -> list:
        return VerificationOutput(self.context.get("pending", []), many=True).data


class AuthOutput(serializers.Serializer):
    token = serializers.CharField(
        help_text=_('Send as "Authorization: Token <token>". Shown only this once.')
    )
    expiry = serializers.DateTimeField(help_text=_("When this token stops working."))
    session = serializers.IntegerField(help_text=_("The id of this device's session."))
    customer = CustomerOutput()


class SessionOutput(serializers.Serializer):
    """One device's token session; the token itself is never shown again."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(source="token.expiry", allow_null=True)
    last_used_at = serializers.DateTimeField()
    current = serializers.SerializerMethodField(help_text=_("The session of this request."))

    def get_current(self, session) -> bool:
        return session.token_id == self.context.get("current")


class TimelineQuery(serializers.Serializer):
    before = serializers.DateTimeField(
        required=False, help_text=_("Only entries older than this (the `next` link sets it).")
    )
    limit = serializers.IntegerField(required=False, default=20, min_value=1, max_value=100)


class TimelineEntryOutput(serializers.Serializer):
    at = serializers.DateTimeField()
    kind = serializers.CharField()
    channel = serializers.CharField(allow_null=True)
    title = serializers.CharField()
    reference = serializers.CharField()
    details = serializers.DictField()


class TimelinePageOutput(serializers.Serializer):
    results = TimelineEntryOutput(many=True)
    next = serializers.URLField(allow_null=True)
