"""Rules every text an officer supplies must follow, wherever it comes from.

Two hazards, whatever the file: characters that do not belong in a document (control
characters make the DOCX invalid XML; bidirectional overrides make a name read differently
from what it is), and names that become file names (a reference ``../../x`` would write
outside the output folder).
"""

from __future__ import annotations

import re

# C0 controls but tab and newline; DEL; bidirectional embeddings, overrides and isolates.
_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

FILE_NAME_MAX = 100
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
FILE_NAME_RULE = (
    f"ce nom sert de nom de fichier : {FILE_NAME_MAX} caractères au plus, lettres sans "
    "accent, chiffres, « - », « _ » et « . », commençant par une lettre ou un chiffre, "
    "sans « / » ni « .. »"
)


def character_problem(text: str) -> str | None:
    """Why ``text`` cannot be taken (its first forbidden character), or None."""
    found = _FORBIDDEN.search(text)
    if found is None:
        return None
    char = found.group()
    kind = "inversion du sens d'écriture" if char in _BIDI else "caractère de contrôle"
    return f"caractère interdit U+{ord(char):04X} ({kind}) : ressaisir la valeur"


def visible(text: str) -> str:
    """``text`` safe to print in a message: each forbidden character shown as ``<U+XXXX>``."""
    return _FORBIDDEN.sub(lambda found: f"<U+{ord(found.group()):04X}>", text)


def file_name_problem(name: str) -> str | None:
    """Why ``name`` cannot become a file name inside the output folder, or None."""
    if len(name) > FILE_NAME_MAX or not _FILE_NAME.fullmatch(name) or ".." in name:
        return FILE_NAME_RULE
    return None
