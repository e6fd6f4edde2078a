"""Staff writes: creating a member of staff (login, role, stores) in one transaction.

The login comes from the customers app, the store assignments from the inventory app,
each through its own service; this module only composes them with the role's group.
"""

from collections.abc import Iterable

from django.contrib.auth.models import Group
from django.db import transaction

from customers.services import staff_login_create
from inventory.models import Location
from inventory.services import location_staff_assign
from staff.errors import StoresRequired, UnknownRole
from staff.roles import ROLES

# Roles whose work is at stores: they see nothing without an assignment.
STORE_ROLES = frozenset({"store_associate", "store_manager"})


@transaction.atomic
def staff_member_create(
    *,
    email: str,
    password: str,
    role: str,
    locations: Iterable[Location] = (),
    full_name: str = "",
    phone: str | None = None,
):
    """Create a staff login with one role group and its stores; returns the user.

    Locks nothing (the login's unique contacts decide a race). Raises UnknownRole and
    StoresRequired (400) before writing anything, then whatever `staff_login_create`
    raises (InvalidPassword, Invalid*, ContactTaken); nothing is kept on any error.
    """
    definition = ROLES.get(role)
    if definition is None:
        raise UnknownRole(details={"role": role})
    locations = list(locations)
    if role in STORE_ROLES and not locations:
        raise StoresRequired(details={"role": role})
    # The group carries the role's permissions (installed by this app's migrations); an
    # empty group made up here would create a member of staff who can do nothing.
    group = Group.objects.filter(name=definition.group).first()
    if group is None:
        raise UnknownRole(details={"role": role, "group": definition.group})
    user = staff_login_create(email=email, password=password, full_name=full_name, phone=phone)
    user.groups.add(group)
    for location in sorted(locations, key=lambda loc: loc.pk):
        location_staff_assign(user=user, location=location)
    return user
