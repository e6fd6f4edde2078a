"""The ready-made roles and returns: store staff take returns at their stores, managers
also accept late ones and refund to another tender, head office reads every store's
returns and sets the return windows but takes no return itself."""

import pytest

from returns import services
from returns.errors import ReturnWindowClosed
from returns.models import Return, ReturnWindow
from staff.roles import ROLES
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.returns import collected_order

pytestmark = pytest.mark.django_db

DESK = "/admin/returns/return/desk/"
RETURNS = "/admin/returns/return/"
WINDOWS = "/admin/returns/returnwindow/"
TAKE = {"returns.view_return", "returns.add_return"}
MANAGE = {"returns.override_return_window", "returns.refund_other_tender"}
WINDOW_EDIT = {"returns.add_returnwindow", "returns.change_returnwindow"}


def _returns_permissions(user) -> set[str]:
    return {p for p in user.get_all_permissions() if p.startswith("returns.")}


def test_each_role_holds_exactly_its_returns_permissions(shop, member):
    every_view = {
        "returns.view_return",
        "returns.view_returnline",
        "returns.view_refundtender",
        "returns.view_returnwindow",
    }
    expected = {
        "store_associate": TAKE,
        "store_manager": TAKE | MANAGE,
        "merchandiser": set(),
        "head_office": every_view | WINDOW_EDIT,
        "call_centre": set(),  # sells by phone; takes no goods back
    }
    assert set(expected) == set(ROLES)
    for role, permissions in expected.items():
        user = member(role, shop.store).user
        assert _returns_permissions(user) == permissions, role


def test_store_roles_open_the_desk_and_head_office_and_merchandisers_cannot(shop, member):
    for role, status in (
        ("store_associate", 200),
        ("store_manager", 200),
        ("head_office", 403),
        ("merchandiser", 403),
    ):
        assert member(role, shop.store).get(DESK).status_code == status, role


def test_head_office_reads_every_stores_returns_and_only_it_edits_return_windows(shop, member):
    LoyaltyRulesFactory()
    socks = shop.sku(price="5.00", store=5)
    order = collected_order(shop, CustomerWithLoginFactory(), [(socks, 2)])
    for location in (shop.store, shop.other_store):
        services.return_create(
            order=order,
            location=location,
            reason="changed_mind",
            lines=[{"sku": socks.sku, "quantity": 1}],
        )
    head_office = member("head_office")
    listed = head_office.get(RETURNS).context["cl"].result_list
    assert {r.location_id for r in listed} == {shop.store.pk, shop.other_store.pk}

    category = socks.product.category
    manager = member("store_manager", shop.store)
    assert manager.get(WINDOWS).status_code == 403
    assert manager.post(f"{WINDOWS}add/", {"category": category.pk, "days": 7}).status_code == 403
    assert not ReturnWindow.objects.exists()
    added = head_office.post(f"{WINDOWS}add/", {"category": category.pk, "days": 7, "note": ""})
    assert added.status_code == 302
    assert ReturnWindow.objects.get().days == 7


def test_only_the_manager_role_accepts_a_return_after_its_window(shop, member):
    LoyaltyRulesFactory()
    socks = shop.sku(price="5.00", store=5)
    order = collected_order(shop, CustomerWithLoginFactory(), [(socks, 1)])
    ReturnWindow.objects.create(category=socks.product.category, days=0)
    late = {
        "order": order,
        "location": shop.store,
        "reason": "defective",
        "lines": [{"sku": socks.sku, "quantity": 1}],
        "override_reason": "known fault of the batch",
    }
    associate = member("store_associate", shop.store).user
    with pytest.raises(ReturnWindowClosed):
        services.return_create(**late, user=associate, staff_location_ids={shop.store.pk})
    assert not Return.objects.exists()
    manager = member("store_manager", shop.store).user
    ret = services.return_create(**late, user=manager, staff_location_ids={shop.store.pk})
    assert ret.window_override_reason == "known fault of the batch"
