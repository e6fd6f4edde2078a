"""Who may call what: every endpoint of the URL conf × every kind of caller, by table.

`MATRIX` below is the expectation, written by hand from the roles (staff.roles) and the
design's rules, not read from the views: one row per endpoint, method and case (which
object, which store), one column per actor, each cell the status the actor must get.
2xx (and a 400/409 that a valid caller gets for a wrong code or an open order) means
allowed; 401/403 refused; 404 refused by hiding that the object exists, which the
project does on purpose for another customer's order, cart, return, session or contact
change, another store's order or return, and another till's hold (the same answer as
for an object that does not exist). One refusal is a 400: a return taken at a store the
member of staff does not work at is `invalid_location` (the returns service treats the
receiving store as input; nothing is recorded). A staff login has no customer profile,
so the customer's own endpoints answer it 404 `customer_not_found`.

The routes are read from the URL conf (every pattern outside the admin site, each HTTP
method its view implements), so an endpoint added without a row here fails
`test_every_endpoint_and_method_has_a_row`. Each cell runs in its own savepoint, rolled
back afterwards, so every actor meets the same world (see conftest.py).
"""

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from tests.security.conftest import ACTORS, PASSWORD

# Routes outside the matrix: the admin site is a server-rendered back office, not the
# API; its per-role and per-store checks have their own tests (tests/backoffice, and the
# admin tests of each app).
EXCLUDED_PREFIXES = ("admin/",)

METHODS = ("get", "post", "put", "patch", "delete")

# Routes are under /api/v1/ unless they start with "/". Columns, in ACTORS' order:
#   ano: anonymous     A, B: customers A and B (device token)
#   tX, tY: tills of stores X and Y (terminal token)
#   aX: store associate of X   mY: store manager of Y   mer: merchandiser   hq: head office
#   (staff by admin session). Every object named belongs to customer A or to store X.
# meth route                                    case        ano A   B   tX  tY  aX  mY  mer hq
MATRIX = """
GET    /api/schema/                             -           200 200 200 200 200 200 200 200 200
GET    /api/docs/                               -           200 200 200 200 200 200 200 200 200
GET    /healthz                                 -           200 200 200 200 200 200 200 200 200
GET    /readyz                                  -           200 200 200 200 200 200 200 200 200
GET    /metrics                                 -           200 200 200 200 200 200 200 200 200

GET    catalog/categories/                      -           200 200 200 200 200 200 200 200 200
GET    catalog/products/                        -           200 200 200 200 200 200 200 200 200
GET    catalog/products/<pk>/                   -           200 200 200 200 200 200 200 200 200
GET    catalog/barcodes/<code>/                 -           200 200 200 200 200 200 200 200 200
POST   pricing/quote/                           -           200 200 200 200 200 200 200 200 200
GET    pricing/promotions/                      -           200 200 200 200 200 200 200 200 200
GET    pricing/shipping-rates/                  -           200 200 200 200 200 200 200 200 200
GET    inventory/locations/                     -           200 200 200 200 200 200 200 200 200
GET    inventory/locations/<code>/              -           200 200 200 200 200 200 200 200 200
GET    inventory/availability/                  -           200 200 200 200 200 200 200 200 200

POST   inventory/receipts/                      store-x     401 403 403 401 401 201 403 403 403
POST   inventory/receipts/                      store-y     401 403 403 401 401 403 201 403 403
POST   inventory/adjustments/                   store-x     401 403 403 401 401 403 403 403 403
POST   inventory/adjustments/                   store-y     401 403 403 401 401 403 201 403 403
POST   inventory/counts/                        store-x     401 403 403 401 401 201 403 403 403
POST   inventory/counts/                        store-y     401 403 403 401 401 403 201 403 403
POST   inventory/transfers/                     from-x      401 403 403 401 401 403 403 403 403
POST   inventory/transfers/                     from-y      401 403 403 401 401 403 201 403 403
GET    inventory/transfers/<number>/            to-x        401 403 403 401 401 200 403 403 200
POST   inventory/transfers/<number>/receive/    to-x        401 403 403 401 401 200 403 403 403

POST   auth/register/                           -           202 202 202 202 202 202 202 202 202
POST   auth/verify/                             wrong-code  400 400 400 400 400 400 400 400 400
POST   auth/verify/resend/                      -           202 202 202 202 202 202 202 202 202
POST   auth/token/                              login-a     200 200 200 200 200 200 200 200 200
POST   auth/logout/                             -           401 204 204 401 401 204 204 204 204
POST   auth/logout-all/                         -           401 204 204 401 401 204 204 204 204
GET    me/                                      -           401 200 200 401 401 404 404 404 404
PATCH  me/                                      -           401 200 200 401 401 404 404 404 404
DELETE me/                                      password    401 409 204 401 401 404 404 404 404
GET    me/export/                               -           401 200 200 401 401 404 404 404 404
POST   me/contacts/verify/                      a-change    401 400 404 401 401 404 404 404 404
GET    me/sessions/                             -           401 200 200 401 401 200 200 200 200
DELETE me/sessions/<session_id>/                a-session   401 204 404 401 401 404 404 404 404
GET    me/timeline/                             -           401 200 200 401 401 404 404 404 404
GET    me/loyalty/                              -           401 200 200 401 401 404 404 404 404

POST   carts/                                   -           201 201 201 201 201 404 404 404 404
GET    carts/current/                           -           401 200 200 401 401 404 404 404 404
GET    carts/<token>/                           a-cart      404 200 404 404 404 404 404 404 404
GET    carts/<token>/                           guest-cart  200 200 200 200 200 404 404 404 404
PATCH  carts/<token>/                           a-cart      404 200 404 404 404 404 404 404 404
POST   carts/<token>/lines/                     a-cart      404 200 404 404 404 404 404 404 404
PATCH  carts/<token>/lines/<sku>/               a-cart      404 200 404 404 404 404 404 404 404
DELETE carts/<token>/lines/<sku>/               a-cart      404 200 404 404 404 404 404 404 404
POST   checkout/                                a-cart      404 201 404 404 404 404 404 404 404
GET    orders/<number>/                         a-order     401 200 404 401 401 404 404 404 404
POST   orders/<number>/cancel/                  a-order     401 200 404 401 401 404 404 404 404
GET    me/orders/                               -           401 200 200 401 401 404 404 404 404
GET    staff/pickups/                           -           401 403 403 401 401 200 200 403 403
GET    staff/pickups/                           store-x     401 403 403 401 401 200 403 403 403
POST   staff/orders/<number>/<action:ready>/    x-placed    401 403 403 401 401 200 404 403 403
POST   staff/orders/<number>/<action:handover>/ x-ready     401 403 403 401 401 200 404 403 403
POST   staff/orders/<number>/<action:cancel>/   x-placed    401 403 403 401 401 403 404 403 403
POST   staff/orders/<number>/<action:cancel>/   y-placed    401 403 403 401 401 403 200 403 403
POST   staff/orders/<number>/<action:ship>/     x-placed    401 403 403 401 401 403 403 403 403
POST   staff/orders/<number>/<action:deliver>/  x-placed    401 403 403 401 401 403 403 403 403
POST   staff/carts/                             a-at-x      401 403 403 401 401 201 403 403 403
POST   staff/carts/                             a-at-y      401 403 403 401 401 403 201 403 403
GET    staff/carts/<token>/                     x-cart      401 403 403 401 401 200 404 403 403
PATCH  staff/carts/<token>/                     x-cart      401 403 403 401 401 200 404 403 403
POST   staff/carts/<token>/lines/               x-cart      401 403 403 401 401 200 404 403 403
PATCH  staff/carts/<token>/lines/<sku>/         x-cart      401 403 403 401 401 200 404 403 403
DELETE staff/carts/<token>/lines/<sku>/         x-cart      401 403 403 401 401 200 404 403 403
POST   staff/carts/<token>/confirmation/        x-cart      401 403 403 401 401 202 404 403 403
POST   staff/carts/<token>/confirmation/confirm/ x-wrong    401 403 403 401 401 400 404 403 403
POST   staff/checkout/                          x-cart      401 403 403 401 401 201 404 403 403
POST   staff/orders/<number>/reroute/           x-placed    401 403 403 401 401 403 404 403 403
POST   staff/orders/<number>/reroute/           y-placed    401 403 403 401 401 403 200 403 403
POST   staff/orders/<number>/goods-at-store/    x-placed    401 403 403 401 401 409 404 403 403
POST   staff/orders/<number>/goods-at-store/    y-placed    401 403 403 401 401 404 409 403 403

GET    staff/returns/                           -           401 403 403 401 401 200 200 403 200
POST   staff/returns/                           at-x        401 403 403 401 401 201 400 403 403
POST   staff/returns/                           at-y        401 403 403 401 401 400 201 403 403
GET    staff/returns/<number>/                  x-request   401 403 403 401 401 200 404 403 200
POST   staff/returns/<number>/complete/         x-request   401 403 403 401 401 200 404 403 403
POST   staff/returns/<number>/complete/         x-req-at-y  401 403 403 401 401 400 200 403 403
POST   staff/returns/<number>/cancel/           x-request   401 403 403 401 401 200 404 403 403
GET    me/returns/                              -           401 200 200 401 401 200 200 200 200
POST   me/returns/                              a-order     401 201 404 401 401 404 404 404 404
GET    me/returns/<number>/                     a-request   401 200 404 401 401 404 404 404 404
POST   me/returns/<number>/cancel/              a-request   401 200 404 401 401 404 404 404 404

GET    pos/sync/catalog/                        -           401 401 401 200 200 401 401 401 401
GET    pos/sync/prices/                         -           401 401 401 200 200 401 401 401 401
GET    pos/sync/promotions/                     -           401 401 401 200 200 401 401 401 401
GET    pos/sync/stock/                          -           401 401 401 200 200 401 401 401 401
POST   pos/sync/ack/                            -           401 401 401 204 204 401 401 401 401
POST   pos/sync/sales/                          -           401 401 401 200 200 401 401 401 401
GET    pos/customers/lookup/                    a-phone     401 401 401 200 200 401 401 401 401
POST   pos/quote/                               -           401 401 401 200 200 401 401 401 401
POST   pos/loyalty/holds/                       a-points    401 401 401 201 201 401 401 401 401
GET    pos/loyalty/holds/<hold_id>/             x-hold      401 401 401 200 404 401 401 401 401
DELETE pos/loyalty/holds/<hold_id>/             x-hold      401 401 401 200 404 401 401 401 401
POST   pos/loyalty/holds/<hold_id>/confirm/     x-hold      401 401 401 400 404 401 401 401 401

GET    reports/<name>/                          sales       401 403 403 401 401 403 200 403 200
GET    reports/<name>/                          sales-x     401 403 403 401 401 403 403 403 200
GET    reports/<name>/                          sales-y     401 403 403 401 401 403 200 403 200
"""


@dataclass(frozen=True)
class Row:
    method: str
    route: str
    case: str
    expected: dict[str, int]

    @property
    def id(self) -> str:
        return f"{self.method} {self.route} [{self.case}]"


def parse_matrix(text: str) -> list[Row]:
    rows = []
    for line in text.strip().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        method, route, case, *codes = line.split()
        assert len(codes) == len(ACTORS), f"{line!r}: one status per actor"
        route = route[1:] if route.startswith("/") else "api/v1/" + route
        rows.append(Row(method, route, case, dict(zip(ACTORS, map(int, codes), strict=True))))
    return rows


ROWS = parse_matrix(MATRIX)


# --- the routes of the URL conf --------------------------------------------------------


def _regex_route(regex: str) -> list[str]:
    """A regex pattern as routes: named groups become <name>; a group that is a plain
    alternation of words (`(?P<action>ready|cancel)`) becomes one route per word."""
    regex = regex.removeprefix("^").removesuffix("$").removesuffix("\\Z")
    routes = [""]
    i = 0
    while i < len(regex):
        if regex.startswith("(?P<", i):
            name_end = regex.index(">", i)
            name = regex[i + 4 : name_end]
            depth, j = 1, name_end + 1
            while depth:
                depth += {"(": 1, ")": -1}.get(regex[j], 0) if regex[j - 1] != "\\" else 0
                j += 1
            body = regex[name_end + 1 : j - 1]
            if re.fullmatch(r"\w+(\|\w+)+", body):
                routes = [r + f"<{name}:{word}>" for r in routes for word in body.split("|")]
            else:
                routes = [r + f"<{name}>" for r in routes]
            i = j
        else:
            routes = [r + regex[i] for r in routes]
            i += 1
    return routes


def _pattern_routes(pattern) -> list[str]:
    text = str(pattern.pattern)
    if pattern.pattern.__class__.__name__ == "RegexPattern":
        return _regex_route(text)
    return [re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", text)]


def _view_methods(callback) -> list[str]:
    view = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view is None:
        return ["GET"]  # a plain function view
    return [m.upper() for m in METHODS if hasattr(view, m)]


def url_conf_endpoints() -> set[tuple[str, str]]:
    """(method, route) of every endpoint the URL conf serves outside the admin."""
    found = set()

    def walk(patterns, prefixes):
        for pattern in patterns:
            for route in _pattern_routes(pattern):
                for prefix in prefixes:
                    full = prefix + route
                    if full.startswith(EXCLUDED_PREFIXES):
                        continue
                    if isinstance(pattern, URLResolver):
                        walk(pattern.url_patterns, [full])
                    elif isinstance(pattern, URLPattern):
                        found.update((m, full) for m in _view_methods(pattern.callback))

    walk(get_resolver().url_patterns, [""])
    return found


def test_every_endpoint_and_method_has_a_row():
    served = url_conf_endpoints()
    tabled = {(row.method, row.route) for row in ROWS}
    assert not served - tabled, f"endpoints without a row in MATRIX: {sorted(served - tabled)}"
    assert not tabled - served, f"rows for endpoints that do not exist: {sorted(tabled - served)}"


def test_the_route_reader_sees_the_actions_and_methods_of_a_route():
    # The reader itself can fail: an action alternation and a multi-method view.
    served = url_conf_endpoints()
    assert ("POST", "api/v1/staff/orders/<number>/<action:handover>/") in served
    assert {("GET", "api/v1/me/"), ("PATCH", "api/v1/me/"), ("DELETE", "api/v1/me/")} <= served
    assert not any(route.startswith("admin/") for _m, route in served)


# --- the requests -----------------------------------------------------------------------


@dataclass
class Call:
    path: str
    data: dict | None = None
    headers: dict = field(default_factory=dict)


def _sale(w) -> dict:
    return {
        "sales": [
            {
                "id": str(uuid.uuid4()),
                "occurred_at": timezone.now().isoformat(),
                "cashier": "C1",
                "customer": None,
                "hold": None,
                "lines": [
                    {"sku": w.mug.sku, "quantity": 1, "unit_price": "7.50", "discount": "0.00"}
                ],
                "tenders": [{"kind": "cash", "amount": "7.50", "points": 0}],
            }
        ]
    }


def _feed_cursor(w) -> str:
    from pos.selectors import feed_page

    return feed_page(feed_name="catalog", terminal=w.terminal_x, cursor=None, limit=10).cursor


def _stock_op(w, code: str, *, reason: str = "matrix") -> dict:
    return {
        "location": code,
        "lines": [{"sku": w.shirt.sku, "quantity": 1}],
        "reference": "matrix",
        "reason": reason,
    }


def _staff_return(w, code: str) -> dict:
    return {
        "order": w.collected_x.number,
        "location": code,
        "reason": "wrong_size",
        "lines": [{"sku": w.shirt.sku, "quantity": 1, "condition": "resaleable"}],
    }


V1 = "/api/v1/"

# (method, route, case) → the request, built from the world. Paths are real objects'.
CALLS: dict[tuple[str, str, str], Callable] = {
    ("GET", "api/schema/", "-"): lambda w: Call("/api/schema/"),
    ("GET", "api/docs/", "-"): lambda w: Call("/api/docs/"),
    ("GET", "healthz", "-"): lambda w: Call("/healthz"),
    ("GET", "readyz", "-"): lambda w: Call("/readyz"),
    # Scraped from an internal address (the test client's), so open to every actor; from
    # outside it takes METRICS_TOKEN (tests/ops).
    ("GET", "metrics", "-"): lambda w: Call("/metrics"),
    # catalog, prices, stores and availability: public
    ("GET", "api/v1/catalog/categories/", "-"): lambda w: Call(V1 + "catalog/categories/"),
    ("GET", "api/v1/catalog/products/", "-"): lambda w: Call(V1 + "catalog/products/"),
    ("GET", "api/v1/catalog/products/<pk>/", "-"): lambda w: Call(
        f"{V1}catalog/products/{w.shirt.product_id}/"
    ),
    ("GET", "api/v1/catalog/barcodes/<code>/", "-"): lambda w: Call(
        f"{V1}catalog/barcodes/{w.barcode}/"
    ),
    ("POST", "api/v1/pricing/quote/", "-"): lambda w: Call(
        V1 + "pricing/quote/", {"lines": [{"sku": w.shirt.sku, "quantity": 2}]}
    ),
    ("GET", "api/v1/pricing/promotions/", "-"): lambda w: Call(V1 + "pricing/promotions/"),
    ("GET", "api/v1/pricing/shipping-rates/", "-"): lambda w: Call(V1 + "pricing/shipping-rates/"),
    ("GET", "api/v1/inventory/locations/", "-"): lambda w: Call(V1 + "inventory/locations/"),
    ("GET", "api/v1/inventory/locations/<code>/", "-"): lambda w: Call(
        f"{V1}inventory/locations/{w.store_x.code}/"
    ),
    ("GET", "api/v1/inventory/availability/", "-"): lambda w: Call(
        V1 + "inventory/availability/", {"sku": w.shirt.sku}
    ),
    # stock operations: staff with the operation's permission, at their own store
    ("POST", "api/v1/inventory/receipts/", "store-x"): lambda w: Call(
        V1 + "inventory/receipts/", _stock_op(w, w.store_x.code)
    ),
    ("POST", "api/v1/inventory/receipts/", "store-y"): lambda w: Call(
        V1 + "inventory/receipts/", _stock_op(w, w.store_y.code)
    ),
    ("POST", "api/v1/inventory/adjustments/", "store-x"): lambda w: Call(
        V1 + "inventory/adjustments/", _stock_op(w, w.store_x.code) | {"lines": _minus_one(w)}
    ),
    ("POST", "api/v1/inventory/adjustments/", "store-y"): lambda w: Call(
        V1 + "inventory/adjustments/", _stock_op(w, w.store_y.code) | {"lines": _minus_one(w)}
    ),
    ("POST", "api/v1/inventory/counts/", "store-x"): lambda w: Call(
        V1 + "inventory/counts/", _stock_op(w, w.store_x.code)
    ),
    ("POST", "api/v1/inventory/counts/", "store-y"): lambda w: Call(
        V1 + "inventory/counts/", _stock_op(w, w.store_y.code)
    ),
    ("POST", "api/v1/inventory/transfers/", "from-x"): lambda w: Call(
        V1 + "inventory/transfers/", _transfer(w, w.store_x, w.store_y)
    ),
    ("POST", "api/v1/inventory/transfers/", "from-y"): lambda w: Call(
        V1 + "inventory/transfers/", _transfer(w, w.store_y, w.store_x)
    ),
    ("GET", "api/v1/inventory/transfers/<number>/", "to-x"): lambda w: Call(
        f"{V1}inventory/transfers/{w.transfer.number}/"
    ),
    ("POST", "api/v1/inventory/transfers/<number>/receive/", "to-x"): lambda w: Call(
        f"{V1}inventory/transfers/{w.transfer.number}/receive/"
    ),
    # logins
    ("POST", "api/v1/auth/register/", "-"): lambda w: Call(
        V1 + "auth/register/",
        {"email": "someone.new@example.com", "password": "Quite-long-pass-42", "first_name": "N"},
    ),
    ("POST", "api/v1/auth/verify/", "wrong-code"): lambda w: Call(
        V1 + "auth/verify/", {"verification": w.verification_signup, "code": "000000"}
    ),
    ("POST", "api/v1/auth/verify/resend/", "-"): lambda w: Call(
        V1 + "auth/verify/resend/", {"verification": w.verification_signup}
    ),
    ("POST", "api/v1/auth/token/", "login-a"): lambda w: Call(
        V1 + "auth/token/", {"login": w.customer_a.email, "password": PASSWORD}
    ),
    ("POST", "api/v1/auth/logout/", "-"): lambda w: Call(V1 + "auth/logout/"),
    ("POST", "api/v1/auth/logout-all/", "-"): lambda w: Call(V1 + "auth/logout-all/"),
    # the signed-in customer's own data
    ("GET", "api/v1/me/", "-"): lambda w: Call(V1 + "me/"),
    ("PATCH", "api/v1/me/", "-"): lambda w: Call(V1 + "me/", {"first_name": "Renamed"}),
    ("DELETE", "api/v1/me/", "password"): lambda w: Call(
        V1 + "me/", {"password": PASSWORD, "channel": "web"}
    ),
    ("GET", "api/v1/me/export/", "-"): lambda w: Call(V1 + "me/export/"),
    ("POST", "api/v1/me/contacts/verify/", "a-change"): lambda w: Call(
        V1 + "me/contacts/verify/", {"verification": w.verification_a, "code": "000000"}
    ),
    ("GET", "api/v1/me/sessions/", "-"): lambda w: Call(V1 + "me/sessions/"),
    ("DELETE", "api/v1/me/sessions/<session_id>/", "a-session"): lambda w: Call(
        f"{V1}me/sessions/{w.session_a}/"
    ),
    ("GET", "api/v1/me/timeline/", "-"): lambda w: Call(V1 + "me/timeline/"),
    ("GET", "api/v1/me/loyalty/", "-"): lambda w: Call(V1 + "me/loyalty/"),
    # carts, checkout and the customer's orders
    ("POST", "api/v1/carts/", "-"): lambda w: Call(V1 + "carts/", {"channel": "web"}),
    ("GET", "api/v1/carts/current/", "-"): lambda w: Call(V1 + "carts/current/"),
    ("GET", "api/v1/carts/<token>/", "a-cart"): lambda w: Call(f"{V1}carts/{w.cart_a.token}/"),
    ("GET", "api/v1/carts/<token>/", "guest-cart"): lambda w: Call(
        f"{V1}carts/{w.guest_cart.token}/"
    ),
    ("PATCH", "api/v1/carts/<token>/", "a-cart"): lambda w: Call(
        f"{V1}carts/{w.cart_a.token}/",
        {"fulfilment_type": "pickup", "pickup_location": w.store_x.code},
    ),
    ("POST", "api/v1/carts/<token>/lines/", "a-cart"): lambda w: Call(
        f"{V1}carts/{w.cart_a.token}/lines/", {"sku": w.mug.sku, "quantity": 1}
    ),
    ("PATCH", "api/v1/carts/<token>/lines/<sku>/", "a-cart"): lambda w: Call(
        f"{V1}carts/{w.cart_a.token}/lines/{w.shirt.sku}/", {"quantity": 2}
    ),
    ("DELETE", "api/v1/carts/<token>/lines/<sku>/", "a-cart"): lambda w: Call(
        f"{V1}carts/{w.cart_a.token}/lines/{w.shirt.sku}/"
    ),
    ("POST", "api/v1/checkout/", "a-cart"): lambda w: Call(
        V1 + "checkout/",
        {
            "cart": str(w.cart_a.token),
            "fulfilment": {"type": "pickup", "location": w.store_x.code},
            "payment": {"provider": "test", "token": "tok_ok"},
        },
    ),
    ("GET", "api/v1/orders/<number>/", "a-order"): lambda w: Call(
        f"{V1}orders/{w.placed_x.number}/"
    ),
    ("POST", "api/v1/orders/<number>/cancel/", "a-order"): lambda w: Call(
        f"{V1}orders/{w.placed_x.number}/cancel/"
    ),
    ("GET", "api/v1/me/orders/", "-"): lambda w: Call(V1 + "me/orders/"),
    # the store's pickup desk
    ("GET", "api/v1/staff/pickups/", "-"): lambda w: Call(V1 + "staff/pickups/"),
    ("GET", "api/v1/staff/pickups/", "store-x"): lambda w: Call(
        V1 + "staff/pickups/", {"location": w.store_x.code}
    ),
    ("POST", "api/v1/staff/orders/<number>/<action:ready>/", "x-placed"): lambda w: Call(
        f"{V1}staff/orders/{w.placed_x.number}/ready/", {}
    ),
    ("POST", "api/v1/staff/orders/<number>/<action:handover>/", "x-ready"): lambda w: Call(
        f"{V1}staff/orders/{w.ready_x.number}/handover/", {"pickup_code": w.ready_x.pickup_code}
    ),
    ("POST", "api/v1/staff/orders/<number>/<action:cancel>/", "x-placed"): lambda w: Call(
        f"{V1}staff/orders/{w.placed_x.number}/cancel/", {"note": "matrix"}
    ),
    ("POST", "api/v1/staff/orders/<number>/<action:cancel>/", "y-placed"): lambda w: Call(
        f"{V1}staff/orders/{w.placed_y.number}/cancel/", {"note": "matrix"}
    ),
    ("POST", "api/v1/staff/orders/<number>/<action:ship>/", "x-placed"): lambda w: Call(
        f"{V1}staff/orders/{w.placed_x.number}/ship/", {}
    ),
    ("POST", "api/v1/staff/orders/<number>/<action:deliver>/", "x-placed"): lambda w: Call(
        f"{V1}staff/orders/{w.placed_x.number}/deliver/", {}
    ),
    # selling on a customer's behalf: store staff from their own stores (the cart of store X
    # is started by another associate of X; any of the store's sellers may carry it on)
    ("POST", "api/v1/staff/carts/", "a-at-x"): lambda w: Call(
        V1 + "staff/carts/", {"customer": {"phone": w.customer_a.phone}, "store": w.store_x.code}
    ),
    ("POST", "api/v1/staff/carts/", "a-at-y"): lambda w: Call(
        V1 + "staff/carts/", {"customer": {"phone": w.customer_a.phone}, "store": w.store_y.code}
    ),
    ("GET", "api/v1/staff/carts/<token>/", "x-cart"): lambda w: Call(
        f"{V1}staff/carts/{_staff_cart_x(w).token}/"
    ),
    ("PATCH", "api/v1/staff/carts/<token>/", "x-cart"): lambda w: Call(
        f"{V1}staff/carts/{_staff_cart_x(w).token}/", {"pickup_location": w.store_y.code}
    ),
    ("POST", "api/v1/staff/carts/<token>/lines/", "x-cart"): lambda w: Call(
        f"{V1}staff/carts/{_staff_cart_x(w).token}/lines/", {"sku": w.mug.sku, "quantity": 1}
    ),
    ("PATCH", "api/v1/staff/carts/<token>/lines/<sku>/", "x-cart"): lambda w: Call(
        f"{V1}staff/carts/{_staff_cart_x(w).token}/lines/{w.shirt.sku}/", {"quantity": 2}
    ),
    ("DELETE", "api/v1/staff/carts/<token>/lines/<sku>/", "x-cart"): lambda w: Call(
        f"{V1}staff/carts/{_staff_cart_x(w).token}/lines/{w.shirt.sku}/"
    ),
    ("POST", "api/v1/staff/carts/<token>/confirmation/", "x-cart"): lambda w: Call(
        f"{V1}staff/carts/{_staff_cart_x(w).token}/confirmation/"
    ),
    ("POST", "api/v1/staff/carts/<token>/confirmation/confirm/", "x-wrong"): lambda w: Call(
        f"{V1}staff/carts/{_staff_cart_x(w, code_sent=True).token}/confirmation/confirm/",
        {"code": "000000"},
    ),
    ("POST", "api/v1/staff/checkout/", "x-cart"): lambda w: Call(
        V1 + "staff/checkout/",
        {
            "cart": str(_staff_cart_x(w).token),
            "fulfilment": {"type": "pickup", "location": w.store_y.code},
            "payment": {"method": "pay_in_store"},
        },
    ),
    ("POST", "api/v1/staff/orders/<number>/reroute/", "x-placed"): lambda w: Call(
        f"{V1}staff/orders/{w.placed_x.number}/reroute/", {"location": w.store_y.code}
    ),
    ("POST", "api/v1/staff/orders/<number>/reroute/", "y-placed"): lambda w: Call(
        f"{V1}staff/orders/{w.placed_y.number}/reroute/", {"location": w.store_x.code}
    ),
    # placed, not in transit: a caller who may act gets 409 illegal_transition
    ("POST", "api/v1/staff/orders/<number>/goods-at-store/", "x-placed"): lambda w: Call(
        f"{V1}staff/orders/{w.placed_x.number}/goods-at-store/"
    ),
    ("POST", "api/v1/staff/orders/<number>/goods-at-store/", "y-placed"): lambda w: Call(
        f"{V1}staff/orders/{w.placed_y.number}/goods-at-store/"
    ),
    # returns: the store's desk, and the customer's requests
    ("GET", "api/v1/staff/returns/", "-"): lambda w: Call(V1 + "staff/returns/"),
    ("POST", "api/v1/staff/returns/", "at-x"): lambda w: Call(
        V1 + "staff/returns/", _staff_return(w, w.store_x.code)
    ),
    ("POST", "api/v1/staff/returns/", "at-y"): lambda w: Call(
        V1 + "staff/returns/", _staff_return(w, w.store_y.code)
    ),
    ("GET", "api/v1/staff/returns/<number>/", "x-request"): lambda w: Call(
        f"{V1}staff/returns/{w.request_x.number}/"
    ),
    ("POST", "api/v1/staff/returns/<number>/complete/", "x-request"): lambda w: Call(
        f"{V1}staff/returns/{w.request_x.number}/complete/", {}
    ),
    # the goods of X's request came to store Y instead: Y takes them (return anywhere)
    ("POST", "api/v1/staff/returns/<number>/complete/", "x-req-at-y"): lambda w: Call(
        f"{V1}staff/returns/{w.request_x.number}/complete/", {"location": w.store_y.code}
    ),
    ("POST", "api/v1/staff/returns/<number>/cancel/", "x-request"): lambda w: Call(
        f"{V1}staff/returns/{w.request_x.number}/cancel/"
    ),
    ("GET", "api/v1/me/returns/", "-"): lambda w: Call(V1 + "me/returns/"),
    ("POST", "api/v1/me/returns/", "a-order"): lambda w: Call(
        V1 + "me/returns/",
        {
            "order": w.collected_x.number,
            "location": w.store_x.code,
            "reason": "wrong_size",
            "lines": [{"sku": w.shirt.sku, "quantity": 1}],
        },
    ),
    ("GET", "api/v1/me/returns/<number>/", "a-request"): lambda w: Call(
        f"{V1}me/returns/{w.request_x.number}/"
    ),
    ("POST", "api/v1/me/returns/<number>/cancel/", "a-request"): lambda w: Call(
        f"{V1}me/returns/{w.request_x.number}/cancel/"
    ),
    # the tills
    ("GET", "api/v1/pos/sync/catalog/", "-"): lambda w: Call(V1 + "pos/sync/catalog/"),
    ("GET", "api/v1/pos/sync/prices/", "-"): lambda w: Call(V1 + "pos/sync/prices/"),
    ("GET", "api/v1/pos/sync/promotions/", "-"): lambda w: Call(V1 + "pos/sync/promotions/"),
    ("GET", "api/v1/pos/sync/stock/", "-"): lambda w: Call(V1 + "pos/sync/stock/"),
    ("POST", "api/v1/pos/sync/ack/", "-"): lambda w: Call(
        V1 + "pos/sync/ack/", {"feed": "catalog", "cursor": _feed_cursor(w)}
    ),
    ("POST", "api/v1/pos/sync/sales/", "-"): lambda w: Call(V1 + "pos/sync/sales/", _sale(w)),
    ("GET", "api/v1/pos/customers/lookup/", "a-phone"): lambda w: Call(
        V1 + "pos/customers/lookup/", {"phone": w.customer_a.phone}
    ),
    ("POST", "api/v1/pos/quote/", "-"): lambda w: Call(
        V1 + "pos/quote/", {"lines": [{"sku": w.shirt.sku, "quantity": 1}]}
    ),
    ("POST", "api/v1/pos/loyalty/holds/", "a-points"): lambda w: Call(
        V1 + "pos/loyalty/holds/",
        {"customer": {"phone": w.customer_a.phone}, "points": 100, "total": "100.00"},
    ),
    ("GET", "api/v1/pos/loyalty/holds/<hold_id>/", "x-hold"): lambda w: Call(
        f"{V1}pos/loyalty/holds/{w.hold_x.pk}/"
    ),
    ("DELETE", "api/v1/pos/loyalty/holds/<hold_id>/", "x-hold"): lambda w: Call(
        f"{V1}pos/loyalty/holds/{w.hold_x.pk}/"
    ),
    ("POST", "api/v1/pos/loyalty/holds/<hold_id>/confirm/", "x-hold"): lambda w: Call(
        f"{V1}pos/loyalty/holds/{w.hold_x.pk}/confirm/", {"code": "000000"}
    ),
    # reports: head office everywhere, store managers for their own stores
    ("GET", "api/v1/reports/<name>/", "sales"): lambda w: Call(V1 + "reports/sales/"),
    ("GET", "api/v1/reports/<name>/", "sales-x"): lambda w: Call(
        V1 + "reports/sales/", {"location": w.store_x.code}
    ),
    ("GET", "api/v1/reports/<name>/", "sales-y"): lambda w: Call(
        V1 + "reports/sales/", {"location": w.store_y.code}
    ),
}


def _staff_cart_x(w, *, code_sent: bool = False):
    """A cart an associate of store X started for customer A, with a shirt in it (made in
    each cell's savepoint); with `code_sent`, A's confirmation code was asked for (its
    message waits for a commit that never comes, so no code is right)."""
    from orders import assisted
    from orders import services as order_services
    from tests.factories.orders import role_staff

    seller = role_staff("store_associate", w.store_x)
    cart, sale = assisted.staff_cart_create(
        user=seller, customer=w.customer_a, channel="store_assisted", store=w.store_x.code
    )
    order_services.cart_line_add(cart=cart, sku=w.shirt.sku, quantity=1)
    if code_sent:
        assisted.staff_cart_consent_request(assisted=sale)
    return cart


def _minus_one(w) -> list[dict]:
    return [{"sku": w.shirt.sku, "quantity": -1}]


def _transfer(w, source, destination) -> dict:
    return {
        "source": source.code,
        "destination": destination.code,
        "lines": [{"sku": w.shirt.sku, "quantity": 1}],
        "reference": "matrix",
    }


def test_every_row_has_a_request_and_every_request_a_row():
    assert {(row.method, row.route, row.case) for row in ROWS} == set(CALLS)


def _send(client, method: str, call: Call):
    headers = {"HTTP_IDEMPOTENCY_KEY": f"matrix-{uuid.uuid4()}", **call.headers}
    if method == "GET":
        return client.get(call.path, call.data or {}, **headers)
    return getattr(client, method.lower())(call.path, call.data, format="json", **headers)


def _outcome(status: int) -> str:
    return "refused" if status in (401, 403, 404) else "allowed"


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_only_the_allowed_actors_get_through(world, row: Row):
    build = CALLS[(row.method, row.route, row.case)]
    wrong = []
    for actor in ACTORS:
        with transaction.atomic():
            call = build(world)
            response = _send(world.clients[actor], row.method, call)
            transaction.set_rollback(True)
        expected = row.expected[actor]
        if response.status_code != expected:
            body = response.content[:200].decode(errors="replace")
            wrong.append(
                f"{actor}: expected {expected} ({_outcome(expected)}), "
                f"got {response.status_code} ({_outcome(response.status_code)}) {body}"
            )
    assert not wrong, f"{row.id}:\n  " + "\n  ".join(wrong)


# --- lists: allowed to everyone they serve, but each shows only the caller's own ---------

# (actor, list path) → what must not appear in it: A's orders and returns, X's pickups.
LISTS = [
    ("customer_b", "me/orders/"),
    ("customer_b", "me/returns/"),
    ("customer_b", "me/timeline/"),
    ("customer_b", "me/export/"),
    ("manager_y", "staff/pickups/"),
    ("manager_y", "staff/returns/"),
]


@pytest.mark.parametrize(("actor", "path"), LISTS, ids=[f"{a} {p}" for a, p in LISTS])
def test_a_list_shows_an_outsider_none_of_the_objects_of_customer_a_or_store_x(world, actor, path):
    numbers = [world.placed_x.number, world.ready_x.number, world.collected_x.number]
    numbers.append(world.request_x.number)
    response = world.clients[actor].get(V1 + path)
    assert response.status_code == 200
    leaked = [number for number in numbers if number in response.content.decode()]
    assert leaked == []
    # ...while the owner (or the store) does see them: the check can fail.
    owner = "customer_a" if path.startswith("me/") else "associate_x"
    own = world.clients[owner].get(V1 + path).content.decode()
    assert any(number in own for number in numbers)


# --- a hidden object answers exactly like a missing one -----------------------------------

MISSING_ORDER = "ZZZZZZZZ"
MISSING_UUID = "00000000-0000-4000-8000-000000000000"

# (actor, method, path of an object of A or X, the same path for an object that does not
# exist, body)
HIDDEN = [
    ("customer_b", "GET", lambda w: f"orders/{w.placed_x.number}/", f"orders/{MISSING_ORDER}/"),
    ("customer_b", "GET", lambda w: f"carts/{w.cart_a.token}/", f"carts/{MISSING_UUID}/"),
    (
        "customer_b",
        "GET",
        lambda w: f"me/returns/{w.request_x.number}/",
        f"me/returns/{MISSING_ORDER}/",
    ),
    ("customer_b", "DELETE", lambda w: f"me/sessions/{w.session_a}/", "me/sessions/999999999/"),
    (
        "terminal_y",
        "GET",
        lambda w: f"pos/loyalty/holds/{w.hold_x.pk}/",
        f"pos/loyalty/holds/{MISSING_UUID}/",
    ),
    (
        "manager_y",
        "POST",
        lambda w: f"staff/orders/{w.placed_x.number}/ready/",
        f"staff/orders/{MISSING_ORDER}/ready/",
    ),
    (
        "manager_y",
        "GET",
        lambda w: f"staff/returns/{w.request_x.number}/",
        f"staff/returns/{MISSING_ORDER}/",
    ),
]


@pytest.mark.parametrize(
    ("actor", "method", "real", "missing"), HIDDEN, ids=[f"{h[0]} {h[3]}" for h in HIDDEN]
)
def test_an_object_hidden_from_an_outsider_answers_like_a_missing_one(
    world, actor, method, real, missing
):
    client = world.clients[actor]
    answers = []
    for path in (real(world), missing):
        with transaction.atomic():
            response = _send(client, method, Call(V1 + path, {} if method != "GET" else None))
            transaction.set_rollback(True)
        error = response.json()["error"]
        answers.append((response.status_code, error["code"], error["message"]))
    hidden, absent = answers
    assert hidden[0] == 404
    assert hidden == absent
