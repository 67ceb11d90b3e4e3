"""Small template filters of the portal."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.utils import timezone

from caqes_docs.workflows.reminders import readable

register = template.Library()


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def moment(value: Any) -> str:
    """An ISO 8601 time (or datetime) as « 03/12/2026 10:15 »."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return value.strftime("%d/%m/%Y %H:%M")


@register.filter
def journal(detail: str) -> str:
    """An event's detail without the parts kept for the machine (Message-ID, mail key)."""
    return readable(str(detail))
