"""Reading YAML files and turning pydantic's errors into French messages that locate them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from caqes_docs.errors import InputError, InvalidData
from caqes_docs.files import reading
from caqes_docs.inputs.text import character_problem, visible

M = TypeVar("M", bound=BaseModel)

# pydantic error type -> French rule; the few types a YAML author can produce.
_RULES = {
    "missing": "valeur obligatoire manquante",
    "extra_forbidden": "champ inconnu",
    "string_type": "texte attendu",
    "string_too_short": "valeur vide",
    "too_short": "la liste ne doit pas être vide",
    "list_type": "liste attendue",
    "dict_type": "ensemble de champs attendu",
    "model_type": "ensemble de champs attendu",
    "model_attributes_type": "ensemble de champs attendu",
    "date_type": "date attendue (AAAA-MM-JJ)",
    "date_parsing": "date attendue (AAAA-MM-JJ)",
    "date_from_datetime_parsing": "date attendue (AAAA-MM-JJ)",
    "bool_type": "oui/non attendu (true ou false)",
    "bool_parsing": "oui/non attendu (true ou false)",
    "int_type": "nombre entier attendu",
    "int_parsing": "nombre entier attendu",
    "float_type": "nombre attendu",
    "float_parsing": "nombre attendu",
}
# Constraints whose rule names the bound, taken from the error's context.
_BOUNDED_RULES = {
    "greater_than": "nombre supérieur à {gt} attendu",
    "greater_than_equal": "nombre supérieur ou égal à {ge} attendu",
    "less_than": "nombre inférieur à {lt} attendu",
    "less_than_equal": "nombre inférieur ou égal à {le} attendu",
    "string_too_long": "texte de {max_length} caractères au plus attendu",
    "too_long": "{max_length} élément(s) au plus attendu(s)",
    "string_pattern_mismatch": "format attendu : {pattern}",
    "enum": "valeur attendue parmi : {expected}",
}


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, or raise InputError naming the file and the line."""
    try:
        with reading(path):
            text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError("le fichier n'est pas encodé en UTF-8", file=path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f"ligne {mark.line + 1}, colonne {mark.column + 1}" if mark else None
        raise InputError("syntaxe YAML invalide", file=path, place=place) from None
    if not isinstance(data, dict):
        raise InputError("le fichier doit contenir un ensemble de champs (clé: valeur)", file=path)
    problems = [
        InputError(rule, file=path, place=place or None, value=visible(text))
        for place, text, rule in _forbidden_characters(data, ())
    ]
    if problems:
        raise InvalidData(problems)
    return data


def _forbidden_characters(
    data: object, loc: tuple[int | str, ...]
) -> Iterator[tuple[str, str, str]]:
    """(field, text, rule) for every key or text of ``data`` holding a forbidden character."""
    if isinstance(data, str):
        rule = character_problem(data)
        if rule:
            yield format_location(loc), data, rule
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _forbidden_characters(key, loc)
            yield from _forbidden_characters(value, (*loc, str(key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _forbidden_characters(value, (*loc, index))


def format_location(loc: tuple[int | str, ...]) -> str:
    """``('etablissement', 'sites', 2, 'finess')`` -> ``etablissement.sites[2].finess``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def translate(error: dict[str, Any]) -> str:
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    if error["type"] == "literal_error":
        return f"valeur attendue parmi : {error['ctx']['expected']}"
    if error["type"] in _BOUNDED_RULES:
        return _BOUNDED_RULES[error["type"]].format(**error.get("ctx", {}))
    # pydantic's own message is English: never shown; the type names the rule for a developer.
    return _RULES.get(error["type"], f"valeur non conforme (règle {error['type']})")


def problems_from(exc: ValidationError, file: str | Path | None) -> list[InputError]:
    problems = []
    for error in exc.errors():
        place = format_location(tuple(p for p in error["loc"] if p != "function-after"))
        shown = error.get("input")
        scalar = isinstance(shown, str | int | float) and error["type"] != "missing"
        value = (visible(shown) if isinstance(shown, str) else shown) if scalar else None
        problems.append(InputError(translate(error), file=file, place=place or None, value=value))
    return problems


def validate(model: type[M], data: dict[str, Any], file: str | Path | None = None) -> M:
    """Validate ``data`` into ``model``; every problem is reported, located, in French."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidData(problems_from(exc, file)) from None
