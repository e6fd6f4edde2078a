"""Selling on a customer's behalf: staff carts made by store associates and the call centre,
the customer's confirmation code for their points and coupons, and the staff checkout."""

import re

import pytest
from django.core import mail
from rest_framework.test import APIClient

from customers.models import ContactVerification
from loyalty.services import points_adjust
from orders.models import AssistedSale, Cart, Order
from tests.factories.customers import CustomerWithLoginFactory
from tests.factories.loyalty import LoyaltyRulesFactory
from tests.factories.orders import role_staff
from tests.factories.pricing import CouponFactory

pytestmark = pytest.mark.django_db

CARTS = "/api/v1/staff/carts/"


def _client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def associate(shop):
    return role_staff("store_associate", shop.store)


@pytest.fixture
def seller(associate):
    return _client(associate)


def _start(client, customer, **extra):
    return client.post(CARTS, {"customer": {"phone": customer.phone}, **extra}, format="json")


def _code(email: str) -> str:
    bodies = [m.body for m in mail.outbox if email in m.to]
    codes = [c for body in bodies for c in re.findall(r"code is (\d{6})", body)]
    assert codes, f"no code was sent to {email}"
    return codes[-1]


def _request_code(client, token, capture):
    with capture(execute=True):
        response = client.post(f"{CARTS}{token}/confirmation/")
    assert response.status_code == 202, response.content
    return response


def test_an_associate_starts_a_cart_for_a_customer_found_by_phone_at_their_store(
    shop, customer, seller, associate
):
    own = Cart.objects.create(customer=customer, channel="app")  # the customer's app cart

    response = _start(seller, customer)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["channel"] == "store_assisted"
    assert body["assisted"]["customer"]["id"] == customer.pk
    assert body["assisted"]["store"] == shop.store.code
    assert body["assisted"]["staff"] == associate.email
    assert body["assisted"]["confirmation"] == "none"
    sale = AssistedSale.objects.get(cart__token=body["token"])
    assert (sale.customer, sale.staff, sale.store) == (customer, associate, shop.store)
    # The customer's own open cart is left as it was, and is still theirs alone.
    assert Cart.objects.get(customer=customer, state="open") == own


def test_a_customer_is_found_by_loyalty_card_too_and_an_unknown_one_is_a_404(shop, seller):
    carded = CustomerWithLoginFactory(card_number="LC12345678")

    found = seller.post(CARTS, {"customer": {"card": "lc 1234 5678"}}, format="json")
    nobody = seller.post(CARTS, {"customer": {"phone": "+4915199999999"}}, format="json")
    both = seller.post(CARTS, {"customer": {"phone": "+4915199999999", "card": "X"}}, format="json")

    assert found.status_code == 201 and found.json()["assisted"]["customer"]["id"] == carded.pk
    assert nobody.status_code == 404 and nobody.json()["error"]["code"] == "customer_not_found"
    assert both.status_code == 400


def test_an_associate_cannot_sell_from_a_store_they_do_not_work_at(shop, customer, seller):
    response = _start(seller, customer, store=shop.other_store.code)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "store_not_allowed"
    assert not AssistedSale.objects.exists()


def test_an_associate_of_two_stores_names_the_one_they_sell_from(shop, customer):
    client = _client(role_staff("store_associate", shop.store, shop.other_store))

    unnamed = _start(client, customer)
    named = _start(client, customer, store=shop.other_store.code)

    assert unnamed.status_code == 400 and unnamed.json()["error"]["code"] == "store_required"
    assert named.status_code == 201 and named.json()["assisted"]["store"] == shop.other_store.code


def test_customers_merchandisers_and_head_office_may_not_sell_for_a_customer(shop, customer):
    own = APIClient()
    own.force_authenticate(customer.user)
    refused = {
        "customer": _start(own, customer).status_code,
        "merchandiser": _start(_client(role_staff("merchandiser")), customer).status_code,
        "head_office": _start(_client(role_staff("head_office")), customer).status_code,
        "anonymous": _start(APIClient(), customer).status_code,
    }
    as_call_centre = _start(
        _client(role_staff("store_associate", shop.store)), customer, channel="call_centre"
    )

    assert refused == {"customer": 403, "merchandiser": 403, "head_office": 403, "anonymous": 401}
    assert as_call_centre.status_code == 403
    assert as_call_centre.json()["error"]["code"] == "selling_not_allowed"


def test_a_call_centre_agent_sells_for_no_store_and_cannot_reach_a_stores_cart(
    shop, customer, seller
):
    agent = _client(role_staff("call_centre"))
    store_cart = _start(seller, customer).json()["token"]

    response = _start(agent, customer)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["channel"] == "call_centre" and body["assisted"]["store"] is None
    assert agent.get(f"{CARTS}{store_cart}/").status_code == 404
    assert seller.get(f"{CARTS}{body['token']}/").status_code == 404
    assert agent.get(f"{CARTS}{body['token']}/").status_code == 200


def test_a_staff_cart_is_reached_by_the_stores_staff_only(shop, customer, seller):
    token = _start(seller, customer).json()["token"]
    colleague = _client(role_staff("store_manager", shop.store))
    elsewhere = _client(role_staff("store_manager", shop.other_store))

    assert colleague.get(f"{CARTS}{token}/").status_code == 200
    assert elsewhere.get(f"{CARTS}{token}/").status_code == 404
    # Nor is it a cart of the customer API: not for the customer, not for a guest.
    own = APIClient()
    own.force_authenticate(customer.user)
    assert own.get(f"/api/v1/carts/{token}/").status_code == 404
    assert APIClient().get(f"/api/v1/carts/{token}/").status_code == 404


def test_lines_from_any_locations_stock_show_where_the_units_are(shop, customer, seller):
    coat = shop.sku(price="120.00", store=0, warehouse=4, other=2)
    token = _start(seller, customer).json()["token"]

    added = seller.post(f"{CARTS}{token}/lines/", {"sku": coat.sku, "quantity": 2}, format="json")
    changed = seller.patch(f"{CARTS}{token}/lines/{coat.sku}/", {"quantity": 1}, format="json")

    assert added.status_code == 200, added.content
    assert added.json()["stock"][coat.sku] == [
        {"location": shop.warehouse.code, "name": shop.warehouse.name, "available": 4},
        {"location": shop.other_store.code, "name": shop.other_store.name, "available": 2},
    ]
    assert [(line["sku"], line["quantity"]) for line in changed.json()["lines"]] == [(coat.sku, 1)]
    removed = seller.delete(f"{CARTS}{token}/lines/{coat.sku}/")
    assert removed.status_code == 200 and removed.json()["lines"] == []


def test_the_customers_coupon_and_points_are_refused_without_their_code(shop, customer, seller):
    LoyaltyRulesFactory()
    points_adjust(customer=customer, points=500, reason="welcome", actor=None)
    coupon = CouponFactory()
    shirt = shop.sku(price="40.00")
    token = _start(seller, customer).json()["token"]
    seller.post(f"{CARTS}{token}/lines/", {"sku": shirt.sku}, format="json")

    with_coupon = seller.patch(f"{CARTS}{token}/", {"coupon": coupon.code}, format="json")
    with_points = seller.post(
        "/api/v1/staff/checkout/",
        {
            "cart": token,
            "fulfilment": {"type": "pickup", "location": shop.store.code},
            "payment": {"method": "pay_in_store"},
            "redeem_points": 100,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="points-without-code",
    )

    for refused in (with_coupon, with_points):
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "customer_confirmation_required"
    assert Cart.objects.get(token=token).coupon_code == ""
    assert not Order.objects.exists()


def test_the_code_goes_to_the_customer_is_stored_hashed_and_confirms_the_cart(
    shop, customer, seller, django_capture_on_commit_callbacks
):
    token = _start(seller, customer).json()["token"]

    sent = _request_code(seller, token, django_capture_on_commit_callbacks).json()
    code = _code(customer.email)
    wrong_code = "111111" if code != "111111" else "222222"
    wrong = seller.post(
        f"{CARTS}{token}/confirmation/confirm/", {"code": wrong_code}, format="json"
    )
    right = seller.post(f"{CARTS}{token}/confirmation/confirm/", {"code": code}, format="json")

    assert sent["confirmation"] == "requested" and sent["sent_to"] == "email"
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "invalid_code"
    assert wrong.json()["error"]["details"]["attempts_left"] == 4
    assert right.status_code == 200, right.content
    assert right.json()["assisted"]["confirmation"] == "confirmed"
    verification = AssistedSale.objects.get(cart__token=token).consent
    assert verification.purpose == ContactVerification.Purpose.ASSISTED_SALE
    assert verification.code_hash and code not in verification.code_hash
    assert verification.value == customer.email  # a contact of the profile, not typed in


def test_too_many_wrong_codes_lock_the_confirmation_for_good(
    shop, customer, seller, django_capture_on_commit_callbacks
):
    token = _start(seller, customer).json()["token"]
    _request_code(seller, token, django_capture_on_commit_callbacks)
    code = _code(customer.email)
    wrong = "111111" if code != "111111" else "222222"

    answers = [
        seller.post(f"{CARTS}{token}/confirmation/confirm/", {"code": wrong}, format="json")
        for _ in range(5)
    ]
    late = seller.post(f"{CARTS}{token}/confirmation/confirm/", {"code": code}, format="json")
    again = seller.post(f"{CARTS}{token}/confirmation/")

    assert [a.status_code for a in answers] == [400, 400, 400, 400, 410]
    assert late.status_code == 410 and late.json()["error"]["code"] == "verification_locked"
    assert again.status_code == 410
    assert seller.get(f"{CARTS}{token}/").json()["assisted"]["confirmation"] == "requested"


def test_confirming_before_a_code_was_sent_is_a_conflict(shop, customer, seller):
    token = _start(seller, customer).json()["token"]

    response = seller.post(f"{CARTS}{token}/confirmation/confirm/", {"code": "123456"})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "confirmation_not_requested"


def test_a_confirmed_cart_takes_the_customers_coupon_and_points_at_checkout(
    shop, customer, seller, associate, django_capture_on_commit_callbacks
):
    LoyaltyRulesFactory()
    points_adjust(customer=customer, points=500, reason="welcome", actor=None)
    coupon = CouponFactory()  # 10 % off the basket
    shirt = shop.sku(price="40.00", store=0, other=3)  # sold at X, picked up at Y
    token = _start(seller, customer).json()["token"]
    seller.post(f"{CARTS}{token}/lines/", {"sku": shirt.sku}, format="json")
    _request_code(seller, token, django_capture_on_commit_callbacks)
    seller.post(
        f"{CARTS}{token}/confirmation/confirm/", {"code": _code(customer.email)}, format="json"
    )

    cart = seller.patch(f"{CARTS}{token}/", {"coupon": coupon.code}, format="json").json()
    placed = seller.post(
        "/api/v1/staff/checkout/",
        {
            "cart": token,
            "fulfilment": {"type": "pickup", "location": shop.other_store.code},
            "payment": {"method": "pay_in_store"},
            "redeem_points": 100,
            "expected_total": cart["quote"]["total"],
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="assisted-1",
    )

    assert cart["quote"]["total"] == "36.00"
    assert placed.status_code == 201, placed.content
    order = placed.json()
    assert order["channel"] == "store_assisted"
    assert order["coupon_code"] == coupon.code
    assert (order["points_redeemed"], order["amount_due"]) == (100, "26.00")
    assert order["sold_by"] == {"staff": associate.email, "store": shop.store.code}
    assert "pickup_code" not in order  # the customer gets it, not the staff
    assert order["transitions"][0]["actor_kind"] == "staff"
    sale = AssistedSale.objects.get(cart__token=token)
    assert (sale.order.number, sale.placed_by) == (order["number"], associate)
    assert sale.order.customer == customer


def test_a_staff_cart_cannot_be_merged_into_the_customers_cart_at_login(shop, customer, seller):
    from orders.services import cart_merge_on_login

    shirt = shop.sku()
    token = _start(seller, customer).json()["token"]
    seller.post(f"{CARTS}{token}/lines/", {"sku": shirt.sku}, format="json")

    result = cart_merge_on_login(customer, {"cart_token": token})

    assert result["cart_merge"] == {"merged": False, "reason": "cart_not_found", "lines": []}
    assert Cart.objects.get(token=token).state == "open"


def test_a_customer_merge_moves_the_sales_made_for_the_duplicate(shop, seller):
    from customers.services import customer_merge
    from tests.factories.customers import CustomerFactory

    survivor = CustomerWithLoginFactory()
    duplicate = CustomerFactory()
    _start(seller, duplicate)

    customer_merge(survivor=survivor, duplicate=duplicate, merged_by=None)

    assert AssistedSale.objects.get().customer == survivor


def test_the_order_page_in_the_admin_names_who_sold_it_for_the_customer(shop, customer, seller):
    shirt = shop.sku(price="20.00")
    token = _start(seller, customer).json()["token"]
    seller.post(f"{CARTS}{token}/lines/", {"sku": shirt.sku}, format="json")
    number = seller.post(
        "/api/v1/staff/checkout/",
        {
            "cart": token,
            "fulfilment": {"type": "pickup", "location": shop.store.code},
            "payment": {"method": "pay_in_store"},
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="admin-page",
    ).json()["number"]
    order = Order.objects.get(number=number)
    manager = _client(role_staff("store_manager", shop.store))

    page = manager.get(f"/admin/orders/order/{order.pk}/change/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "Sold on the customer&#x27;s behalf by" in text
    seller_email = AssistedSale.objects.get(order=order).placed_by.email
    assert f"{seller_email} (store_assisted, {shop.store.code})" in text


def test_a_customer_no_code_channel_reaches_cannot_confirm_and_staff_are_told(shop, seller):
    from tests.factories.customers import CustomerFactory

    till_only = CustomerFactory()  # a phone and no email; codes go by email here
    token = _start(seller, till_only).json()["token"]

    response = seller.post(f"{CARTS}{token}/confirmation/")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "contact_unreachable"
    assert AssistedSale.objects.get(cart__token=token).consent is None


def test_asking_again_sends_a_new_code_the_old_one_stops_working_and_sends_are_limited(
    shop, customer, seller, django_capture_on_commit_callbacks, settings
):
    token = _start(seller, customer).json()["token"]
    _request_code(seller, token, django_capture_on_commit_callbacks)
    first = _code(customer.email)
    _request_code(seller, token, django_capture_on_commit_callbacks)
    second = _code(customer.email)
    for _ in range(settings.CUSTOMER_CODE_MAX_SENDS - 2):
        _request_code(seller, token, django_capture_on_commit_callbacks)
    third = _code(customer.email)

    too_many = seller.post(f"{CARTS}{token}/confirmation/")
    old = seller.post(f"{CARTS}{token}/confirmation/confirm/", {"code": first}, format="json")
    new = seller.post(f"{CARTS}{token}/confirmation/confirm/", {"code": third}, format="json")

    assert too_many.status_code == 409 and too_many.json()["error"]["code"] == "too_many_codes"
    if first not in (second, third):  # six random digits may repeat, rarely
        assert old.status_code == 400
    assert new.status_code == 200
    assert new.json()["assisted"]["confirmation"] == "confirmed"


def test_a_call_centre_order_for_delivery_is_paid_by_card_and_is_the_customers(shop, customer):
    agent_user = role_staff("call_centre")
    agent = _client(agent_user)
    kettle = shop.sku(price="30.00", store=0, warehouse=3)
    token = _start(agent, customer).json()["token"]
    agent.post(f"{CARTS}{token}/lines/", {"sku": kettle.sku}, format="json")

    placed = agent.post(
        "/api/v1/staff/checkout/",
        {
            "cart": token,
            "fulfilment": {"type": "delivery", "address": {"city": "Berlin", "street": "A 1"}},
            "payment": {"provider": "test", "token": "tok_ok"},
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="call-centre-1",
    )

    assert placed.status_code == 201, placed.content
    order = placed.json()
    assert (order["channel"], order["fulfilment_type"]) == ("call_centre", "delivery")
    assert order["location"] == shop.warehouse.code
    assert order["sold_by"] == {"staff": agent_user.email, "store": None}
    assert [t["kind"] for t in order["tenders"]] == ["card"]
    assert Order.objects.get(number=order["number"]).customer == customer
    own = APIClient()
    own.force_authenticate(customer.user)
    assert [o["number"] for o in own.get("/api/v1/me/orders/").json()["results"]] == [
        order["number"]
    ]


# --- the services themselves -------------------------------------------------------------


def test_the_service_refuses_a_seller_without_the_channels_permission(shop, customer):
    from orders import assisted
    from orders.errors import SellingNotAllowed

    merchandiser = role_staff("merchandiser")
    associate = role_staff("store_associate", shop.store)

    with pytest.raises(SellingNotAllowed):
        assisted.staff_cart_create(user=merchandiser, customer=customer, channel="store_assisted")
    with pytest.raises(SellingNotAllowed):
        assisted.staff_cart_create(user=associate, customer=customer, channel="call_centre")
    assert not Cart.objects.filter(channel__in=["store_assisted", "call_centre"]).exists()


def test_the_checkout_service_takes_no_points_without_the_customers_confirmation(shop, customer):
    from inventory.models import StockLevel
    from loyalty.selectors import balance_get
    from orders import assisted
    from orders import services as order_services
    from orders.errors import CustomerConfirmationRequired

    LoyaltyRulesFactory()
    points_adjust(customer=customer, points=500, reason="welcome", actor=None)
    shirt = shop.sku(price="40.00", store=2)
    associate = role_staff("store_associate", shop.store)
    cart, sale = assisted.staff_cart_create(
        user=associate, customer=customer, channel="store_assisted"
    )
    order_services.cart_line_add(cart=cart, sku=shirt.sku, quantity=1)

    with pytest.raises(CustomerConfirmationRequired):
        assisted.staff_checkout_place(
            cart=cart,
            assisted=sale,
            user=associate,
            fulfilment={"type": "pickup", "location": shop.store.code},
            payment=order_services.PAY_IN_STORE,
            redeem_points=100,
        )

    assert not Order.objects.exists()
    assert balance_get(customer=customer) == 500
    assert StockLevel.objects.get(variant=shirt, location=shop.store).reserved == 0


def test_an_associate_sells_a_coat_only_the_warehouse_holds_for_pickup_in_another_store(
    shop, customer, seller, associate, customer_client, django_capture_on_commit_callbacks
):
    """Endless aisle and ship-to-store: sold in store A (Berlin Mitte) for pickup in store C
    (Hamburg), the coat travels from the warehouse; the order is the customer's at once."""
    from inventory.models import StockLevel, Transfer, TransferLeadTime
    from inventory.services import transfer_lead_time_save, transfer_receive, verify_ledger
    from loyalty.services import verify as loyalty_verify
    from reports.services import facts_verify

    coat = shop.sku(price="120.00", store=0, warehouse=1)
    transfer_lead_time_save(
        lead_time=TransferLeadTime(source=shop.warehouse, destination=shop.other_store, days=2)
    )
    token = _start(seller, customer).json()["token"]
    seller.post(f"{CARTS}{token}/lines/", {"sku": coat.sku}, format="json")
    cart = seller.patch(
        f"{CARTS}{token}/",
        {"fulfilment_type": "pickup", "pickup_location": shop.other_store.code},
        format="json",
    ).json()
    assert cart["fulfilment"]["ship_to_store"]["lines"] == [
        {"sku": coat.sku, "quantity": 1, "from": shop.warehouse.code}
    ]

    placed = seller.post(
        "/api/v1/staff/checkout/",
        {
            "cart": token,
            "fulfilment": {
                "type": "pickup",
                "location": shop.other_store.code,
                "allow_transfer": True,
            },
            "payment": {"method": "pay_in_store"},
            "expected_total": cart["quote"]["total"],
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="assisted-ship-to-store",
    )

    assert placed.status_code == 201, placed.content
    body = placed.json()
    assert (body["status"], body["channel"], body["location"]) == (
        "in_transit",
        "store_assisted",
        shop.other_store.code,
    )
    assert body["ready_from"] is not None
    assert body["sold_by"] == {"staff": associate.email, "store": shop.store.code}
    assert [(t["to_status"], t["actor_kind"]) for t in body["transitions"]] == [
        ("placed", "staff"),
        ("in_transit", "system"),
    ]
    sale = AssistedSale.objects.get(cart__token=token)
    assert (sale.order.number, sale.placed_by, sale.channel) == (
        body["number"],
        associate,
        "store_assisted",
    )
    # In the customer's app at once.
    mine = customer_client.get(f"/api/v1/orders/{body['number']}/")
    assert (mine.status_code, mine.json()["status"]) == (200, "in_transit")
    transfer = Transfer.objects.get(reference=f"order:{body['number']}")
    assert (transfer.source, transfer.destination) == (shop.warehouse, shop.other_store)

    with django_capture_on_commit_callbacks(execute=True):
        transfer_receive(transfer=transfer)

    order = Order.objects.get(number=body["number"])
    assert order.status == "ready_for_pickup"
    level = StockLevel.objects.get(variant=coat, location=shop.other_store)
    assert (level.on_hand, level.reserved) == (1, 1)
    assert verify_ledger() == [] and loyalty_verify() == [] and facts_verify() == []


def test_the_customers_data_export_lists_the_sales_staff_made_on_their_behalf(
    shop, customer, seller, associate, customer_client, django_capture_on_commit_callbacks
):
    from django.test import Client
    from django.urls import reverse

    associate.full_name = "Mia Verkauf"
    associate.save(update_fields=["full_name"])
    shirt = shop.sku(price="20.00")
    token = _start(seller, customer).json()["token"]
    seller.post(f"{CARTS}{token}/lines/", {"sku": shirt.sku}, format="json")
    _request_code(seller, token, django_capture_on_commit_callbacks)
    seller.post(
        f"{CARTS}{token}/confirmation/confirm/", {"code": _code(customer.email)}, format="json"
    )
    number = seller.post(
        "/api/v1/staff/checkout/",
        {
            "cart": token,
            "fulfilment": {"type": "pickup", "location": shop.store.code},
            "payment": {"method": "pay_in_store"},
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="assisted-export",
    ).json()["number"]
    agent = role_staff("call_centre")
    _start(_client(agent), customer)  # started by phone, never checked out
    someone_else = CustomerWithLoginFactory()
    _start(seller, someone_else)
    placed, by_phone = AssistedSale.objects.filter(customer=customer).order_by("id")

    exported = customer_client.get("/api/v1/me/export/")

    assert exported.status_code == 200, exported.content
    assert exported.json()["assisted_sales"] == [
        {
            "channel": "store_assisted",
            "store": shop.store.name,
            "staff": "Mia Verkauf",
            "placed_by": "Mia Verkauf",
            "started_at": placed.created_at.isoformat(),
            "consent_confirmed_at": placed.consent_confirmed_at.isoformat(),
            "order": number,
        },
        {
            "channel": "call_centre",
            "store": None,
            "staff": agent.full_name,
            "placed_by": None,
            "started_at": by_phone.created_at.isoformat(),
            "consent_confirmed_at": None,
            "order": None,
        },
    ]
    # Staff download the same document from the customer's admin page.
    manager = Client()
    manager.force_login(role_staff("store_manager", shop.store))
    download = manager.get(reverse("admin:customers_customer_export", args=[customer.pk]))
    assert download.status_code == 200
    assert [s["order"] for s in download.json()["assisted_sales"]] == [number, None]
    # Nobody else's sales are in it, nor theirs in another customer's.
    other = APIClient()
    other.force_authenticate(someone_else.user)
    assert [s["staff"] for s in other.get("/api/v1/me/export/").json()["assisted_sales"]] == [
        "Mia Verkauf"
    ]
