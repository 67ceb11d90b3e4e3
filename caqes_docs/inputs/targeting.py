"""The annual targeting spreadsheet (« ciblage »): one row per site, one contract per establishment.

The officer's file (CSV, XLSX, XLS or ODS; cells are read by :mod:`.spreadsheet`) lists each
targeted site (FINESS géographique) with its establishment (FINESS juridique), the national
indicators ticked for that site, the regional indicators and volet 2 for the establishment.
Rows are grouped by FINESS juridique; each group becomes one :class:`Contract` through
:func:`build_contract`, or is refused as a whole with every problem found, each naming its
line, column, value and rule. The other establishments are produced regardless.

Line numbers are the spreadsheet's own (header = line 1), so that the officer finds them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import NamedTuple

from pydantic import ValidationError

from caqes_docs.errors import InputError
from caqes_docs.files import write_csv
from caqes_docs.inputs.campaign import Campaign, incomplete_parties
from caqes_docs.inputs.catalogue import catalogue
from caqes_docs.inputs.contract_file import build_contract, select_themes
from caqes_docs.inputs.finess import finess_problem
from caqes_docs.inputs.finess_extract import FinessEntry, FinessExtract, read_finess_extract
from caqes_docs.inputs.models import ActionRow, Contract, Establishment, Volet1, Volet2
from caqes_docs.inputs.spreadsheet import (
    TEXT,
    TEXT_OR_NUMBER,
    CellKind,
    Column,
    Layout,
    SheetRow,
    Spreadsheet,
    fold,
)
from caqes_docs.inputs.validation import InvalidData, problems_from, validate

TARGETING_SHEET = "ciblage"
PLAN_SHEET = "plan_actions"

IDENTITY_COLUMNS = (
    "finess_ej",
    "finess_et",
    "raison_sociale",
    "nom_et",
    "adresse",
    "representant",
    "qualite_representant",
    "cpam",
    "email_etab",  # optional: where the portal's mails to the establishment go
)
VOLET2_COLUMN = "volet_parcours"
# Establishment-level text: a value given on several rows must be the same everywhere;
# an empty cell takes the establishment's value (merged cells come out empty but the first).
SHARED_TEXT = (
    "raison_sociale", "adresse", "representant", "qualite_representant", "cpam", "email_etab",
)  # fmt: skip
FILLED_BY_EXTRACT = ("raison_sociale", "adresse")
DEFAULT_TITLE = "Directeur"

PLAN_COLUMNS = (
    "finess_ej",
    "volet",
    "indicateur",
    "finess_et",
    "axe",
    "action",
    "pilote",
    "echeance",
    "indicateur_suivi",
    "valeur_initiale",
    "cible",
)
PLAN_REQUIRED = ("finess_ej", "volet", "indicateur", "axe", "action")

_YES = frozenset({"x", "1", "oui"})
_NO = frozenset({"", "0", "non"})
FLAG_RULE = "valeur non reconnue : X, 1 ou OUI pour ciblé ; vide, 0 ou NON pour non ciblé"
MISSING = "valeur obligatoire manquante"


@cache
def targeting_columns() -> tuple[str, ...]:
    """Every column a targeting file may have, in the order of the model."""
    cat = catalogue()
    return (*IDENTITY_COLUMNS, *cat.national_codes, *cat.regional_codes, VOLET2_COLUMN)


def required_columns(*, with_extract: bool) -> tuple[str, ...]:
    """The columns a targeting file must have; the extract can supply names and addresses."""
    base = ("finess_ej", "finess_et", "representant")
    return base if with_extract else (*base, *FILLED_BY_EXTRACT)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Rejection:
    """One problem of one refused establishment, located in the input."""

    finess_ej: str
    line: int
    column: str
    value: str
    rule: str
    finess_et: str = ""
    sheet: str = TARGETING_SHEET

    def __str__(self) -> str:
        where = f"ligne {self.line}"
        if self.sheet != TARGETING_SHEET:
            where = f"{self.sheet}, {where}"
        if self.column:
            where += f", colonne {self.column}"
        shown = f" (valeur « {self.value} »)" if self.value else ""
        return f"{where} : {self.rule}{shown}"


@dataclass(frozen=True)
class InputLine:
    """One input line of an establishment: where it is and which site it names."""

    sheet: str
    line: int
    finess_et: str


@dataclass(frozen=True)
class RefusedEstablishment:
    finess_ej: str
    lines: tuple[InputLine, ...]
    problems: tuple[Rejection, ...]
    name: str = ""  # the raison sociale as the file gives it, for rejets.csv


@dataclass(frozen=True)
class TargetedContract:
    """A contract read from the targeting file, with what ties it to its input."""

    contract: Contract
    lines: tuple[int, ...]
    sites: tuple[str, ...]
    digest: str
    plan_lines: tuple[int, ...] = ()

    @property
    def finess_ej(self) -> str:
        return self.contract.establishment.finess_ej


@dataclass
class TargetingResult:
    source: Path
    accepted: list[TargetedContract] = field(default_factory=list)
    refused: list[RefusedEstablishment] = field(default_factory=list)
    row_count: int = 0
    warnings: list[str] = field(default_factory=list)
    """What the officer should know though nothing is refused, one French line each."""

    @property
    def rejected(self) -> list[Rejection]:
        return [problem for refused in self.refused for problem in refused.problems]

    @property
    def refused_ej(self) -> list[str]:
        return [refused.finess_ej for refused in self.refused]


# --------------------------------------------------------------------------- reading

_FLAG_KINDS = frozenset({CellKind.TEXT, CellKind.NUMBER, CellKind.BOOL})
_PLAN_KINDS = {
    "finess_ej": TEXT_OR_NUMBER,
    "finess_et": TEXT_OR_NUMBER,
    "volet": TEXT_OR_NUMBER,
    "echeance": frozenset({CellKind.TEXT, CellKind.NUMBER, CellKind.DATE}),
    "valeur_initiale": TEXT_OR_NUMBER,
    "cible": TEXT_OR_NUMBER,
}
PLAN_LAYOUT = Layout(
    PLAN_SHEET,
    tuple(Column(name, _PLAN_KINDS.get(name, TEXT)) for name in PLAN_COLUMNS),
    PLAN_REQUIRED,
)


def targeting_layout(*, with_extract: bool = False) -> Layout:
    """The targeting sheet: FINESS numbers and CPAM keys may be figures, names must be text."""
    kinds = {"finess_ej": TEXT_OR_NUMBER, "finess_et": TEXT_OR_NUMBER, "cpam": TEXT_OR_NUMBER}
    kinds |= {name: _FLAG_KINDS for name in targeting_columns()[len(IDENTITY_COLUMNS) :]}
    columns = tuple(Column(name, kinds.get(name, TEXT)) for name in targeting_columns())
    required = required_columns(with_extract=with_extract)
    return Layout(TARGETING_SHEET, columns, required, named_in_messages=False)


def _sheet_named(names: list[str], wanted: str) -> str | None:
    """The sheet called ``wanted``, whatever the case, accents and spaces (« Plan actions »)."""
    return next((name for name in names if fold(name) == wanted), None)


def _targeting_sheets(names: list[str]) -> list[str]:
    """The sheet « ciblage », else the first other than « plan_actions »; then « plan_actions »."""
    plan = _sheet_named(names, PLAN_SHEET)
    main = _sheet_named(names, TARGETING_SHEET) or next((n for n in names if n != plan), None)
    return [name for name in (main, plan) if name is not None]


class TargetingRows(NamedTuple):
    rows: Iterator[SheetRow]
    plan: Iterator[SheetRow] | None
    """The rows of the workbook's ``plan_actions`` sheet; None without such a sheet."""
    format: str
    """``csv``, ``xlsx``, ``ods`` or ``xls``."""


def read_targeting_rows(path: Path, *, with_extract: bool = False) -> TargetingRows:
    """The data rows of a targeting file, and those of its ``plan_actions`` sheet.

    A workbook (XLSX, XLS, ODS) is read from its sheet ``ciblage``, else its first sheet.
    The header is checked first: a missing required column, an unknown or duplicated
    column raises InputError for the whole file. Entirely empty rows are skipped.
    """
    book = Spreadsheet(path, _targeting_sheets)
    layout = targeting_layout(with_extract=with_extract)
    if book.is_csv:
        return TargetingRows(book.rows(layout), None, book.format)
    plan_sheet = _sheet_named(book.sheet_names, PLAN_SHEET)
    chosen = _targeting_sheets(book.sheet_names)
    if not chosen or chosen[0] == plan_sheet:
        raise InputError(f"le classeur n'a pas de feuille « {TARGETING_SHEET} »", file=path)
    plan = book.rows(PLAN_LAYOUT, plan_sheet, optional=True) if plan_sheet else None
    return TargetingRows(book.rows(layout, chosen[0]), plan, book.format)


def iter_targeting_rows(path: Path, *, with_extract: bool = False) -> Iterator[SheetRow]:
    """The data rows of a targeting file (CSV, XLSX, XLS or ODS), header checked first."""
    yield from read_targeting_rows(path, with_extract=with_extract).rows


def iter_plan_rows(path: Path) -> Iterator[SheetRow]:
    """Action-plan rows: a CSV file, or a workbook's sheet ``plan_actions`` (else its first)."""

    def plan_sheet(names: list[str]) -> list[str]:
        named = _sheet_named(names, PLAN_SHEET)
        return [named] if named else names[:1]

    book = Spreadsheet(path, plan_sheet)
    chosen = plan_sheet(book.sheet_names)
    yield from book.rows(PLAN_LAYOUT, chosen[0] if chosen else None)


# --------------------------------------------------------------------------- grouping


def _finess(raw: str) -> tuple[str, str | None]:
    """The FINESS number written in a cell, and why it is not one (None when it is).

    A spreadsheet that took the number for a figure drops the leading zero of départements
    01 to 09 (``10780054``); the zero is put back when that gives a valid number.
    """
    value = raw.replace(" ", "").upper()
    if not value:
        return value, MISSING
    if len(value) == 8 and value.isdigit() and finess_problem(f"0{value}") is None:
        return f"0{value}", None
    problem = finess_problem(value)
    return value, f"numéro FINESS invalide : {problem}" if problem else None


def _flag(value: str) -> bool | None:
    folded = value.casefold()
    if folded in _YES:
        return True
    if folded in _NO:
        return False
    return None


@dataclass
class _Group:
    """The input lines of one establishment, keyed by its FINESS juridique as written."""

    key: str
    key_problem: str | None
    rows: list[SheetRow] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)
    bad_sites: set[str] = field(default_factory=set)
    plan: list[SheetRow] = field(default_factory=list)
    problems: list[Rejection] = field(default_factory=list)
    bad_cells: set[tuple[str, int, str]] = field(default_factory=set)
    """Cells refused for what they hold: any later objection to them would repeat it."""

    def add(self, row: SheetRow, column: str, value: str, rule: str) -> None:
        """Note a problem of a targeting row."""
        if (TARGETING_SHEET, row.line, column) in self.bad_cells:
            return
        site = self.sites[next(i for i, r in enumerate(self.rows) if r is row)]
        self.problems.append(Rejection(self.key, row.line, column, value, rule, site))

    def add_plan(self, row: SheetRow, column: str, value: str, rule: str) -> None:
        """Note a problem of an action-plan row."""
        if (PLAN_SHEET, row.line, column) in self.bad_cells:
            return
        site = row.get("finess_et")
        self.problems.append(
            Rejection(self.key, row.line, column, value, rule, site, sheet=PLAN_SHEET)
        )

    def add_cell_problems(self, row: SheetRow, sheet: str) -> None:
        """Note what the row's cells hold that their columns do not take."""
        add = self.add if sheet == TARGETING_SHEET else self.add_plan
        for problem in row.problems:
            add(row, problem.column, problem.value, problem.rule)
            self.bad_cells.add((sheet, row.line, problem.column))


def _group_rows(rows: Iterable[SheetRow]) -> tuple[dict[str, _Group], int]:
    groups: dict[str, _Group] = {}
    sites_seen: dict[str, tuple[_Group, SheetRow]] = {}
    count = 0
    for row in rows:
        count += 1
        key, key_problem = _finess(row.get("finess_ej"))
        group = groups.setdefault(key, _Group(key, key_problem))
        site, site_problem = _finess(row.get("finess_et"))
        group.rows.append(row)
        group.sites.append(site)
        group.add_cell_problems(row, TARGETING_SHEET)
        if key_problem:
            group.add(row, "finess_ej", row.get("finess_ej"), key_problem)
        if site_problem:
            group.bad_sites.add(site)
            group.add(row, "finess_et", row.get("finess_et"), site_problem)
        elif site in sites_seen:
            _duplicate_site(site, (group, row), sites_seen[site])
        else:
            sites_seen[site] = (group, row)
    return groups, count


def _duplicate_site(
    site: str, later: tuple[_Group, SheetRow], earlier: tuple[_Group, SheetRow]
) -> None:
    (group, row), (first_group, first_row) = later, earlier
    if first_group is group:
        group.add(row, "finess_et", site, f"site déjà présent ligne {first_row.line}")
        return
    rule = "un site appartient à une seule entité juridique : ce site figure aussi ligne {} sous {}"
    group.add(row, "finess_et", site, rule.format(first_row.line, first_group.key))
    first_group.add(first_row, "finess_et", site, rule.format(row.line, group.key))


def _attach_plan(groups: dict[str, _Group], rows: Iterable[SheetRow]) -> None:
    for row in rows:
        key, key_problem = _finess(row.get("finess_ej"))
        group = groups.setdefault(key, _Group(key, key_problem))
        group.plan.append(row)
        group.add_cell_problems(row, PLAN_SHEET)
        if key_problem:
            group.add_plan(row, "finess_ej", row.get("finess_ej"), key_problem)
        elif not group.rows:
            group.add_plan(row, "finess_ej", key, "établissement absent du fichier de ciblage")


# --------------------------------------------------------------------------- assessment


@dataclass
class _Context:
    campaign: Campaign
    extract: FinessExtract | None
    source: Path


def _shared_text(group: _Group, column: str) -> str:
    """The establishment's value of ``column``: the non-empty cells must all agree."""
    chosen: tuple[str, SheetRow] | None = None
    for row in group.rows:
        value = row.get(column)
        if not value:
            continue
        if chosen is None:
            chosen = (value, row)
        elif value != chosen[0]:
            group.add(row, column, value, _disagree(chosen[1], chosen[0]))
    return chosen[0] if chosen is not None else ""


def _disagree(first: SheetRow, value: str) -> str:
    shown = f"« {value} »" if value else "une cellule vide"
    return (
        "les lignes d'un même établissement doivent concorder : "
        f"la ligne {first.line} indique {shown}"
    )


def _shared_flag(group: _Group, column: str) -> bool:
    """An OUI/NON of the establishment (empty = NON), the same on every row."""
    chosen: tuple[bool, SheetRow] | None = None
    for row in group.rows:
        value = _flag(row.get(column))
        if value is None:
            group.add(row, column, row.get(column), FLAG_RULE)
        elif chosen is None:
            chosen = (value, row)
        elif value != chosen[0]:
            first = chosen[1]
            group.add(row, column, row.get(column), _disagree(first, first.get(column)))
    return chosen[0] if chosen is not None else False


def _national(group: _Group) -> tuple[dict[str, list[str]], bool]:
    """National indicator → targeted sites in the order of the file; whether any is ticked.

    A site whose FINESS is invalid (already reported) is left out of the volet.
    """
    targeted: dict[str, list[str]] = {}
    ticked = False
    for row, site in zip(group.rows, group.sites, strict=True):
        for code in catalogue().national_codes:
            value = _flag(row.get(code))
            if value is None:
                group.add(row, code, row.get(code), FLAG_RULE)
            elif value:
                ticked = True
                if site not in group.bad_sites:
                    targeted.setdefault(code, []).append(site)
    return targeted, ticked


def _check_membership(group: _Group, extract: FinessExtract) -> None:
    """Every site the extract knows must belong, there too, to this establishment."""
    for row, site in zip(group.rows, group.sites, strict=True):
        entry = extract.site(site)
        if entry is not None and entry.finess_ej and entry.finess_ej != group.key:
            group.add(
                row,
                "finess_et",
                site,
                "d'après l'extrait FINESS, ce site dépend de l'entité juridique "
                f"{entry.finess_ej}, pas de {group.key}",
            )


def _identity(group: _Group, ctx: _Context) -> dict[str, str]:
    """Name, address, representative and CPAM of the establishment; problems noted."""
    values = {column: _shared_text(group, column) for column in SHARED_TEXT}
    entity = ctx.extract.entity(group.key) if ctx.extract is not None else None
    if entity is not None:
        values["raison_sociale"] = values["raison_sociale"] or entity.name
        values["adresse"] = values["adresse"] or entity.address
    for column in ("raison_sociale", "adresse", "representant"):
        if not values[column]:
            rule = "valeur obligatoire manquante sur toutes les lignes de l'établissement"
            if column in FILLED_BY_EXTRACT and ctx.extract is not None:
                rule += " et absente de l'extrait FINESS"
            group.add(group.rows[0], column, "", rule)
    values["qualite_representant"] = values["qualite_representant"] or DEFAULT_TITLE
    values["cpam"] = _cpam(group, ctx.campaign, values["cpam"])
    return values


def _cpam(group: _Group, campaign: Campaign, written: str) -> str:
    """The campaign's CPAM key: the one written (in any case), else the département's."""
    by_fold = {key.casefold(): key for key in campaign.cpams}
    key = by_fold.get(written.casefold(), written) if written else None
    if group.key_problem and key is None:
        return ""
    try:
        return campaign.cpam_for(group.key, key)[0]
    except InputError as exc:
        row = next((r for r in group.rows if r.get("cpam")), group.rows[0])
        group.add(row, "cpam", written, exc.rule)
        return ""


def _volets(group: _Group, campaign: Campaign) -> tuple[Volet1 | None, Volet2 | None]:
    """Volet 1 when an indicator is targeted, volet 2 when « volet_parcours » is OUI."""
    flag_problems = len(group.problems)
    national, ticked = _national(group)
    regional = [code for code in catalogue().regional_codes if _shared_flag(group, code)]
    volet1 = Volet1(national=national, regional=regional) if national or regional else None
    volet2 = None
    if _shared_flag(group, VOLET2_COLUMN):
        try:
            volet2 = select_themes(campaign, True)
        except InputError as exc:
            row = next(r for r in group.rows if _flag(r.get(VOLET2_COLUMN)))
            group.add(row, VOLET2_COLUMN, row.get(VOLET2_COLUMN), exc.rule)
    # An unreadable indicator cell may well be the targeting meant: say no more then.
    unreadable = len(group.problems) > flag_problems
    if not (ticked or regional or volet2 or unreadable):
        group.add(
            group.rows[0],
            "",
            "",
            "aucun volet conclu : aucun indicateur ciblé (NAT_1 à NAT_6, indicateurs "
            f"régionaux) et « {VOLET2_COLUMN} » n'est pas OUI",
        )
    return volet1, volet2


def _site_names(group: _Group, extract: FinessExtract | None, legal_name: str) -> list[str]:
    """« nom_et » as written, else the extract's name of the site, else the legal name."""
    names = []
    for row, site in zip(group.rows, group.sites, strict=True):
        entry = extract.site(site) if extract is not None else None
        names.append(row.get("nom_et") or (entry.name if entry else "") or legal_name)
    return names


def _plan(group: _Group, volet1: Volet1 | None, volet2: Volet2 | None) -> list[ActionRow]:
    """The establishment's own action-plan rows; each problem is noted on its line."""
    rows: list[ActionRow] = []
    for row in group.plan:
        before = len(group.problems)
        data = _plan_data(group, row, volet1, volet2)
        if len(group.problems) > before:
            continue
        try:
            rows.append(ActionRow.model_validate(data))
        except ValidationError as exc:
            for problem in problems_from(exc, None):
                value = "" if problem.value is None else str(problem.value)
                group.add_plan(row, problem.place or "", value, problem.rule)
    return rows


def _plan_data(
    group: _Group, row: SheetRow, volet1: Volet1 | None, volet2: Volet2 | None
) -> dict[str, object]:
    def problem(column: str, rule: str) -> None:
        group.add_plan(row, column, row.get(column), rule)

    for column in PLAN_REQUIRED[1:]:
        if not row.get(column):
            problem(column, MISSING)
    volet = {"1": 1, "2": 2}.get(row.get("volet"))
    if volet is None and row.get("volet"):
        problem("volet", "volet attendu : 1 ou 2")
    site = None
    if row.get("finess_et"):
        site, site_problem = _finess(row.get("finess_et"))
        if site_problem or site not in group.sites:
            problem("finess_et", site_problem or "ce site n'est pas un site de l'établissement")
            site = None  # reported once: not again as a site the indicator does not target
    code = row.get("indicateur")
    rule = _plan_indicator_problem(volet, code, site, volet1, volet2) if code else None
    if rule:
        problem("volet" if rule.startswith("le volet") else "indicateur", rule)
    data: dict[str, object] = {name: row.get(name) for name in PLAN_COLUMNS[4:]}
    return {**data, "volet": volet, "indicateur": code, "finess_et": site}


def _plan_indicator_problem(
    volet: int | None,
    code: str,
    site: str | None,
    volet1: Volet1 | None,
    volet2: Volet2 | None,
) -> str | None:
    """Why an action-plan row cannot name ``code``: it must be retained by the contract."""
    if volet == 2:
        if volet2 is None:
            return f"le volet 2 n'est pas conclu (« {VOLET2_COLUMN} » n'est pas OUI)"
        themes = [theme.code for theme in volet2.themes]
        if code not in themes:
            return f"thème inconnu du volet 2 (attendu : {', '.join(themes)})"
        return None
    if volet != 1:
        return None
    cat = catalogue()
    if cat.get(code) is None:
        return f"indicateur inconnu (attendu : {', '.join(cat.by_code)})"
    if volet1 is None:
        return "le volet 1 n'est pas conclu : aucun indicateur n'est ciblé"
    if code in cat.regional_codes:
        return None if code in volet1.regional else "indicateur régional non retenu (NON)"
    targeted = volet1.targeted_sites(code)
    if not targeted:
        return "indicateur national ciblé sur aucun site de l'établissement"
    if site is not None and site not in targeted:
        return f"indicateur national non ciblé pour le site {site}"
    return None


_PLACE = re.compile(r"^(?:etablissement\.)?(sites|plan_actions)\[(\d+)\](?:\.(\w+))?")
_COLUMN_OF = {
    "raison_sociale": "raison_sociale",
    "adresse": "adresse",
    "representant.nom": "representant",
    "representant.qualite": "qualite_representant",
    "cpam": "cpam",
    "email": "email_etab",
    "nom": "nom_et",
    "finess": "finess_et",
}


def _note_invalid(group: _Group, exc: InputError) -> None:
    """Locate the models' own objections (a safety net: the checks above come first)."""
    problems = exc.problems if isinstance(exc, InvalidData) else [exc]
    for problem in problems:
        place = problem.place or ""
        value = "" if problem.value is None else str(problem.value)
        match = _PLACE.match(place)
        index = int(match.group(2)) if match else -1
        if match and match.group(1) == "sites" and index < len(group.rows):
            column = _COLUMN_OF.get(match.group(3) or "", "finess_et")
            group.add(group.rows[index], column, value, problem.rule)
        elif match and match.group(1) == "plan_actions" and index < len(group.plan):
            group.add_plan(group.plan[index], match.group(3) or "", value, problem.rule)
        else:
            column = _COLUMN_OF.get(place.removeprefix("etablissement."), place)
            group.add(group.rows[0], column, value, problem.rule)


def _digest(group: _Group, extract: FinessExtract | None) -> str:
    """A stable fingerprint of what the contract is made of: rows, plan rows, extract data.

    Columns are taken in the model's order, FINESS numbers normalised and empty cells left
    out, so that the same data as CSV or XLSX, columns reordered, gives the same digest.
    """

    def cells(row: SheetRow, columns: Sequence[str]) -> list[list[str]]:
        kept = []
        for name in columns:
            value = row.get(name)
            if name in ("finess_ej", "finess_et") and value:
                value = _finess(value)[0]
            if value:
                kept.append([name, value])
        return kept

    used: list[FinessEntry] = []
    if extract is not None:
        found = [extract.entity(group.key), *(extract.site(site) for site in group.sites)]
        used = [entry for entry in found if entry is not None]
    payload = {
        TARGETING_SHEET: [cells(row, targeting_columns()) for row in group.rows],
        PLAN_SHEET: [cells(row, PLAN_COLUMNS) for row in group.plan],
        "extrait_finess": [asdict(entry) for entry in used],
    }
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _assess(group: _Group, ctx: _Context) -> TargetedContract | RefusedEstablishment:
    """One establishment's contract, or its refusal with every problem found."""
    if not group.rows:
        return _refused(group)
    for row in group.rows:
        if row.stray:
            group.add(row, "", row.stray[0], "valeur dans une colonne sans en-tête")
    if ctx.extract is not None and not group.key_problem:
        _check_membership(group, ctx.extract)
    identity = _identity(group, ctx)
    volet1, volet2 = _volets(group, ctx.campaign)
    plan = _plan(group, volet1, volet2)
    if group.problems:
        return _refused(group)
    names = _site_names(group, ctx.extract, identity["raison_sociale"])
    establishment = {
        "raison_sociale": identity["raison_sociale"],
        "adresse": identity["adresse"],
        "finess_ej": group.key,
        "representant": {
            "nom": identity["representant"],
            "qualite": identity["qualite_representant"],
        },
        "sites": [{"finess": s, "nom": n} for s, n in zip(group.sites, names, strict=True)],
        "cpam": identity["cpam"],
        "email": identity["email_etab"] or None,
    }
    try:
        contract = build_contract(
            ctx.campaign,
            validate(Establishment, establishment, file=ctx.source),
            volet1,
            volet2,
            plan,
            source=ctx.source,
        )
    except InputError as exc:
        _note_invalid(group, exc)
        return _refused(group)
    return TargetedContract(
        contract=contract,
        lines=tuple(row.line for row in group.rows),
        sites=tuple(group.sites),
        digest=_digest(group, ctx.extract),
        plan_lines=tuple(row.line for row in group.plan),
    )


def _refused(group: _Group) -> RefusedEstablishment:
    lines = [
        InputLine(TARGETING_SHEET, row.line, site)
        for row, site in zip(group.rows, group.sites, strict=True)
    ]
    lines += [InputLine(PLAN_SHEET, row.line, row.get("finess_et")) for row in group.plan]
    columns = ("", *targeting_columns(), *PLAN_COLUMNS)
    order = {column: index for index, column in reversed(list(enumerate(columns)))}

    def position(problem: Rejection) -> tuple[int, int, int]:
        sheet = 0 if problem.sheet == TARGETING_SHEET else 1
        return sheet, problem.line, order.get(problem.column, len(order))

    problems = sorted(group.problems, key=position)
    name = next((row.get("raison_sociale") for row in group.rows if row.get("raison_sociale")), "")
    return RefusedEstablishment(group.key, tuple(lines), tuple(problems), name)


# --------------------------------------------------------------------------- public API


def _extract_paths(finess_extract: Path | Sequence[Path] | None) -> list[Path]:
    if finess_extract is None:
        return []
    return [finess_extract] if isinstance(finess_extract, Path) else list(finess_extract)


def read_targeting(
    path: Path,
    campaign: Campaign,
    *,
    finess_extract: Path | Sequence[Path] | None = None,
    action_plan: Path | None = None,
) -> TargetingResult:
    """Read a targeting file into contracts; each refused establishment with all its problems.

    ``finess_extract``: the public FINESS extract(s) (sites; legal entities) that fill empty
    names and addresses and check that each site belongs to its establishment.
    ``action_plan``: a CSV (or workbook) of action-plan rows; a workbook's own
    ``plan_actions`` sheet is read as well. Raises InputError only for a file that cannot be
    read as a whole (missing file, encoding, bad header); every other problem is a
    :class:`Rejection`. What deserves a word without refusing goes to ``warnings``.
    """
    extract_paths = _extract_paths(finess_extract)
    sheets = read_targeting_rows(path, with_extract=bool(extract_paths))
    groups, count = _group_rows(sheets.rows)
    if not groups:
        raise InputError("aucune ligne de ciblage sous la ligne d'en-tête", file=path)
    if sheets.plan is not None:
        _attach_plan(groups, sheets.plan)
    if action_plan is not None:
        _attach_plan(groups, iter_plan_rows(action_plan))
    extract = None
    if extract_paths:
        wanted = {group.key for group in groups.values() if not group.key_problem}
        wanted.update(site for group in groups.values() for site in group.sites)
        extract = FinessExtract()
        for extract_path in extract_paths:
            read_finess_extract(extract_path, wanted, into=extract)
    ctx = _Context(campaign, extract, path)
    result = TargetingResult(source=path, row_count=count)
    for group in groups.values():
        outcome = _assess(group, ctx)
        if isinstance(outcome, TargetedContract):
            result.accepted.append(outcome)
        else:
            result.refused.append(outcome)
    result.warnings = _warnings(result, campaign, sheets, with_plan=action_plan is not None)
    return result


def _warnings(
    result: TargetingResult, campaign: Campaign, sheets: TargetingRows, *, with_plan: bool
) -> list[str]:
    """Default action lines taken for want of a plan; placeholders left in the campaign."""
    warnings = []
    if sheets.format == "xls":
        warnings.append(
            f"{result.source.name} : au format Excel 97-2003 (.xls), une erreur de formule "
            "(#N/A…) se lit comme une cellule vide ; enregistrer le fichier en .xlsx ou .ods "
            "pour qu'elle soit signalée"
        )
    defaulted = [item.finess_ej for item in result.accepted if not item.plan_lines]
    if defaulted and sheets.plan is None and not with_plan:
        what = "le fichier CSV" if sheets.format == "csv" else "le classeur"
        warnings.append(
            f"{result.source.name} : {what} n'a pas de feuille « {PLAN_SHEET} » et aucun "
            f"fichier de plan d'actions n'est donné : {_establishments_receive(defaulted)} "
            "les lignes de plan d'actions proposées par la campagne"
        )
    elif defaulted:
        warnings.append(
            f"sans ligne de plan d'actions propre, {_establishments_receive(defaulted)} les "
            "lignes proposées par la campagne"
        )
    cpams = {item.contract.establishment.cpam or "" for item in result.accepted}
    incomplete = incomplete_parties(campaign, sorted(cpams - {""}))
    if incomplete:
        warnings.append(
            f"la campagne « {campaign.name} » contient encore des données à compléter, "
            f"reprises telles quelles dans les contrats : {' ; '.join(incomplete)}"
        )
    return warnings


def _establishments_receive(finess: list[str], shown: int = 10) -> str:
    """« les 2 établissements 330990011, 330990029 reçoivent », at most ``shown`` numbers."""
    if len(finess) == 1:
        return f"l'établissement {finess[0]} reçoit"
    listed = ", ".join(finess[:shown])
    more = f" et {len(finess) - shown} autres" if len(finess) > shown else ""
    return f"les {len(finess)} établissements {listed}{more} reçoivent"


REJECT_COLUMNS = (
    "ligne", "finess_ej", "raison_sociale", "finess_et", "colonne", "valeur", "erreur",
)  # fmt: skip


def reject_rows(refused: Iterable[RefusedEstablishment]) -> Iterator[tuple[str, ...]]:
    """The rows of ``rejets.csv``: every input line of every refused establishment.

    A line with problems gives one row per problem; a line without gives one row saying the
    establishment is refused because of its other lines. Action-plan columns read
    ``plan_actions.<colonne>``.
    """
    for establishment in refused:
        by_line: dict[tuple[str, int], list[Rejection]] = {}
        for problem in establishment.problems:
            by_line.setdefault((problem.sheet, problem.line), []).append(problem)
        for item in establishment.lines:
            problems = by_line.get((item.sheet, item.line))
            if not problems:
                because = _refused_because(establishment)
                sheet = "" if item.sheet == TARGETING_SHEET else item.sheet
                yield (
                    str(item.line), establishment.finess_ej, establishment.name, item.finess_et,
                    sheet, "", because,
                )  # fmt: skip
                continue
            for problem in problems:
                column = problem.column
                if problem.sheet != TARGETING_SHEET:
                    column = f"{problem.sheet}.{column}" if column else problem.sheet
                yield (
                    str(problem.line),
                    problem.finess_ej,
                    establishment.name,
                    problem.finess_et,
                    column,
                    problem.value,
                    problem.rule,
                )


def _refused_because(establishment: RefusedEstablishment) -> str:
    targeting = sorted({p.line for p in establishment.problems if p.sheet == TARGETING_SHEET})
    plan = sorted({p.line for p in establishment.problems if p.sheet != TARGETING_SHEET})
    parts = [_line_list(targeting)] if targeting else []
    if plan:
        parts.append(f"{_line_list(plan)} du plan d'actions")
    return f"établissement refusé en entier à cause de ses autres lignes ({' et '.join(parts)})"


def _line_list(lines: list[int]) -> str:
    word = "ligne" if len(lines) == 1 else "lignes"
    return f"{word} {', '.join(str(n) for n in lines)}"


def write_rejects(path: Path, refused: Iterable[RefusedEstablishment]) -> int:
    """Write ``rejets.csv`` (the toolkit's CSV: ``;``, UTF-8 with BOM, formulas neutralised)
    atomically; return its row count."""
    return write_csv(path, REJECT_COLUMNS, reject_rows(refused))
