"""The annual evaluation's inputs: the campaign's intéressement settings and the results file.

The results file (``.xlsx``, ``.xls``, ``.ods`` or CSV) has one row per establishment and
indicator, and per site for the national indicators; its sheet is ``resultats`` (else the
first sheet). An optional sheet ``modulation`` (or a separate CSV file) holds the director
general's downward revision per establishment. Line numbers are the spreadsheet's own
(header = line 1).

This module only reads and checks what a row says on its own (numbers, ranges, FINESS
shape, duplicates); whether the establishment, indicator and site are under contract in the
evaluated year is decided against the registry by :mod:`caqes_docs.workflows.evaluation`.
A refused row is reported, located, and the others are read regardless.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from pydantic import Field, field_validator

from caqes_docs.errors import InputError
from caqes_docs.inputs.finess import finess_problem
from caqes_docs.inputs.models import Model
from caqes_docs.inputs.spreadsheet import (
    TEXT_OR_NUMBER,
    Column,
    Layout,
    SheetRow,
    open_spreadsheet,
)

RESULTS_SHEET = "resultats"
MODULATION_SHEET = "modulation"

RESULTS_LAYOUT = Layout(
    RESULTS_SHEET,
    tuple(
        Column(name, TEXT_OR_NUMBER)
        for name in (
            "finess_ej",
            "finess_et",
            "indicateur",
            "valeur_initiale",
            "cible",
            "realise",
            "atteinte",
            "economie",
        )
    ),
    required=("finess_ej", "finess_et", "indicateur", "atteinte", "economie"),
)
MODULATION_LAYOUT = Layout(
    MODULATION_SHEET,
    (Column("finess_ej", TEXT_OR_NUMBER), Column("taux", TEXT_OR_NUMBER), Column("motif")),
    required=("finess_ej", "taux"),
)

FULL_RATE = Decimal(100)


# --- the campaign's settings --------------------------------------------------------------------


class YearSettings(Model):
    """The intéressement settings of one evaluated year (campaign key ``interessement``)."""

    national_rate: Decimal = Field(alias="taux_national", ge=0, le=1)
    regional_envelope: Decimal = Field(alias="enveloppe_regionale", ge=0)
    weights: dict[str, Decimal] = Field(default_factory=dict, alias="ponderation")

    @field_validator("weights")
    @classmethod
    def _positive(cls, weights: dict[str, Decimal]) -> dict[str, Decimal]:
        for code, weight in weights.items():
            if not weight > 0:
                raise ValueError(f"{code} : une pondération est un nombre positif ({weight})")
        return weights

    def weight(self, theme: str) -> Decimal:
        return self.weights.get(theme, Decimal(1))


Incentives = dict[int, YearSettings]
"""The campaign's ``interessement`` section: settings per evaluated year."""


# --- what the file says -------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultRow:
    """One result row, its numbers read; ``baseline``, ``target``, ``achieved`` as written."""

    line: int
    finess_ej: str
    finess_et: str
    indicator: str
    baseline: str
    target: str
    achieved: str
    achievement: Decimal | None
    saving: Decimal | None


@dataclass(frozen=True)
class ModulationRow:
    line: int
    finess_ej: str
    rate: Decimal
    motive: str
    file: str


@dataclass(frozen=True)
class Refusal:
    """A refused row, located: file, sheet, line, column, value and rule (French)."""

    file: str
    sheet: str
    line: int
    finess_ej: str
    finess_et: str
    column: str
    value: str
    rule: str
    indicator: str = ""

    def __str__(self) -> str:
        where = f"{self.file} : {self.sheet}, ligne {self.line}"
        if self.column:
            where += f", colonne {self.column}"
        shown = f" (valeur « {self.value} »)" if self.value else ""
        return f"{where} : {self.rule}{shown}"


@dataclass
class ResultsFile:
    source: Path
    rows: list[ResultRow] = field(default_factory=list)
    modulations: list[ModulationRow] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)


# --- numbers ------------------------------------------------------------------------------------

_SPACES = re.compile(r"[\s\u00a0\u202f]")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)")
NOT_A_NUMBER = "ce n'est pas un nombre (chiffres, virgule ou point décimal)"


def parse_decimal(text: str, *, unit: str = "") -> Decimal | None:
    """A cell's text as a Decimal; None when empty. ValueError (French) when not a number.

    A spreadsheet's number arrives written in its shortest decimal form (``0.1``, never the
    binary float's expansion). Text may have spaces between thousands, a decimal comma or
    point (not both) and ``unit`` (``%`` or ``€``) at the end.
    """
    text = _SPACES.sub("", text)
    if unit and text.endswith(unit):
        text = text[: -len(unit)]
    if not text:
        return None
    if not _NUMBER.fullmatch(text) or ("," in text and "." in text):
        raise ValueError(NOT_A_NUMBER)
    try:
        return Decimal(text.replace(",", "."))
    except InvalidOperation:
        raise ValueError(NOT_A_NUMBER) from None


def display_value(text: str) -> str:
    """A displayed cell (initial value, target, result): a plain number with a decimal comma."""
    return text.replace(".", ",") if _NUMBER.fullmatch(text) else text


# --- reading ------------------------------------------------------------------------------------


class _Collector:
    """The rows and refusals of one reading."""

    def __init__(self, path: Path) -> None:
        self.result = ResultsFile(path)

    def refuse(
        self, sheet: str, row: SheetRow, column: str, rule: str, value: str | None = None
    ) -> None:
        self.result.refusals.append(
            Refusal(
                file=self.result.source.name,
                sheet=sheet,
                line=row.line,
                finess_ej=row.get("finess_ej").upper(),
                finess_et=row.get("finess_et").upper(),
                column=column,
                value=value if value is not None else row.get(column),
                rule=rule,
                indicator=row.get("indicateur").upper(),
            )
        )


def _finess_checked(collector: _Collector, sheet: str, row: SheetRow, column: str) -> bool:
    value = row.get(column)
    if not value:
        collector.refuse(sheet, row, column, "valeur obligatoire manquante")
        return False
    problem = finess_problem(value.upper())
    if problem:
        collector.refuse(sheet, row, column, f"établissement inconnu : {problem}")
        return False
    return True


def _number(
    collector: _Collector, sheet: str, row: SheetRow, column: str, unit: str
) -> tuple[bool, Decimal | None]:
    try:
        return True, parse_decimal(row.get(column), unit=unit)
    except ValueError as exc:
        collector.refuse(sheet, row, column, str(exc))
        return False, None


def _result_row(collector: _Collector, row: SheetRow) -> ResultRow | None:
    sheet = RESULTS_SHEET
    ok = _finess_checked(collector, sheet, row, "finess_ej")
    site = row.get("finess_et").upper()
    if site and finess_problem(site):
        collector.refuse(sheet, row, "finess_et", f"site inconnu : {finess_problem(site)}")
        ok = False
    indicator = row.get("indicateur").upper()
    if not indicator:
        collector.refuse(sheet, row, "indicateur", "valeur obligatoire manquante")
        ok = False
    read, achievement = _number(collector, sheet, row, "atteinte", "%")
    ok &= read
    if achievement is not None and not 0 <= achievement <= 100:
        collector.refuse(sheet, row, "atteinte", "l'atteinte est comprise entre 0 et 100")
        ok = False
    read, saving = _number(collector, sheet, row, "economie", "€")
    ok &= read
    if not ok:
        return None
    return ResultRow(
        line=row.line,
        finess_ej=row.get("finess_ej").upper(),
        finess_et=site,
        indicator=indicator,
        baseline=display_value(row.get("valeur_initiale")),
        target=display_value(row.get("cible")),
        achieved=display_value(row.get("realise")),
        achievement=achievement,
        saving=saving,
    )


def _modulation_row(collector: _Collector, row: SheetRow) -> ModulationRow | None:
    sheet = MODULATION_SHEET
    ok = _finess_checked(collector, sheet, row, "finess_ej")
    read, rate = _number(collector, sheet, row, "taux", "%")
    if read and rate is None:
        collector.refuse(sheet, row, "taux", "valeur obligatoire manquante")
        return None
    if rate is not None and rate > FULL_RATE:
        collector.refuse(
            sheet,
            row,
            "taux",
            "la modulation du directeur général ne peut que réduire l'intéressement : "
            "taux de 0 à 100",
        )
        return None
    if rate is not None and rate < 0:
        collector.refuse(sheet, row, "taux", "le taux de modulation est compris entre 0 et 100")
        return None
    if not (ok and read) or rate is None:
        return None
    return ModulationRow(
        row.line,
        row.get("finess_ej").upper(),
        rate,
        row.get("motif"),
        collector.result.source.name,
    )


def _without_duplicates(collector: _Collector, sheet: str, rows: Sequence[ResultRow]) -> None:
    first: dict[tuple[str, str, str], int] = {}
    for row in rows:
        key = (row.finess_ej, row.indicator, row.finess_et)
        if key in first:
            collector.result.refusals.append(
                Refusal(
                    collector.result.source.name,
                    sheet,
                    row.line,
                    row.finess_ej,
                    row.finess_et,
                    "indicateur",
                    row.indicator,
                    f"ligne en double : même établissement, indicateur et site qu'à la ligne "
                    f"{first[key]}",
                    row.indicator,
                )
            )
            continue
        first[key] = row.line
        collector.result.rows.append(row)


def _modulations_without_duplicates(
    collector: _Collector, sheet: str, rows: Sequence[ModulationRow]
) -> None:
    first: dict[str, int] = {}
    for row in rows:
        if row.finess_ej in first:
            collector.result.refusals.append(
                Refusal(
                    collector.result.source.name,
                    sheet,
                    row.line,
                    row.finess_ej,
                    "",
                    "finess_ej",
                    row.finess_ej,
                    f"ligne en double : même établissement qu'à la ligne {first[row.finess_ej]}",
                )
            )
            continue
        first[row.finess_ej] = row.line
        collector.result.modulations.append(row)


def _cells_refused(collector: _Collector, sheet: str, row: SheetRow) -> bool:
    """Refuse a row whose cells the reader found wrong (formula error, forbidden character…)."""
    for problem in row.problems:
        collector.refuse(sheet, row, problem.column, problem.rule, problem.value)
    if row.stray:
        collector.refuse(sheet, row, "", "valeur dans une colonne sans en-tête", row.stray[0])
    return bool(row.problems or row.stray)


def _read_results(collector: _Collector, rows: Iterable[SheetRow]) -> None:
    parsed = [
        None if _cells_refused(collector, RESULTS_SHEET, row) else _result_row(collector, row)
        for row in rows
    ]
    _without_duplicates(collector, RESULTS_SHEET, [row for row in parsed if row])


def _read_modulations(collector: _Collector, rows: Iterable[SheetRow]) -> None:
    parsed = [
        None
        if _cells_refused(collector, MODULATION_SHEET, row)
        else _modulation_row(collector, row)
        for row in rows
    ]
    _modulations_without_duplicates(collector, MODULATION_SHEET, [row for row in parsed if row])


def _results_sheet(names: list[str]) -> str:
    """``resultats``, else the first sheet that is not ``modulation`` ("" if none)."""
    if RESULTS_SHEET in names:
        return RESULTS_SHEET
    return next((name for name in names if name != MODULATION_SHEET), "")


def _our_sheets(names: list[str]) -> list[str]:
    """Only the two sheets this reader uses are read, whatever else the workbook holds."""
    return [name for name in (_results_sheet(names), MODULATION_SHEET) if name in names]


def read_results(path: Path, modulation_file: Path | None = None) -> ResultsFile:
    """Read the results (and modulation) rows; InputError when a file cannot be read at all."""
    collector = _Collector(path)
    with open_spreadsheet(path, _our_sheets) as book:
        sheet = _results_sheet(book.sheet_names) if not book.is_csv else None
        if sheet == "":
            raise InputError(f"le classeur n'a pas de feuille « {RESULTS_SHEET} »", file=path)
        _read_results(collector, book.rows(RESULTS_LAYOUT, sheet))
        in_workbook = MODULATION_SHEET in book.sheet_names
        if in_workbook and modulation_file is None:
            _read_modulations(
                collector, book.rows(MODULATION_LAYOUT, MODULATION_SHEET, optional=True)
            )
    if modulation_file is not None:
        if in_workbook:
            raise InputError(
                "le classeur a déjà une feuille « modulation » : retirer --modulation ou la "
                "feuille",
                file=modulation_file,
            )
        separate = _Collector(modulation_file)
        with open_spreadsheet(modulation_file, _our_sheets) as book:
            sheet = MODULATION_SHEET if MODULATION_SHEET in book.sheet_names else None
            _read_modulations(separate, book.rows(MODULATION_LAYOUT, sheet))
        collector.result.modulations = separate.result.modulations
        collector.result.refusals += separate.result.refusals
    return collector.result
