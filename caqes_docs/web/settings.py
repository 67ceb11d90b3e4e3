"""Settings of the portal, read from the environment (local default: the demo's folder).

One data folder, ``CAQES_DATA_DIR`` (default ``./demo/en-ligne``, the demo portal that
``make demo`` prepares), holds everything:

- ``caqes.db`` — the registry, the same file the CLI uses (``caqes status``);
- ``portail.sqlite3`` — the portal's own state (accounts, sessions, access links, refusals);
- ``taches.sqlite3`` — the task queue (huey);
- ``portail/`` — uploaded targeting files, refused uploads kept aside, work files;
- ``contrats/`` — contracts issued from the portal's campaign page.

These settings serve plain HTTP on 127.0.0.1; :mod:`caqes_docs.web.production` hardens them
for a server behind an HTTPS reverse proxy.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from django.core.management.utils import get_random_secret_key

from caqes_docs.web.bootstrap import DEMO_DATA_DIR, FINESS_EXTRACT_FILE

PACKAGE = Path(__file__).resolve().parent


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _secret_key(data_dir: Path) -> str:
    """``CAQES_SECRET_KEY``, else a key kept in the data folder (made on first use)."""
    if os.environ.get("CAQES_SECRET_KEY"):
        return os.environ["CAQES_SECRET_KEY"]
    path = data_dir / "portail" / "cle-secrete.txt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(get_random_secret_key())
    return path.read_text(encoding="utf-8").strip()


CAQES_DATA_DIR = Path(os.environ.get("CAQES_DATA_DIR") or DEMO_DATA_DIR).resolve()
CAQES_REGISTRY = CAQES_DATA_DIR / "caqes.db"
CAQES_FILES = CAQES_DATA_DIR / "portail"
for _folder in ("tmp", "static"):
    (CAQES_FILES / _folder).mkdir(parents=True, exist_ok=True)
CAQES_CONTRACTS_DIR = CAQES_DATA_DIR / "contrats"
# Roots that verify received signatures (comma-separated paths); the demo's root by default.
CAQES_TRUST_ROOTS = _env_list("CAQES_TRUST_ROOTS", str(CAQES_DATA_DIR / "pki" / "root-ca.pem"))
# The ARS key the portal countersigns with (PKCS#12 file and the file holding its password).
CAQES_ARS_P12 = os.environ.get("CAQES_ARS_P12") or str(CAQES_DATA_DIR / "pki" / "ars.p12")
CAQES_ARS_PASSWORD_FILE = os.environ.get("CAQES_ARS_PASSWORD_FILE") or str(
    CAQES_DATA_DIR / "pki" / "mot-de-passe.txt"
)
# Or the ARS key on a PKCS#11 token (smartcard, HSM): when a module is set, the token is used.
CAQES_ARS_PKCS11_MODULE = os.environ.get("CAQES_ARS_PKCS11_MODULE") or None
CAQES_ARS_PKCS11_TOKEN = os.environ.get("CAQES_ARS_PKCS11_TOKEN") or ""
CAQES_ARS_PKCS11_KEY = os.environ.get("CAQES_ARS_PKCS11_KEY") or ""
CAQES_ARS_PIN_FILE = os.environ.get("CAQES_ARS_PIN_FILE") or ""
# Campaign file for the portal's batch: the setting, else the data folder's own
# ``campagne.yaml``, else the bundled campaign.
CAQES_CAMPAIGN_FILE = os.environ.get("CAQES_CAMPAIGN_FILE") or (
    str(CAQES_DATA_DIR / "campagne.yaml") if (CAQES_DATA_DIR / "campagne.yaml").is_file() else None
)
# FINESS extracts that complete and check the portal's batch (comma-separated paths); else the
# data folder's own extract if any.
CAQES_FINESS_EXTRACT = _env_list("CAQES_FINESS_EXTRACT") or [
    str(path) for path in [CAQES_DATA_DIR / FINESS_EXTRACT_FILE] if path.is_file()
]
CAQES_UPLOAD_MAX_BYTES = int(os.environ.get("CAQES_UPLOAD_MAX_MB", "50")) * 1024 * 1024
CAQES_LINK_DAYS = int(os.environ.get("CAQES_LINK_DAYS", "90"))
# Address printed in the links' CSV export (the portal's public address).
CAQES_PUBLIC_URL = os.environ.get("CAQES_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
# Wrong access links tolerated per address and window before the address is blocked.
CAQES_LINK_FAILURES = int(os.environ.get("CAQES_LINK_FAILURES", "20"))
CAQES_LINK_FAILURE_WINDOW = int(os.environ.get("CAQES_LINK_FAILURE_WINDOW", "900"))
# Reverse proxies in front of the portal (0: REMOTE_ADDR is the client).
CAQES_PROXY_COUNT = int(os.environ.get("CAQES_PROXY_COUNT", "0"))

SECRET_KEY = _secret_key(CAQES_DATA_DIR)
DEBUG = os.environ.get("CAQES_DEBUG", "") == "1"
ALLOWED_HOSTS = _env_list("CAQES_ALLOWED_HOSTS", "127.0.0.1,localhost")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "dsfr",
    "axes",
    "huey.contrib.djhuey",
    "caqes_docs.web.apps.PortalConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "caqes_docs.web.middleware.ContentSecurityPolicy",
    "caqes_docs.web.middleware.UploadSizeLimit",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its response.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "caqes_docs.web.urls"
WSGI_APPLICATION = "caqes_docs.web.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": CAQES_DATA_DIR / "portail.sqlite3",
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The link-guessing counters are shared by every gunicorn worker: a cache in the database.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "portail_cache",
    }
}

HUEY = {
    "huey_class": "huey.SqliteHuey",
    "name": "caqes",
    "filename": str(CAQES_DATA_DIR / "taches.sqlite3"),
    "immediate": os.environ.get("CAQES_TASKS_IMMEDIATE", "") == "1",
    "consumer": {"workers": 1, "worker_type": "thread"},
}

LANGUAGE_CODE = "fr-fr"
# French only, whatever the browser asks for (an English Accept-Language would otherwise turn
# Django's and django-dsfr's own words into English).
LANGUAGES = [("fr", "Français")]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = CAQES_FILES / "static"
# Static files straight from the installed packages: no collectstatic step to forget.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = "portail:connexion"
LOGIN_REDIRECT_URL = "portail:tableau"
LOGOUT_REDIRECT_URL = "portail:connexion"

# Uploads: the size limit is checked before the body is read (caqes_docs.web.uploads).
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = str(CAQES_FILES / "tmp")
FILE_UPLOAD_PERMISSIONS = 0o600
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 8 * 3600
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.25  # hours
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_IPWARE_PROXY_COUNT = CAQES_PROXY_COUNT or None
AXES_LOCKOUT_TEMPLATE = "portail/bloque.html"

DSFR_USE_INTEGRITY_CHECKSUMS = True
DSFR_MARK_OPTIONAL_FIELDS = True
# django-dsfr warns on every form that this transitional setting will go (and, without it, that
# required fields will stop being marked): the choice is made, the page logs need not repeat it.
warnings.filterwarnings("ignore", message="Transitional Django setting DSFR_MARK_OPTIONAL_FIELDS")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

# Mail (caqes_docs/web/mail.py): through SMTP when CAQES_SMTP_HOST is set; otherwise each
# message is written to a file of its own in <data>/courriels (caqes_docs/web/mailfiles.py),
# so that the demo sends nothing by accident.
CAQES_MAIL_DIR = CAQES_DATA_DIR / "courriels"
EMAIL_HOST = os.environ.get("CAQES_SMTP_HOST", "")
EMAIL_PORT = int(os.environ.get("CAQES_SMTP_PORT", "25"))
# CAQES_SMTP_TLS: "starttls" (port 587 usually), "ssl" (port 465), or empty.
EMAIL_USE_TLS = os.environ.get("CAQES_SMTP_TLS", "") == "starttls"
EMAIL_USE_SSL = os.environ.get("CAQES_SMTP_TLS", "") == "ssl"
EMAIL_HOST_USER = os.environ.get("CAQES_SMTP_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("CAQES_SMTP_PASSWORD", "")
EMAIL_TIMEOUT = 30
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "caqes_docs.web.mailfiles.MessageFilesBackend"
)
EMAIL_FILE_PATH = str(CAQES_MAIL_DIR)
DEFAULT_FROM_EMAIL = os.environ.get("CAQES_MAIL_FROM", "caqes-ne-pas-repondre@localhost")
# The ARS officers who receive the invitations to countersign (comma-separated addresses);
# without them, the campaign's ARS address (ars.email).
CAQES_MAIL_ARS = _env_list("CAQES_MAIL_ARS")
# The Maildir folder where the delivery reports sent back to CAQES_MAIL_FROM arrive (as
# Postfix, Dovecot or fetchmail deliver them); each `caqes relances` reads its new messages
# first (caqes_docs/workflows/bounces.py). Empty: bounces are not read.
CAQES_BOUNCE_MAILDIR = os.environ.get("CAQES_BOUNCE_MAILDIR", "")
