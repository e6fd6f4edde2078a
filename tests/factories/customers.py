"""Factories for the customers app: logins, customer profiles (with or without a login)."""

import factory

from customers.models import Customer, Source, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", "secret-pass-123")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class CustomerFactory(factory.django.DjangoModelFactory):
    """A profile known at the till: a valid German mobile number, no login, no email."""

    class Meta:
        model = Customer

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    phone = factory.Sequence(lambda n: f"+49151{20000000 + n:08d}")
    email = None
    card_number = None
    signup_channel = Source.POS


class CustomerWithLoginFactory(CustomerFactory):
    """A registered customer: the login shares the profile's email and phone."""

    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    signup_channel = Source.WEB
    user = factory.SubFactory(
        UserFactory,
        email=factory.SelfAttribute("..email"),
        phone=factory.SelfAttribute("..phone"),
    )
