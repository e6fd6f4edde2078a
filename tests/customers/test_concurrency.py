"""Concurrent merges, identifications, registrations and codes on PostgreSQL: nothing twice."""

import threading

import pytest
from django.db import connection

from core.errors import DomainError
from customers.models import Customer, CustomerMerge, User
from customers.services import (
    customer_create,
    customer_get_or_create,
    customer_merge,
    registration_complete,
    registration_start,
    verification_deliver,
)
from tests.customers.conftest import PASSWORD, last_code, register

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _race(*calls) -> list:
    """Run the calls at the same moment, each in its own thread and connection."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except DomainError as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_staff_merging_the_same_duplicate_at_once_merge_it_only_once(settings):
    a, b = customer_create(phone="+4915111111111"), customer_create(phone="+4915122222222")
    duplicate = customer_create(email="dup@example.com")
    results = _race(
        lambda: customer_merge(survivor=a, duplicate=duplicate, merged_by=None),
        lambda: customer_merge(survivor=b, duplicate=duplicate, merged_by=None),
    )
    merges = [r for r in results if isinstance(r, CustomerMerge)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(merges) == 1 and [e.code for e in refused] == ["customer_already_merged"]
    assert CustomerMerge.objects.count() == 1
    duplicate.refresh_from_db()
    assert duplicate.merged_into_id == merges[0].survivor_id


def test_merges_in_opposite_directions_do_not_deadlock_and_only_one_wins():
    a, b = customer_create(phone="+4915111111111"), customer_create(phone="+4915122222222")
    results = _race(
        lambda: customer_merge(survivor=a, duplicate=b, merged_by=None),
        lambda: customer_merge(survivor=b, duplicate=a, merged_by=None),
    )
    assert sorted(type(r).__name__ for r in results) == ["CustomerAlreadyMerged", "CustomerMerge"]
    assert Customer.objects.filter(is_active=True).count() == 1


def test_tills_identifying_the_same_new_phone_at_once_create_one_customer():
    results = _race(
        *[lambda: customer_get_or_create(phone="+4915133333333", source="pos") for _ in range(4)]
    )
    assert all(isinstance(r, Customer) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert Customer.objects.count() == 1


def test_double_submitted_registrations_create_one_login():
    results = _race(
        lambda: register(email="anna@example.com"),
        lambda: register(email="ANNA@example.com"),
    )
    assert sorted(type(r).__name__ for r in results) == ["Customer", "CustomerExists"]
    assert User.objects.count() == 1 and Customer.objects.count() == 1


def test_the_same_code_sent_twice_at_once_creates_one_login():
    verification = registration_start(email="anna@example.com", password=PASSWORD)
    verification_deliver(verification_id=str(verification.pk), sequence=1)
    code = last_code("anna@example.com")
    results = _race(
        *[
            lambda: registration_complete(verification_id=verification.pk, code=code)
            for _ in range(3)
        ]
    )
    assert sorted(type(r).__name__ for r in results) == [
        "AuthResult",
        "VerificationNotFound",
        "VerificationNotFound",
    ]
    assert User.objects.count() == 1 and Customer.objects.count() == 1


def test_wrong_codes_raced_together_are_all_counted(settings):
    settings.CUSTOMER_CODE_MAX_ATTEMPTS = 50
    verification = registration_start(email="anna@example.com", password=PASSWORD)
    verification_deliver(verification_id=str(verification.pk), sequence=1)
    right = last_code("anna@example.com")
    wrong = "000000" if right != "000000" else "111111"
    _race(
        *[
            lambda: registration_complete(verification_id=verification.pk, code=wrong)
            for _ in range(6)
        ]
    )
    verification.refresh_from_db()
    assert verification.attempts == 6
