"""The staff admin's model: a proxy of the login model, so staff have their own admin page.

No table of its own: a member of staff is a login with `is_staff`, one role group and
the stores they work at (inventory's `LocationStaff`).
"""

from django.utils.translation import gettext_lazy as _

from customers.models import User


class StaffMember(User):
    class Meta:
        proxy = True
        verbose_name = _("staff member")
        verbose_name_plural = _("staff members")
