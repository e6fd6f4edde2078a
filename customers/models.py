"""The custom user model: a login by email or phone, for customers and staff alike.

The customer profile (name, consents, loyalty card) is a separate model of a later issue
that links to this user; the user model itself never needs to be swapped.
"""

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
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
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or self.email or self.phone or self.card_number or f"customer {self.pk}"
