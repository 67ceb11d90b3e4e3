"""The library's exceptions: one hierarchy, rooted in :class:`CaqesError`.

Every message is French and reads as one line for a contract officer; the CLI prints
``str(error)`` and nothing else (the traceback only with ``--verbose``).

- :class:`CaqesError` — base class; the CLI catches it and exits with status 1.
  - :class:`InputError` — bad user data: a YAML, CSV or XLSX file, a FINESS number, a date.
    Carries the file, the place (line or field), the value and the rule when known.
    - :class:`InvalidData` — several such problems found in one file, one line each.
  - :class:`TemplateError` — a template that cannot be rendered: Jinja syntax, a missing
    variable, a missing or duplicated signature anchor.
  - :class:`ConversionError` — LibreOffice is missing, hung or failed on a document.
  - :class:`SignatureFieldError` — the signature fields could not be placed in a PDF.
  - :class:`SigningError` — a signature refused or failed (order, already signed, key).
  - :class:`VerificationError` — a document that cannot be read for verification.
  - :class:`RegistryError` — the SQLite registry refused an operation.
"""

from __future__ import annotations

from pathlib import Path


class CaqesError(Exception):
    """Base of every error the library raises on purpose."""


class InputError(CaqesError):
    """Invalid user data, located as precisely as possible."""

    def __init__(
        self,
        rule: str,
        *,
        file: str | Path | None = None,
        place: str | None = None,
        value: object = None,
    ) -> None:
        self.rule = rule
        self.file = str(file) if file is not None else None
        self.place = place
        self.value = value
        super().__init__(self._message())

    def _message(self) -> str:
        where = [part for part in (self.file, self.place) if part]
        prefix = " : ".join(where)
        shown = f" (valeur « {self.value} »)" if self.value not in (None, "") else ""
        return f"{prefix} : {self.rule}{shown}" if prefix else f"{self.rule}{shown}"


class InvalidData(InputError):
    """Several problems found in one file; ``problems`` holds one InputError each."""

    def __init__(self, problems: list[InputError]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    def _message(self) -> str:
        return self.rule


class TemplateError(CaqesError):
    """A template that cannot be rendered or linted."""


class ConversionError(CaqesError):
    """LibreOffice could not turn a document into PDF."""


class SignatureFieldError(CaqesError):
    """The signature fields could not be placed."""


class SigningError(CaqesError):
    """A signature was refused or failed."""


class VerificationError(CaqesError):
    """A document could not be verified at all."""


class RegistryError(CaqesError):
    """The registry refused an operation."""
