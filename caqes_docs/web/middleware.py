"""Headers and limits applied to every request: a Content-Security-Policy (Django 5.2 has
none of its own) and the upload size limit."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

# Only the portal's own files; scripts also need the per-response nonce the DSFR tag carries.
POLICY = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


# Room for the multipart envelope and the CSRF token around the file itself.
FORM_OVERHEAD = 64 * 1024


class ContentSecurityPolicy:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        nonce = secrets.token_urlsafe(16)
        request.csp_nonce = nonce  # type: ignore[attr-defined]
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", POLICY.format(nonce=nonce))
        return response


class UploadSizeLimit:
    """Refuse a request body over the upload limit before anything reads it (413).

    Placed before the CSRF middleware, which would otherwise parse (and spool to disk) the
    whole body to find its token.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.CAQES_UPLOAD_MAX_BYTES + FORM_OVERHEAD:
            response = render(
                request,
                "portail/erreur.html",
                {
                    "title": "Fichier trop volumineux",
                    "message": (
                        "fichier trop volumineux : au plus "
                        f"{settings.CAQES_UPLOAD_MAX_BYTES // (1024 * 1024)} Mo"
                    ),
                },
                status=413,
            )
            response["Connection"] = "close"
            return response
        return self.get_response(request)
