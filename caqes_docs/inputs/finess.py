"""FINESS numbers: 9 characters, a département prefix and a Luhn check digit.

The check digit is computed over the whole number with Corsica's ``2A``/``2B`` read as
``21``/``22`` (the FINESS convention; it differs from the INSEE one).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

_SHAPE = re.compile(r"^(?:\d{2}|2[AB])\d{7}$")
_CORSICA = {"2A": "21", "2B": "22"}


def luhn_valid(digits: str) -> bool:
    """Return True when the string of digits passes the Luhn check."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def finess_problem(value: str) -> str | None:
    """Return why ``value`` is not a FINESS number (French), or None when it is one."""
    if len(value) != 9:
        return f"un numéro FINESS compte 9 caractères, celui-ci en a {len(value)}"
    if not _SHAPE.match(value):
        return (
            "un numéro FINESS commence par le code du département (2 chiffres, 2A ou 2B) "
            "suivi de 7 chiffres"
        )
    digits = _CORSICA.get(value[:2], value[:2]) + value[2:]
    if not luhn_valid(digits):
        return "la clé de contrôle (9e chiffre, formule de Luhn) est fausse"
    return None


def normalize_finess(value: object) -> object:
    """Accept numbers from spreadsheets and lower-case Corsican prefixes."""
    if isinstance(value, int):
        value = f"{value:09d}"
    if isinstance(value, str):
        return value.strip().upper()
    return value


def check_finess(value: str) -> str:
    problem = finess_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def departement(finess: str) -> str:
    """The département code of a FINESS number: ``33``, ``2A``, ``971``…"""
    if finess.startswith(("97", "98")):
        return finess[:3]
    return finess[:2]


Finess = Annotated[str, BeforeValidator(normalize_finess), AfterValidator(check_finess)]
"""A validated FINESS number (juridique or géographique), for pydantic models."""
