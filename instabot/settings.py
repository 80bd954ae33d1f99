"""
instabot's settings: the one place configuration is read.

Everything comes from the environment (or an optional `.env` file beside manage.py), through
django-environ. `.env.example` documents every variable. Defaults are safe for a local run; with
DEBUG off the service refuses to start without its secrets.
"""

import sys
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Real environment variables win over the file (read_env never overwrites them). ENV_FILE
# names another file, or /dev/null for none.
env.read_env(env.str("ENV_FILE", default=str(BASE_DIR / ".env")))

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
FACEBOOK_APP_SECRET = env.str("FACEBOOK_APP_SECRET", default="")

if not DEBUG:
    missing = [
        name
        for name, value in (
            ("SECRET_KEY", SECRET_KEY),
            ("FACEBOOK_APP_SECRET", FACEBOOK_APP_SECRET),
        )
        if not value
    ]
    if missing:
        raise ImproperlyConfigured(
            f"Refusing to start with DEBUG off: {', '.join(missing)} not set. "
            "Set them in the environment or in .env (see .env.example)."
        )
elif not SECRET_KEY:
    # Development only: a fixed, obviously-fake key so sessions survive restarts.
    SECRET_KEY = "django-insecure-development-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Meta only delivers webhooks over HTTPS; plain-HTTP local runs switch this off.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers check /healthz over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^ping$"]
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
# Behind a proxy that terminates TLS (nginx, a load balancer), trust its X-Forwarded-Proto:
# without it, SECURE_SSL_REDIRECT redirects forever.
if env.bool("BEHIND_HTTPS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Browsers must use HTTPS for this long (one year in production). Preloading is a commitment
# for the whole domain: off unless you mean it.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)

# Keys for the credentials stored encrypted in the database: comma-separated Fernet keys,
# newest first. Needed as soon as a business account with credentials is stored.
FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY", default=[])

# --- Instagram / Meta -----------------------------------------------------------------------

INSTAGRAM_VERIFY_TOKEN = env.str("INSTAGRAM_VERIFY_TOKEN", default="")
INSTAGRAM_PAGE_ACCESS_TOKEN = env.str("INSTAGRAM_PAGE_ACCESS_TOKEN", default="")
GRAPH_API_BASE_URL = env.str("GRAPH_API_BASE_URL", default="https://graph.facebook.com").rstrip("/")
# Accounts connected with Instagram Login talk to this host instead.
INSTAGRAM_GRAPH_API_BASE_URL = env.str(
    "INSTAGRAM_GRAPH_API_BASE_URL", default="https://graph.instagram.com"
).rstrip("/")
GRAPH_API_VERSION = env.str("GRAPH_API_VERSION", default="v21.0")
# Connecting accounts in a click (accounts.connect): the Meta app's ids and Instagram app
# secret, and where Meta's login pages and token endpoint are (the fake's, in development).
# Accounts connected with Instagram Login sign their webhooks with INSTAGRAM_APP_SECRET.
INSTAGRAM_APP_ID = env.str("INSTAGRAM_APP_ID", default="")
INSTAGRAM_APP_SECRET = env.str("INSTAGRAM_APP_SECRET", default="")
INSTAGRAM_OAUTH_AUTHORIZE_URL = env.str(
    "INSTAGRAM_OAUTH_AUTHORIZE_URL", default="https://www.instagram.com/oauth/authorize"
)
INSTAGRAM_OAUTH_TOKEN_URL = env.str(
    "INSTAGRAM_OAUTH_TOKEN_URL", default="https://api.instagram.com/oauth/access_token"
)
FACEBOOK_APP_ID = env.str("FACEBOOK_APP_ID", default="")
FACEBOOK_OAUTH_DIALOG_URL = env.str(
    "FACEBOOK_OAUTH_DIALOG_URL",
    default=f"https://www.facebook.com/{GRAPH_API_VERSION}/dialog/oauth",
)
GRAPH_API_TIMEOUT = env.float("GRAPH_API_TIMEOUT", default=10.0)
DEFAULT_REPLY_TEXT = env.str(
    "DEFAULT_REPLY_TEXT", default="Thanks for your message! We'll get back to you soon."
)

# When no rule matches, the fallback reply is sent at most once per customer in this window.
FALLBACK_COOLDOWN_HOURS = env.float("FALLBACK_COOLDOWN_HOURS", default=24.0)
# What messages without text (stickers, photos, story mentions) get: "fallback" (the fallback
# reply, under its cooldown), "none", or any other text to send that text (same cooldown).
NO_TEXT_REPLY = env.str("NO_TEXT_REPLY", default="fallback")
# A customer's whole message saying one of these opts their contact out of broadcasts (or back
# in); compared ignoring case.
CONTACT_OPT_OUT_KEYWORDS = frozenset(
    word.strip().casefold()
    for word in env.list("CONTACT_OPT_OUT_KEYWORDS", default=["stop", "unsubscribe"])
)
CONTACT_OPT_IN_KEYWORDS = frozenset(
    word.strip().casefold() for word in env.list("CONTACT_OPT_IN_KEYWORDS", default=["start"])
)
# After staff answer (from the inbox or the Instagram app), the bot stays silent this long.
HUMAN_TAKEOVER_HOURS = env.float("HUMAN_TAKEOVER_HOURS", default=12.0)
# How often an open inbox page asks for news (the list, the open thread), in seconds.
INBOX_POLL_SECONDS = env.float("INBOX_POLL_SECONDS", default=3.0)

# Retry schedule for transient Send API failures: exponential backoff with jitter.
# Attempt n waits a random time in [d/2, d] with d = min(MAX_DELAY, BASE_DELAY * 2**(n-1)),
# so the first retry comes within BASE_DELAY seconds.
SEND_RETRY_BASE_DELAY = env.float("SEND_RETRY_BASE_DELAY", default=2.0)
SEND_RETRY_MAX_DELAY = env.float("SEND_RETRY_MAX_DELAY", default=1800.0)
SEND_MAX_ATTEMPTS = env.int("SEND_MAX_ATTEMPTS", default=12)
# Seconds an outgoing webhook's endpoint has to answer (a slow one is retried later).
OUTGOING_WEBHOOK_TIMEOUT = env.float("OUTGOING_WEBHOOK_TIMEOUT", default=5.0)
# Hosts a flow's external request may POST to (empty: none), and the seconds it may take.
EXTERNAL_REQUEST_ALLOWED_HOSTS = env.list("EXTERNAL_REQUEST_ALLOWED_HOSTS", default=[])
EXTERNAL_REQUEST_TIMEOUT = env.float("EXTERNAL_REQUEST_TIMEOUT", default=3.0)

# /healthz answers 503 when a due reply has waited longer than this many seconds.
HEALTH_MAX_REPLY_WAIT = env.float("HEALTH_MAX_REPLY_WAIT", default=300.0)

# Meta's Send API allows about 100 text messages a second per Instagram account; each stored
# account can set its own lower rate. After a rate-limit answer the account pauses this long.
SEND_RATE_PER_SECOND = env.float("SEND_RATE_PER_SECOND", default=100.0)
SEND_RATE_LIMIT_PAUSE = env.float("SEND_RATE_LIMIT_PAUSE", default=60.0)

# The worker's sweep puts back replies whose task was lost (queued too long) or whose worker
# died mid-send (sending too long). STALLED_AFTER must comfortably exceed GRAPH_API_TIMEOUT.
REPLY_SWEEP_INTERVAL = env.float("REPLY_SWEEP_INTERVAL", default=60.0)
# Days the raw webhook deliveries are kept once handled (processed or rejected); the worker's
# upkeep deletes older ones. Failed ones, and those waiting for credentials, are kept. 0: keep
# them all.
RAW_DELIVERY_RETENTION_DAYS = env.int("RAW_DELIVERY_RETENTION_DAYS", default=14)
# How long an idle worker first waits before looking for waiting deliveries again (seconds).
# Part of a DM's wait for its reply when the worker is idle (SQLite, MySQL/MariaDB); a busy
# worker takes the next one at once. Also, on every database, the least a worker lets pass
# before asking the outbox again for due sends once it found none (messaging.worker_pass).
WORKER_POLL_INTERVAL = env.float("WORKER_POLL_INTERVAL", default=0.1)
# An idle worker's pass loop waits twice as long each time it finds nothing, up to this
# (seconds); on PostgreSQL it sleeps until the webhook's insert wakes it (LISTEN/NOTIFY), and
# looks anyway after this long. Work found starts the wait again from WORKER_POLL_INTERVAL.
WORKER_IDLE_MAX_WAIT = env.float("WORKER_IDLE_MAX_WAIT", default=1.0)
# How often an idle worker's task loop looks for due tasks (history imports), in seconds. Sends
# are rows of the outbox, polled by the delivery loop (WORKER_POLL_INTERVAL above).
WORKER_TASK_POLL_INTERVAL = env.float("WORKER_TASK_POLL_INTERVAL", default=0.5)
# Workers lower their CPU priority by this much (nice), so that on a machine they share with
# the web processes the webhook answers Meta first when the CPU is all taken. 0: don't.
WORKER_NICENESS = env.int("WORKER_NICENESS", default=10)
REPLY_STALLED_AFTER = env.float("REPLY_STALLED_AFTER", default=120.0)
# Each worker beats every WORKER_HEARTBEAT_INTERVAL seconds; one silent for WORKER_DEAD_AFTER
# seconds is dead, and the live workers take back the work it held at once (before the sweep's
# REPLY_STALLED_AFTER). A live worker taken for dead may send a reply twice, so DEAD_AFTER
# leaves room for several missed beats (and for clock differences between hosts).
WORKER_HEARTBEAT_INTERVAL = env.float("WORKER_HEARTBEAT_INTERVAL", default=2.0)
WORKER_DEAD_AFTER = env.float("WORKER_DEAD_AFTER", default=10.0)
if WORKER_DEAD_AFTER < 3 * WORKER_HEARTBEAT_INTERVAL:
    raise ImproperlyConfigured(
        f"WORKER_DEAD_AFTER ({WORKER_DEAD_AFTER:g} s) must be at least three heartbeats "
        f"(WORKER_HEARTBEAT_INTERVAL = {WORKER_HEARTBEAT_INTERVAL:g} s): a worker late by one "
        "beat would be taken for dead."
    )

# Replies to comments, per account and hour: Meta allows 750 private replies (the DM to a
# commenter) an hour for posts and reels; public replies have no published figure, and many at
# once look like spam. Over the limit, replies wait their turn, oldest comment first.
COMMENT_PRIVATE_REPLIES_PER_HOUR = env.int("COMMENT_PRIVATE_REPLIES_PER_HOUR", default=750)
COMMENT_PUBLIC_REPLIES_PER_HOUR = env.int("COMMENT_PUBLIC_REPLIES_PER_HOUR", default=100)

# History import and reconciliation through the Conversations API (history/), which Meta
# limits to 2 calls a second per account; after a rate-limit answer the account's calls to it
# pause this many seconds.
CONVERSATIONS_API_RATE_PER_SECOND = env.float("CONVERSATIONS_API_RATE_PER_SECOND", default=2.0)
CONVERSATIONS_API_RATE_LIMIT_PAUSE = env.float("CONVERSATIONS_API_RATE_LIMIT_PAUSE", default=60.0)
# Every RECONCILE_INTERVAL seconds a worker checks each active account's conversations active
# since its last pass (at most RECONCILE_LOOKBACK seconds back) for messages no webhook
# brought. Messages younger than RECONCILE_GRACE seconds wait for the next pass (their webhook
# may be on its way).
RECONCILE_INTERVAL = env.float("RECONCILE_INTERVAL", default=300.0)
RECONCILE_LOOKBACK = env.float("RECONCILE_LOOKBACK", default=3600.0)
RECONCILE_GRACE = env.float("RECONCILE_GRACE", default=60.0)
# Reconciliation finds customer messages, and no webhook brought one for this many seconds:
# the subscription is probably broken (/healthz, the admin, an ERROR log line).
WEBHOOK_SILENCE_ALERT = env.float("WEBHOOK_SILENCE_ALERT", default=3600.0)

# Answers from knowledge written by an AI service: any OpenAI-compatible chat endpoint (OpenAI,
# Ollama, vLLM, llama.cpp's server). Empty AI_BASE_URL: built-in answers only (knowledge/).
AI_BASE_URL = env.str("AI_BASE_URL", default="").rstrip("/")
AI_API_KEY = env.str("AI_API_KEY", default="")
AI_MODEL = env.str("AI_MODEL", default="gpt-4o-mini")
# Seconds the assistant may take, all told; past them the built-in answer or the fallback goes.
AI_TIMEOUT = env.float("AI_TIMEOUT", default=8.0)

# --- Django ---------------------------------------------------------------------------------

INSTALLED_APPS = [
    "messaging",
    "accounts",
    "rules",
    "knowledge",
    "comments",
    "history",
    "inbox",
    "ops",
    "contacts",
    "broadcasts",
    "outgoing_webhooks",
    "privacy",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
]

# The fake Graph API, `simulate_dm` and `bench` (devtools/): for development and tests only.
if env.bool("DEVTOOLS", default=DEBUG):
    INSTALLED_APPS += ["devtools"]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A NUL in the URL is a 400 for every page and API call (PostgreSQL would fail on it).
    "instabot.middleware.RefuseNulCharactersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Staff pages and the API answer 503, not 500, while the database is away.
    "instabot.middleware.DatabaseUnavailableMiddleware",
    # Last, as django-axes requires: it turns locked-out logins into a clear refusal.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First: refuses logins for a username+address locked out after repeated failures.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Admin brute force: AXES_FAILURE_LIMIT failed logins for one username from one address lock
# that pair out for AXES_COOLOFF_HOURS.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True

ROOT_URLCONF = "instabot.urls"
WSGI_APPLICATION = "instabot.wsgi.application"

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

# What each process kind holds at most, and the sum to compare with the database's
# max_connections: docs/connections.md.
DATABASES = {"default": env.db("DATABASE_URL", default="sqlite:///db.sqlite3")}
# Keep each thread's connection between requests: opening one costs more than a webhook's
# whole insert (and closing SQLite's last connection checkpoints its WAL). Checked before reuse,
# so a database restart costs one failed check, not a failed request. This suits threads that
# live as long as their process (gunicorn's, the worker's).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=300)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DB_HEALTH_CHECKS", default=True)
# The development server answers each request in a thread of its own that ends with it: a
# connection kept would outlive its thread by CONN_MAX_AGE, one per request. There Django
# closes it when the request finishes.
RUNNING_DEVELOPMENT_SERVER = sys.argv[1:2] == ["runserver"]
if RUNNING_DEVELOPMENT_SERVER:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A relative path means "beside manage.py", whatever directory the command runs from.
    if DATABASES["default"]["NAME"] != ":memory:":
        DATABASES["default"]["NAME"] = str(BASE_DIR / DATABASES["default"]["NAME"])
    # The web server and the worker write at the same time. WAL lets readers and one writer
    # work together, the busy timeout waits for the writer instead of failing, and IMMEDIATE
    # transactions take the write lock up front, so a transaction never fails half-way when it
    # upgrades from reading to writing ("database is locked" that no timeout can cure).
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        **DATABASES["default"].get("OPTIONS", {}),
    }
    # Tests run on a file too, not Django's shared-cache in-memory database: its table locks
    # ignore the busy timeout, and concurrency tests must see what production sees.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / ".test-db.sqlite3")}

elif DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    # utf8mb4: MySQL's "utf8" is 3 bytes a character and refuses emoji. Strict mode: refuse
    # data that does not fit instead of silently truncating it.
    DATABASES["default"]["OPTIONS"] = {
        "charset": "utf8mb4",
        "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
        **DATABASES["default"].get("OPTIONS", {}),
    }
    DATABASES["default"]["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}

elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's connection pool (psycopg_pool), one per process, shared by its threads: a
    # process never holds more than DB_POOL_MAX_SIZE connections, whatever its thread count. A
    # thread takes one for a request (or a worker's pass) and gives it back at the end; one
    # found dead (a database restart) is replaced. 0: no pool (behind PgBouncer, say), and
    # CONN_MAX_AGE applies as on MySQL.
    DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=4)
    if DB_POOL_MAX_SIZE > 0:
        DATABASES["default"]["OPTIONS"] = {
            "pool": {
                # Kept open even when idle, so a quiet process answers without connecting.
                "min_size": min(env.int("DB_POOL_MIN_SIZE", default=1), DB_POOL_MAX_SIZE),
                "max_size": DB_POOL_MAX_SIZE,
                # How long a thread waits for a free connection (or for the database to come
                # back) before its request fails with 503. Under Meta's 20 s and gunicorn's 30 s.
                "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
            },
            **DATABASES["default"].get("OPTIONS", {}),
        }
        # The pool keeps the connections; Django refuses persistent ones beside it.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
    # How statements reach the server (docs/performance.md, "PostgreSQL profiled"). With
    # server-side binding psycopg sends the parameters apart from the SQL text; only then can a
    # statement run DB_PREPARE_THRESHOLD times on a connection be prepared (parsed and planned
    # once per connection). Empty: never prepared.
    if env.bool("DB_SERVER_SIDE_BINDING", default=False):
        DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True
        if prepare_threshold := env.str("DB_PREPARE_THRESHOLD", default=""):
            DATABASES["default"]["OPTIONS"]["prepare_threshold"] = int(prepare_threshold)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The queue backend. django_tasks_db.DatabaseBackend (the default) keeps tasks in the database
# and django_tasks_rq.RQBackend keeps them in Redis (REDIS_URL) for workers on many machines;
# `manage.py worker` runs whichever is set.
TASKS = {
    "default": {
        "BACKEND": env.str("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
    }
}
if TASKS["default"]["BACKEND"] == "django_tasks_rq.RQBackend":
    # Only then: django_rq brings an admin model without a table, which dumpdata trips over.
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
RQ_QUEUES = {
    "default": {
        "URL": env.str("REDIS_URL", default="redis://127.0.0.1:6379/0"),
        # A send waits at most GRAPH_API_TIMEOUT per call; no task should run for minutes.
        "DEFAULT_TIMEOUT": 300,
    }
}
RQ = {
    # django-tasks-rq's job class runs a django_tasks Task; ours runs it in the worker process.
    "JOB_CLASS": "django_tasks_rq.Job",
    "WORKER_CLASS": "ops.rq_worker.DjangoWorker",
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["instabot.rest.StaffModelPermissions"],
    # DRF's own, except JSON: ours answers 400 to bodies nested too deeply or not Unicode.
    "DEFAULT_PARSER_CLASSES": [
        "instabot.rest.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # DRF's, reading the page number in ASCII digits only (instabot.numbers).
    "DEFAULT_PAGINATION_CLASS": "instabot.rest.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Per staff user, counted per web process (anonymous callers are refused before any
    # throttle counts: every endpoint needs a staff user).
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env.str("API_THROTTLE_USER", default="600/minute")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "instabot API",
    # Markdown, shown as HTML on /api/docs/: the header goes in code, or "<key>" is a tag.
    "DESCRIPTION": "Business accounts, conversations, messages and reply rules. Staff only: "
    "token (`Authorization: Token <key>`) or session authentication, Django permissions apply.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs page's assets come from a Python package, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Every kind of send has the outbox's states: one enum in the schema.
    "ENUM_NAME_OVERRIDES": {"OutboxStatusEnum": "messaging.models.outbox.OutboxStatus"},
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Tests and development only: outgoing webhooks and flows' external requests may call a
# loopback address (127.0.0.1, ::1: an endpoint the test runs), never a private range.
# instabot/safe_urls.py refuses every non-public address otherwise; refused unless DEVTOOLS is
# on, so that production cannot turn it on by accident.
OUTGOING_URLS_ALLOW_LOOPBACK = env.bool("OUTGOING_URLS_ALLOW_LOOPBACK", default=False)
if OUTGOING_URLS_ALLOW_LOOPBACK and "devtools" not in INSTALLED_APPS:
    raise ImproperlyConfigured("OUTGOING_URLS_ALLOW_LOOPBACK is for tests: it needs DEVTOOLS on.")

# Tests only: MD5 instead of PBKDF2, because every test user costs a deliberately slow hash
# (about 0.5 s each). MD5 must never guard a real password: refused unless DEVTOOLS is on.
if env.bool("FAST_PASSWORD_HASHING", default=False):
    if "devtools" not in INSTALLED_APPS:
        raise ImproperlyConfigured("FAST_PASSWORD_HASHING is for tests: it needs DEVTOOLS on.")
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
# One 24-hour date and time format everywhere staff look (instabot/formats/en).
FORMAT_MODULE_PATH = ["instabot.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Served by the web process itself (whitenoise), compressed; `collectstatic` fills it.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# "json" (one object a line, for log collectors) or "plain" (for people).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "instabot.logging.ContextFilter"},
        "no_query_strings": {"()": "instabot.logging.StripQueryStrings"},
        "queue_bookkeeping": {"()": "instabot.logging.QueueBookkeeping"},
    },
    "formatters": {
        # The process (web, worker, fake) first: bin/dev shows the three in one terminal.
        "plain": {
            "format": "%(asctime)s %(process_name)s %(levelname)s %(name)s: "
            "%(message)s%(context_text)s"
        },
        "json": {"()": "instabot.logging.JSONFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own defaults give "django" a console handler of its own (with DEBUG on) and
        # "django.server" one that does not propagate: naming them here removes those
        # handlers, so their lines reach the root's handler alone, once, in our format.
        "django": {"propagate": True},
        # Every request line from runserver is noise next to our own log lines; those it does
        # log (4xx, 5xx) lose their query string: the webhook handshake's holds the verify token.
        "django.server": {"level": "WARNING", "propagate": True, "filters": ["no_query_strings"]},
        # At DEBUG, urllib3 logs every URL it requests, and Instagram's token refresh carries
        # the token in its URL (as Meta documents it): never let those lines out.
        "urllib3": {"level": "WARNING"},
        # django-axes announces itself in every command; its lockouts are WARNINGs.
        "axes": {"level": "WARNING"},
        # The queues' per-task lines say "SUCCESSFUL" of a task whose send failed (and is
        # retried): the sends log their own outcome.
        "django_tasks": {"filters": ["queue_bookkeeping"]},
        "rq.worker": {"filters": ["queue_bookkeeping"]},
    },
}
