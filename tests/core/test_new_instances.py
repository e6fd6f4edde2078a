"""`core.db.new`: an instance as the model's constructor makes it, without its per-argument
handling (the checkout's rows to insert)."""

import uuid
from decimal import Decimal

import pytest
from django.db.models import signals
from django.utils import timezone

from core.db import _new_plan, new
from inventory.models import StockLevel, StockMovement
from orders.models import Cart, Order, OrderLine
from tests.factories.orders import make_shop

pytestmark = pytest.mark.django_db


def _fields(obj) -> dict:
    return {k: v for k, v in obj.__dict__.items() if k != "_state"}


def test_an_instance_holds_what_the_constructor_would_and_keeps_its_related_objects():
    shop = make_shop()
    variant = shop.sku(store=5)
    level = StockLevel.objects.get(location=shop.store, variant=variant)
    now = timezone.now()
    values = dict(
        level=level,
        kind="reservation",
        quantity=2,
        reserved_delta=2,
        on_hand_after=5,
        reserved_after=2,
        reference="order:1",
        reservation=None,
        actor=None,
        created_at=now,
    )
    made, built = StockMovement(**values), new(StockMovement, **values)
    assert _fields(built) == _fields(made)
    assert built.level is level and built.level_id == level.pk and built.reservation is None
    assert set(built._state.fields_cache) == set(made._state.fields_cache)
    assert built._state.adding and built._state.db is None


def test_fields_not_given_take_their_defaults_each_its_own():
    first, second = new(Cart, channel="web"), new(Cart, channel="app")
    made = Cart(channel="web")
    assert isinstance(first.token, uuid.UUID) and first.token != second.token  # called each
    assert first.delivery_address == {} and first.delivery_address is not second.delivery_address
    assert {k: v for k, v in _fields(first).items() if k != "token"} == {
        k: v for k, v in _fields(made).items() if k != "token"
    }
    line = new(OrderLine, sku="X", quantity=1, unit_price=Decimal("1.00"))
    assert line.discounts == [] and line.discount_total == OrderLine(sku="X").discount_total


def test_a_given_value_is_kept_and_its_default_is_not_made():
    token = uuid.uuid4()
    calls = []
    field = Cart._meta.get_field("token")
    plan = _new_plan(Cart)[0]
    assert any(entry[1] == field.attname and entry[3] for entry in plan)  # a called default
    original = field.default
    field.default = lambda: calls.append(1) or uuid.uuid4()
    _new_plan.cache_clear()
    try:
        assert new(Cart, channel="web", token=token).token == token
        assert calls == []
        new(Cart, channel="web")
        assert calls == [1]
    finally:
        field.default = original
        _new_plan.cache_clear()


def test_a_name_that_is_not_a_field_is_refused():
    with pytest.raises(TypeError, match="no field 'colour'"):
        new(Order, colour="red")


def test_a_model_watched_by_post_init_is_made_by_its_constructor():
    seen = []

    def watch(sender, instance, **kwargs):
        seen.append(instance)

    signals.post_init.connect(watch, sender=Cart)
    _new_plan.cache_clear()
    try:
        cart = new(Cart, channel="web")
        assert seen == [cart]
    finally:
        signals.post_init.disconnect(watch, sender=Cart)
        _new_plan.cache_clear()


def test_a_loaded_row_is_the_instance_from_db_makes():
    from django.contrib.auth import get_user_model
    from knox.models import AuthToken

    from core.db import loaded
    from customers.models import Customer
    from inventory.models import Location
    from tests.factories.customers import CustomerWithLoginFactory

    shop = make_shop()
    variant = shop.sku(store=5)
    customer = CustomerWithLoginFactory()
    AuthToken.objects.create(user=customer.user)
    for model, obj in (
        (StockLevel, StockLevel.objects.get(location=shop.store, variant=variant)),
        (Location, shop.store),
        (Customer, customer),
        (get_user_model(), customer.user),
        (AuthToken, AuthToken.objects.filter(user=customer.user).first()),
    ):
        names = [f.attname for f in model._meta.concrete_fields]
        values = [getattr(obj, name) for name in names]
        made, fast = model.from_db("default", names, values), loaded(model, names, values)
        assert type(fast) is model and _fields(fast) == _fields(made), model
        assert (fast._state.adding, fast._state.db) == (False, "default")
        assert fast == made  # same primary key


def test_a_model_watched_by_post_init_is_loaded_by_from_db():
    from core.db import _load_plain, loaded

    seen = []

    def watch(sender, instance, **kwargs):
        seen.append(instance)

    names = [f.attname for f in Cart._meta.concrete_fields]
    values = [getattr(new(Cart, channel="web"), name) for name in names]
    signals.post_init.connect(watch, sender=Cart)
    _load_plain.cache_clear()
    try:
        cart = loaded(Cart, names, values)
        assert seen == [cart]
    finally:
        signals.post_init.disconnect(watch, sender=Cart)
        _load_plain.cache_clear()
