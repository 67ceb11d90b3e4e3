"""Officers' logins, successful or not, as events in the registry's journal."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from caqes_docs.errors import CaqesError
from caqes_docs.web.exchange import open_registry, record_event
from caqes_docs.web.links import client_address


def _journal(kind: str, detail: str) -> None:
    try:
        with open_registry() as registry:
            record_event(registry, kind, detail)
    except CaqesError:
        pass  # the journal must not lock officers out; the portal's log keeps the error


@receiver(user_logged_in)
def logged_in(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    _journal(
        "connexion", f"connexion de {user.get_username()} au portail ({client_address(request)})"
    )


@receiver(user_login_failed)
def login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    where = client_address(request) if request is not None else "?"
    name = str(credentials.get("username", ""))[:150]
    _journal("connexion refusée", f"connexion refusée pour « {name} » ({where})")
