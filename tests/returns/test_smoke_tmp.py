from decimal import Decimal
import pytest
from returns import services
from returns.models import Return
from inventory.services import verify_ledger
from loyalty import services as loyalty_services, selectors as loyalty_selectors
from tests.factories.returns import collected_order, returns_staff

pytestmark = pytest.mark.django_db


def test_smoke(shop, rules, customer, django_capture_on_commit_callbacks):
    coat = shop.sku(price="100.00", store=5)
    socks = shop.sku(price="5.00", store=5)
    order = collected_order(shop, customer, [(coat, 1), (socks, 3)])
    assert loyalty_selectors.balance_get(customer=customer) == 115
    staff = returns_staff(shop.other_store)
    with django_capture_on_commit_callbacks(execute=True):
        ret = services.return_create(order=order, location=shop.other_store, reason="changed_mind",
            lines=[{"sku": socks.sku, "quantity": 1}], user=staff)
    ret.refresh_from_db()
    print(ret.__dict__, list(ret.refunds.values()))
    assert ret.value == Decimal("5.00")
    assert verify_ledger() == [] and loyalty_services.verify() == []
