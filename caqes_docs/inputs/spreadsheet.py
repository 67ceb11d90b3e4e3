"""Reading spreadsheets as officers save them: CSV, XLSX, XLS and ODS sheets into typed rows.

Generic: a :class:`Layout` names a sheet's columns and what each may hold; reading gives one
:class:`SheetRow` per non-empty line, numbered as the spreadsheet numbers it (header = line
1), with its cells as text and the problems of its cells (a date, a number, a formula error
where text is expected; a forbidden character). What the rows mean is the reader's business
(the targeting file, the evaluation results).

Workbooks are told apart by content, not by name, and treated as hostile: a zip archive
(XLSX, ODS) is checked against a size bound before anything inflates it, then
python-calamine reads it in a child process bounded in memory and time, since a few
kilobytes can ask for gigabytes (see :func:`_sandboxed`).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import difflib
import faulthandler
import io
import itertools
import os
import pickle
import re
import resource
import select
import signal
import time
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO
from xml.etree import ElementTree

from caqes_docs.errors import InputError
from caqes_docs.files import reading, zip_bounds_problem
from caqes_docs.inputs.text import character_problem, visible
from caqes_docs.inputs.validation import InvalidData

if TYPE_CHECKING:
    from python_calamine import CalamineWorkbook

MB = 1024 * 1024
# A national targeting file (about 3,000 sites, 40 columns) is a few MB once inflated and
# 120,000 cells; the bounds leave room for officers' extra sheets.
MAX_FILE_BYTES = 50 * MB
MAX_ARCHIVE_BYTES = 100 * MB
MAX_ARCHIVE_PARTS = 2000
MAX_CELLS = 2_000_000
MAX_PARSE_MEMORY = 1024 * MB
MAX_PARSE_SECONDS = 120

_ZIP_MAGIC = b"PK\x03\x04"
_CFB_MAGIC = b"\xd0\xcf\x11\xe0"  # XLS (Excel 97-2003)
_CP1252_UNDEFINED = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
# What Excel and LibreOffice show for a formula error, in English and in French.
FORMULA_ERRORS = frozenset(
    {"#N/A", "#NA", "#REF!", "#VALUE!", "#VALEUR!", "#DIV/0!", "#NAME?", "#NOM?", "#NUM!"}
    | {"#NOMBRE!", "#NULL!", "#NUL!", "#SPILL!", "#CALC!", "#GETTING_DATA"}
    | {f"ERR:{code}" for code in range(501, 540)}
)


class CellKind(StrEnum):
    """What a cell holds; the value is how messages name it."""

    EMPTY = "cellule vide"
    TEXT = "texte"
    NUMBER = "nombre"
    DATE = "date"
    BOOL = "valeur logique (VRAI/FAUX)"
    ERROR = "erreur de formule"

    @property
    def with_article(self) -> str:
        feminine = self in (CellKind.DATE, CellKind.BOOL, CellKind.ERROR)
        return f"{'une' if feminine else 'un'} {self}"


TEXT = frozenset({CellKind.TEXT})
TEXT_OR_NUMBER = frozenset({CellKind.TEXT, CellKind.NUMBER})


@dataclass(frozen=True, slots=True)
class Cell:
    kind: CellKind
    text: str
    """As the officer reads it: numbers without ``.0``, dates ``JJ/MM/AAAA``, spaces collapsed."""
    problem: str | None = None
    """A forbidden character in the cell, whatever the column."""


EMPTY_CELL = Cell(CellKind.EMPTY, "")


@dataclass(frozen=True)
class Column:
    name: str
    kinds: frozenset[CellKind] = TEXT


@dataclass(frozen=True)
class Layout:
    """A sheet as a reader expects it: its name and its columns."""

    sheet: str
    columns: tuple[Column, ...]
    required: tuple[str, ...]
    named_in_messages: bool = True
    """False for a file's main sheet: « ligne 3 » rather than « ciblage, ligne 3 »."""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


@dataclass(frozen=True)
class CellProblem:
    column: str
    value: str
    rule: str


@dataclass(frozen=True)
class SheetRow:
    """A data row: its line, its cells' text by column, stray cells, its cells' problems."""

    line: int
    values: dict[str, str]
    stray: tuple[str, ...] = ()
    problems: tuple[CellProblem, ...] = ()

    def get(self, column: str) -> str:
        return self.values.get(column, "")


# --------------------------------------------------------------------------- cells


def cell_text(value: object) -> str:
    """A cell as text: numbers without ``.0``, dates as ``JJ/MM/AAAA``, spaces collapsed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "OUI" if value else "NON"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime):
        pattern = "%d/%m/%Y" if value.time() == dt.time() else "%d/%m/%Y %H:%M"
        return value.strftime(pattern)
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    return " ".join(str(value).split())


class FormulaError(str):
    """A formula error cell (``#N/A``), as found where python-calamine sees an empty cell."""


def make_cell(value: object) -> Cell:
    """A cell from what the file holds (text only, for a CSV file)."""
    if type(value) is str:  # most cells: first, and without the checks below
        return _text_cell(value) if value else EMPTY_CELL
    if value is None:
        return EMPTY_CELL
    if isinstance(value, FormulaError):
        return Cell(CellKind.ERROR, str(value))
    if isinstance(value, bool):
        return Cell(CellKind.BOOL, cell_text(value))
    if isinstance(value, int | float):
        return Cell(CellKind.NUMBER, cell_text(value))
    if isinstance(value, dt.date | dt.time | dt.timedelta):
        return Cell(CellKind.DATE, cell_text(value))
    return _text_cell(str(value))


def _text_cell(raw: str) -> Cell:
    # Checked before collapsing spaces: str.split() takes some control characters for spaces.
    problem = character_problem(raw)
    text = " ".join((visible(raw) if problem else raw).split())
    if not text and not problem:
        return EMPTY_CELL
    is_error = text[:1] in ("#", "E", "e") and text.upper() in FORMULA_ERRORS
    return Cell(CellKind.ERROR if is_error else CellKind.TEXT, text, problem)


def kind_problem(cell: Cell, column: Column) -> str | None:
    """Why ``cell`` cannot stand in ``column``, or None."""
    if cell.problem:
        return cell.problem
    if cell.kind is CellKind.EMPTY or cell.kind in column.kinds:
        return None
    if cell.kind is CellKind.ERROR:
        return f"{cell.kind} dans la cellule : corriger la formule ou saisir la valeur"
    wanted = " ou ".join(str(kind) for kind in sorted(column.kinds, key=list(CellKind).index))
    return f"{wanted} attendu dans cette colonne, pas {cell.kind.with_article}"


# --------------------------------------------------------------------------- headers


def fold(name: str) -> str:
    """A column name compared without case, accents or spacing: ``Finess EJ`` → ``finess_ej``."""
    decomposed = unicodedata.normalize("NFKD", name.lstrip("\ufeff"))
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return re.sub(r"[\s\-]+", "_", bare.strip().casefold())


def _header(path: Path, layout: Layout, line: int, cells: list[Cell]) -> list[str | None]:
    """The column name at each position (None: no header); InputError if the header is wrong."""
    known = {fold(name): name for name in layout.names}
    place = f"{layout.sheet}, ligne {line}" if layout.named_in_messages else f"ligne {line}"
    expected = f"colonnes attendues : {', '.join(layout.names)}"
    problems: list[InputError] = []
    seen: set[str] = set()
    columns: list[str | None] = []
    for cell in cells:
        name = known.get(fold(cell.text)) if cell.text else None
        columns.append(name)
        if not cell.text:
            continue
        if name is None:
            close = difflib.get_close_matches(fold(cell.text), list(known), n=1, cutoff=0.6)
            hint = f" (voulait-on dire « {known[close[0]]} » ?)" if close else ""
            rule = f"colonne inconnue{hint} ; {expected}"
            problems.append(InputError(rule, file=path, place=place, value=cell.text))
        elif name in seen:
            problems.append(
                InputError("colonne en double", file=path, place=place, value=cell.text)
            )
        elif cell.problem:
            problems.append(InputError(cell.problem, file=path, place=place, value=cell.text))
        seen.add(name or "")
    for name in layout.required:
        if name not in seen:
            rule = f"colonne obligatoire « {name} » absente ; {expected}"
            problems.append(InputError(rule, file=path, place=place))
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise InvalidData(problems)
    return columns


def _rows(
    path: Path, lines: Iterator[tuple[int, list[Cell]]], layout: Layout, *, optional: bool
) -> Iterator[SheetRow]:
    """Rows under a checked header (line 1); an ``optional`` sheet may be entirely empty."""
    first = next(lines, None)
    if first is None:
        if optional:
            return
        raise InputError("fichier vide : la première ligne doit nommer les colonnes", file=path)
    if first[0] != 1 or not any(cell.text for cell in first[1]):
        raise InputError("la première ligne est vide : elle doit nommer les colonnes", file=path)
    columns = _header(path, layout, *first)
    by_name = {column.name: column for column in layout.columns}
    for line, cells in lines:
        if not any(cell.text for cell in cells):
            continue
        values: dict[str, str] = {}
        stray: list[str] = []
        problems: list[CellProblem] = []
        for index, cell in enumerate(cells):
            name = columns[index] if index < len(columns) else None
            if name is None:
                if cell.text:
                    stray.append(cell.text)
                continue
            values[name] = cell.text
            column = by_name[name]
            if not cell.problem and (cell.kind is CellKind.EMPTY or cell.kind in column.kinds):
                continue  # nearly every cell: no call for it
            rule = kind_problem(cell, column)
            if rule:
                problems.append(CellProblem(name, cell.text, rule))
        yield SheetRow(line, values, tuple(stray), tuple(problems))


# --------------------------------------------------------------------------- CSV


def _csv_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) when the whole file decodes strictly, else Windows-1252.

    Read block by block, so that a large file is never held whole in memory.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as handle:
        try:
            for block in iter(lambda: handle.read(1 << 16), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            _check_cp1252(path, handle)
            return "cp1252"
    return "utf-8-sig"


def _check_cp1252(path: Path, handle: BinaryIO) -> None:
    """Five bytes mean nothing in Windows-1252: a file with one is in no known encoding."""
    handle.seek(0)
    for number, raw in enumerate(handle, start=1):
        bad = _CP1252_UNDEFINED.search(raw)
        if bad:
            raise InputError(
                f"encodage non reconnu (octet 0x{bad.group()[0]:02X}) : enregistrer le fichier "
                "en « CSV UTF-8 » ou en « CSV (séparateur : point-virgule) »",
                file=path,
                place=f"ligne {number}",
            )


def _csv_lines(path: Path) -> Iterator[tuple[int, list[Cell]]]:
    encoding = _csv_encoding(path)
    line = 0
    try:
        with open(path, encoding=encoding, newline="") as handle:
            first = handle.readline()
            if not first:
                return
            delimiter = ";" if first.count(";") >= first.count(",") else ","
            reader = csv.reader(itertools.chain([first], handle), delimiter=delimiter)
            for line, texts in enumerate(reader, start=1):
                yield line, [make_cell(text) for text in texts]
    except csv.Error:
        rule = "CSV illisible : guillemets mal fermés ou cellule de plus de 131 072 caractères"
        raise InputError(rule, file=path, place=f"ligne {line + 1}") from None


# --------------------------------------------------------------------------- workbooks


def check_archive(data: bytes, path: Path, *, limit: int = MAX_ARCHIVE_BYTES) -> None:
    """Refuse a zip archive whose parts would inflate beyond ``limit`` bytes, before parsing it.

    The sizes the archive declares can lie, so every part is inflated (and thrown away) by
    zipfile, which stops at the declared size and then checks the part's CRC.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            problem = zip_bounds_problem(archive, max_parts=MAX_ARCHIVE_PARTS, max_bytes=limit)
            if problem:
                raise InputError(
                    f"archive refusée : {problem} (fichier malveillant ou corrompu ?)", file=path
                )
            for part in archive.infolist():
                with archive.open(part) as stream:
                    while stream.read(1 << 20):
                        pass
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError):
        raise InputError(
            "classeur illisible (archive abîmée ou incohérente) : l'enregistrer de nouveau au "
            "format XLSX, ODS ou CSV",
            file=path,
        ) from None


def _cell_position(reference: str) -> tuple[int, int] | None:
    """``C3`` → (2, 2), zero-based row and column."""
    found = re.fullmatch(r"([A-Z]{1,3})([0-9]{1,7})", reference)
    if not found:
        return None
    column = 0
    for letter in found.group(1):
        column = column * 26 + ord(letter) - ord("A") + 1
    return int(found.group(2)) - 1, column - 1


_XLSX_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_XLSX_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_CALCEXT_TYPE = "{urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0}value-type"
_TEXT_P = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}p"


def _xlsx_errors(archive: zipfile.ZipFile, sheet: str) -> dict[tuple[int, int], str]:
    """Formula errors of an XLSX sheet by position: python-calamine reads them as empty cells
    (python-calamine issue 105), so they are found in the sheet's XML."""
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    rel_id = next(
        (s.get(_XLSX_REL) for s in workbook.iter(f"{_XLSX_MAIN}sheet") if s.get("name") == sheet),
        None,
    )
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    target = next((r.get("Target", "") for r in rels if r.get("Id") == rel_id), "")
    part = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl", target))
    data = archive.read(part)
    if b't="e"' not in data:
        return {}
    errors = {}
    for _, element in ElementTree.iterparse(io.BytesIO(data)):
        if element.tag == f"{_XLSX_MAIN}c":
            position = _cell_position(element.get("r", ""))
            if element.get("t") == "e" and position is not None:
                errors[position] = element.findtext(f"{_XLSX_MAIN}v") or "#ERREUR"
            element.clear()
    return errors


def _ods_errors(archive: zipfile.ZipFile, sheet: str) -> dict[tuple[int, int], str]:
    """Formula errors of an ODS sheet by position (LibreOffice marks them ``calcext``)."""
    data = archive.read("content.xml")
    if b'value-type="error"' not in data:
        return {}
    errors: dict[tuple[int, int], str] = {}
    inside, row, column = False, 0, 0
    for event, element in ElementTree.iterparse(io.BytesIO(data), events=("start", "end")):
        tag = element.tag
        if tag == f"{_TABLE}table":
            inside = event == "start" and element.get(f"{_TABLE}name") == sheet
            row = 0
        elif not inside or event == "start":
            if tag == f"{_TABLE}table-row":
                column = 0
            continue
        elif tag == f"{_TABLE}table-row":
            row += int(element.get(f"{_TABLE}number-rows-repeated", "1"))
            element.clear()
        elif tag in (f"{_TABLE}table-cell", f"{_TABLE}covered-table-cell"):
            if element.get(_CALCEXT_TYPE) == "error":
                errors[(row, column)] = element.findtext(_TEXT_P) or "#ERREUR"
            column += int(element.get(f"{_TABLE}number-columns-repeated", "1"))
    return errors


Values = list[tuple[int, list[object]]]
Chooser = Callable[[list[str]], list[str]]


def _sheet_values(book: CalamineWorkbook, sheet: str, errors: dict[tuple[int, int], str]) -> Values:
    """The non-empty lines of ``sheet`` as python-calamine gives them, from column A,
    numbered as the spreadsheet numbers them; formula errors put back in their cells."""
    values = book.get_sheet_by_name(sheet)
    if values.start is None:
        return []
    if values.height * values.width > MAX_CELLS:
        raise InputError(f"feuille « {sheet} » refusée : plus de {MAX_CELLS} cellules")
    padding: list[object] = [""] * values.start[1]
    by_row: dict[int, list[tuple[int, str]]] = {}
    for (row, column), shown in errors.items():
        by_row.setdefault(row, []).append((column, shown))
    lines = []
    for index, raw in enumerate(values.iter_rows()):
        row = padding + raw
        for column, shown in by_row.get(index, ()):
            if column < len(row):
                row[column] = FormulaError(shown)
        if any(value != "" for value in row):
            lines.append((index + 1, row))
    return lines


def _formula_errors(data: bytes, sheet: str) -> dict[tuple[int, int], str]:
    if data[:4] != _ZIP_MAGIC:
        return {}  # XLS: python-calamine gives formula errors as empty cells
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        try:
            if "xl/workbook.xml" in names:
                return _xlsx_errors(archive, sheet)
            if "content.xml" in names:
                return _ods_errors(archive, sheet)
        except (KeyError, ValueError, ElementTree.ParseError):
            pass  # laid out otherwise than Excel and LibreOffice do: python-calamine decides
    return {}


def _read_workbook(data: bytes, choose: Chooser) -> tuple[list[str], dict[str, Values]]:
    """Sheet names, and the lines of the sheets ``choose`` picks among them."""
    from python_calamine import CalamineWorkbook

    with CalamineWorkbook.from_filelike(io.BytesIO(data)) as book:
        names = list(book.sheet_names)
        chosen: dict[str, Values] = {name: [] for name in choose(names) if name in names}
        for name in chosen:
            chosen[name] = _sheet_values(book, name, _formula_errors(data, name))
    return names, chosen


def _limit_memory() -> None:
    """Cap the process's address space at what it maps now plus a bound."""
    pages = int(Path("/proc/self/statm").read_text().split()[0])
    limit = pages * os.sysconf("SC_PAGE_SIZE") + MAX_PARSE_MEMORY
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _child(data: bytes, choose: Chooser, out: int) -> None:
    try:
        _limit_memory()
        outcome: tuple[str, object] = ("ok", _read_workbook(data, choose))
    except InputError as exc:
        outcome = ("refused", exc.rule)
    except MemoryError:
        outcome = ("too big", "")
    except BaseException:  # hostile input: any failure, a Rust panic too, is unreadable
        outcome = ("failed", "")
    with os.fdopen(out, "wb") as pipe:
        pipe.write(pickle.dumps(outcome))


def _sandboxed(path: Path, data: bytes, choose: Chooser) -> tuple[list[str], dict[str, Values]]:
    """Read the workbook in a child process with bounded memory and time.

    python-calamine builds each sheet as a dense grid: a 5 kB XLSX naming cells A1 and
    XFD1048576 asks for 512 GB and aborts the process, which no Python handler catches.
    In a child, such a file costs the child only.
    """
    import python_calamine  # noqa: F401 - imported before the fork: the child takes no import lock

    receive, send = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(receive)
        # A Rust abort prints its own lines: the officer reads ours only.
        faulthandler.disable()
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
        try:
            _child(data, choose, send)
        finally:
            os._exit(0)
    os.close(send)
    try:
        payload = _read_until(receive, time.monotonic() + MAX_PARSE_SECONDS)
    finally:
        os.close(receive)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    if payload is None:
        raise InputError(
            f"classeur illisible en {MAX_PARSE_SECONDS} s : fichier trop gros ou malveillant",
            file=path,
        )
    # No payload: the child died (a Rust allocation failure aborts it).
    status, result = pickle.loads(payload) if payload else ("too big", "")
    if status == "ok":
        return result  # type: ignore[return-value]
    if status == "refused":
        raise InputError(str(result), file=path)
    if status == "too big":
        raise InputError(
            f"classeur refusé : sa lecture demanderait plus de {MAX_PARSE_MEMORY // MB} Mo de "
            "mémoire (fichier malveillant, ou cellules remplies jusqu'aux confins de la feuille ?)",
            file=path,
        )
    raise InputError(
        "classeur illisible (format non reconnu ou fichier abîmé) : l'enregistrer de nouveau "
        "au format XLSX, ODS ou CSV",
        file=path,
    )


def _read_until(fd: int, deadline: float) -> bytes | None:
    """Everything the child writes on ``fd``; None past ``deadline``."""
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


@dataclass(frozen=True)
class Workbook:
    """The sheets of an XLSX, XLS or ODS workbook that a reader asked for, read whole."""

    format: str
    """``xlsx``, ``ods`` or ``xls``, told by content."""
    sheet_names: list[str]
    values: dict[str, Values]
    """Only primitive values cross from the child process: pickling cells costs more."""

    def lines(self, sheet: str) -> Iterator[tuple[int, list[Cell]]]:
        for line, row in self.values[sheet]:
            yield line, [make_cell(value) for value in row]


def read_workbook(path: Path, choose: Chooser) -> Workbook | None:
    """The workbook at ``path`` (told by content, not by name), or None for a text file.

    ``choose`` picks, among the sheet names, the sheets to read.
    """
    with reading(path), open(path, "rb") as handle:
        magic = handle.read(4)
        data = magic + handle.read(MAX_FILE_BYTES)
    if len(data) > MAX_FILE_BYTES:
        # Every row is kept until its establishment is judged: a bound for CSV files too.
        what = "classeur" if magic in (_ZIP_MAGIC, _CFB_MAGIC) else "fichier"
        raise InputError(f"{what} refusé : plus de {MAX_FILE_BYTES // MB} Mo", file=path)
    if magic not in (_ZIP_MAGIC, _CFB_MAGIC):
        return None
    if magic == _ZIP_MAGIC:
        check_archive(data, path)
    return Workbook(_format(data), *_sandboxed(path, data, choose))


def _format(data: bytes) -> str:
    if data[:4] == _CFB_MAGIC:
        return "xls"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return "ods" if "content.xml" in archive.namelist() else "xlsx"


# --------------------------------------------------------------------------- public API


def all_sheets(names: list[str]) -> list[str]:
    return names


class Spreadsheet:
    """A CSV file or a workbook; ``rows`` reads one sheet against a :class:`Layout`.

    ``choose`` picks the sheets of a workbook that are read (all by default); a reader that
    needs two sheets of a workbook holding large other sheets names them.
    """

    def __init__(self, path: Path, choose: Chooser = all_sheets) -> None:
        self.path = path
        self.workbook = read_workbook(path, choose)

    @property
    def is_csv(self) -> bool:
        return self.workbook is None

    @property
    def format(self) -> str:
        """``csv``, ``xlsx``, ``ods`` or ``xls``."""
        return self.workbook.format if self.workbook is not None else "csv"

    @property
    def sheet_names(self) -> list[str]:
        return self.workbook.sheet_names if self.workbook is not None else []

    def rows(
        self, layout: Layout, sheet: str | None = None, *, optional: bool = False
    ) -> Iterator[SheetRow]:
        """The data rows of ``sheet`` (one of those chosen; a CSV file has one)."""
        if self.workbook is None:
            return _rows(self.path, _csv_lines(self.path), layout, optional=optional)
        name = sheet or (self.sheet_names[0] if self.sheet_names else "")
        if name not in self.workbook.values:
            raise InputError(f"le classeur n'a pas de feuille « {name} »", file=self.path)
        return _rows(self.path, self.workbook.lines(name), layout, optional=optional)


@contextlib.contextmanager
def open_spreadsheet(path: Path, choose: Chooser = all_sheets) -> Iterator[Spreadsheet]:
    """A :class:`Spreadsheet` (read whole on opening: nothing to close)."""
    yield Spreadsheet(path, choose)
