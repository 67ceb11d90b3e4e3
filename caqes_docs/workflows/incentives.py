"""The intéressement of one year: contracts in force, rows checked against them, amounts.

Everything is exact (``Decimal``); only the final national and regional parts are rounded to
the cent, half up. The rules (contract model, articles 8 and 9 and each volet's article 4;
décret 2021-1231, art. D.162-16 V):

- a contract is in force in year Y when signed by the three parties, effective on or before
  31 December Y and not ended before 1 January Y; its consolidated version is the one in force
  on 1 January Y (or the first version when the contract starts later in Y): avenants take
  effect on a 1 January, a résiliation on 31 December, so a volet terminated in Y still counts
  for Y;
- national part: ``taux_national × Σ max(0, economie)`` over the rows whose indicator and site
  are targeted in that version;
- regional part: each theme t (regional indicator marked OUI, or volet 2 theme) with n_t
  concerned establishments has the envelope share ``E_t = enveloppe × w_t / Σ w`` (Σ over the
  themes with at least one concerned establishment); each concerned establishment receives
  ``E_t / n_t × atteinte / 100``, nothing when it has no result for t (« résultat manquant »);
- the director general's modulation m (0 to 100 %, 100 when absent) applies to both parts.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from caqes_docs.documents.amounts import to_cent
from caqes_docs.documents.render import date_fr
from caqes_docs.errors import InputError
from caqes_docs.inputs.catalogue import catalogue
from caqes_docs.inputs.models import Contract
from caqes_docs.inputs.results import (
    FULL_RATE,
    ModulationRow,
    Refusal,
    ResultRow,
    ResultsFile,
    YearSettings,
)
from caqes_docs.registry.store import CONTRACT, SIGNED, Registry, VersionRecord

HUNDRED = Decimal(100)
NATIONAL = "national"
REGIONAL = "régional"
VOLET2 = "volet 2"


# --- contracts in force ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InForce:
    """A contract in force in the evaluated year, with its consolidated version then."""

    reference: str
    contract_id: int
    finess_ej: str
    legal_name: str
    version: int
    contract: Contract

    def targeted_sites(self, code: str) -> list[str]:
        volet = self.contract.volet1
        return volet.targeted_sites(code) if volet else []

    @property
    def themes(self) -> tuple[str, ...]:
        """Regional indicators marked OUI, then the volet 2 themes."""
        regional = self.contract.volet1.regional if self.contract.volet1 else []
        themes = [t.code for t in self.contract.volet2.themes] if self.contract.volet2 else []
        return (*regional, *themes)


@dataclass
class ContractsOfYear:
    year: int
    in_force: dict[str, InForce] = field(default_factory=dict)
    not_in_force: dict[str, str] = field(default_factory=dict)
    """FINESS juridique → why its contract is not in force (French)."""


def version_in_force(versions: Sequence[VersionRecord], year: int) -> VersionRecord | None:
    """The consolidated version in force on 1 January ``year``, else the first one of the year."""
    first_january = dt.date(year, 1, 1)
    started = [v for v in versions if v.effective_date <= first_january]
    if started:
        return max(started, key=lambda v: (v.effective_date, v.number))
    later = [v for v in versions if v.effective_date.year == year]
    return min(later, key=lambda v: (v.effective_date, v.number)) if later else None


def contracts_of_year(registry: Registry, campaign: str, year: int) -> ContractsOfYear:
    """Every contract of ``campaign``, in force in ``year`` or with the reason it is not."""
    found = ContractsOfYear(year)
    for record in registry.contracts(campaign):
        initial = [d for d in registry.documents(record.id) if d.kind == CONTRACT]
        if not initial or initial[0].status != SIGNED:
            found.not_in_force[record.finess_ej] = (
                f"le contrat {record.reference} n'est pas signé par les trois parties"
            )
            continue
        version = version_in_force(registry.versions(record.id), year)
        if version is None:
            found.not_in_force[record.finess_ej] = (
                f"le contrat {record.reference} n'entre en vigueur qu'après {year}"
            )
            continue
        contract = version.contract()
        if contract.end_date < dt.date(year, 1, 1):
            found.not_in_force[record.finess_ej] = (
                f"le contrat {record.reference} a pris fin le {date_fr(contract.end_date)}"
            )
            continue
        found.in_force[record.finess_ej] = InForce(
            record.reference,
            record.id,
            record.finess_ej,
            contract.establishment.legal_name,
            version.number,
            contract,
        )
    return found


# --- rows against the contracts -------------------------------------------------------------------


@dataclass
class CheckedRows:
    rows: list[ResultRow] = field(default_factory=list)
    modulations: list[ModulationRow] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)

    @property
    def held(self) -> set[str]:
        """Establishments with a refused row: not notified until the file is corrected."""
        return {refusal.finess_ej for refusal in self.refusals if refusal.finess_ej}


def _refusal(file: str, row: ResultRow, column: str, value: str, rule: str) -> Refusal:
    return Refusal(
        file, "resultats", row.line, row.finess_ej, row.finess_et, column, value, rule,
        row.indicator,
    )  # fmt: skip


def _establishment_problem(finess: str, contracts: ContractsOfYear) -> str | None:
    if finess in contracts.in_force:
        return None
    if finess in contracts.not_in_force:
        return f"pas de contrat en vigueur en {contracts.year} : {contracts.not_in_force[finess]}"
    return "établissement inconnu : aucun contrat de la campagne pour ce FINESS juridique"


def _row_problem(row: ResultRow, contract: InForce, known: set[str]) -> tuple[str, str, str] | None:
    """(column, value, rule) of what is wrong with ``row`` for ``contract``, or None."""
    version = f"version consolidée n°{contract.version}"
    if row.indicator in catalogue().national_codes:
        if not row.finess_et:
            return "finess_et", "", "site obligatoire pour un indicateur national"
        if row.finess_et not in contract.targeted_sites(row.indicator):
            return (
                "finess_et",
                row.finess_et,
                f"indicateur {row.indicator} non ciblé pour ce site dans la {version} "
                f"du contrat {contract.reference}",
            )
        if row.saving is None:
            return "economie", "", "valeur obligatoire manquante pour un indicateur national"
        return None
    if row.indicator not in known:
        return "indicateur", row.indicator, "indicateur ou thème inconnu de la campagne"
    if row.indicator not in contract.themes:
        return (
            "indicateur",
            row.indicator,
            f"indicateur non retenu dans la {version} du contrat {contract.reference}",
        )
    if row.finess_et:
        return "finess_et", row.finess_et, "le site ne se renseigne que pour un indicateur national"
    if row.achievement is None:
        return "atteinte", "", "valeur obligatoire manquante pour un thème régional"
    if row.saving is not None:
        return (
            "economie",
            str(row.saving),
            "l'économie ne se renseigne que pour un indicateur national",
        )
    return None


def check_rows(
    results: ResultsFile, contracts: ContractsOfYear, known: Iterable[str]
) -> CheckedRows:
    """The rows and modulations that apply; the others refused, located.

    ``known`` are the codes of the campaign's indicators and volet 2 themes.
    """
    codes = set(known) | set(catalogue().by_code)
    checked = CheckedRows(refusals=list(results.refusals))
    name = results.source.name
    for row in results.rows:
        problem = _establishment_problem(row.finess_ej, contracts)
        if problem:
            checked.refusals.append(_refusal(name, row, "finess_ej", row.finess_ej, problem))
            continue
        located = _row_problem(row, contracts.in_force[row.finess_ej], codes)
        if located:
            checked.refusals.append(_refusal(name, row, *located))
            continue
        checked.rows.append(row)
    for modulation in results.modulations:
        problem = _establishment_problem(modulation.finess_ej, contracts)
        if problem:
            checked.refusals.append(
                Refusal(
                    modulation.file,
                    "modulation",
                    modulation.line,
                    modulation.finess_ej,
                    "",
                    "finess_ej",
                    modulation.finess_ej,
                    problem,
                )
            )
            continue
        checked.modulations.append(modulation)
    return checked


# --- the amounts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Theme:
    """A theme of the year: its weight, envelope share E_t and concerned establishments n_t."""

    code: str
    label: str
    kind: str
    weight: Decimal
    envelope: Decimal
    concerned: int

    @property
    def per_establishment(self) -> Decimal:
        return self.envelope / self.concerned


@dataclass(frozen=True)
class NationalLine:
    row: ResultRow
    label: str
    amount: Decimal
    """``taux × max(0, economie)``, before modulation."""


@dataclass(frozen=True)
class ThemeShare:
    theme: Theme
    row: ResultRow | None
    amount: Decimal
    """``E_t / n_t × atteinte / 100``, before modulation; 0 without a result."""

    @property
    def missing(self) -> bool:
        return self.row is None


@dataclass(frozen=True)
class EstablishmentAmounts:
    contract: InForce
    national_lines: tuple[NationalLine, ...]
    shares: tuple[ThemeShare, ...]
    national_gross: Decimal
    regional_gross: Decimal
    modulation: Decimal
    motive: str
    national: Decimal
    regional: Decimal

    @property
    def finess_ej(self) -> str:
        return self.contract.finess_ej

    @property
    def total(self) -> Decimal:
        return self.national + self.regional

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(share.theme.code for share in self.shares if share.missing)


@dataclass(frozen=True)
class YearAmounts:
    year: int
    settings: YearSettings
    themes: tuple[Theme, ...]
    establishments: tuple[EstablishmentAmounts, ...]
    not_evaluated: tuple[InForce, ...]
    """In force and not held, but without any row in the file: nothing is notified."""


def theme_labels(contracts: Iterable[InForce]) -> dict[str, tuple[str, str]]:
    """Code → (label, kind) of every theme, regional indicators first in catalogue order."""
    labels = {ind.code: (ind.label, REGIONAL) for ind in catalogue().regional}
    for contract in contracts:
        if contract.contract.volet2:
            for theme in contract.contract.volet2.themes:
                labels.setdefault(theme.code, (theme.label, VOLET2))
    return labels


def year_themes(settings: YearSettings, contracts: Mapping[str, InForce]) -> tuple[Theme, ...]:
    labels = theme_labels(contracts.values())
    counts = {code: 0 for code in labels}
    for contract in contracts.values():
        for code in contract.themes:
            counts[code] += 1
    present = [code for code in labels if counts[code]]
    total_weight = sum((settings.weight(code) for code in present), Decimal(0))
    return tuple(
        Theme(
            code,
            labels[code][0],
            labels[code][1],
            settings.weight(code),
            settings.regional_envelope * settings.weight(code) / total_weight,
            counts[code],
        )
        for code in present
    )


def check_weights(settings: YearSettings, known: Iterable[str], *, file: object, year: int) -> None:
    """A weight for a theme nobody knows is a typo: refuse the campaign."""
    names = set(known)
    for code in settings.weights:
        if code not in names:
            raise InputError(
                f"thème inconnu (thèmes : {', '.join(sorted(names))})",
                file=str(file),
                place=f"interessement.{year}.ponderation",
                value=code,
            )


def _establishment(
    contract: InForce,
    rows: Sequence[ResultRow],
    themes: Sequence[Theme],
    settings: YearSettings,
    modulation: ModulationRow | None,
) -> EstablishmentAmounts:
    labels = {ind.code: ind.label for ind in catalogue().national}
    national = tuple(
        NationalLine(row, labels[row.indicator], settings.national_rate * max(Decimal(0), saving))
        for row in rows
        for saving in [row.saving or Decimal(0)]
        if row.indicator in labels
    )
    by_theme = {row.indicator: row for row in rows if row.indicator not in labels}
    shares = tuple(
        ThemeShare(
            theme,
            by_theme.get(theme.code),
            theme.per_establishment * (by_theme[theme.code].achievement or 0) / HUNDRED
            if theme.code in by_theme
            else Decimal(0),
        )
        for theme in themes
        if theme.code in contract.themes
    )
    national_gross = sum((line.amount for line in national), Decimal(0))
    regional_gross = sum((share.amount for share in shares), Decimal(0))
    rate = modulation.rate if modulation else FULL_RATE
    return EstablishmentAmounts(
        contract=contract,
        national_lines=national,
        shares=shares,
        national_gross=national_gross,
        regional_gross=regional_gross,
        modulation=rate,
        motive=modulation.motive if modulation else "",
        national=to_cent(national_gross * rate / HUNDRED),
        regional=to_cent(regional_gross * rate / HUNDRED),
    )


def compute_year(
    year: int, settings: YearSettings, contracts: Mapping[str, InForce], checked: CheckedRows
) -> YearAmounts:
    """The amounts of every establishment with rows in the file and none refused."""
    with decimal.localcontext(prec=50):
        themes = year_themes(settings, contracts)
        rows: dict[str, list[ResultRow]] = {}
        for row in checked.rows:
            rows.setdefault(row.finess_ej, []).append(row)
        modulations = {m.finess_ej: m for m in checked.modulations}
        held = checked.held
        evaluated, absent = [], []
        for finess, contract in sorted(contracts.items()):
            if finess in held:
                continue
            if finess not in rows:
                absent.append(contract)
                continue
            evaluated.append(
                _establishment(contract, rows[finess], themes, settings, modulations.get(finess))
            )
    return YearAmounts(year, settings, themes, tuple(evaluated), tuple(absent))
