"""Django settings for a UNITED node, computed from `united.config` (the environment).

There is one settings module. The embedded default (no variables set) runs everything in one
process on SQLite; production (DATABASE_URL + REDIS_URL) uses PostgreSQL, Redis and Celery.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import dj_database_url

from united import config as _config

CONFIG = _config.load()
BASE_DIR = _config.BASE_DIR
DATA_DIR = CONFIG.data_dir
DATA_DIR.mkdir(parents=True, exist_ok=True)

UNITED_MODE = CONFIG.mode
SECRET_KEY = CONFIG.secret_key
DEBUG = CONFIG.debug
ALLOWED_HOSTS = CONFIG.allowed_hosts
FEDERATION_DOMAIN = CONFIG.federation_domain
FEDERATION_SCHEME = CONFIG.federation_scheme
FEDERATION_ALLOW_PRIVATE = list(CONFIG.federation_allow_private)
VAPID_SUBJECT = CONFIG.vapid_subject
PUSH_ALLOW_PRIVATE = list(CONFIG.push_allow_private)
BOTS_ALLOW_PRIVATE = list(CONFIG.bots_allow_private)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.forms",  # the stock widget templates, for FORM_RENDERER below
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_htmx",
    "django_otp",
    "accounts.apps.AuthenticatorAppsConfig",  # django_otp.plugins.otp_totp, named
    "accounts.apps.BackupCodesConfig",  # django_otp.plugins.otp_static, named
    "united.apps.UnitedConfig",
    "jobs",
    "accounts",
    "guilds",
    "messaging",
    "e2e",
    "media",
    "moderation",
    "push",
    "federation",
    "voice",
    "bots",
    "web",
    "backup",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "united.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "united.middleware.ApiErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "united.urls"
ASGI_APPLICATION = "united.asgi.application"
WSGI_APPLICATION = None

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
                "united.context_processors.node",
            ],
        },
    },
]

# The admin never shows a member's authenticator secret, its QR code or their backup codes:
# an operator who could read them could pass the member's second factor. An operator resets a
# lost factor by deleting the device.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# Widgets render through TEMPLATES, so templates/ can correct a stock widget's markup (the
# admin's split date/time labels: templates/admin/widgets/split_datetime.html).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

# --- database -------------------------------------------------------------------------------
# Connections outlive a request: the web process serves requests on a few long-lived threads
# (united/threads.py), and opening a connection per request was a tenth of a small request's
# time. Health checks replace one that broke (a restarted PostgreSQL) before it is used.
CONN_MAX_AGE = 600
if CONFIG.database_url and not CONFIG.database_url.startswith("sqlite"):
    DATABASES = {
        "default": dj_database_url.parse(
            CONFIG.database_url, conn_max_age=CONN_MAX_AGE, conn_health_checks=True
        )
    }
    DATABASES["default"]["OPTIONS"] = {"connect_timeout": 5}
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}"}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            # Django takes a Path for the SQLite NAME.
            "NAME": DATA_DIR / "united.sqlite3",  # type: ignore[typeddict-item]
            "OPTIONS": {
                # WAL lets readers proceed while a writer commits; IMMEDIATE takes the write
                # lock at BEGIN so concurrent writers queue instead of failing mid-transaction.
                "init_command": (
                    "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;"
                    "PRAGMA foreign_keys=ON;PRAGMA busy_timeout=20000;"
                ),
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            "CONN_MAX_AGE": CONN_MAX_AGE,
            "CONN_HEALTH_CHECKS": True,
            # Tests use a file too: SQLite's shared-cache in-memory database has table locks
            # that ignore busy_timeout, unlike the WAL file a node runs on.
            "TEST": {"NAME": str(DATA_DIR / "test.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- event bus, cache, Celery ----------------------------------------------------------------
# Gateway events cross processes on Redis pub/sub (united/bus.py): one PUBLISH per event
# whatever the group's size. Pub/sub drops what is published during a reconnect, which is why
# the hub catches up and RESUME replays from the database (docs/gateway.md). No Channels
# layer: each process's hub delivers to its sockets.
CHANNEL_LAYERS: dict[str, dict] = {}
EVENT_BUS_URL = CONFIG.redis_url or None
# Redis pub/sub ignores the database number: the prefix carries it, so two nodes sharing one
# Redis server on different databases never hear each other's gateway events.
_redis_db = urlsplit(CONFIG.redis_url).path.strip("/") if CONFIG.redis_url else ""
EVENT_BUS_PREFIX = "united" + ("" if _redis_db in {"", "0"} else _redis_db)
if CONFIG.redis_url:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CONFIG.redis_url,
            "KEY_PREFIX": "united",
            # A Redis that hangs fails the request (503, united/errors.py) instead of holding
            # it: the cache's operations are single small keys, answered in well under 2 s.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = CONFIG.redis_url or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE = {
    "jobs-tick": {"task": "jobs.tick", "schedule": 5.0},
}

# --- storage ---------------------------------------------------------------------------------
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
if CONFIG.storage_backend == "s3":
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": CONFIG.s3_bucket,
            "access_key": CONFIG.s3_access_key,
            "secret_key": CONFIG.s3_secret_key,
            "endpoint_url": CONFIG.s3_endpoint,
            "region_name": CONFIG.s3_region,
            "addressing_style": "path" if CONFIG.s3_path_style else "virtual",
            "default_acl": None,
            "querystring_auth": False,
            "file_overwrite": True,
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- auth ------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = CONFIG.https
CSRF_COOKIE_SECURE = CONFIG.https
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# X-Forwarded-Proto is applied to the ASGI scope by united.clientaddr, and only when the peer is
# one of UNITED_TRUSTED_PROXIES; Django itself must not believe the header from anyone.
SECURE_PROXY_SSL_HEADER = None
UNITED_HTTPS = CONFIG.https
UNITED_TRUSTED_PROXIES = list(CONFIG.trusted_proxies)
if FEDERATION_DOMAIN:
    CSRF_TRUSTED_ORIGINS = [f"https://{FEDERATION_DOMAIN}", f"http://{FEDERATION_DOMAIN}"]

# Request bodies: API payloads are small; uploads stream through their own view (media app).
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = DATA_DIR / "tmp"
FILE_UPLOAD_TEMP_DIR.mkdir(exist_ok=True)
UNITED_MAX_UPLOAD_BYTES = CONFIG.max_upload_bytes
UNITED_USER_QUOTA_BYTES = CONFIG.user_quota_bytes
UNITED_RATE_LIMITS = CONFIG.rate_limits

# --- REST API --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["united.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "united.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "UNITED API",
    "DESCRIPTION": "REST API of a UNITED node. Paths and shapes mirror Discord's HTTP API v10 "
    "where the concept exists. Authenticate with `Authorization: Bearer <access token>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}
ACCESS_TOKEN_LIFETIME = timedelta(minutes=15)
UNITED_LOG_IPS = CONFIG.log_ips
UNITED_REGISTRATION = CONFIG.registration

# --- search ----------------------------------------------------------------------------------
SEARCH_BACKEND = CONFIG.search_backend
SEARCH_LANGUAGE = CONFIG.search_language
MEILI_URL = CONFIG.meili_url
MEILI_KEY = CONFIG.meili_key

# Voice (voice/): the worker's control socket, ICE host addresses, TURN REST credentials.
VOICE_WORKER_ADDR = CONFIG.voice_worker_addr
VOICE_ICE_ADDRESSES = CONFIG.voice_ice_addresses
VOICE_MAX_PARTICIPANTS = CONFIG.voice_max_participants
# Per-sender budgets of the worker ((packets/s, burst), (bytes/s, burst)), voice/guard.py.
VOICE_AUDIO_BUDGET = CONFIG.voice_audio_budget
VOICE_VIDEO_BUDGET = CONFIG.voice_video_budget
UNITED_INBOX_SHARE = CONFIG.inbox_share
TURN_URLS = CONFIG.turn_urls
TURN_SECRET = CONFIG.turn_secret
TURN_CREDENTIAL_TTL = CONFIG.turn_ttl
SEARCH_MEILI_INDEX = "united-messages"

# --- gateway ---------------------------------------------------------------------------------
GATEWAY_HEARTBEAT_INTERVAL_MS = 41_250

# --- i18n, time ------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- logging ---------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # Webhook tokens in logged paths are replaced (united/logredact.py).
    "filters": {"redact": {"()": "united.logredact.RedactFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact"],
        }
    },
    "root": {"handlers": ["console"], "level": CONFIG.log_level},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}
