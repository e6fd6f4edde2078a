"""The order status transition table, checked in pure code for every pair of statuses."""

import itertools

import pytest

from orders.domain import (
    TRANSITIONS,
    Actor,
    Fulfilment,
    Status,
    TransitionRefused,
    transition_check,
)

LEGAL = {
    (Fulfilment.PICKUP, Status.PLACED, Status.READY_FOR_PICKUP, Actor.STAFF),
    (Fulfilment.PICKUP, Status.READY_FOR_PICKUP, Status.COLLECTED, Actor.STAFF),
    (Fulfilment.PICKUP, Status.READY_FOR_PICKUP, Status.EXPIRED, Actor.SYSTEM),
    (Fulfilment.PICKUP, Status.READY_FOR_PICKUP, Status.EXPIRED, Actor.STAFF),
    (Fulfilment.PICKUP, Status.PLACED, Status.CANCELLED, Actor.CUSTOMER),
    (Fulfilment.PICKUP, Status.PLACED, Status.CANCELLED, Actor.STAFF),
    (Fulfilment.PICKUP, Status.PLACED, Status.CANCELLED, Actor.SYSTEM),  # not prepared in time
    (Fulfilment.PICKUP, Status.READY_FOR_PICKUP, Status.CANCELLED, Actor.STAFF),
    # ship-to-store: sent at checkout, ready when the store has received the transfer
    (Fulfilment.PICKUP, Status.PLACED, Status.IN_TRANSIT, Actor.SYSTEM),
    (Fulfilment.PICKUP, Status.IN_TRANSIT, Status.READY_FOR_PICKUP, Actor.SYSTEM),
    (Fulfilment.PICKUP, Status.IN_TRANSIT, Status.CANCELLED, Actor.CUSTOMER),
    (Fulfilment.PICKUP, Status.IN_TRANSIT, Status.CANCELLED, Actor.STAFF),
    (Fulfilment.DELIVERY, Status.PLACED, Status.SHIPPED, Actor.STAFF),
    (Fulfilment.DELIVERY, Status.SHIPPED, Status.DELIVERED, Actor.STAFF),
    (Fulfilment.DELIVERY, Status.SHIPPED, Status.DELIVERED, Actor.SYSTEM),
    (Fulfilment.DELIVERY, Status.PLACED, Status.CANCELLED, Actor.CUSTOMER),
    (Fulfilment.DELIVERY, Status.PLACED, Status.CANCELLED, Actor.STAFF),
    (Fulfilment.DELIVERY, Status.PLACED, Status.CANCELLED, Actor.SYSTEM),  # not shipped in time
}


@pytest.mark.parametrize(
    ("fulfilment", "source", "target", "actor"),
    list(itertools.product(Fulfilment, Status, Status, Actor)),
)
def test_only_the_listed_transitions_are_allowed(fulfilment, source, target, actor):
    if (fulfilment, source, target, actor) in LEGAL:
        assert (
            transition_check(
                fulfilment=fulfilment, source=source, target=target, actor=actor
            ).target
            == target
        )
    else:
        with pytest.raises(TransitionRefused):
            transition_check(fulfilment=fulfilment, source=source, target=target, actor=actor)


def test_the_customer_cannot_cancel_a_pickup_once_it_is_ready():
    with pytest.raises(TransitionRefused) as refused:
        transition_check(
            fulfilment=Fulfilment.PICKUP,
            source=Status.READY_FOR_PICKUP,
            target=Status.CANCELLED,
            actor=Actor.CUSTOMER,
        )
    assert refused.value.reason == "actor_not_allowed"


def test_terminal_statuses_have_no_way_out():
    for moves in TRANSITIONS.values():
        sources = {m.source for m in moves}
        assert not sources & {Status.COLLECTED, Status.DELIVERED, Status.EXPIRED, Status.CANCELLED}


def test_staff_cannot_mark_a_ship_to_store_order_ready_before_its_transfer_is_received():
    with pytest.raises(TransitionRefused) as refused:
        transition_check(
            fulfilment=Fulfilment.PICKUP,
            source=Status.IN_TRANSIT,
            target=Status.READY_FOR_PICKUP,
            actor=Actor.STAFF,
        )
    assert refused.value.reason == "actor_not_allowed"
