"""Django settings. Everything deployment-specific comes from the environment (see docs/operations.md)."""

from __future__ import annotations

import os
from pathlib import Path

from apps.standards.timing import INTERVAL_S
from crest_web import task_names
from crest_web.accounts.proxies import parse_trusted_proxies
from crest_web.env import (
    ConfigError,
    env_bool,
    env_days,
    env_list,
    env_seconds,
    env_share,
    missing_service_message,
    parse_database_url,
    running_manage_py,
)

BASE_DIR = Path(__file__).resolve().parent.parent

# development (make demo), test (pytest) or production (docker/); production turns on every
# secure-cookie and header setting and refuses to start without a real secret key.
CREST_ENV = os.environ.get("CREST_ENV", "development")
if CREST_ENV not in ("development", "test", "production"):
    raise ConfigError(f"CREST_ENV must be development, test or production, not {CREST_ENV!r}")
PRODUCTION = CREST_ENV == "production"

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ConfigError("DJANGO_SECRET_KEY must be set in production")
    SECRET_KEY = "insecure-development-key-only-for-loopback-use-" + "x" * 20
DEBUG = env_bool("DJANGO_DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# Servers (daphne, Celery) refuse to start without their services. `manage.py` starts without
# them, so the commands on an OpenDSS file or a standard case run anywhere (DESIGN §7); a command
# that reaches for the missing database stops there with a sentence (crest_web/no_database).
# Without a database nothing reaches Redis (every Redis use follows a stored change).
DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
_DEFER_SERVICES = running_manage_py() and not DATABASE_URL
if DATABASE_URL:
    DATABASES = {"default": parse_database_url(DATABASE_URL)}
elif _DEFER_SERVICES:
    DATABASES = {"default": {"ENGINE": "crest_web.no_database"}}
else:
    raise ConfigError(missing_service_message("DATABASE_URL"))
if not REDIS_URL and not _DEFER_SERVICES:
    raise ConfigError(missing_service_message("REDIS_URL"))

INSTALLED_APPS = [
    "daphne",
    "crest_web.accounts.apps.CrestAdminConfig",  # django.contrib.admin, for superusers only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "channels",
    "crest_web.accounts",
    "apps.dms",
    "apps.der_registry",
    "apps.capability",
    "apps.ems",
    "apps.alarms",
    "apps.cycle",
    "apps.training",  # a trainer's scenarios, sent to the plant simulator's instructor API
    "apps.plant",  # the grid simulator (manage.py run_plant): talks to the rest only over the protocols
]

MIDDLEWARE = [
    "crest_web.accounts.middleware.TrustedProxyHeaderMiddleware",  # before anything reads the scheme
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "crest_web.accounts.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "crest_web.accounts.middleware.LoginRequiredMiddleware",
    "crest_web.accounts.middleware.RoleRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "crest_web.urls"
ASGI_APPLICATION = "crest_web.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "frontend" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "crest_web.accounts.context.roles",
                "crest_web.context_processors.alarm_badge",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Every sign-in path (site form, /admin/login/) goes through the lock-out in this backend.
AUTHENTICATION_BACKENDS = ["crest_web.accounts.backends.ThrottledModelBackend"]
# Failed sign-ins per (user name, client address), and per user name from any address, before a
# lock-out, and its length (crest_web/accounts/throttle.py).
LOGIN_MAX_FAILURES = int(os.environ.get("CREST_LOGIN_MAX_FAILURES", "5"))
LOGIN_MAX_ACCOUNT_FAILURES = int(os.environ.get("CREST_LOGIN_MAX_ACCOUNT_FAILURES", "20"))
LOGIN_LOCKOUT_S = int(os.environ.get("CREST_LOGIN_LOCKOUT_S", "900"))
# Reverse proxies whose X-Forwarded-For is believed (addresses or CIDRs); none by default: the
# direct peer is the client. daphne runs without --proxy-headers, which believed anyone.
CREST_TRUSTED_PROXIES = env_list("CREST_TRUSTED_PROXIES", [])
try:
    parse_trusted_proxies(tuple(CREST_TRUSTED_PROXIES))
except ValueError as exc:
    raise ConfigError(str(exc)) from None

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("CREST_TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
# plotly.js is served from the plotly wheel itself: no CDN, the control room may be air-gapped.
_PLOTLY_JS_DIR = Path(str(__import__("plotly").__file__)).parent / "package_data"
STATICFILES_DIRS = [BASE_DIR / "frontend" / "static", ("vendor/plotly", _PLOTLY_JS_DIR)]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = not PRODUCTION
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
# A feeder upload (.dss or .zip, apps/dms/feeders.py): its size, and a zip's files and unpacked size.
FEEDER_UPLOAD_MAX_BYTES = 20 * 1024 * 1024
FEEDER_ZIP_MAX_MEMBERS = 2000
FEEDER_ZIP_MAX_UNPACKED_BYTES = 200 * 1024 * 1024

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "crest",
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.db"

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # redis-py 8 defaults socket_timeout to 5 s, shorter than channels_redis' idle blocking
        # pop: every quiet WebSocket would be torn down every 5 s (channels_redis issue #422).
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": None, "socket_connect_timeout": 5}],
            "prefix": "crest:channels",
        },
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 600
# A task whose worker died unacknowledged goes to another worker after this long (Redis's
# visibility timeout). Longer than any task runs (CELERY_TASK_TIME_LIMIT): a task still running is
# never handed out twice. Stage work is idempotent anyway (apps/cycle/runner.py).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_seconds("CREST_CELERY_REDELIVER_S", 3600.0),
    # workers look for such tasks every 10 s (kombu's default scans only every 100 s)
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
# The beat heartbeat task runs this often; /healthz calls beat "late" after three misses.
CREST_BEAT_HEARTBEAT_S = 10
# The coordination cycle: intervals shorter than 5 minutes only where tests and the demo ask for them.
CREST_CYCLE_ALLOW_SHORT = env_bool("CREST_CYCLE_ALLOW_SHORT", default=not PRODUCTION)
CREST_CYCLE_INTERVAL_S = env_seconds("CREST_CYCLE_INTERVAL_S", INTERVAL_S)
CREST_CYCLE_CASE = os.environ.get("CREST_CYCLE_CASE", "case9")  # the EMS's transmission case
# "DSO request not met" is raised beyond this share of the request (and 100 kvar); 0 < share < 1.
CREST_SHORTFALL_ALARM_SHARE = env_share("CREST_SHORTFALL_ALARM_SHARE", 0.10)
CREST_CYCLE_TICK_S = 5.0  # how late after its boundary a cycle may start
# Monitoring samples older than this are deleted once an hour (the latest value of each DER stays);
# a thousand 2030.5 devices polling every 20 s add about 8.6 million samples a day.
CREST_MONITORING_KEEP_DAYS = env_days("CREST_MONITORING_KEEP_DAYS", 30)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so an unauthenticated call gets 401 with WWW-Authenticate: Token.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["crest_web.accounts.permissions.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "crest_web.api.Pagination",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "crest_web.api.ReadOnlyBrowsableAPIRenderer",
    ],
    # DRF's three, the JSON one refusing absurd nesting with a 400 instead of recursing (a 500).
    "DEFAULT_PARSER_CLASSES": [
        "crest_web.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("CREST_API_ANON_RATE", "60/min"),
        "user": os.environ.get("CREST_API_USER_RATE", "6000/min"),
    },
    "EXCEPTION_HANDLER": "crest_web.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CReST Control Room API",
    "DESCRIPTION": "DER registry, feeders, capability, EMS and DMS. Units: kW, kvar, kVA, per-unit.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["crest_web.accounts.permissions.RolePermission"],  # a role, not only a sign-in
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "DERStatusEnum": "apps.der_registry.models.STATUS_CHOICES",
        "ControlModeEnum": "apps.der_registry.models.CONTROL_MODE_CHOICES",
        "SetPointStatusEnum": "apps.der_registry.models.SETPOINT_STATUS_CHOICES",
        "DERGroupKindEnum": "apps.der_registry.models.GROUP_KIND_CHOICES",
        "StudyKindEnum": "apps.capability.models.STUDY_KIND_CHOICES",
        "StudyStatusEnum": "apps.capability.models.STUDY_STATUS_CHOICES",
    },
}

# Security headers everywhere; secure cookies, HSTS and HTTPS redirect only behind TLS in production.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True  # no page script reads it; forms carry the token
CSRF_FAILURE_VIEW = "crest_web.pages.csrf_failure"
SESSION_COOKIE_AGE = 12 * 3600  # one control-room shift
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_SSL_REDIRECT = PRODUCTION and env_bool("CREST_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = 31536000 if PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = False
# HSTS preload is a commitment for the whole domain: a utility's web team decides it, not we.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
if PRODUCTION:
    # Believed only from CREST_TRUSTED_PROXIES (TrustedProxyHeaderMiddleware drops it otherwise).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("CREST_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One line per event sent to a page that has gone away (its group membership lingers).
        "channels_redis": {"level": "WARNING"},
    },
}

CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": task_names.HEARTBEAT, "schedule": float(CREST_BEAT_HEARTBEAT_S)},
    "registry-telemetry-sweep": {"task": task_names.REGISTRY_SWEEP_TELEMETRY, "schedule": 60.0},
    # Monitoring history past CREST_MONITORING_KEEP_DAYS, mirrored readings past a day.
    "registry-prune-history": {"task": task_names.REGISTRY_PRUNE_HISTORY, "schedule": 3600.0},
    # Dispatch runs and studies a dead worker left "running" are failed (celery_tasks/health.py).
    "recover-lost-work": {"task": task_names.RECOVER_LOST_WORK, "schedule": 15.0},
    # The coordination cycle: a tick opens each interval's cycle once (celery_tasks/cycle.py).
    "coordination-cycle": {"task": task_names.CYCLE_TICK, "schedule": CREST_CYCLE_TICK_S},
    # Timed alarm shelves end on time: their alarms return to the operator's list (apps/alarms).
    "alarm-shelves": {"task": task_names.ALARMS_EXPIRE_SHELVES, "schedule": 10.0},
}
# The EMS master's TLS files (ca.pem, master.pem, master.key) for DSOs marked DNP3 over TLS when
# runs are sent from the UI (celery_tasks/ems.py); `run_ems_link --tls-dir` for the command.
CREST_EMS_TLS_DIR = os.environ.get("CREST_EMS_TLS_DIR", "")
# The plant simulator's instructor API (run_plant --control-port) and its token: where the trainer
# panel's scenarios go (celery_tasks/training.py). Empty: no plant; a scenario says so.
CREST_PLANT_URL = os.environ.get("CREST_PLANT_URL", "")
CREST_PLANT_TOKEN = os.environ.get("CREST_PLANT_TOKEN", "")
# IEEE 2030.5-2018/2023's schema (namespace urn:ieee:std:2030.5:ns). IEEE's terms forbid shipping it,
# so the operator supplies a copy; without one the 2030.5 server speaks the 2013 edition only.
_SEP2_SCHEMA_BESIDE = BASE_DIR.parent / "shared" / "ieee2030_5" / "sep-2023.xsd"
CREST_SEP2_SCHEMA_2018 = os.environ.get(
    "CREST_SEP2_SCHEMA_2018", str(_SEP2_SCHEMA_BESIDE) if _SEP2_SCHEMA_BESIDE.is_file() else ""
)
# The utility's IANA private enterprise number: the low 32 bits of every mRID the 2030.5 server mints.
CREST_SEP2_PEN = os.environ.get("CREST_SEP2_PEN", "0")
