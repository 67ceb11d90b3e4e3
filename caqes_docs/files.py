"""Atomic file writes: a file appears whole, or not at all, and never half-written.

Also the one CSV writer of the toolkit (:func:`csv_text`, :func:`write_csv`): every CSV an
officer opens in Excel or LibreOffice Calc is written by it, the same way.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import errno
import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from caqes_docs.errors import InputError

# Officers read times in metropolitan French time, whatever the server's zone.
LOCAL_TIME = ZoneInfo("Europe/Paris")
CSV_DELIMITER = ";"
# A cell starting with one of these is run as a formula by a spreadsheet (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target``.

    A system error about the temporary file names ``target`` instead (``filename``), the
    file the user asked for.
    """
    with _naming(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    tmp = Path(name)
    try:
        with _naming(target, tmp):
            # mkstemp creates 0600 files; documents are shared, so give them the usual mode.
            os.chmod(tmp, 0o666 & ~_UMASK)
            yield tmp
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _naming(target: Path, tmp: Path | None = None) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if exc.filename is None or tmp is None or Path(exc.filename) == tmp:
            exc.filename = str(target)
        raise


def write_bytes(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: Path, text: str) -> None:
    write_bytes(target, text.encode("utf-8"))


def write_json(target: Path, data: Any) -> None:
    write_text(target, json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn the system's reasons for not reading ``path`` into a located InputError."""
    try:
        yield
    except FileNotFoundError:
        raise InputError("fichier introuvable", file=path) from None
    except IsADirectoryError:
        raise InputError("un fichier est attendu, pas un dossier", file=path) from None
    except OSError as exc:
        raise InputError(f"lecture impossible ({system_reason(exc)})", file=path) from None


# French reasons for the system errors a user can cause by a path or the disk.
_SYSTEM_REASONS = {
    errno.ENOENT: "fichier ou dossier introuvable",
    errno.EACCES: "accès refusé (droits insuffisants)",
    errno.EPERM: "opération non permise",
    errno.EISDIR: "c'est un dossier, un fichier est attendu",
    errno.ENOTDIR: "un élément du chemin n'est pas un dossier",
    errno.ENOSPC: "plus de place sur le disque",
    errno.EDQUOT: "quota de disque dépassé",
    errno.EROFS: "emplacement en lecture seule",
    errno.ENAMETOOLONG: "nom de fichier trop long",
    errno.EEXIST: "le fichier existe déjà",
    errno.EIO: "erreur de lecture ou d'écriture du disque",
    errno.EXDEV: "déplacement impossible entre deux disques",
}


def system_reason(exc: OSError) -> str:
    """The reason of a system error in French (the system's own text is English)."""
    code = exc.errno or 0
    return _SYSTEM_REASONS.get(code, f"erreur système {errno.errorcode.get(code, code)}")


def local_time(moment: dt.datetime | str) -> dt.datetime:
    """``moment`` (a datetime or ISO 8601 text) in French local time; naive means local."""
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=LOCAL_TIME)
    return moment.astimezone(LOCAL_TIME)


def csv_cell(value: object) -> str:
    """One CSV cell as a French spreadsheet reads it.

    ``None`` is empty; a datetime is ``JJ/MM/AAAA HH:MM`` in French local time, a date
    ``JJ/MM/AAAA``; a boolean ``oui``/``non``; a decimal number with a decimal comma; text
    that a spreadsheet would run as a formula is prefixed with ``'``, which shows it as text.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        return str(value).replace(".", ",")
    if isinstance(value, dt.datetime):
        return local_time(value).strftime("%d/%m/%Y %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A whole CSV file: UTF-8 byte order mark (Excel then reads UTF-8), ``;``, CRLF lines.

    Each value goes through :func:`csv_cell`. Encode the result as UTF-8 to write it, or
    send it as ``text/csv; charset=utf-8``.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=CSV_DELIMITER, lineterminator="\r\n")
    writer.writerow([csv_cell(name) for name in header])
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    return "\ufeff" + buffer.getvalue()


def write_csv(target: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Write :func:`csv_text` atomically to ``target``; return the number of data rows."""
    materialised = [list(row) for row in rows]
    write_text(target, csv_text(header, materialised))
    return len(materialised)


def zip_bounds_problem(archive: zipfile.ZipFile, *, max_parts: int, max_bytes: int) -> str | None:
    """Why a zip archive (DOCX, XLSX, ODS) is too big to open, judged before any part is
    inflated; None when it is within the bounds.

    The central directory states each part's inflated size; zipfile never inflates a part
    beyond it (a part that lies fails its CRC check), so these sizes bound what readers use.
    """
    parts = archive.infolist()
    if len(parts) > max_parts:
        return f"{len(parts)} parties dans l’archive (au plus {max_parts})"
    inflated = sum(part.file_size for part in parts)
    if inflated > max_bytes:
        mb = 1024 * 1024
        return f"{inflated // mb} Mo une fois décompressé (au plus {max_bytes // mb} Mo)"
    return None
