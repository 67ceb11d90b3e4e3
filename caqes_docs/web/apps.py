from __future__ import annotations

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "caqes_docs.web"
    label = "portail"
    verbose_name = "Portail d'échange des contrats CAQES"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from caqes_docs.web import audit  # noqa: F401 - login events into the registry
