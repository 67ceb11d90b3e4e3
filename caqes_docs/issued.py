"""The issued record: what was issued, so that every returned copy can be proved to extend it.

Each signable PDF ``X.pdf`` is issued with a record ``X.emission.json`` beside it::

    {"fichier": "X.pdf", "sha256": "…", "taille": 123456, "reference": "…",
     "finess_ej": "…", "emis_le": "2025-06-30T10:00:00+02:00"}

The same record is copied into the campaign manifest and into the registry. This module is the
one place that writes, reads and checks it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caqes_docs.errors import VerificationError
from caqes_docs.files import system_reason, write_json

SIDECAR_SUFFIX = ".emission.json"
_DIGEST = re.compile(r"[0-9a-f]{64}")
_EOF_MARK = re.compile(rb"%%EOF(\r\n|\r|\n)?")


@dataclass(frozen=True)
class IssuedRecord:
    """The SHA-256 of the issued bytes and, when known, their size and what they are."""

    sha256: str
    size: int | None = None
    source: str = "empreinte fournie"
    """Where the record was read, for messages."""
    reference: str | None = None
    finess_ej: str | None = None
    file_name: str | None = None
    issued_at: str | None = None

    @classmethod
    def from_digest(cls, sha256: str, size: int | None = None) -> IssuedRecord:
        """A record given by hand, e.g. the digest published when the contract was sent."""
        digest = sha256.strip().lower()
        if not _DIGEST.fullmatch(digest):
            raise VerificationError(
                f"empreinte d'émission invalide : « {sha256} » (64 caractères hexadécimaux)"
            )
        return cls(sha256=digest, size=size)

    @classmethod
    def from_mapping(cls, raw: Any, source: str, **extra: Any) -> IssuedRecord:
        """The record of a sidecar or a manifest entry; ``extra`` fills what it lacks."""
        try:
            digest = str(raw["sha256"]).lower()
            size = int(raw["taille"])
        except (KeyError, TypeError, ValueError):
            raise VerificationError(
                f"{source} : fiche d'émission incomplète (« sha256 » et « taille » attendus)"
            ) from None
        if not _DIGEST.fullmatch(digest) or size <= 0:
            raise VerificationError(f"{source} : empreinte ou taille invalide dans la fiche")
        fields = {
            "reference": _text(raw.get("reference")),
            "finess_ej": _text(raw.get("finess_ej")),
            "file_name": _text(raw.get("fichier")),
            "issued_at": _text(raw.get("emis_le")),
        }
        fields.update({key: value for key, value in extra.items() if value is not None})
        return cls(sha256=digest, size=size, source=source, **fields)

    def as_json(self) -> dict[str, Any]:
        """The sidecar's content."""
        return {
            "fichier": self.file_name,
            "sha256": self.sha256,
            "taille": self.size,
            "reference": self.reference,
            "finess_ej": self.finess_ej,
            "emis_le": self.issued_at,
        }

    def issued_size(self, data: bytes) -> int | None:
        """Length of the issued prefix of ``data``, or None if ``data`` does not extend it.

        Without a recorded size, every end of revision (``%%EOF``) is a candidate.
        """
        candidates = [self.size] if self.size is not None else _revision_ends(data)
        for size in candidates:
            if size <= len(data) and hashlib.sha256(data[:size]).hexdigest() == self.sha256:
                return size
        return None

    def check_file(self, pdf: str | Path) -> None:
        """Refuse ``pdf`` unless it starts with the issued bytes (the record has a size)."""
        try:
            with open(pdf, "rb") as handle:
                head = handle.read(self.size or 0)
        except OSError as exc:
            raise VerificationError(f"{pdf} : lecture impossible ({system_reason(exc)})") from None
        if len(head) != self.size or hashlib.sha256(head).hexdigest() != self.sha256:
            raise VerificationError(f"{pdf} : le fichier ne correspond pas à sa fiche d'émission")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _revision_ends(data: bytes) -> list[int]:
    return [match.end() for match in _EOF_MARK.finditer(data)]


def sidecar_path(pdf: str | Path) -> Path:
    """``X.pdf`` → ``X.emission.json`` beside it."""
    path = Path(pdf)
    return path.with_name(path.stem + SIDECAR_SUFFIX)


def read_issued_record(pdf: str | Path) -> IssuedRecord | None:
    """The record beside ``pdf``; None when there is none."""
    return load_issued_record(pdf) if sidecar_path(pdf).exists() else None


def load_issued_record(pdf: str | Path) -> IssuedRecord:
    """The record beside ``pdf``, which must be there."""
    path = sidecar_path(pdf)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VerificationError(f"{path} : fiche d'émission introuvable") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VerificationError(f"{path} : fiche d'émission illisible ({exc})") from None
    return IssuedRecord.from_mapping(raw, path.name)


def write_issued_record(pdf: str | Path, record: IssuedRecord) -> None:
    """Write the record beside ``pdf``, atomically."""
    write_json(sidecar_path(pdf), record.as_json())
