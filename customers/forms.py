"""Admin forms for the custom user model (email or phone instead of a username)."""

from django import forms
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm
from django.utils.translation import gettext_lazy as _

from core.errors import ValidationFailed
from customers.domain import normalize_email, normalize_phone
from customers.models import User


class ContactFieldsMixin:
    def clean_email(self):
        email = self.cleaned_data.get("email")
        try:
            return normalize_email(email) if email else None
        except ValidationFailed as exc:
            raise forms.ValidationError(exc.message) from exc

    def clean_phone(self):
        phone = self.cleaned_data.get("phone")
        try:
            return normalize_phone(phone) if phone else None
        except ValidationFailed as exc:
            raise forms.ValidationError(exc.message) from exc

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("email") and not cleaned.get("phone"):
            raise forms.ValidationError(_("Give an email or a phone."))
        return cleaned


class UserCreationForm(ContactFieldsMixin, BaseUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "phone", "full_name")


class UserEditForm(ContactFieldsMixin, UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
