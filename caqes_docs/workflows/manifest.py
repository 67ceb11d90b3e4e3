"""The campaign manifest (``manifest.json``) that ``caqes batch`` writes, and reading it back.

Each establishment's folder carries its own entry (``etablissement.json``) written with it,
so that the manifest can always be rebuilt from the folders, even after an interrupted run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from caqes_docs.errors import InputError
from caqes_docs.files import system_reason
from caqes_docs.issued import IssuedRecord

MANIFEST = "manifest.json"
ENTRY = "etablissement.json"


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"lecture impossible ({system_reason(exc)})", file=path) from None
    except UnicodeDecodeError:
        raise InputError("fichier JSON illisible (pas en UTF-8)", file=path) from None
    except json.JSONDecodeError as exc:
        where = f"ligne {exc.lineno}, colonne {exc.colno}"
        raise InputError(f"fichier JSON illisible ({where})", file=path) from None


def read_entry(folder: Path) -> dict[str, Any] | None:
    """The entry of an establishment's folder, or None when it has none (or a broken one)."""
    try:
        entry = read_json(folder / ENTRY)
    except InputError:
        return None
    return entry if isinstance(entry, dict) else None


def issued_from_manifest(manifest: Path, pdf: Path) -> IssuedRecord:
    """The issued record of ``pdf`` as the manifest lists it, found by the PDF's file name."""
    data = read_json(manifest)
    for entry in data.get("etablissements", []) if isinstance(data, dict) else []:
        issued = entry.get("emission", {})
        if issued.get("fichier") == pdf.name:
            return IssuedRecord.from_mapping(
                issued,
                manifest.name,
                reference=entry.get("reference"),
                finess_ej=entry.get("finess_ej"),
            )
    raise InputError(f"{pdf.name} ne figure pas dans le manifeste", file=manifest)
