"""Settings for a server behind an HTTPS reverse proxy (``manage.py check --deploy`` clean).

Required in the environment: ``CAQES_SECRET_KEY`` (50 random characters or more),
``CAQES_ALLOWED_HOSTS`` (the portal's host names) and ``CAQES_DATA_DIR``; see the README's
section for the IT department.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

from caqes_docs.web.settings import *  # noqa: F403

if not os.environ.get("CAQES_SECRET_KEY"):
    raise ImproperlyConfigured("CAQES_SECRET_KEY doit être défini en production")

DEBUG = False
# The proxy terminates TLS and says so in this header (nginx: proxy_set_header
# X-Forwarded-Proto $scheme).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = True
SECURE_HSTS_SECONDS = 31_536_000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_TRUSTED_ORIGINS = [f"https://{host}" for host in ALLOWED_HOSTS]  # noqa: F405
# The links of the mails: the public HTTPS address, the first host name unless given.
if not os.environ.get("CAQES_PUBLIC_URL") and ALLOWED_HOSTS:  # noqa: F405
    CAQES_PUBLIC_URL = f"https://{ALLOWED_HOSTS[0]}"  # noqa: F405
