"""Users (a login by email or phone) and the one customer profile behind every channel.

`User` is the login, for customers and staff alike. `Customer` is the person: found by
E.164 phone, normalized email or loyalty card number, with per-channel marketing consent
(`MarketingConsent` holds the current decision, `ConsentChange` is its append-only
history), an audit row per merge of duplicates (`CustomerMerge`) and one per erasure of a
person's data on their request (`CustomerErasure`).
"""

import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.domain import normalize_email, normalize_phone


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, email, phone, password, **extra):
        email = normalize_email(email) if email else None
        phone = normalize_phone(phone) if phone else None
        if not email and not phone:
            raise ValueError("A user needs an email or a phone.")
        user = self.model(email=email, phone=phone, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email=None, password=None, *, phone=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, phone, password, **extra)

    def create_superuser(self, email=None, password=None, *, phone=None, **extra):
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create(email, phone, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(_("email"), unique=True, null=True, blank=True)
    phone = models.CharField(_("phone (E.164)"), max_length=20, unique=True, null=True, blank=True)
    full_name = models.CharField(_("full name"), max_length=200, blank=True)
    is_staff = models.BooleanField(_("staff status"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(email__isnull=False) | models.Q(phone__isnull=False),
                name="user_has_email_or_phone",
            )
        ]

    def __str__(self) -> str:
        return self.email or self.phone or f"user {self.pk}"

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else str(self)


class Source(models.TextChoices):
    """Where a customer or a consent decision came from: a sales channel or a back-office path."""

    WEB = "web", _("web store")
    APP = "app", _("mobile app")
    POS = "pos", _("store till")
    ADMIN = "admin", _("staff (admin)")
    MERGE = "merge", _("merge of duplicates")
    IMPORT = "import", _("import")


# The sales channels; a timeline entry carries one of these or none. Orders sold by staff on
# the customer's behalf carry theirs too (no customer or consent comes from them).
SALES_CHANNELS = (Source.WEB, Source.APP, Source.POS, "store_assisted", "call_centre")


class ConsentChannel(models.TextChoices):
    EMAIL = "email", _("email")
    SMS = "sms", _("SMS")
    MESSENGER = "messenger", _("messenger")
    PUSH = "push", _("push notifications")


class Customer(models.Model):
    """One person across every channel: found by E.164 phone, normalized email or card number.

    A web/app login is a `User` linked here; a shopper identified only at the till (by
    phone or loyalty card) is a customer without a user. A merged duplicate stays as a
    row pointing at its survivor (`merged_into`) so old references still resolve.
    """

    user = models.OneToOneField(
        User, null=True, blank=True, related_name="customer", on_delete=models.SET_NULL
    )
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    phone = models.CharField(_("phone (E.164)"), max_length=20, unique=True, null=True, blank=True)
    email = models.EmailField(_("email"), unique=True, null=True, blank=True)
    card_number = models.CharField(
        _("loyalty card number"), max_length=32, unique=True, null=True, blank=True
    )
    is_active = models.BooleanField(_("active"), default=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, related_name="merged_from", on_delete=models.PROTECT
    )
    signup_channel = models.CharField(
        _("first seen through"), max_length=16, choices=Source.choices, default=Source.ADMIN
    )
    # When a login was attached; equals created_at when the profile was made by registering.
    registered_at = models.DateTimeField(_("registered at"), null=True, blank=True)
    registered_via = models.CharField(
        _("registered through"), max_length=16, choices=Source.choices, blank=True
    )
    # The customer's earliest order in any channel, the channel and campaign (UTM values) it
    # came through, and the time of their next order: kept by `customer_first_order_record`
    # as orders are placed (and by a merge), so reports find new and returning customers,
    # repeat purchases, the first channel and first-touch campaigns without scanning orders.
    first_order_at = models.DateTimeField(_("first order at"), null=True, blank=True, db_index=True)
    first_channel = models.CharField(_("first order channel"), max_length=16, blank=True)
    first_utm_source = models.CharField(_("first order UTM source"), max_length=100, blank=True)
    first_utm_medium = models.CharField(_("first order UTM medium"), max_length=100, blank=True)
    first_utm_campaign = models.CharField(_("first order UTM campaign"), max_length=100, blank=True)
    second_order_at = models.DateTimeField(_("second order at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(merged_into=models.F("id")),
                name="customer_not_merged_into_self",
            )
        ]
        indexes = [
            # Likely duplicates are looked up by the same full name, case-insensitively.
            models.Index(Lower("last_name"), Lower("first_name"), name="customer_full_name_idx"),
        ]
        permissions = [
            ("export_customer", _("Can export everything held about a customer")),
            ("erase_customer", _("Can erase a customer's personal data on their request")),
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or self.email or self.phone or self.card_number or f"customer {self.pk}"


class MarketingConsent(models.Model):
    """The current marketing decision of one customer for one channel (absent: never asked)."""

    customer = models.ForeignKey(Customer, related_name="consents", on_delete=models.CASCADE)
    channel = models.CharField(_("channel"), max_length=16, choices=ConsentChannel.choices)
    granted = models.BooleanField(_("granted"))
    # When the customer gave or withdrew it, which survives a merge unchanged.
    changed_at = models.DateTimeField(_("given or withdrawn at"))
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)

    class Meta:
        verbose_name = _("marketing consent")
        verbose_name_plural = _("marketing consents")
        constraints = [
            models.UniqueConstraint(fields=["customer", "channel"], name="consent_customer_channel")
        ]

    def __str__(self) -> str:
        state = _("granted") if self.granted else _("withdrawn")
        return f"{self.channel}: {state}"


class ConsentChange(models.Model):
    """One consent decision, append-only: who changed which channel, to what, from where."""

    customer = models.ForeignKey(Customer, related_name="consent_changes", on_delete=models.PROTECT)
    channel = models.CharField(_("channel"), max_length=16, choices=ConsentChannel.choices)
    granted = models.BooleanField(_("granted"))
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    changed_by = models.ForeignKey(
        User, null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("consent change")
        verbose_name_plural = _("consent history")
        indexes = [models.Index(fields=["customer", "-changed_at"], name="consent_change_timeline")]

    def __str__(self) -> str:
        state = _("granted") if self.granted else _("withdrawn")
        return f"{self.channel}: {state} ({self.source})"


class CustomerMerge(models.Model):
    """The audit row of one merge: who folded which duplicate into which survivor, and what moved.

    `duplicate` is one-to-one, so the database itself refuses a second merge of the same
    profile even if two staff members press the button at the same moment.
    """

    survivor = models.ForeignKey(Customer, related_name="merges", on_delete=models.PROTECT)
    duplicate = models.OneToOneField(
        Customer, related_name="merged_by_record", on_delete=models.PROTECT
    )
    merged_by = models.ForeignKey(
        User, null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )
    merged_at = models.DateTimeField(_("merged at"), default=timezone.now)
    duplicate_snapshot = models.JSONField(_("duplicate before the merge"), default=dict)
    # {"customers": {...}, "<handler dotted path>": {"orders": 3}, ...}
    moved = models.JSONField(_("what moved"), default=dict)

    class Meta:
        verbose_name = _("customer merge")
        verbose_name_plural = _("customer merges")
        indexes = [models.Index(fields=["survivor", "-merged_at"], name="customer_merge_timeline")]

    def __str__(self) -> str:
        return f"#{self.duplicate_id} → #{self.survivor_id}"


class ContactVerification(models.Model):
    """A one-time code that proves someone holds an email or phone before it joins a login.

    `registration`: a new login waits here (its password already hashed) until the code
    for its contact is given; `contact_change`: a profile's new email or phone waits;
    `assisted_sale`: staff selling on the customer's behalf wait for the customer's
    consent to use their points and coupons (the code goes to a contact of the profile).
    Only an HMAC of the code is stored. A code is short-lived, a verification allows a
    few wrong attempts in total (however many codes were sent) and is completed once.
    """

    class Purpose(models.TextChoices):
        REGISTRATION = "registration", _("registration")
        CONTACT_CHANGE = "contact_change", _("contact change")
        # The customer lets staff selling on their behalf use their points and coupons.
        ASSISTED_SALE = "assisted_sale", _("assisted sale")

    class Field(models.TextChoices):
        EMAIL = "email", _("email")
        PHONE = "phone", _("phone")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices)
    field = models.CharField(_("contact kind"), max_length=8, choices=Field.choices)
    value = models.CharField(_("contact"), max_length=254)
    # The profile a contact change is for (none for a registration).
    customer = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        related_name="contact_verifications",
        on_delete=models.CASCADE,
    )
    # What a registration creates once verified: names, password hash, consents, channel.
    payload = models.JSONField(_("pending registration"), default=dict, blank=True)
    code_hash = models.CharField(_("code (HMAC)"), max_length=64, blank=True)
    codes_requested = models.PositiveSmallIntegerField(_("codes requested"), default=0)
    codes_sent = models.PositiveSmallIntegerField(_("codes sent"), default=0)
    attempts = models.PositiveSmallIntegerField(_("wrong attempts"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("contact verification")
        verbose_name_plural = _("contact verifications")
        indexes = [models.Index(fields=["expires_at"], name="verification_expiry")]

    def __str__(self) -> str:
        return f"{self.purpose} {self.field}"


class LoginSession(models.Model):
    """The device behind one API token: its name and when it was last used.

    The token itself is django-rest-knox's (stored as a digest, with its expiry); this row
    goes with it when the token is deleted (logout, expiry).
    """

    token = models.OneToOneField("knox.AuthToken", related_name="session", on_delete=models.CASCADE)
    name = models.CharField(_("device"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used at"), default=timezone.now)

    class Meta:
        verbose_name = _("login session")
        verbose_name_plural = _("login sessions")

    def __str__(self) -> str:
        return self.name or f"session {self.pk}"


class CustomerErasure(models.Model):
    """The audit row of one erasure: who erased which profile's personal data, when, how.

    It keeps no personal data, only what each app did (`done`: {"customers": {...},
    "<handler dotted path>": {"orders": 3}, ...}). One per customer: the database refuses
    a second erasure of the same profile.
    """

    class Via(models.TextChoices):
        ADMIN = "admin", _("staff (admin)")
        CUSTOMER = "customer", _("the customer (app or web)")

    customer = models.OneToOneField(
        Customer, related_name="erasure", on_delete=models.PROTECT, verbose_name=_("customer")
    )
    erased_by = models.ForeignKey(
        User,
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.SET_NULL,
        verbose_name=_("erased by"),
    )
    erased_at = models.DateTimeField(_("erased at"), default=timezone.now)
    via = models.CharField(_("requested through"), max_length=16, choices=Via.choices)
    done = models.JSONField(_("what was erased"), default=dict)

    class Meta:
        verbose_name = _("erasure of personal data")
        verbose_name_plural = _("erasures of personal data")

    def __str__(self) -> str:
        return f"#{self.customer_id} erased {self.erased_at:%Y-%m-%d %H:%M}"
