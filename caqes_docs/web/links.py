"""Party access links: unguessable, stored hashed, compared in constant time, revocable.

A token is ``<selector>.<secret>``: the selector (64 random bits) finds the row, the secret
(256 random bits) proves the holder; only the secret's SHA-256 is stored, and compared with
:func:`hmac.compare_digest`. A token is shown once, when it is made (the links' CSV).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from caqes_docs.registry.store import DocumentRecord, Registry
from caqes_docs.web.exchange import party_contact
from caqes_docs.web.models import PartyLink

SELECTOR_BYTES = 8
SECRET_BYTES = 32


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii", "replace")).hexdigest()


@dataclass(frozen=True)
class NewLink:
    link: PartyLink
    token: str

    @property
    def url(self) -> str:
        return settings.CAQES_PUBLIC_URL + reverse("portail:partie", args=[self.token])


def create_link(
    document: DocumentRecord,
    role: str,
    contact: str,
    created_by: str,
    days: int | None = None,
    *,
    revoke_earlier: bool = True,
) -> NewLink:
    """A new link for ``role`` on ``document``; earlier live links of the pair are revoked
    unless ``revoke_earlier`` is False."""
    now = timezone.now()
    if revoke_earlier:
        PartyLink.objects.filter(
            document_id=document.id, party=role, revoked_at__isnull=True
        ).update(revoked_at=now)
    selector = secrets.token_urlsafe(SELECTOR_BYTES)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    link = PartyLink.objects.create(
        selector=selector,
        secret_sha256=_digest(secret),
        reference=document.reference,
        document_id=document.id,
        party=role,
        contact=contact,
        created_by=created_by,
        expires_at=now + dt.timedelta(days=days or settings.CAQES_LINK_DAYS),
    )
    return NewLink(link, f"{selector}.{secret}")


def create_links(
    registry: Registry, references: list[str] | None, created_by: str, *, renew: bool = False
) -> list[NewLink]:
    """Links for every party of every document still awaiting signatures.

    Pairs that already have a live link keep it unless ``renew``; the new tokens are only
    in the returned list (shown once).
    """
    made = []
    live = {
        (link.document_id, link.party)
        for link in PartyLink.objects.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())
    }
    for contract in registry.contracts():
        if references is not None and contract.reference not in references:
            continue
        for document in registry.pending_documents(contract.id):
            for role in contract.signing_order():
                if renew or (document.id, role) not in live:
                    contact = party_contact(contract, role)
                    made.append(create_link(document, role, contact, created_by))
    return made


def find_link(token: str) -> PartyLink | None:
    """The live link of ``token``, or None (unknown, wrong secret, revoked or expired)."""
    selector, dot, secret = token.partition(".")
    if not dot or not selector or not secret:
        return None
    link = PartyLink.objects.filter(selector=selector).first()
    expected = link.secret_sha256 if link is not None else "0" * 64
    # Constant-time comparison, made even when the selector is unknown.
    matches = hmac.compare_digest(expected, _digest(secret))
    if link is None or not matches or link.revoked_at is not None:
        return None
    if link.expires_at <= timezone.now():
        return None
    return link


def revoke(link_id: int) -> PartyLink | None:
    link = PartyLink.objects.filter(id=link_id, revoked_at__isnull=True).first()
    if link is not None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
    return link


# --- guessing limit ---------------------------------------------------------------------------


def client_address(request: HttpRequest) -> str:
    """The client's address; behind ``CAQES_PROXY_COUNT`` proxies, from X-Forwarded-For."""
    count = settings.CAQES_PROXY_COUNT
    if count:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if len(hops) >= count and hops[-count]:
            return hops[-count]
    return str(request.META.get("REMOTE_ADDR", ""))


def _failures_key(request: HttpRequest) -> str:
    return "liens-echecs:" + hashlib.sha256(client_address(request).encode()).hexdigest()


def blocked(request: HttpRequest) -> bool:
    return cache.get(_failures_key(request), 0) >= settings.CAQES_LINK_FAILURES


def count_failure(request: HttpRequest) -> None:
    key = _failures_key(request)
    if cache.add(key, 1, settings.CAQES_LINK_FAILURE_WINDOW):
        return
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, settings.CAQES_LINK_FAILURE_WINDOW)
