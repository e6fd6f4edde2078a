"""The ready-made staff roles, defined once: group name, permissions, loyalty adjustment limit.

A role is a Django permission group. The data migrations of this app install the groups
from `ROLES` (`roles_install`), the tests read the same definitions, and the loyalty
service asks `loyalty_adjust_limit` (wired by the `LOYALTY_ADJUST_LIMIT_RESOLVER` setting)
how many points a user may adjust at once. Changing a role means changing `ROLES` and
adding a migration that calls `roles_install` again.

Stores are not part of a role: a member of staff works at the stores they are assigned
to (inventory's `LocationStaff`); `inventory.operate_any_location` (head office) means
every store.
"""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

# Operation permissions the inventory admin checks, beyond the model defaults. They are
# created on the stock level's content type by `roles_install`, because the inventory
# models' own migrations belong to that app: (codename, name).
INVENTORY_OPERATIONS = (
    ("receive_stock", "Can receive stock, record counts and receive transfers"),
    ("adjust_stock", "Can adjust and write off stock and release reservations"),
    ("transfer_stock", "Can send stock to another location"),
)

# The apps whose data a role may be given; head office reads every model of all of them.
STAFF_APPS = (
    "catalog",
    "pricing",
    "inventory",
    "orders",
    "customers",
    "loyalty",
    "pos",
    "returns",
    "staff",
)


@dataclass(frozen=True)
class Role:
    key: str
    group: str
    description: str
    permissions: frozenset[str]
    # View permission on every model of these apps (read everything).
    view_apps: tuple[str, ...] = ()
    # Most points one manual adjustment may add or remove; None: no limit.
    loyalty_adjust_limit: int | None = 0


STORE_ASSOCIATE_PERMISSIONS = frozenset(
    {
        # the pickup queue: prepare, mark ready, hand over with the customer's code
        "orders.view_order",
        "orders.work_pickup_queue",
        # sell on a customer's behalf from their store (endless aisle): any stock, any
        # pickup store; the customer's points and coupons only with the customer's code
        "orders.sell_for_customer",
        # stock at their stores: receipts and counts
        "inventory.view_location",
        "inventory.view_stocklevel",
        "inventory.view_stockmovement",
        "inventory.view_reservation",
        "inventory.view_transfer",
        "inventory.receive_stock",
        # customer lookup: profiles and bonus balances, read only
        "customers.view_customer",
        "loyalty.view_loyaltyaccount",
        "loyalty.view_loyaltyentry",
        # what they sell
        "catalog.view_category",
        "catalog.view_product",
        "catalog.view_variant",
        "pricing.view_price",
        "pricing.view_promotion",
        # the store's tills: their sync state and synced sales; pickups a sale left short
        "pos.view_terminal",
        "pos.view_possale",
        "pos.view_shortpickup",
        # the returns desk: take back goods of any order of any channel, at their stores
        "returns.view_return",
        "returns.add_return",
    }
)

STORE_MANAGER_PERMISSIONS = STORE_ASSOCIATE_PERMISSIONS | {
    "inventory.change_stocklevel",  # the low-stock threshold
    "inventory.adjust_stock",
    "inventory.transfer_stock",
    "orders.cancel_order",
    "orders.reroute_order",
    "loyalty.change_loyaltyaccount",
    "loyalty.adjust_points",
    # register, rename and revoke the store's tills; what they charged off the engine
    "pos.add_terminal",
    "pos.change_terminal",
    "pos.view_pricediscrepancy",
    # accept a return past its window, refund to another tender (each with a reason)
    "returns.override_return_window",
    "returns.refund_other_tender",
    # a customer's data on their request; who changed what at their stores, and why
    "customers.export_customer",
    "audit.view_audit",
    # the cross-channel reports, for their stores
    "reports.view_reports",
}

MERCHANDISER_PERMISSIONS = frozenset(
    {
        *(
            f"catalog.{verb}_{model}"
            for verb in ("view", "add", "change")
            for model in ("category", "product", "variant", "barcode")
        ),
        *(
            f"pricing.{verb}_{model}"
            for verb in ("view", "add", "change")
            for model in ("pricelist", "price", "promotion", "coupon")
        ),
        "pricing.delete_price",  # scheduled prices only; the admin refuses the rest
        "pricing.view_couponredemption",
    }
)

HEAD_OFFICE_PERMISSIONS = frozenset(
    {
        "inventory.operate_any_location",  # every store, for reading (no stock operation)
        # the ship-to-store routes between locations and their lead times
        "inventory.view_transferleadtime",
        "inventory.add_transferleadtime",
        "inventory.change_transferleadtime",
        "inventory.delete_transferleadtime",
        # what each delivery method costs (part of every delivery quote)
        "pricing.view_shippingrate",
        "pricing.add_shippingrate",
        "pricing.change_shippingrate",
        "loyalty.change_loyaltyaccount",
        "loyalty.adjust_points",
        "loyalty.adjust_points_unlimited",
        # how long each category's goods may be returned
        "returns.add_returnwindow",
        "returns.change_returnwindow",
        # personal data on a customer's request: export, and erasure (anonymised, the
        # orders and ledgers kept for accounting)
        "customers.export_customer",
        "customers.erase_customer",
        "audit.view_audit",
        "reports.view_reports",
    }
)

CALL_CENTRE_PERMISSIONS = frozenset(
    {
        # sell on a customer's behalf for any store, by phone
        "orders.view_order",
        "orders.sell_by_phone",
        # find the customer, see their bonus balance
        "customers.view_customer",
        "loyalty.view_loyaltyaccount",
        "loyalty.view_loyaltyentry",
        # what they sell, and where it is
        "catalog.view_category",
        "catalog.view_product",
        "catalog.view_variant",
        "pricing.view_price",
        "pricing.view_promotion",
        "inventory.view_location",
        "inventory.view_stocklevel",
    }
)

STORE_ASSOCIATE = Role(
    key="store_associate",
    group="Store associate",
    description=_(
        "Pickup queue, stock receipts and counts, returns at their stores, customer lookup, "
        "selling on a customer's behalf from their stores."
    ),
    permissions=STORE_ASSOCIATE_PERMISSIONS,
)
STORE_MANAGER = Role(
    key="store_manager",
    group="Store manager",
    description=_(
        "An associate who also adjusts and transfers stock, cancels orders, accepts late "
        "returns and refunds to another tender, adjusts bonus points up to a limit, exports a "
        "customer's data and reads the audit log of their stores."
    ),
    permissions=frozenset(STORE_MANAGER_PERMISSIONS),
    loyalty_adjust_limit=500,
)
MERCHANDISER = Role(
    key="merchandiser",
    group="Merchandiser",
    description=_("Catalog, prices and promotions; no store data."),
    permissions=MERCHANDISER_PERMISSIONS,
)
HEAD_OFFICE = Role(
    key="head_office",
    group="Head office",
    description=_(
        "Every store, reads everything; sets return windows; adjusts bonus points without a "
        "limit; exports and erases a customer's data on request; reads the whole audit log."
    ),
    permissions=HEAD_OFFICE_PERMISSIONS,
    view_apps=STAFF_APPS,
    loyalty_adjust_limit=None,
)

CALL_CENTRE = Role(
    key="call_centre",
    group="Call centre",
    description=_(
        "Sells on a customer's behalf by phone, for pickup in any store or delivery; finds "
        "customers and sees their bonus balance; no store operations."
    ),
    permissions=CALL_CENTRE_PERMISSIONS,
)

ROLES: dict[str, Role] = {
    role.key: role
    for role in (STORE_ASSOCIATE, STORE_MANAGER, MERCHANDISER, HEAD_OFFICE, CALL_CENTRE)
}


def role_choices() -> list[tuple[str, str]]:
    return [(role.key, role.group) for role in ROLES.values()]


def loyalty_adjust_limit(user) -> int | None:
    """Most points `user` may adjust at once: the highest limit of their roles.

    None means no limit (superusers, head office); 0 when none of their groups is a role.
    """
    if user.is_superuser:
        return None
    groups = set(user.groups.values_list("name", flat=True))
    limits = [role.loyalty_adjust_limit for role in ROLES.values() if role.group in groups]
    if not limits:
        return 0
    if None in limits:
        return None
    return max(limits)


def role_permission_keys(role: Role, *, apps) -> set[tuple[str, str]]:
    """(app_label, codename) of every permission of the role, view_apps expanded."""
    keys = {tuple(name.split(".", 1)) for name in role.permissions}
    for app_label in role.view_apps:
        for model in apps.get_app_config(app_label).get_models():
            keys.add((app_label, f"view_{model._meta.model_name}"))
    return keys


def roles_install(apps) -> None:
    """Create every permission, the inventory operation permissions and the role groups,
    and give each group exactly its role's permissions. Idempotent; `apps` is the
    migration's app registry (or `django.apps.apps`).

    Raises LookupError naming any permission a role lists that does not exist, so a typo
    in `ROLES` fails the migration instead of silently granting less.
    """
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        # On a fresh database the post-migrate signal has not created them yet. A migration's
        # app configs have no models module, which create_permissions takes for "no models".
        kept = getattr(app_config, "models_module", None)
        app_config.models_module = kept or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = kept

    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    level_type, _created = ContentType.objects.get_or_create(
        app_label="inventory", model="stocklevel"
    )
    for codename, name in INVENTORY_OPERATIONS:
        Permission.objects.get_or_create(
            content_type=level_type, codename=codename, defaults={"name": name}
        )

    for role in ROLES.values():
        keys = role_permission_keys(role, apps=apps)
        found = {
            (p.content_type.app_label, p.codename): p
            for p in Permission.objects.select_related("content_type").filter(
                codename__in={codename for _label, codename in keys}
            )
        }
        missing = sorted(f"{a}.{c}" for a, c in keys if (a, c) not in found)
        if missing:
            raise LookupError(f"Role {role.key} names unknown permissions: {missing}")
        group, _created = Group.objects.get_or_create(name=role.group)
        group.permissions.set([found[key] for key in keys])
