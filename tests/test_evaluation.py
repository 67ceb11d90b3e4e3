"""The annual evaluation: contracts in force, refused rows, the amounts, the documents.

The registry is a real SQLite file; its contracts are the bundled examples, issued as stand-in
PDFs (the registry only hashes them) and completed by three recorded signatures. The amounts
are checked against figures computed by hand in the comments. The documents are produced by
the real LibreOffice and read back with pdfplumber; the letter is signed for real.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from types import ModuleType

import pdfplumber
import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pypdf import PdfReader

from caqes_docs.errors import InputError
from caqes_docs.inputs.campaign import Campaign, load_campaign
from caqes_docs.inputs.contract_file import load_contract
from caqes_docs.inputs.models import Contract
from caqes_docs.inputs.results import YearSettings, parse_decimal, read_results
from caqes_docs.issued import IssuedRecord
from caqes_docs.parties import ROLES
from caqes_docs.registry.amendments import terminated_contract
from caqes_docs.registry.evaluations import EvaluationStatus, evaluations
from caqes_docs.registry.store import (
    AMENDMENT,
    CONTRACT,
    TERMINATION,
    DocumentRecord,
    DocumentTerms,
    Registry,
    Signature,
)
from caqes_docs.workflows.evaluation import (
    BLOCKED,
    ISSUED,
    UP_TO_DATE,
    evaluate,
    letter_state,
)
from caqes_docs.workflows.incentives import check_rows, compute_year, contracts_of_year

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
BORDEAUX, LIMOGES, BAYONNE, UNSIGNED = "330990011", "870990017", "640990016", "240000059"
HEADER = "finess_ej;finess_et;indicateur;valeur_initiale;cible;realise;atteinte;economie\n"
D = Decimal

# taux 30 %, 1 100 € for ten themes whose weights add up to 11 (ATB counts 2): 100 € a theme,
# 200 € for ATB.
SETTINGS = {"taux_national": "0.30", "enveloppe_regionale": 1100, "ponderation": {"ATB": 2}}

# Bordeaux (volet 1: NAT_1 on 029 and 045, NAT_2 on 029/037/045/052, NAT_3 on 037, NAT_6 on
# 029/060; MEDCOUTINN DMI ATB CHO GEN BIOSIM; volet 2: CHIR_AMBU HOSP_EVIT DUREE_SEJ),
# Limoges (volet 2: HOSP_EVIT DUREE_SEJ), Bayonne (NAT_3, NAT_4 on 024; ATB TS).
RESULTS = (
    HEADER
    + "330990011;330990029;NAT_1;120000;100000;99000;100;1000,00\n"
    + "330990011;330990045;NAT_1;50000;45000;50500;0;-500\n"  # a negative saving counts 0
    + "330990011;330990037;NAT_2;80000;70000;79666,65;3,3;333.35\n"
    + "330990011;;ATB;;;;50;\n"
    + "330990011;;HOSP_EVIT;;;;100;\n"
    + "330990011;;MEDCOUTINN;12 %;60 %;58 %;80 %;\n"
    + "870990017;;HOSP_EVIT;;;;40;\n"
    + "870990017;;DUREE_SEJ;;;;75;\n"
    + "640990016;640990024;NAT_4;;;;;10,01\n"
    + "640990016;;ATB;;;;33,33;\n"
    + "640990016;;TS;;;;100;\n"
)
MODULATION = (
    "finess_ej;taux;motif\n"
    "870990017;50;Plan d'actions non transmis\n"
    "640990016;75;Objectifs du volet 1 partiellement atteints\n"
)


# --- a registry of signed example contracts -------------------------------------------------------


def _campaign(**settings: object) -> Campaign:
    base = load_campaign()
    data = base.model_dump(mode="json", by_alias=True)
    data["interessement"] = {"2023": {**SETTINGS, **settings}, "2024": SETTINGS}
    return Campaign.model_validate(data)


def _campaign_file(directory: Path, campaign: Campaign) -> Path:
    import yaml

    path = directory / "campagne.yaml"
    path.write_text(
        yaml.safe_dump(campaign.model_dump(mode="json", by_alias=True), allow_unicode=True),
        encoding="utf-8",
    )
    return path


def _example(name: str, campaign: Campaign) -> Contract:
    return load_contract(EXAMPLES / name, campaign)


def _unsigned_contract(campaign: Campaign) -> Contract:
    data = _example("clinique-fictive-bayonne.yaml", campaign).model_dump(by_alias=True)
    data["etablissement"]["finess_ej"] = UNSIGNED
    data["reference"] = campaign.reference_for(UNSIGNED)
    return Contract.model_validate(data)


def _stand_in(directory: Path, name: str) -> tuple[Path, IssuedRecord]:
    pdf = directory / f"{name}.pdf"
    content = f"%PDF-1.7 document {name}".encode()
    pdf.write_bytes(content)
    record = IssuedRecord(sha256=hashlib.sha256(content).hexdigest(), size=len(content))
    return pdf, record


def _sign_by_all(registry: Registry, document: DocumentRecord, directory: Path) -> None:
    signatures = [Signature(p, f"Signataire {p}", None, "2022-06-20T10:00:00+02:00") for p in ROLES]
    with registry.transaction():
        registry.add_signatures(document, signatures, directory / "signe.pdf", "copie.pdf")
        registry.complete(document)


def _issue(
    registry: Registry,
    directory: Path,
    contract: Contract,
    campaign: Campaign,
    kind: str = CONTRACT,
    terms: DocumentTerms | None = None,
    *,
    sign: bool = True,
) -> None:
    name = f"{contract.reference}-{kind}-{terms.number if terms else 0}"
    pdf, record = _stand_in(directory, name)
    document = registry.register_issued(contract, kind, pdf, record, campaign, terms=terms)
    if sign:
        _sign_by_all(registry, document, directory)


def _registry(directory: Path, campaign: Campaign) -> Path:
    """Bordeaux, Limoges and Bayonne signed in 2022; a fourth contract never signed."""
    path = directory / "caqes.db"
    issued = directory / "emis"
    issued.mkdir()
    with Registry.open(path) as registry:
        for name in ("chu-fictif-bordeaux.yaml", "ch-fictif-limoges.yaml"):
            _issue(registry, issued, _example(name, campaign), campaign)
        _issue(registry, issued, _example("clinique-fictive-bayonne.yaml", campaign), campaign)
        _issue(registry, issued, _unsigned_contract(campaign), campaign, sign=False)
    return path


@pytest.fixture
def campaign() -> Campaign:
    return _campaign()


@pytest.fixture
def registry_path(tmp_path: Path, campaign: Campaign) -> Path:
    return _registry(tmp_path, campaign)


def _results(directory: Path, text: str = RESULTS, name: str = "resultats.csv") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def _amounts(directory: Path, registry_path: Path, campaign: Campaign, text: str = RESULTS):
    results = read_results(_results(directory, text), _results(directory, MODULATION, "mod.csv"))
    settings = campaign.incentives[2023]
    with Registry.open(registry_path, create=False) as registry:
        contracts = contracts_of_year(registry, campaign.name, 2023)
    codes = {theme.code for theme in campaign.volet2_themes}
    checked = check_rows(results, contracts, codes)
    return checked, compute_year(2023, settings, contracts.in_force, checked)


# --- reading numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1000", D("1000")),
        ("12 345,60", D("12345.60")),
        ("12\u202f345,6 €", D("12345.6")),
        ("-500", D("-500")),
        ("0.1", D("0.1")),
        ("85 %", D("85")),
        ("", None),
    ],
)
def test_numbers_are_read_exactly(text: str, expected: Decimal | None) -> None:
    unit = "%" if "%" in text else "€"
    assert parse_decimal(text, unit=unit) == expected


@pytest.mark.parametrize("text", ["abc", "1.234,5", "1e5", "=1+1", "NaN", "12,5,3"])
def test_what_is_not_a_number_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="pas un nombre"):
        parse_decimal(text)


def test_settings_take_a_weight_of_one_by_default() -> None:
    settings = YearSettings.model_validate(SETTINGS)
    assert settings.weight("ATB") == 2 and settings.weight("GEN") == 1
    with pytest.raises(ValueError):
        YearSettings.model_validate({**SETTINGS, "ponderation": {"ATB": 0}})
    with pytest.raises(ValueError):
        YearSettings.model_validate({**SETTINGS, "taux_national": 1.5})


# --- the formulas, by hand ------------------------------------------------------------------------


def test_amounts_match_the_hand_computation(
    tmp_path: Path, registry_path: Path, campaign: Campaign
) -> None:
    checked, year = _amounts(tmp_path, registry_path, campaign)
    assert checked.refusals == []
    themes = {theme.code: theme for theme in year.themes}
    # ten themes: MEDCOUTINN DMI ATB CHO GEN BIOSIM TS CHIR_AMBU HOSP_EVIT DUREE_SEJ, Σw = 11
    assert len(themes) == 10
    assert themes["ATB"].envelope == 200 and themes["ATB"].concerned == 2
    assert themes["GEN"].envelope == 100 and themes["GEN"].concerned == 1
    assert themes["HOSP_EVIT"].concerned == 2 and themes["TS"].concerned == 1
    by_finess = {est.finess_ej: est for est in year.establishments}
    assert set(by_finess) == {BORDEAUX, LIMOGES, BAYONNE}

    bordeaux = by_finess[BORDEAUX]
    # 0,30 × (1 000 + 0 + 333,35) = 400,005: half a cent, rounded up
    assert bordeaux.national_gross == D("400.005")
    assert bordeaux.national == D("400.01")
    # ATB 200/2 × 50 % = 50 ; HOSP_EVIT 100/2 × 100 % = 50 ; MEDCOUTINN 100/1 × 80 % = 80
    assert bordeaux.regional == D("180.00")
    assert bordeaux.total == D("580.01")
    assert set(bordeaux.missing) == {"DMI", "CHO", "GEN", "BIOSIM", "CHIR_AMBU", "DUREE_SEJ"}
    assert bordeaux.modulation == 100

    limoges = by_finess[LIMOGES]
    # (100/2 × 40 % + 100/2 × 75 %) × 50 % = 57,5 × 0,5
    assert (limoges.regional_gross, limoges.regional) == (D("57.5"), D("28.75"))
    assert limoges.national == 0 and limoges.total == D("28.75")
    assert limoges.motive == "Plan d'actions non transmis"

    bayonne = by_finess[BAYONNE]
    # national 0,30 × 10,01 × 75 % = 2,25225 → 2,25 ; regional (200/2 × 33,33 % + 100) × 75 %
    # = 133,33 × 0,75 = 99,9975 → 100,00
    assert bayonne.national == D("2.25")
    assert bayonne.regional == D("100.00")
    assert bayonne.total == D("102.25")


def test_a_theme_nobody_is_concerned_by_is_not_in_the_sum_of_weights(
    tmp_path: Path, registry_path: Path
) -> None:
    # PSY concerns no contract: its weight must not dilute the others.
    campaign = _campaign(ponderation={"ATB": 2, "PSY": 5})
    _, year = _amounts(tmp_path, registry_path, campaign)
    assert "PSY" not in {theme.code for theme in year.themes}
    assert sum(theme.envelope for theme in year.themes) == 1100


def test_an_establishment_absent_from_the_file_is_not_notified(
    tmp_path: Path, registry_path: Path, campaign: Campaign
) -> None:
    only_bordeaux = HEADER + "330990011;;ATB;;;;50;\n"
    _, year = _amounts(tmp_path, registry_path, campaign, only_bordeaux)
    assert [est.finess_ej for est in year.establishments] == [BORDEAUX]
    assert {c.finess_ej for c in year.not_evaluated} == {LIMOGES, BAYONNE}
    # ... but it still counts among the establishments concerned by ATB
    assert {t.code: t.concerned for t in year.themes}["ATB"] == 2


# --- refused rows ---------------------------------------------------------------------------------

REFUSED = [
    ("330990012;;ATB;;;;50;\n", "finess_ej", "clé de contrôle"),
    ("330781196;;ATB;;;;50;\n", "finess_ej", "établissement inconnu"),
    (f"{UNSIGNED};;ATB;;;;50;\n", "finess_ej", "pas signé par les trois parties"),
    ("330990011;;TS;;;;50;\n", "indicateur", "non retenu"),
    ("330990011;;XYZ;;;;50;\n", "indicateur", "inconnu de la campagne"),
    ("330990011;330990060;NAT_1;;;;;100\n", "finess_et", "non ciblé pour ce site"),
    ("330990011;;NAT_1;;;;;100\n", "finess_et", "site obligatoire"),
    ("330990011;330990029;ATB;;;;50;\n", "finess_et", "indicateur national"),
    ("330990011;;GEN;;;;101;\n", "atteinte", "entre 0 et 100"),
    ("330990011;;GEN;;;;-1;\n", "atteinte", "entre 0 et 100"),
    ("330990011;;GEN;;;;beaucoup;\n", "atteinte", "pas un nombre"),
    ("330990011;330990029;NAT_1;;;;;=1+1\n", "economie", "pas un nombre"),
    ("330990011;;GEN;;;;;\n", "atteinte", "manquante"),
    ("330990011;;ATB;;;;60;\n", "indicateur", "ligne en double"),
]


@pytest.mark.parametrize(("row", "column", "rule"), REFUSED)
def test_each_refusal_is_located_and_the_others_are_computed(
    tmp_path: Path, registry_path: Path, campaign: Campaign, row: str, column: str, rule: str
) -> None:
    checked, year = _amounts(tmp_path, registry_path, campaign, RESULTS + row)
    assert len(checked.refusals) == 1, checked.refusals
    refusal = checked.refusals[0]
    assert (refusal.file, refusal.sheet, refusal.line) == ("resultats.csv", "resultats", 13)
    assert refusal.column == column and rule in refusal.rule
    evaluated = {est.finess_ej for est in year.establishments}
    # an establishment with a refused row waits for the corrected file; the others go on
    assert evaluated == {BORDEAUX, LIMOGES, BAYONNE} - {refusal.finess_ej}
    assert {LIMOGES, BAYONNE} <= evaluated


def test_a_modulation_above_100_is_refused(tmp_path: Path) -> None:
    results = read_results(
        _results(tmp_path), _results(tmp_path, "finess_ej;taux;motif\n640990016;120;x\n", "m.csv")
    )
    [refusal] = results.refusals
    assert (refusal.file, refusal.sheet, refusal.line, refusal.column) == (
        "m.csv",
        "modulation",
        2,
        "taux",
    )
    assert "ne peut que réduire" in refusal.rule and refusal.value == "120"
    assert results.modulations == []


def test_an_unreadable_file_is_an_input_error(tmp_path: Path) -> None:
    wrong = tmp_path / "resultats.csv"
    wrong.write_text("finess;valeur\n1;2\n", encoding="utf-8")
    with pytest.raises(InputError, match="colonne"):
        read_results(wrong)
    broken = tmp_path / "resultats.xlsx"
    broken.write_bytes(b"PK\x03\x04 not a workbook")
    with pytest.raises(InputError):
        read_results(broken)


def test_the_example_workbook_and_csv_files_say_the_same() -> None:
    workbook = read_results(EXAMPLES / "resultats-2023.xlsx")
    text = read_results(EXAMPLES / "resultats-2023.csv", EXAMPLES / "modulation-2023.csv")
    assert workbook.refusals == text.refusals == []
    assert workbook.rows == text.rows
    assert [(m.finess_ej, m.rate, m.motive) for m in workbook.modulations] == [
        (m.finess_ej, m.rate, m.motive) for m in text.modulations
    ]


# --- contracts in force: avenants on 1 January, résiliations on 31 December -----------------------


def test_contracts_in_force_across_avenants_and_a_termination(
    tmp_path: Path, registry_path: Path, campaign: Campaign
) -> None:
    directory = tmp_path / "avenants"
    directory.mkdir()
    with Registry.open(registry_path, create=False) as registry:
        # Bayonne retains GEN by an avenant signed in November 2023: in force 1 January 2024.
        bayonne = registry.contract(campaign.reference_for(BAYONNE)).current_version.contract()
        volet1 = bayonne.volet1.model_copy(update={"regional": [*bayonne.volet1.regional, "GEN"]})
        amended = bayonne.model_copy(update={"volet1": volet1})
        terms = DocumentTerms(1, dt.date(2023, 11, 15), dt.date(2024, 1, 1), 1, changes=("GEN",))
        _issue(registry, directory, amended, campaign, AMENDMENT, terms)
        # Bordeaux terminates volet 2 in March 2023: effective 31 December 2023.
        bordeaux = registry.contract(campaign.reference_for(BORDEAUX)).current_version.contract()
        end = dt.date(2023, 12, 31)
        terms = DocumentTerms(1, dt.date(2023, 3, 1), end, 1, volet=2)
        _issue(
            registry, directory, terminated_contract(bordeaux, 2, end), campaign, TERMINATION, terms
        )
        # Limoges terminates its only volet in June 2023: the contract ends on 31 December.
        limoges = registry.contract(campaign.reference_for(LIMOGES)).current_version.contract()
        terms = DocumentTerms(1, dt.date(2023, 6, 1), end, 1, volet=2)
        _issue(
            registry, directory, terminated_contract(limoges, 2, end), campaign, TERMINATION, terms
        )

        in_2022 = contracts_of_year(registry, campaign.name, 2022)
        in_2023 = contracts_of_year(registry, campaign.name, 2023)
        in_2024 = contracts_of_year(registry, campaign.name, 2024)
        in_2025 = contracts_of_year(registry, campaign.name, 2025)

    # 2022: the contracts took effect on 1 July 2022
    assert set(in_2022.in_force) == {BORDEAUX, LIMOGES, BAYONNE}
    # 2023: the consolidated versions in force on 1 January 2023 — the initial ones
    assert set(in_2023.in_force) == {BORDEAUX, LIMOGES, BAYONNE}
    assert in_2023.in_force[BAYONNE].version == 1
    assert "GEN" not in in_2023.in_force[BAYONNE].themes
    assert "HOSP_EVIT" in in_2023.in_force[BORDEAUX].themes  # volet 2 counts until 31/12/2023
    assert "pas signé" in in_2023.not_in_force[UNSIGNED]
    # 2024: the avenant applies, volet 2 of Bordeaux is gone, Limoges has ended
    assert in_2024.in_force[BAYONNE].version == 2
    assert "GEN" in in_2024.in_force[BAYONNE].themes
    assert "HOSP_EVIT" not in in_2024.in_force[BORDEAUX].themes
    assert "ATB" in in_2024.in_force[BORDEAUX].themes
    assert LIMOGES not in in_2024.in_force
    assert "a pris fin le 31 décembre 2023" in in_2024.not_in_force[LIMOGES]
    # 2025: the campaign's contracts end on 31 December 2024
    assert in_2025.in_force == {}


# --- the documents (real LibreOffice) -------------------------------------------------------------


@dataclass
class Run:
    directory: Path
    registry: Path
    campaign_file: Path
    results: Path
    modulation: Path
    out: Path

    def evaluate(self, results: Path | None = None, modulation: Path | None = None):
        return evaluate(
            results or self.results,
            2023,
            campaign_file=self.campaign_file,
            out_dir=self.out,
            modulation_file=modulation or self.modulation,
            registry=self.registry,
        )


def _text(pdf: Path) -> str:
    """The PDF's text on one line, its no-break spaces and line breaks read as spaces."""
    with pdfplumber.open(pdf) as document:
        text = "\n".join(page.extract_text() or "" for page in document.pages)
    return " ".join(text.replace("\u202f", " ").replace("\u00a0", " ").split())


def _state(run: Run) -> dict[str, object]:
    """What a rerun must not change: the registry's rows and every output file."""
    with sqlite3.connect(run.registry) as connection:
        rows = {
            table: connection.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
            for table in ("evaluations", "events")
        }
    files = {path.name: (path.stat().st_mtime_ns, path.read_bytes()) for path in run.out.iterdir()}
    return {"rows": rows, "files": files}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Run, object]]:
    directory = tmp_path_factory.mktemp("evaluation")
    campaign = _campaign()
    run = Run(
        directory,
        _registry(directory, campaign),
        _campaign_file(directory, campaign),
        _results(directory),
        _results(directory, MODULATION, "modulation.csv"),
        directory / "sortie",
    )
    yield run, run.evaluate()


@pytest.fixture
def run(first_run: tuple[Run, object], tmp_path: Path) -> Run:
    """A copy of the first run's registry and outputs, for a test that changes them."""
    original, _ = first_run
    shutil.copytree(original.directory, tmp_path / "copie")
    copy = tmp_path / "copie"
    with sqlite3.connect(copy / "caqes.db") as connection:  # documents where they were copied
        connection.execute(
            "UPDATE evaluations SET report_path = replace(report_path, ?, ?), "
            "letter_path = replace(letter_path, ?, ?)",
            (str(original.directory), str(copy)) * 2,
        )
    return Run(
        copy, copy / "caqes.db", copy / "campagne.yaml", copy / "resultats.csv",
        copy / "modulation.csv", copy / "sortie",
    )  # fmt: skip


def test_the_run_notifies_each_establishment(first_run: tuple[Run, object]) -> None:
    run, report = first_run
    assert not report.problems
    assert {o.finess_ej: o.status for o in report.outcomes} == dict.fromkeys(
        (BORDEAUX, LIMOGES, BAYONNE), ISSUED
    )
    for finess in (BORDEAUX, LIMOGES, BAYONNE):
        assert (run.out / f"rapport-evaluation-2023-{finess}.pdf").is_file()
        assert (run.out / f"notification-interessement-2023-{finess}.emission.json").is_file()
    with Registry.open(run.registry, create=False) as registry:
        saved = {e.finess_ej: e for e in evaluations(registry, year=2023)}
    assert saved[BORDEAUX].total == D("580.01") and saved[BORDEAUX].number == 1
    assert saved[BAYONNE].status == EvaluationStatus.ISSUED


def test_the_amount_files(first_run: tuple[Run, object]) -> None:
    run, _ = first_run
    raw = (run.out / "interessements-2023.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = raw.decode("utf-8-sig").splitlines()
    assert lines[0] == "finess_ej;raison_sociale;national;regional;modulation;total"
    assert (
        "330990011;Centre hospitalier universitaire fictif de Bordeaux;400,01;180,00;100;580,01"
        in lines
    )
    assert "640990016;Clinique « Les Pins » & Associés;2,25;100,00;75;102,25" in lines
    import json

    data = json.loads((run.out / "evaluation-2023.json").read_text(encoding="utf-8"))
    amounts = {e["finess_ej"]: e for e in data["etablissements"]}
    assert (amounts[LIMOGES]["regional"], amounts[LIMOGES]["total"]) == ("28.75", "28.75")
    assert data["totaux"]["total"] == "711.01"
    assert data["refus"] == []
    from openpyxl import load_workbook

    sheet = load_workbook(run.out / "interessements-2023.xlsx").active
    values = {row[0]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert Decimal(str(values[BORDEAUX][5])) == D("580.01")


def test_the_report_holds_the_figures_and_the_chart(first_run: tuple[Run, object]) -> None:
    run, _ = first_run
    report = run.out / f"rapport-evaluation-2023-{BORDEAUX}.pdf"
    text = _text(report)
    for figure in ("400,01 €", "180,00 €", "580,01 €", "1 000,00 €", "-500,00 €", "80 %"):
        assert figure in text, figure
    assert "Résultat manquant pour DMI (Dispositifs médicaux), CHO" in text
    assert "NAT_2" in text and "330990037" in text
    reader = PdfReader(report)
    assert "/GTS_PDFA1" in str(reader.trailer["/Root"]["/OutputIntents"][0]["/S"])
    images = [image for page in reader.pages for image in page.images]
    assert images, "le graphique d'atteinte manque"
    assert "/AcroForm" not in reader.trailer["/Root"]


def test_the_letter_has_its_appeal_wording_and_one_ars_field(
    first_run: tuple[Run, object],
) -> None:
    run, _ = first_run
    letter = run.out / f"notification-interessement-2023-{LIMOGES}.pdf"
    text = _text(letter)
    assert "tribunal administratif" in text
    assert "deux mois à compter de la réception" in text
    assert "fonds d’intervention régional" in text and "L. 1435-8" in text
    assert "28,75" in text and "50 %" in text and "Plan d'actions non transmis" in text
    fields = PdfReader(letter).get_fields() or {}
    assert list(fields) == ["s3_ARS"]
    assert fields["s3_ARS"]["/FT"] == "/Sig"


def test_the_same_inputs_again_change_nothing(first_run: tuple[Run, object], run: Run) -> None:
    before = _state(run)
    report = run.evaluate()
    assert {o.status for o in report.outcomes} == {UP_TO_DATE}
    assert _state(run) == before


def test_changed_inputs_make_a_new_version(run: Run) -> None:
    changed = _results(
        run.directory,
        RESULTS.replace("870990017;;DUREE_SEJ;;;;75;", "870990017;;DUREE_SEJ;;;;95;"),
        "r2.csv",
    )
    report = run.evaluate(changed)
    status = {o.finess_ej: o.status for o in report.outcomes}
    assert status == {BORDEAUX: UP_TO_DATE, LIMOGES: ISSUED, BAYONNE: UP_TO_DATE}
    with Registry.open(run.registry, create=False) as registry:
        history = [
            e for e in evaluations(registry, include_superseded=True) if e.finess_ej == LIMOGES
        ]
    assert [(e.number, e.status) for e in history] == [
        (1, EvaluationStatus.SUPERSEDED),
        (2, EvaluationStatus.ISSUED),
    ]
    # (20 + 47,5) × 50 %
    assert history[-1].total == D("33.75")


def test_a_signed_letter_is_never_replaced(run: Run, demo_signers: dict) -> None:
    letter = run.out / f"notification-interessement-2023-{LIMOGES}.pdf"
    signed = _pyhanko_sign(letter.read_bytes(), demo_signers["ARS"])
    letter.write_bytes(signed)
    assert letter_state(letter, None, None) == "notification signée"
    changed = _results(
        run.directory, RESULTS.replace(";;DUREE_SEJ;;;;75;", ";;DUREE_SEJ;;;;95;"), "r2.csv"
    )
    report = run.evaluate(changed)
    outcome = next(o for o in report.outcomes if o.finess_ej == LIMOGES)
    assert outcome.status == BLOCKED and "notification signée" in outcome.message
    assert report.problems
    assert letter.read_bytes() == signed
    with Registry.open(run.registry, create=False) as registry:
        [live] = [e for e in evaluations(registry) if e.finess_ej == LIMOGES]
    assert (live.number, live.status) == (1, EvaluationStatus.SIGNED)
    rejects = (run.out / "rejets-evaluation-2023.csv").read_text(encoding="utf-8-sig")
    assert LIMOGES in rejects and "n'est pas remplacée" in rejects


def _pyhanko_sign(data: bytes, signer: signers.Signer) -> bytes:
    writer = IncrementalPdfFileWriter(BytesIO(data))
    metadata = signers.PdfSignatureMetadata(field_name="s3_ARS", certify=True)
    out = signers.PdfSigner(metadata, signer).sign_pdf(writer, existing_fields_only=True)
    return out.getvalue()


def test_the_letter_field_takes_a_valid_ars_signature(
    first_run: tuple[Run, object], demo_signers: dict, demo_pki: object
) -> None:
    """The field itself: pyHanko fills s3_ARS and the signature validates against the root."""
    run, _ = first_run
    letter = run.out / f"notification-interessement-2023-{BAYONNE}.pdf"
    signed = _pyhanko_sign(letter.read_bytes(), demo_signers["ARS"])
    from pyhanko.sign.general import load_cert_from_pemder

    root = load_cert_from_pemder(str(demo_pki.root_certificate))
    [embedded] = PdfFileReader(BytesIO(signed)).embedded_signatures
    status = validate_pdf_signature(embedded, ValidationContext(trust_roots=[root]))
    assert status.intact and status.valid and status.trusted
    assert embedded.field_name == "s3_ARS"


def test_caqes_sign_signs_the_letter_as_ars(run: Run, demo_signers: dict, demo_pki: object) -> None:
    """``caqes sign --role ARS``: the letter's one field, then verify and the next run."""
    from caqes_docs.signatures.signing import sign_documents
    from caqes_docs.signatures.verify import verify_document

    letter = run.out / f"notification-interessement-2023-{BAYONNE}.pdf"
    [result] = sign_documents([letter], "ARS", demo_signers["ARS"])
    assert result.ok, result.error
    assert result.output is not None
    report = verify_document(result.output, trust_roots=[demo_pki.root_certificate])
    assert report.ok, report.problems
    assert [(s.field, s.status) for s in report.signatures] == [("s3_ARS", "signé")]
    # sign writes X.signe-ars.pdf beside the letter: the letter is locked, the run says so
    assert (
        letter_state(letter, None, None)
        == f"notification signée (copie signée {result.output.name})"
    )
    changed = RESULTS.replace("640990016;;TS;;;;100;", "640990016;;TS;;;;90;")
    report = run.evaluate(_results(run.directory, changed, "r3.csv"))
    outcome = next(o for o in report.outcomes if o.finess_ej == BAYONNE)
    assert outcome.status == BLOCKED
    with Registry.open(run.registry, create=False) as registry:
        [live] = [e for e in evaluations(registry) if e.finess_ej == BAYONNE]
    assert live.status == EvaluationStatus.SIGNED


def _load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_evaluation_templates", ROOT / "tools" / "build_evaluation_templates.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_models_match_their_source() -> None:
    assert _load_builder().check() == []


def test_a_stale_model_is_reported(tmp_path: Path) -> None:
    builder = _load_builder()
    (tmp_path / "templates").mkdir()
    for relative, data in builder.build_all().items():
        (tmp_path / relative).write_bytes(data)
    (tmp_path / "templates" / "rapport-evaluation.docx").write_bytes(b"PK")
    assert builder.check(tmp_path) == ["templates/rapport-evaluation.docx"]


def test_status_and_export_show_the_evaluation_of_each_year(run: Run) -> None:
    from caqes_docs.registry.lifecycle import export_registry, status

    changed = RESULTS.replace(";;DUREE_SEJ;;;;75;", ";;DUREE_SEJ;;;;95;")
    run.evaluate(_results(run.directory, changed, "r2.csv"))
    with Registry.open(run.registry, create=False) as registry:
        report = status(registry)
        exported = export_registry(registry)
    shown = {(e["finess_ej"], e["annee"]): e for e in report.to_dict()["evaluations"]}
    assert set(shown) == {(BORDEAUX, 2023), (LIMOGES, 2023), (BAYONNE, 2023)}
    assert (shown[(LIMOGES, 2023)]["version"], shown[(LIMOGES, 2023)]["total"]) == (2, "33.75")
    assert shown[(BAYONNE, 2023)]["statut"] == "notification émise"
    history = [e for e in exported["evaluations"] if e["finess_ej"] == LIMOGES]
    assert [(e["version"], e["statut"]) for e in history] == [
        (1, "remplacée"),
        (2, "notification émise"),
    ]
    assert history[0]["donnees"]["total"] == "28.75"


def _edited_letter(directory: Path, old: bytes, new: bytes) -> Path:
    """The letter model with ``old`` replaced by ``new`` in its body."""
    import zipfile

    directory.mkdir()
    edited = directory / "notification-interessement.docx"
    model = ROOT / "templates" / "notification-interessement.docx"
    with zipfile.ZipFile(model) as source, zipfile.ZipFile(edited, "w") as target:
        for item in source.infolist():
            part = source.read(item)
            if item.filename == "word/document.xml":
                part = part.replace(old, new)
            target.writestr(item, part)
    return edited


def test_check_template_knows_the_evaluation_models(tmp_path: Path) -> None:
    from caqes_docs.documents.lint import check_template

    templates = ROOT / "templates"
    assert check_template(templates / "rapport-evaluation.docx") == []
    assert check_template(templates / "notification-interessement.docx") == []
    misspelt = _edited_letter(tmp_path / "a", b"montants.total", b"montants.totl")
    assert any("totl" in str(problem) for problem in check_template(misspelt))
    without_anchor = _edited_letter(tmp_path / "b", b"/s3_ARS/", b"")
    problems = [str(problem) for problem in check_template(without_anchor)]
    assert problems == ["bloc de signature : ancre « /s3_ARS/ » absente"]


def test_cli_exit_status_says_refused_rows_and_unreadable_files(run: Run) -> None:
    from click.testing import CliRunner

    from caqes_docs.cli import main

    def caqes(results: Path) -> tuple[int, str]:
        arguments = [
            "evaluate", str(results), "--annee", "2023", "--campaign", str(run.campaign_file),
            "--out", str(run.out), "--modulation", str(run.modulation),
            "--registry", str(run.registry),
        ]  # fmt: skip
        outcome = CliRunner().invoke(main, arguments)
        return outcome.exit_code, outcome.output

    status, output = caqes(run.results)
    assert status == 0, output
    assert "580,01" in output and "à jour" in output
    shown = CliRunner().invoke(main, ["status", "--registry", str(run.registry)]).output
    assert "Évaluations annuelles" in shown
    assert "CAQES-NA-2022-330990011  2023  n°1        580,01\u00a0€  notification émise" in shown
    bad = RESULTS + '330990011;;GEN;;;;=HYPERLINK("http://x");\n'
    status, output = caqes(_results(run.directory, bad, "r.csv"))
    assert status == 1, output
    assert "Refusé : r.csv : resultats, ligne 13, colonne atteinte" in output
    rejects = (run.out / "rejets-evaluation-2023.csv").read_text(encoding="utf-8-sig")
    assert "établissement non notifié à cause de ses autres lignes (ligne 13)" in rejects
    assert ';"\'=HYPERLINK(""http://x"")";' in rejects  # shown as text, never run
    status, output = caqes(_results(run.directory, "finess;total\n1;2\n", "illisible.csv"))
    assert status == 2, output
    assert "Erreur : " in output and "colonne" in output


def test_the_same_results_in_a_workbook_change_nothing(run: Run) -> None:
    """Numbers typed as numbers (3939) or as text (3939,00) are the same evaluation."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "resultats"
    for line in RESULTS.splitlines():
        cells: list[object] = line.split(";")
        if cells[0] != "finess_ej":
            cells[3:] = [_as_number(cell) for cell in cells[3:]]
        sheet.append(cells)
    workbook = run.directory / "resultats.xlsx"
    book.save(workbook)
    report = run.evaluate(workbook)
    assert {o.status for o in report.outcomes} == {UP_TO_DATE}


def _as_number(text: str) -> object:
    try:
        return float(text.replace(",", ".")) if text else None
    except ValueError:
        return text


def test_a_signed_copy_beside_the_letter_locks_it(tmp_path: Path) -> None:
    issued = b"%PDF-1.7 lettre\n%%EOF\n"
    digest, size = hashlib.sha256(issued).hexdigest(), len(issued)
    letter = tmp_path / "notification-interessement-2023-640990016.pdf"
    letter.write_bytes(issued)
    assert letter_state(letter, digest, size) is None
    letter.write_bytes(issued + b"signature\n%%EOF\n")  # an incremental update
    assert letter_state(letter, digest, size) == "notification signée"
    letter.write_bytes(b"%PDF-1.7 autre lettre")
    assert letter_state(letter, digest, size) == "fichier modifié depuis son émission"
    letter.write_bytes(issued)
    (tmp_path / "notification-interessement-2023-640990016.signe-ars.pdf").write_bytes(b"x")
    assert "copie signée" in (letter_state(letter, digest, size) or "")


def test_a_campaign_the_registry_does_not_know_is_an_input_error(
    tmp_path: Path, registry_path: Path
) -> None:
    other = _campaign().model_copy(update={"name": "Une autre campagne"})
    with pytest.raises(InputError, match="inconnue du registre"):
        evaluate(
            _results(tmp_path), 2023, campaign_file=_campaign_file(tmp_path, other),
            out_dir=tmp_path / "sortie", registry=registry_path,
        )  # fmt: skip
    with pytest.raises(InputError, match="aucun réglage d'intéressement pour 2022"):
        evaluate(
            _results(tmp_path), 2022, campaign_file=_campaign_file(tmp_path, _campaign()),
            out_dir=tmp_path / "sortie", registry=registry_path,
        )  # fmt: skip
    assert not (tmp_path / "sortie").exists()
