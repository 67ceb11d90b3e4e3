"""``caqes evaluate``: from the year's results to the reports, the letters and the amounts file.

For the evaluated year, the campaign's settings (``interessement``) and the results file give,
per establishment under contract, the national and regional intéressement
(:mod:`caqes_docs.workflows.incentives`). Each evaluated establishment gets:

- ``rapport-evaluation-<annee>-<finess_ej>.pdf``: the annual evaluation report, PDF/A, from the
  officer-editable model ``templates/rapport-evaluation.docx``, with a chart of achievement;
- ``notification-interessement-<annee>-<finess_ej>.pdf``: the director general's letter, PDF/A,
  with one empty signature field (``s3_ARS``) and its issued record beside it, so that the ARS
  signs it as it signs contracts.

The run also writes ``interessements-<annee>.csv`` and ``.xlsx`` (what is notified),
``evaluation-<annee>.json`` (amounts, details, every refused row), ``rejets-evaluation-<annee>.csv``
and ``synthese-evaluation-<annee>.pdf`` (charts). The registry records each establishment's
evaluation with its versions: the same inputs again change nothing (no document is issued
again), changed inputs make a new version, and a letter that was signed is never replaced.

An establishment with a refused row is not notified (its amount would be wrong) until the file
is corrected; the others are.
"""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import io
import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from caqes_docs.documents.amounts import (
    decimal_fr,
    euros,
    percent,
    plain,
    rate,
    to_cent,
)
from caqes_docs.documents.render import build_context
from caqes_docs.errors import InputError
from caqes_docs.files import csv_text, write_bytes
from caqes_docs.inputs.campaign import Campaign, load_campaign
from caqes_docs.inputs.contract_file import load_contract
from caqes_docs.inputs.results import (
    ModulationRow,
    Refusal,
    ResultRow,
    YearSettings,
    read_results,
)
from caqes_docs.issued import read_issued_record
from caqes_docs.registry.evaluations import (
    EvaluationRecord,
    EvaluationStatus,
    NewEvaluation,
    SignedLetterError,
    evaluations,
    live_evaluation,
    mark_signed,
    record_evaluation,
)
from caqes_docs.registry.store import Registry
from caqes_docs.resources import shipped_dir
from caqes_docs.workflows.incentives import (
    CheckedRows,
    EstablishmentAmounts,
    InForce,
    YearAmounts,
    check_rows,
    check_weights,
    compute_year,
    contracts_of_year,
    theme_labels,
)

if TYPE_CHECKING:
    from caqes_docs.pdf.fields import FieldGeometry

# Outcomes of one establishment in a run.
ISSUED = "émis"
REISSUED = "émis à nouveau"
UP_TO_DATE = "à jour"
BLOCKED = "non remplacé"
FAILED = "échec"
SIGNED_LETTER = "notification signée"

AMOUNT_COLUMNS = ("finess_ej", "raison_sociale", "national", "regional", "modulation", "total")
REJECT_COLUMNS = (
    "fichier", "feuille", "ligne", "finess_ej", "finess_et", "indicateur", "colonne", "valeur",
    "erreur",
)  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    """What became of one establishment's evaluation in this run (``message`` in French)."""

    finess_ej: str
    name: str
    status: str
    message: str


@dataclass
class EvaluationReport:
    year: int
    campaign: str
    out_dir: Path
    amounts: YearAmounts
    refusals: list[Refusal]
    outcomes: list[Outcome] = field(default_factory=list)
    notified: list[EvaluationRecord] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def problems(self) -> bool:
        """Rows refused, a change refused on a signed letter, or a document that failed."""
        return bool(self.refusals) or any(o.status in (BLOCKED, FAILED) for o in self.outcomes)


def file_stem(kind: str, year: int, finess_ej: str) -> str:
    return f"{kind}-{year}-{finess_ej}"


# --- the evaluation's data ------------------------------------------------------------------------


def evaluation_data(est: EstablishmentAmounts, year: YearAmounts) -> dict[str, Any]:
    """Everything an establishment's documents say, as plain data (amounts: two decimals).

    Its digest identifies the evaluation: the same data, the same documents. Input line
    numbers are left out, so that sorting the file differently changes nothing.
    """
    contract = est.contract.contract
    est_identity = contract.establishment
    return {
        "annee": year.year,
        "reference": est.contract.reference,
        "version_contrat": est.contract.version,
        "finess_ej": est.finess_ej,
        "raison_sociale": est_identity.legal_name,
        "adresse": est_identity.address,
        "representant": [est_identity.representative.name, est_identity.representative.title],
        "ars": [contract.ars.name, contract.ars.address, contract.ars.representative.name],
        "cpam": [contract.cpam.name, contract.cpam.address],
        "taux_national": _number(year.settings.national_rate),
        "enveloppe_regionale": plain(year.settings.regional_envelope),
        "nationaux": [
            {
                "indicateur": line.row.indicator,
                "libelle": line.label,
                "finess_et": line.row.finess_et,
                "valeur_initiale": line.row.baseline,
                "cible": line.row.target,
                "realise": line.row.achieved,
                "atteinte": _number(line.row.achievement),
                "economie": _number(line.row.saving),
                "montant": plain(line.amount),
            }
            for line in est.national_lines
        ],
        "themes": [
            {
                "code": share.theme.code,
                "libelle": share.theme.label,
                "type": share.theme.kind,
                "ponderation": _number(share.theme.weight),
                "enveloppe": plain(share.theme.envelope),
                "concernes": share.theme.concerned,
                "valeur_initiale": share.row.baseline if share.row else "",
                "cible": share.row.target if share.row else "",
                "realise": share.row.achieved if share.row else "",
                "atteinte": _number(share.row.achievement) if share.row else None,
                "resultat_manquant": share.missing,
                "montant": plain(share.amount),
            }
            for share in est.shares
        ],
        "modulation": {"taux": _number(est.modulation), "motif": est.motive},
        "national_brut": plain(est.national_gross),
        "regional_brut": plain(est.regional_gross),
        "national": plain(est.national),
        "regional": plain(est.regional),
        "total": plain(est.total),
    }


def _number(value: Decimal | None) -> str | None:
    """A number written one way whatever the file wrote: ``3939,00`` and ``3939`` are 3939."""
    return None if value is None else f"{value.normalize():f}"


def digest(data: dict[str, Any]) -> str:
    canonical = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --- template contexts ----------------------------------------------------------------------------


def _shown(value: Decimal | None, formatter: Callable[[Decimal], str]) -> str:
    return "—" if value is None else formatter(value)


def report_context(
    est: EstablishmentAmounts, year: YearAmounts, number: int, issued_on: dt.date
) -> dict[str, Any]:
    """The variables of the report and letter models (``graphique`` is added at rendering)."""
    contract = est.contract.contract
    return {
        **build_context(contract),
        "annee": year.year,
        "version": est.contract.version,
        "numero_evaluation": number,
        "date_emission": issued_on,
        "taux_national": rate(year.settings.national_rate),
        "enveloppe_regionale": euros(year.settings.regional_envelope),
        "nationaux": [
            {
                "code": line.row.indicator,
                "libelle": line.label,
                "site": line.row.finess_et,
                "valeur_initiale": line.row.baseline,
                "cible": line.row.target,
                "realise": line.row.achieved,
                "atteinte": _shown(line.row.achievement, percent),
                "economie": _shown(line.row.saving, euros),
                "montant": euros(line.amount),
            }
            for line in est.national_lines
        ],
        "themes": [
            {
                "code": share.theme.code,
                "libelle": share.theme.label,
                "ponderation": decimal_fr(share.theme.weight),
                "enveloppe": euros(share.theme.envelope),
                "concernes": share.theme.concerned,
                "valeur_initiale": share.row.baseline if share.row else "",
                "cible": share.row.target if share.row else "",
                "realise": share.row.achieved if share.row else "",
                "atteinte": (
                    _shown(share.row.achievement, percent) if share.row else "résultat manquant"
                ),
                "montant": euros(share.amount),
            }
            for share in est.shares
        ],
        "manquants": [
            f"{share.theme.code} ({share.theme.label})" for share in est.shares if share.missing
        ],
        "modulation": {
            "taux": percent(est.modulation),
            "motif": est.motive,
            "reduite": est.modulation < 100,
        },
        "montants": {
            "national_brut": euros(est.national_gross),
            "regional_brut": euros(est.regional_gross),
            "national": euros(est.national),
            "regional": euros(est.regional),
            "total": euros(est.total),
        },
    }


def sample_context(template_name: str) -> dict[str, Any]:
    """Sample variables of the report and letter models, for ``check-template``.

    The bundled example with five sites and both volets, results for a national indicator
    (a negative saving too), a theme with its result, one without, and a modulation.
    """
    campaign = load_campaign()
    contract = load_contract(shipped_dir("examples") / "chu-fictif-bordeaux.yaml", campaign)
    finess = contract.establishment.finess_ej
    in_force = InForce(
        contract.reference, 0, finess, contract.establishment.legal_name, 1, contract
    )
    site = contract.volet1.targeted_sites("NAT_1")[0] if contract.volet1 else ""
    rows = [
        ResultRow(2, finess, site, "NAT_1", "1 200", "1 000", "990", Decimal(100), Decimal(10)),
        ResultRow(3, finess, site, "NAT_2", "", "", "", None, Decimal(-500)),
        ResultRow(4, finess, "", "ATB", "40 %", "80 %", "78 %", Decimal(95), None),
    ]
    modulation = ModulationRow(2, finess, Decimal(90), "Exemple de motif", "modulation.csv")
    settings = YearSettings(taux_national=Decimal("0.3"), enveloppe_regionale=Decimal(100000))
    year = compute_year(2023, settings, {finess: in_force}, CheckedRows(rows, [modulation]))
    context = report_context(year.establishments[0], year, 1, dt.date(2024, 3, 1))
    context["graphique"] = ""  # the chart is a picture inserted at rendering
    del template_name  # the two models share their variables
    return context


# --- issuing the documents ------------------------------------------------------------------------


@dataclass
class _Job:
    """One establishment's evaluation to record, once its documents are issued."""

    est: EstablishmentAmounts
    data: dict[str, Any]
    digest: str
    number: int
    reissue: bool
    context: dict[str, Any]
    report: Path
    letter: Path


def _chart_points(est: EstablishmentAmounts) -> list[tuple[str, str, Decimal | None]]:
    return [(s.theme.code, s.theme.label, s.row.achievement if s.row else None) for s in est.shares]


# --- what to do per establishment -----------------------------------------------------------------


def letter_state(path: Path, issued_sha256: str | None, issued_size: int | None) -> str | None:
    """``None`` when the letter at ``path`` can be replaced; else why not (French).

    Replaceable: absent, or exactly the bytes issued, with no signed copy beside it. A longer
    file starting with them was signed in place; any other content was changed by someone;
    a signed copy beside it (``X.signe.pdf`` kept by ``receive``, ``X.signe-ars.pdf`` written
    by ``sign``) means it was signed: none of these is ever replaced.
    """
    copies = sorted(path.parent.glob(f"{glob.escape(path.stem)}.signe*{path.suffix}"))
    if copies:
        return f"{SIGNED_LETTER} (copie signée {copies[0].name})"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if issued_sha256 is None or issued_size is None:
        record = read_issued_record(path)
        if record is None:
            return "fichier présent sans fiche d'émission"
        issued_sha256, issued_size = record.sha256, record.size
    head = data[:issued_size]
    if hashlib.sha256(head).hexdigest() != issued_sha256:
        return "fichier modifié depuis son émission"
    if len(data) > (issued_size or 0):
        return SIGNED_LETTER
    return None


def _signed_live(live: EvaluationRecord) -> str | None:
    if live.status == EvaluationStatus.SIGNED:
        return SIGNED_LETTER
    if live.letter_path is None:
        return None
    return letter_state(live.letter_path, live.letter_sha256, live.letter_size)


def _documents_present(live: EvaluationRecord) -> bool:
    return bool(
        live.report_path
        and live.report_path.is_file()
        and live.letter_path
        and live.letter_path.is_file()
    )


def _plan(
    registry: Registry,
    est: EstablishmentAmounts,
    year: YearAmounts,
    out_dir: Path,
    today: dt.date,
    outcomes: list[Outcome],
) -> _Job | None:
    """The job issuing this establishment's documents, or None (recorded in ``outcomes``)."""
    data = evaluation_data(est, year)
    key = digest(data)
    name = est.contract.legal_name
    live = live_evaluation(registry, est.contract.contract_id, year.year)
    locked = _signed_live(live) if live is not None else None
    if live is not None and locked and locked.startswith(SIGNED_LETTER):
        mark_signed(registry, live)
    if live is not None and live.digest == key and (locked or _documents_present(live)):
        outcomes.append(Outcome(est.finess_ej, name, UP_TO_DATE, f"version n°{live.number}"))
        return None
    if live is not None and locked:
        outcomes.append(
            Outcome(
                est.finess_ej,
                name,
                BLOCKED,
                f"les résultats ont changé mais la notification n°{live.number} n'est pas "
                f"remplacée ({locked}) ; une décision rectificative relève de l'ARS",
            )
        )
        return None
    letter = out_dir / f"{file_stem('notification-interessement', year.year, est.finess_ej)}.pdf"
    if live is None or live.letter_path is None or live.letter_path.resolve() != letter.resolve():
        stray = letter_state(letter, None, None)
        if stray:
            outcomes.append(
                Outcome(est.finess_ej, name, BLOCKED, f"{letter.name} non remplacé : {stray}")
            )
            return None
    same = live is not None and live.digest == key
    number = (live.number if same else live.number + 1) if live is not None else 1
    context = report_context(est, year, number, today)
    report = out_dir / f"{file_stem('rapport-evaluation', year.year, est.finess_ej)}.pdf"
    return _Job(est, data, key, number, same, context, report, letter)


def _issue(
    registry: Registry,
    year: int,
    jobs: Sequence[_Job],
    templates: Path,
    geometry: FieldGeometry,
    workers: int | None,
    outcomes: list[Outcome],
) -> None:
    """Issue the documents, then record each evaluation whose documents were issued.

    The documents' modules (LibreOffice, pyHanko, matplotlib) are loaded only when there is
    something to issue: a run that finds everything up to date stays quick.
    """
    from caqes_docs.documents.evaluation import EvaluationDocuments, issue_documents

    with tempfile.TemporaryDirectory(prefix="caqes-evaluation-") as work:
        batch = [
            EvaluationDocuments(
                context=job.context,
                chart=_chart_points(job.est),
                report=job.report,
                letter=job.letter,
                work=Path(work),
                reference=job.est.contract.reference,
                finess_ej=job.est.finess_ej,
                name=job.est.contract.legal_name,
                year=year,
            )
            for job in jobs
        ]
        issue_documents(batch, templates, geometry, workers)
    for job, docs in zip(jobs, batch, strict=True):
        est = job.est
        if docs.error is not None or docs.letter_record is None:
            outcomes.append(Outcome(est.finess_ej, docs.name, FAILED, docs.error or ""))
            continue
        new = NewEvaluation(
            est.contract.contract_id, docs.year, job.digest, job.data, est.national,
            est.regional, est.total, docs.report, docs.letter, docs.letter_record,
        )  # fmt: skip
        try:
            saved = record_evaluation(registry, new)
        except SignedLetterError as exc:
            message = f"notification n°{exc.live.number} signée entre-temps"
            outcomes.append(Outcome(est.finess_ej, docs.name, BLOCKED, message))
            continue
        status = REISSUED if job.reissue else ISSUED
        message = f"version n°{saved.number} : {euros(saved.total)} ({docs.letter.name})"
        outcomes.append(Outcome(est.finess_ej, docs.name, status, message))


# --- the run --------------------------------------------------------------------------------------


def year_settings(campaign: Campaign, year: int, campaign_file: Path | None) -> YearSettings:
    settings = campaign.incentives.get(year)
    if settings is None:
        known = ", ".join(str(y) for y in sorted(campaign.incentives)) or "aucune"
        raise InputError(
            f"aucun réglage d'intéressement pour {year} dans la campagne (années réglées : "
            f'{known}) ; ajouter la section interessement."{year}" (taux_national, '
            "enveloppe_regionale, ponderation)",
            file=campaign_file or campaign.name,
            place="interessement",
        )
    return settings


def evaluate(
    results: Path,
    year: int,
    *,
    campaign_file: Path | None = None,
    out_dir: Path | None = None,
    modulation_file: Path | None = None,
    registry: str | Path | None = None,
    templates: Path | None = None,
    workers: int | None = None,
    today: dt.date | None = None,
) -> EvaluationReport:
    """Evaluate ``year`` from ``results``; InputError when an input cannot be read at all."""
    campaign = load_campaign(campaign_file)
    settings = year_settings(campaign, year, campaign_file)
    read = read_results(results, modulation_file)
    out_dir = out_dir or Path(f"evaluation-{year}")
    templates = templates or shipped_dir("templates")
    with Registry.open(registry, create=False) as reg:
        if campaign.name not in reg.campaigns():
            known = ", ".join(reg.campaigns()) or "aucune"
            raise InputError(
                f"campagne « {campaign.name} » inconnue du registre {reg.path} (campagnes "
                f"enregistrées : {known}) ; préciser --campaign ou --registry",
                file=campaign_file or campaign.name,
                place="nom",
            )
        contracts = contracts_of_year(reg, campaign.name, year)
        labels = theme_labels(contracts.in_force.values())
        codes = set(labels) | {theme.code for theme in campaign.volet2_themes}
        check_weights(settings, codes, file=campaign_file or campaign.name, year=year)
        checked = check_rows(read, contracts, codes)
        amounts = compute_year(year, settings, contracts.in_force, checked)
        report = EvaluationReport(year, campaign.name, out_dir, amounts, checked.refusals)
        out_dir.mkdir(parents=True, exist_ok=True)
        day = today or dt.date.today()
        jobs = [
            job
            for est in amounts.establishments
            if (job := _plan(reg, est, amounts, out_dir, day, report.outcomes))
        ]
        if jobs:
            geometry = campaign.signature.fields.geometry()
            _issue(reg, year, jobs, templates, geometry, workers, report.outcomes)
        report.notified = evaluations(reg, year=year, campaign=campaign.name)
    report.outcomes.sort(key=lambda outcome: outcome.finess_ej)
    _write_outputs(report, checked)
    return report


# --- the run's files ------------------------------------------------------------------------------


def _same_content(path: Path, data: bytes) -> bool:
    """Whether ``path`` holds ``data``: a rerun with the same inputs rewrites nothing."""
    try:
        return path.read_bytes() == data
    except OSError:
        return False


def _amount_rows(report: EvaluationReport) -> list[tuple[object, ...]]:
    """Amounts as Decimals with their cents: the CSV writer gives them a decimal comma."""
    return [
        (
            record.finess_ej,
            record.establishment,
            to_cent(record.national),
            to_cent(record.regional),
            Decimal(record.data["modulation"]["taux"]),
            to_cent(record.total),
        )
        for record in report.notified
    ]


def _xlsx_bytes(report: EvaluationReport) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = f"interessements-{report.year}"
    sheet.append(list(AMOUNT_COLUMNS))
    for record in report.notified:
        sheet.append(
            [
                record.finess_ej,
                record.establishment,
                record.national,
                record.regional,
                Decimal(record.data["modulation"]["taux"]),
                record.total,
            ]
        )
        row = sheet.max_row
        for column in (1, 2):  # text: never a formula, whatever it starts with
            sheet.cell(row, column).data_type = "s"
        for column in (3, 4, 6):
            sheet.cell(row, column).number_format = '#,##0.00 "€"'
    for column, width in zip("ABCDEF", (12, 48, 16, 16, 12, 16), strict=True):
        sheet.column_dimensions[column].width = width
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _reject_rows(report: EvaluationReport, checked: CheckedRows) -> list[tuple[str, ...]]:
    rows = [
        (r.file, r.sheet, str(r.line), r.finess_ej, r.finess_et, r.indicator, r.column, r.value,
         r.rule)
        for r in sorted(checked.refusals, key=lambda r: (r.file, r.sheet, r.line, r.column))
    ]  # fmt: skip
    for finess in sorted(checked.held):
        lines = sorted({r.line for r in checked.refusals if r.finess_ej == finess})
        rows += [
            ("", "resultats", str(row.line), finess, row.finess_et, row.indicator, "", "",
             f"établissement non notifié à cause de ses autres lignes ({_lines(lines)})")
            for row in checked.rows
            if row.finess_ej == finess
        ]  # fmt: skip
    rows += [
        ("", "", "", o.finess_ej, "", "", "", "", o.message)
        for o in report.outcomes
        if o.status == BLOCKED
    ]
    return rows


def _lines(lines: list[int]) -> str:
    return ("ligne " if len(lines) == 1 else "lignes ") + ", ".join(map(str, lines))


def _json_data(report: EvaluationReport, checked: CheckedRows) -> dict[str, Any]:
    year = report.amounts
    computed = {est.finess_ej: est for est in year.establishments}
    return {
        "annee": report.year,
        "campagne": report.campaign,
        "taux_national": _number(year.settings.national_rate),
        "enveloppe_regionale": plain(year.settings.regional_envelope),
        "themes": [
            {
                "code": theme.code,
                "libelle": theme.label,
                "type": theme.kind,
                "ponderation": _number(theme.weight),
                "enveloppe": plain(theme.envelope),
                "concernes": theme.concerned,
            }
            for theme in year.themes
        ],
        "etablissements": [
            {
                "finess_ej": record.finess_ej,
                "raison_sociale": record.establishment,
                "reference": record.reference,
                "national": plain(record.national),
                "regional": plain(record.regional),
                "modulation": record.data["modulation"]["taux"],
                "total": plain(record.total),
                "version": record.number,
                "statut": record.status,
                "calcul_du_jour_identique": (
                    record.finess_ej in computed
                    and digest(evaluation_data(computed[record.finess_ej], year)) == record.digest
                ),
                "detail": record.data,
            }
            for record in report.notified
        ],
        "non_evalues": [
            {"finess_ej": c.finess_ej, "raison_sociale": c.legal_name, "motif": "absent du fichier"}
            for c in year.not_evaluated
        ],
        "refus": [
            dict(zip(REJECT_COLUMNS, row, strict=True)) for row in _reject_rows(report, checked)
        ],
        "totaux": {
            "national": plain(sum((r.national for r in report.notified), Decimal(0))),
            "regional": plain(sum((r.regional for r in report.notified), Decimal(0))),
            "total": plain(sum((r.total for r in report.notified), Decimal(0))),
        },
    }


def _summary(report: EvaluationReport) -> bytes:
    from caqes_docs.documents.charts import EstablishmentAmount, summary_pdf

    year = report.amounts
    by_theme: dict[str, list[float]] = {theme.code: [] for theme in year.themes}
    for est in year.establishments:
        for share in est.shares:
            if share.row is not None and share.row.achievement is not None:
                by_theme[share.theme.code].append(float(share.row.achievement))
    total = sum((r.total for r in report.notified), Decimal(0))
    lines = [
        f"Campagne : {report.campaign}",
        f"Taux de reversement des économies (national) : {rate(year.settings.national_rate)} ; "
        f"enveloppe régionale : {euros(year.settings.regional_envelope)}",
        f"Établissements notifiés : {len(report.notified)} ; total notifié : {euros(total)}",
        f"Lignes refusées : {len(report.refusals)} ; établissements sans résultat : "
        f"{len(year.not_evaluated)}",
    ]
    return summary_pdf(
        f"Évaluation annuelle {report.year} — intéressements",
        lines,
        by_theme,
        {theme.code: theme.label for theme in year.themes},
        [EstablishmentAmount(r.establishment, r.national, r.regional) for r in report.notified],
    )


def _write_outputs(report: EvaluationReport, checked: CheckedRows) -> None:
    """Write the run's files; each is rewritten only when what it shows changed.

    The workbook (openpyxl stamps each save with the time) follows the CSV file that holds the
    same amounts; the summary (1.4 s of drawing) follows the JSON file that holds everything
    it shows.
    """
    out, year = report.out_dir, report.year
    # UTF-8 with its mark, « ; », decimal comma, formula-looking text made inert
    amounts = csv_text(AMOUNT_COLUMNS, _amount_rows(report)).encode("utf-8")
    rejects = csv_text(REJECT_COLUMNS, _reject_rows(report, checked)).encode("utf-8")
    details = json.dumps(_json_data(report, checked), ensure_ascii=False, indent=2) + "\n"
    texts = {
        "montants_csv": (out / f"interessements-{year}.csv", amounts),
        "json": (out / f"evaluation-{year}.json", details.encode("utf-8")),
        "rejets": (out / f"rejets-evaluation-{year}.csv", rejects),
    }
    derived = {
        "montants_xlsx": (out / f"interessements-{year}.xlsx", "montants_csv", _xlsx_bytes),
        "synthese": (out / f"synthese-evaluation-{year}.pdf", "json", _summary),
    }
    unchanged = {key for key, (path, data) in texts.items() if _same_content(path, data)}
    for key, (path, follows, make) in derived.items():
        if follows not in unchanged or not path.is_file():
            write_bytes(path, make(report))
        report.files[key] = path
    for key, (path, data) in texts.items():
        if key not in unchanged:
            write_bytes(path, data)
        report.files[key] = path
