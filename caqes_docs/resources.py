"""Where the shipped files are: the checkout's top-level folders, or the wheel's copy."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent


def shipped_dir(name: str) -> Path:
    """Return the folder ``templates``, ``annexes`` or ``examples``.

    In a checkout (editable install) they sit beside the package; an installed wheel
    carries them under ``caqes_docs/_shipped``.
    """
    for base in (_PACKAGE / "_shipped", _CHECKOUT):
        candidate = base / name
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(name)


def data_file(name: str) -> Path:
    """Return a file of the package's domain data (``caqes_docs/data``)."""
    return _PACKAGE / "data" / name
