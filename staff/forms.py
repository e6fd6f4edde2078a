"""The one form that creates a member of staff: login, role and stores together."""

from django import forms
from django.contrib.auth import password_validation
from django.utils.translation import gettext_lazy as _

from inventory.models import Location
from staff.models import StaffMember
from staff.roles import role_choices


class StaffMemberCreateForm(forms.ModelForm):
    """Collects the input; `staff.services.staff_member_create` checks it and writes."""

    email = forms.EmailField(label=_("email"))
    full_name = forms.CharField(label=_("full name"), max_length=200, required=False)
    phone = forms.CharField(label=_("phone"), max_length=20, required=False)
    password1 = forms.CharField(
        label=_("password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label=_("password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    role = forms.ChoiceField(label=_("role"), choices=role_choices)
    locations = forms.ModelMultipleChoiceField(
        label=_("stores"),
        queryset=Location.objects.filter(is_active=True).order_by("code"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Where a store associate or manager works; head office sees every store."),
    )

    class Meta:
        model = StaffMember
        fields: tuple[str, ...] = ()

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ."))
        elif first:
            # Shown next to the field; the service checks the same validators again.
            probe = StaffMember(email=cleaned.get("email"), full_name=cleaned.get("full_name", ""))
            try:
                password_validation.validate_password(first, user=probe)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned

    def _post_clean(self):
        # Nothing to copy onto the model instance: the service builds the login.
        pass
