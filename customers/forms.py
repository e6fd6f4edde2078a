"""Admin forms: users (email or phone instead of a username), customer profiles, merges,
the confirmation of an erasure."""

from django import forms
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm
from django.utils.translation import gettext_lazy as _

from core.errors import ValidationFailed
from customers.domain import normalize_card_number, normalize_email, normalize_phone
from customers.models import Customer, User
from customers.selectors import contact_conflicts


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


class CustomerAdminForm(forms.ModelForm):
    """Staff edit a profile: contacts are normalized and checked here, saved by the services."""

    class Meta:
        model = Customer
        fields = ("first_name", "last_name", "phone", "email", "card_number")

    def _normalized(self, name: str, normalize) -> str | None:
        value = (self.cleaned_data.get(name) or "").strip()
        try:
            return normalize(value) if value else None
        except ValidationFailed as exc:
            raise forms.ValidationError(exc.message) from exc

    def clean_phone(self):
        return self._normalized("phone", normalize_phone)

    def clean_email(self):
        return self._normalized("email", normalize_email)

    def clean_card_number(self):
        return self._normalized("card_number", normalize_card_number)

    def clean(self):
        cleaned = super().clean()
        contacts = {name: cleaned.get(name) for name in ("phone", "email", "card_number")}
        if not any(contacts.values()) and not self.errors:
            raise forms.ValidationError(_("Give a phone, an email or a card number."))
        customer = self.instance if self.instance.pk else None
        changed = {
            name: value
            for name, value in contacts.items()
            if value and (customer is None or value != getattr(customer, name))
        }
        for name in contact_conflicts(customer=customer, **changed):
            self.add_error(name, _("This contact already belongs to another customer."))
        return cleaned

    def validate_unique(self):
        # clean() checked uniqueness the way the services do (a duplicate merged into this
        # customer may hand its old contact over), so the model's own check is skipped.
        pass


class MergeForm(forms.Form):
    """The merge confirmation: which of the two selected customers survives."""

    survivor = forms.TypedChoiceField(
        label=_("Keep this customer"), coerce=int, widget=forms.RadioSelect
    )

    def __init__(self, *args, customers: list[Customer], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["survivor"].choices = [(c.pk, f"#{c.pk} {c}") for c in customers]


class EraseForm(forms.Form):
    """The erasure confirmation: staff tick that the customer asked for it."""

    confirm = forms.BooleanField(
        label=_("The customer asked for their personal data to be erased."),
        required=True,
    )

    def __init__(self, *args, customer: Customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.customer = customer
