"""Settings for Omnicore, read from environment variables with safe laptop defaults.

Everything a deployment changes comes from the environment (see the README's
"Configuration" table); nothing here holds business rules.
"""

import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_number(name: str, default: str) -> int | float:
    """An int, or a float when the value has a fraction (short periods in stack tests)."""
    value = os.environ.get(name, default).strip()
    return float(value) if "." in value else int(value)


DEBUG = env_bool("DEBUG", True)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-dev-only-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    # First, so its admin templates (the start page, the branded header) win.
    "backoffice",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "import_export",
    "simple_history",
    "core",
    "customers",
    "catalog",
    "pricing",
    "inventory",
    "loyalty",
    "orders",
    "returns",
    "pos",
    "staff",
    "audit",
    "reports",
    "demo",
    "ops",
    "django_prometheus",
]

# Prometheus metrics (see ops.views): request latency per view, database statements and
# task outcomes. METRICS_ENABLED=false takes the timing middleware and the counting
# database wrapper out (e.g. to measure their cost); /metrics then shows the rest.
METRICS_ENABLED = env_bool("METRICS_ENABLED", True)
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = [
    ipaddress.ip_network(network)
    for network in env_list(
        "METRICS_ALLOWED_NETWORKS",
        "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7",
    )
]

MIDDLEWARE = [
    # The request id (from X-Request-ID or new) for every log line of the request.
    "ops.middleware.RequestIdMiddleware",
    # Refuses NUL bytes in /api/ paths and query strings before anything reads them.
    "core.middleware.ApiInputGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files from STATIC_ROOT (collectstatic), compressed and cached, in every process.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Lets the audit history (django-simple-history) record who made a change.
    "simple_history.middleware.HistoryRequestMiddleware",
]
if METRICS_ENABLED:
    # The first and the last: the whole request is timed, the view named.
    MIDDLEWARE = [
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        *MIDDLEWARE,
        "ops.middleware.PrometheusAfterMiddleware",
    ]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # PostgreSQL's JIT compiles big report queries for seconds and gains nothing on the
    # short statements of the hot paths: off for this application's sessions. The
    # statements prepared on a connection (core.db.prepared_cursor: the hot paths' indexed
    # lookups, nothing else) run their generic plan: left to choose, PostgreSQL planned
    # the quote's statement anew on every run (0.7 ms against 0.35 ms generic).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "options", "-c jit=off -c plan_cache_mode=force_generic_plan"
    )
    # psycopg prepares a statement after this many runs on a connection, sparing its
    # planning afterwards; only statements run through `core.db.prepared_cursor` (the hot
    # paths' hand-written ones) can be: Django's own cursors bind parameters client-side
    # and never are.
    # Django turns this off unless set (docs/deployment.md: with an old PgBouncer, None).
    DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers wait for each other instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    DATABASES["default"]["CONN_MAX_AGE"] = 0
if METRICS_ENABLED:
    # The same backends, counting statements, errors and time per database alias
    # (django-prometheus's metrics; on PostgreSQL counted at less cost: ops.db).
    DATABASES["default"]["ENGINE"] = (
        DATABASES["default"]["ENGINE"]
        .replace("django.db.backends.", "django_prometheus.db.backends.", 1)
        .replace("django_prometheus.db.backends.postgresql", "ops.db.postgresql", 1)
    )

# --- Read replica (core.db_router, docs/deployment.md) ---------------------------------
# With DATABASE_REPLICA_URL (a PostgreSQL hot standby of DATABASE_URL), the GET views
# below read catalog, availability and report data from it, outside any transaction on
# the primary; writes always go to the primary. Without it the `replica` alias is only
# a test mirror of `default` and nothing is routed to it.
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "")
DATABASE_REPLICA_READS = bool(DATABASE_REPLICA_URL)
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = dj_database_url.parse(
        DATABASE_REPLICA_URL, conn_max_age=DATABASES["default"]["CONN_MAX_AGE"]
    )
    DATABASES["replica"]["OPTIONS"] = dict(DATABASES["default"].get("OPTIONS", {}))
else:
    DATABASES["replica"] = {
        **DATABASES["default"],
        "OPTIONS": dict(DATABASES["default"].get("OPTIONS", {})),
    }
DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
# Django's psycopg 3 connection pool in each process (docs/deployment.md, section 4), on
# PostgreSQL when DB_POOL_MAX_SIZE is above 0 (`make serve` sets 2: a sync gunicorn
# worker or a prefork Celery child serves one request or task at a time, the second
# connection covers one being replaced). Connections are checked before they are lent,
# so one the server dropped is replaced instead of failing a request.
DB_POOL_MAX_SIZE = int(os.environ.get("DB_POOL_MAX_SIZE", "0"))
if DB_POOL_MAX_SIZE > 0 and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    for alias in ("default", "replica"):
        DATABASES[alias]["CONN_MAX_AGE"] = 0  # the pool keeps the connections
        DATABASES[alias]["CONN_HEALTH_CHECKS"] = True  # Django: the pool checks each one
        DATABASES[alias]["OPTIONS"] = {
            **DATABASES[alias].get("OPTIONS", {}),
            "pool": {
                "min_size": 1,
                "max_size": DB_POOL_MAX_SIZE,
                # Seconds a request waits for a connection before it fails.
                "timeout": float(os.environ.get("DB_POOL_TIMEOUT", "5")),
                "max_idle": 300,
            },
        }
DATABASE_ROUTERS = ["core.db_router.ReplicaRouter"]
MIDDLEWARE.append("core.db_router.ReplicaReadsMiddleware")
REPLICA_READ_VIEWS = [
    "catalog-categories",
    "catalog-products",
    "catalog-product",
    "catalog-barcode",
    "pricing-promotions",
    "inventory-locations",
    "inventory-location",
    "inventory-availability",
    "report",
]
# --- end of read replica ------------------------------------------------------------------

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "customers.User"
AUTHENTICATION_BACKENDS = ["customers.auth.EmailOrPhoneBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = os.environ.get("LANGUAGE_CODE", "en")
LANGUAGES = [("en", "English"), ("ru", "Russian")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Stored times are always UTC; TIME_ZONE is the retailer's default for display.
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
# WhiteNoise serves STATIC_ROOT. With STATIC_MANIFEST on (`make serve` sets it before
# collectstatic), file names carry a content hash and are cached for a year; without it
# (the demo server, the tests) no collectstatic is needed.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("STATIC_MANIFEST", False)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_AUTOREFRESH = DEBUG

# Money: one currency per retailer by default; amounts are Decimal quantized to its minor unit.
DEFAULT_CURRENCY = os.environ.get("DEFAULT_CURRENCY", "EUR")

# Request limits: a body larger than this (JSON included, see core.api.parsers) is a 413,
# more fields than this in a query string or form is a 400, both in the API's error shape.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440))
DATA_UPLOAD_MAX_NUMBER_FIELDS = int(os.environ.get("DATA_UPLOAD_MAX_NUMBER_FIELDS", 1000))

REST_FRAMEWORK = {
    # Customers: one expiring token per device ("Authorization: Token <key>"); staff: session.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "customers.auth.DeviceTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Scoped throttles (core.api.throttles reads these at request time, so tests and the
    # fuzz run can change them). Anonymous callers are counted per IP, customers per login.
    "DEFAULT_THROTTLE_RATES": {
        "auth_login": os.environ.get("THROTTLE_AUTH_LOGIN", "10/minute"),
        "auth_register": os.environ.get("THROTTLE_AUTH_REGISTER", "10/hour"),
        "verification_send": os.environ.get("THROTTLE_VERIFICATION_SEND", "10/hour"),
        "verification_check": os.environ.get("THROTTLE_VERIFICATION_CHECK", "30/hour"),
        "pricing_quote": os.environ.get("THROTTLE_PRICING_QUOTE", "120/minute"),
        # Per till: enough for a queue of customers, too few to walk the customer base.
        "pos_customer_lookup": os.environ.get("THROTTLE_POS_CUSTOMER_LOOKUP", "30/minute"),
    },
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.CursorPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exceptions.exception_handler",
    # JSON bounded in size and depth, no NUL characters (see core.api.parsers).
    "DEFAULT_PARSER_CLASSES": [
        "core.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "COERCE_DECIMAL_TO_STRING": True,
    "DATETIME_FORMAT": "iso-8601",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Omnicore API",
    "DESCRIPTION": (
        "One catalog, one price book, one stock ledger, one customer profile and one "
        "loyalty ledger for the web store, the mobile app and the store POS. Every error "
        'has the shape {"error": {"code", "message", "details"}}.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Every operation documents its 4xx answers in the error shape (core.api.schema).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.add_error_responses",
    ],
    # Several apps name a field "channel" or "status" with different choice sets.
    "ENUM_NAME_OVERRIDES": {
        "SalesChannelEnum": ["web", "app", "pos", "store_assisted", "call_centre"],
        "ClientChannelEnum": ["web", "app"],
        "AssistedChannelEnum": ["store_assisted", "call_centre"],
        "OrderStatusEnum": [
            "placed",
            "in_transit",
            "ready_for_pickup",
            "collected",
            "shipped",
            "delivered",
            "expired",
            "cancelled",
            "partially_returned",
            "returned",
        ],
        "ReturnStatusEnum": ["requested", "completed", "cancelled"],
        "RefundTenderEnum": ["cash", "card", "gift_card", "store_credit"],
        "DeskPaymentKindEnum": ["cash", "card"],
        "FulfilmentEnum": ["pickup", "delivery", "in_store"],
    },
}

# Extra per-variant fields shown by the catalog product API, contributed by higher apps
# (prices, availability). Wired here, at the top of the dependency graph, so that the
# catalog never imports the apps that sit above it.
CATALOG_VARIANT_ENRICHERS: list[str] = [
    "pricing.api.enrichment.variant_prices",
    "inventory.api.enrichment.variant_availability",
]

# Staff: the locations a user works at (store-scoped admin pages, core.admin) and the most
# points a user may adjust by hand at once (loyalty.services.points_adjust; the roles in
# staff.roles define both).
STAFF_LOCATIONS_SELECTOR = "inventory.selectors.locations_for_staff"
# Holders see every location's rows in the store-scoped admin lists, unfiltered (so the
# chain's big lists can be counted by the planner's estimate: core.admin).
STAFF_ALL_LOCATIONS_PERMISSION = "inventory.operate_any_location"
LOYALTY_ADJUST_LIMIT_RESOLVER = "staff.roles.loyalty_adjust_limit"

# Higher apps that must move their rows when two customers are merged, and that add
# entries to the customer timeline. Each is a dotted path to a function in that app.
# Merge handlers run in the global lock order: orders and carts (the rows that name an
# operation) first, then points accounts, then coupon uses.
# Inventory's extension points (inventory.hooks): orders hears that the transfer of a
# ship-to-store order arrived in its pickup store.
INVENTORY_TRANSFER_RECEIVED_HANDLERS: list[str] = ["orders.services.order_transfer_received"]
CUSTOMER_MERGE_HANDLERS: list[str] = [
    "orders.services.customer_merged",
    "loyalty.services.customer_merged",
    "pricing.services.customer_merged",
    "reports.services.customer_merged",
]
CUSTOMER_TIMELINE_SOURCES: list[str] = [
    "loyalty.selectors.timeline_entries",
    "orders.selectors.timeline_entries",
    "returns.selectors.timeline_entries",
]
# Personal data (see customers.hooks): what each app holds about a customer, exported on
# request, erased (anonymised, accounting records kept) and shown on the customer's page.
CUSTOMER_EXPORT_SOURCES: list[str] = [
    "orders.personal_data.export",
    "returns.personal_data.export",
    "loyalty.personal_data.export",
]
CUSTOMER_ERASE_HANDLERS: list[str] = [
    "orders.personal_data.erase",
    "returns.personal_data.erase",
    "loyalty.personal_data.erase",
]
CUSTOMER_ADMIN_PANELS: list[str] = [
    "orders.personal_data.panel",
    "returns.personal_data.panel",
    "loyalty.personal_data.panel",
]
# Called at token login/registration, e.g. to merge an anonymous cart (see customers.hooks).
CUSTOMER_LOGIN_HANDLERS: list[str] = ["orders.services.cart_merge_on_login"]

# Tokens: one per device, each with an expiry; the header keeps DRF's "Token" prefix.
CUSTOMER_TOKEN_TTL_DAYS = int(os.environ.get("CUSTOMER_TOKEN_TTL_DAYS", "30"))
KNOX_TOKEN_MODEL = "knox.AuthToken"
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=CUSTOMER_TOKEN_TTL_DAYS),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
}
# One-time codes that prove a contact before it joins a login (see customers.services).
# Channels by dotted path (core.messaging.Channel); an SMS gateway is added here.
CUSTOMER_CODE_CHANNELS = env_list("CUSTOMER_CODE_CHANNELS", "core.messaging.EmailChannel")
CUSTOMER_CODE_TTL_MINUTES = int(os.environ.get("CUSTOMER_CODE_TTL_MINUTES", "15"))
CUSTOMER_CODE_MAX_ATTEMPTS = int(os.environ.get("CUSTOMER_CODE_MAX_ATTEMPTS", "5"))
CUSTOMER_CODE_MAX_SENDS = int(os.environ.get("CUSTOMER_CODE_MAX_SENDS", "3"))
# Points held at a till for a sale in progress: how long, and above how many points the
# customer must confirm with a one-time code (sent through CUSTOMER_CODE_CHANNELS).
LOYALTY_HOLD_MINUTES = int(os.environ.get("LOYALTY_HOLD_MINUTES", "15"))
LOYALTY_HOLD_CONFIRM_POINTS = int(os.environ.get("LOYALTY_HOLD_CONFIRM_POINTS", "500"))

# Celery: without a broker, tasks run eagerly in-process so the demo needs nothing else.
CELERY_TASK_ALWAYS_EAGER = not os.environ.get("CELERY_BROKER_URL")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "memory://"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ACKS_LATE = True
# A worker process killed mid-task (OOM, SIGKILL) hands the message back to the broker,
# so the task runs again on another process; tasks are safe to run twice.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Redis: an unacknowledged task whose worker vanished entirely is delivered again after
# this many seconds; it must stay above the longest task and the furthest countdown.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600"))
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers and beat log through LOGGING below (JSON, with the request id): config.celery.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
# Queues per kind of work (docs/deployment.md, section 3): a burst of one kind (an expiry
# sweep, a slow mail server) never delays another. `make serve` runs one worker on every
# queue (the Procfile's `-Q`, WORKER_QUEUES); scaled out, each queue gets its own workers.
# Unrouted tasks (refunds, a transfer's arrival) go to the default queue, `celery`.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {
    "core.tasks.outbox_relay": {"queue": "outbox"},
    "orders.tasks.order_notify": {"queue": "notifications"},
    "customers.tasks.verification_send_code": {"queue": "notifications"},
    "loyalty.tasks.hold_send_code": {"queue": "notifications"},
    "orders.tasks.orders_expire_uncollected": {"queue": "expiry"},
    "orders.tasks.orders_enforce_prepare_deadlines": {"queue": "expiry"},
    "inventory.tasks.release_expired_reservations": {"queue": "expiry"},
    "loyalty.tasks.expire_holds": {"queue": "expiry"},
    "loyalty.tasks.expire_points": {"queue": "expiry"},
    "customers.tasks.purge_expired": {"queue": "expiry"},
    "reports.tasks.fold_past_days": {"queue": "reports"},
}
CELERY_BEAT_SCHEDULE: dict = {
    # one entry per periodic task, e.g.
    # "inventory-release-expired-reservations": {"task": "...", "schedule": 60.0},
    # The tasks committed to the outbox (core.background) reach their queues this often;
    # a run not started within a minute is dropped (the next one publishes the same rows).
    "core-outbox-relay": {
        "task": "core.tasks.outbox_relay",
        "schedule": float(os.environ.get("OUTBOX_RELAY_EVERY_SECONDS", "1")),
        "options": {"expires": 60},
    },
    "loyalty-expire-points": {"task": "loyalty.tasks.expire_points", "schedule": 3600.0},
    "loyalty-expire-holds": {"task": "loyalty.tasks.expire_holds", "schedule": 60.0},
    "inventory-release-expired-reservations": {
        "task": "inventory.tasks.release_expired_reservations",
        "schedule": 60.0,
    },
    "customers-purge-expired": {
        "task": "customers.tasks.purge_expired",
        "schedule": 3600.0,
    },
    "orders-expire-uncollected-pickups": {
        "task": "orders.tasks.orders_expire_uncollected",
        "schedule": float(os.environ.get("PICKUP_EXPIRY_EVERY_SECONDS", "300")),
    },
    "orders-enforce-prepare-deadlines": {
        "task": "orders.tasks.orders_enforce_prepare_deadlines",
        "schedule": float(os.environ.get("ORDER_DEADLINES_EVERY_SECONDS", "300")),
    },
    "returns-retry-pending-refunds": {
        "task": "returns.tasks.refunds_retry_pending",
        "schedule": 600.0,
    },
    "reports-fold-past-days": {"task": "reports.tasks.fold_past_days", "schedule": 6 * 3600.0},
}

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(BASE_DIR / "sent-mail"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Omnicore <no-reply@example.com>")

# Logs: one JSON object per line with the request id (ops.logs) when DEBUG is off, plain
# messages otherwise; LOG_FORMAT=json|text overrides. ACCESS_LOG: one line per request.
LOG_FORMAT = os.environ.get("LOG_FORMAT") or ("text" if DEBUG else "json")
ACCESS_LOG = env_bool("ACCESS_LOG", not DEBUG)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "ops.logs.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "ops.logs.JsonFormatter"},
        "text": {"format": "%(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "json" if LOG_FORMAT == "json" else "text",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # One line per eager task run drowns the demo output; a real worker logs its runs.
        "celery.app.trace": {"level": "WARNING" if CELERY_TASK_ALWAYS_EAGER else "INFO"},
        # Eager mode still builds a producer pool for the in-memory broker and warns about it.
        "kombu.connection": {"level": "ERROR"},
    },
}

# Behind a TLS-terminating proxy, SECURE_PROXY_SSL_HEADER names the header it sets on
# HTTPS requests, as "HEADER,value" (e.g. "HTTP_X_FORWARDED_PROTO,https"). Set it only when
# the proxy always sets or strips that header: a client could forge it otherwise. With it
# (and DEBUG off) plain HTTP is redirected to HTTPS and HSTS is sent.
_proxy_ssl_header = env_list("SECURE_PROXY_SSL_HEADER", "")
if len(_proxy_ssl_header) == 2:
    SECURE_PROXY_SSL_HEADER = (_proxy_ssl_header[0], _proxy_ssl_header[1])
elif _proxy_ssl_header:
    raise ImproperlyConfigured('SECURE_PROXY_SSL_HEADER is "HEADER,value".')
BEHIND_TLS = bool(_proxy_ssl_header)
# Probes and scrapes come over plain HTTP from inside the network: never redirected.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

if not DEBUG:
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", BEHIND_TLS)
    # Browsers ignore HSTS on plain HTTP, so it is only ever sent behind TLS.
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)

# Phone numbers without a country code are read as numbers of this region (ISO 3166).
PHONE_DEFAULT_REGION = os.environ.get("PHONE_DEFAULT_REGION", "DE")

# Orders: where notifications go (one class per channel) and how long a pickup waits.
ORDER_NOTIFIERS = env_list("ORDER_NOTIFIERS", "core.messaging.EmailChannel")
PICKUP_HOLD_DAYS = env_number("PICKUP_HOLD_DAYS", "5")
# No reservation is held forever: a placed pickup not prepared, or a delivery not shipped,
# this many hours after it was placed (or re-routed) is escalated to the store manager's
# start page, and after the second deadline cancelled (customer told, stock released).
ORDER_ESCALATE_AFTER_HOURS = env_number("ORDER_ESCALATE_AFTER_HOURS", "24")
ORDER_CANCEL_AFTER_HOURS = env_number("ORDER_CANCEL_AFTER_HOURS", "72")
if ORDER_CANCEL_AFTER_HOURS <= ORDER_ESCALATE_AFTER_HOURS:
    raise ImproperlyConfigured("ORDER_CANCEL_AFTER_HOURS must exceed ORDER_ESCALATE_AFTER_HOURS.")
# Days after collection or delivery in which goods may be returned, unless head office
# sets another window for the category (admin: Returns → Return windows).
RETURN_WINDOW_DAYS = int(os.environ.get("RETURN_WINDOW_DAYS", "30"))
# Wrong pickup codes tried at the desk within the window lock the order's handover for it.
PICKUP_CODE_MAX_ATTEMPTS = int(os.environ.get("PICKUP_CODE_MAX_ATTEMPTS", "5"))
PICKUP_CODE_LOCK_MINUTES = int(os.environ.get("PICKUP_CODE_LOCK_MINUTES", "30"))
# Handover requests per member of staff (DRF rate), on top of the per-order lock-out.
PICKUP_HANDOVER_RATE = os.environ.get("PICKUP_HANDOVER_RATE", "30/minute")

# Payment providers by the name clients send at checkout (see orders.payments).
PAYMENT_PROVIDERS: dict[str, str] = {"test": "orders.payments.TestPaymentProvider"}
if os.environ.get("PAYMENT_PROVIDERS"):
    PAYMENT_PROVIDERS = dict(
        item.split("=", 1) for item in env_list("PAYMENT_PROVIDERS", "") if "=" in item
    )
