"""Reading the targeting spreadsheet (« ciblage ») into contracts, and its refusals."""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

import pytest
from openpyxl import Workbook

from caqes_docs.errors import InputError
from caqes_docs.inputs.campaign import Campaign, load_campaign
from caqes_docs.inputs.finess import luhn_valid
from caqes_docs.inputs.finess_extract import SITE_FIELDS, read_finess_extract
from caqes_docs.inputs.targeting import (
    PLAN_COLUMNS,
    Rejection,
    TargetingResult,
    iter_targeting_rows,
    read_targeting,
    targeting_columns,
    write_rejects,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
COLUMNS = targeting_columns()


def finess(first8: str) -> str:
    """The valid FINESS number starting with ``first8``."""
    return next(first8 + d for d in "0123456789" if luhn_valid(first8 + d))


def fin(number: int, dept: str = "33") -> str:
    return finess(f"{dept}0995{number:02d}")


EJ, ET1, ET2, ET3 = fin(10), fin(11), fin(12), fin(13)
EJ_B, ET_B = fin(20), fin(21)


def row(ej: str = EJ, et: str = ET1, **values: str) -> dict[str, str]:
    """A valid targeting row: establishment ``ej``, site ``et``, NAT_2 ticked."""
    data = {
        "finess_ej": ej,
        "finess_et": et,
        "raison_sociale": "Centre hospitalier fictif d'Arès",
        "nom_et": f"Site {et}",
        "adresse": "1 rue du Port - 33740 Arès",
        "representant": "Madame Léa BÉGUÉ",
        "qualite_representant": "Directrice",
        "NAT_2": "X",
    }
    data.update(values)
    return data


def write_csv(
    path: Path,
    rows: list[dict[str, object]],
    *,
    columns: tuple[str, ...] | list[str] = COLUMNS,
    delimiter: str = ";",
    encoding: str = "utf-8-sig",
) -> Path:
    with open(path, "w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(columns)
        writer.writerows([[data.get(c, "") for c in columns] for data in rows])
    return path


def write_xlsx(
    path: Path,
    rows: list[dict[str, object]],
    plan: list[dict[str, object]] | None = None,
    *,
    sheet: str = "ciblage",
) -> Path:
    book = Workbook()
    target = book.active
    target.title = sheet
    if sheet == "ciblage":  # another sheet first: the one named « ciblage » is read
        book.create_sheet("Notes", 0).append(["Fichier de ciblage 2022"])
    target.append(list(COLUMNS))
    for data in rows:
        target.append([data.get(c) for c in COLUMNS])
    if plan is not None:
        plan_sheet = book.create_sheet("plan_actions")
        plan_sheet.append(list(PLAN_COLUMNS))
        for data in plan:
            plan_sheet.append([data.get(c) for c in PLAN_COLUMNS])
    book.save(path)
    return path


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    return load_campaign()


def read(path: Path, campaign: Campaign, **options: object) -> TargetingResult:
    return read_targeting(path, campaign, **options)  # type: ignore[arg-type]


def problems(result: TargetingResult, ej: str = EJ) -> list[Rejection]:
    return [p for p in result.rejected if p.finess_ej == ej]


def only_problem(result: TargetingResult, ej: str = EJ) -> Rejection:
    [problem] = problems(result, ej)
    assert result.refused_ej.count(ej) == 1
    assert ej not in [item.finess_ej for item in result.accepted]
    return problem


# --------------------------------------------------------------------------- the examples


@pytest.fixture(scope="module")
def example_results(campaign: Campaign) -> tuple[TargetingResult, TargetingResult]:
    extract = EXAMPLES / "finess-extrait.csv"
    from_csv = read_targeting(
        EXAMPLES / "ciblage-nouvelle-aquitaine-2022.csv",
        campaign,
        finess_extract=extract,
        action_plan=EXAMPLES / "plan-actions-2022.csv",
    )
    from_xlsx = read_targeting(
        EXAMPLES / "ciblage-nouvelle-aquitaine-2022.xlsx", campaign, finess_extract=extract
    )
    return from_csv, from_xlsx


def test_examples_give_the_same_contracts_in_csv_and_xlsx(example_results) -> None:
    from_csv, from_xlsx = example_results
    assert len(from_csv.accepted) == 11
    assert [(t.finess_ej, t.digest) for t in from_csv.accepted] == [
        (t.finess_ej, t.digest) for t in from_xlsx.accepted
    ]
    assert [t.contract for t in from_csv.accepted] == [t.contract for t in from_xlsx.accepted]
    assert from_csv.rejected == from_xlsx.rejected
    assert len({t.digest for t in from_csv.accepted}) == 11


def test_examples_show_each_deliberate_mistake(example_results) -> None:
    from_csv, _ = example_results
    shown = {(p.line, p.column, p.value): p.rule for p in from_csv.rejected}
    assert len(from_csv.refused_ej) == 4 == len(shown)
    assert "clé de contrôle" in shown[(12, "finess_et", "230991021")]
    assert "valeur non reconnue" in shown[(14, "NAT_2", "peut-être")]
    assert "la ligne 16 indique « OUI »" in shown[(17, "ATB", "NON")]
    assert "plusieurs CPAM" in shown[(21, "cpam", "")]


def test_examples_fill_names_from_the_extract_and_keep_site_order(example_results) -> None:
    from_csv, _ = example_results
    by_ej = {t.finess_ej: t for t in from_csv.accepted}
    rochelle = by_ej["170991012"].contract.establishment
    assert rochelle.legal_name == "CENTRE HOSPITALIER FICTIF DE LA ROCHELLE-OUEST"
    assert rochelle.address == "1 BD JOSEPH GUILLEMOT 17000 LA ROCHELLE"
    assert rochelle.sites[1].name.endswith("SITE DE L'ÎLE DE RÉ")
    estuary = by_ej["330991019"]
    # The fifth site was added at the end of the file: it stays last.
    assert estuary.lines == (2, 3, 4, 5, 27)
    assert [s.finess for s in estuary.contract.establishment.sites] == list(estuary.sites)
    own = estuary.contract.action_plan[0]
    assert (own.indicator, own.site, own.deadline) == ("NAT_2", "330991027", "30/06/2023")
    assert by_ej["640991014"].contract.cpam.name == "CPAM de Pau-Pyrénées"  # typed as numbers


# --------------------------------------------------------------------------- grouping


def test_rows_are_grouped_per_establishment_in_file_order(tmp_path: Path, campaign) -> None:
    rows = [
        row(et=ET2, NAT_1="x", ATB="OUI", volet_parcours="oui"),
        row(EJ_B, ET_B, raison_sociale="Clinique fictive B", NAT_2="", TS="OUI"),
        row(et=ET1, NAT_2="1", ATB="OUI", volet_parcours="OUI", qualite_representant=""),
        row(et=ET3, NAT_2="NON", NAT_6="OUI", ATB="oui", volet_parcours="OUI"),
    ]
    result = read(write_csv(tmp_path / "c.csv", rows), campaign)
    assert result.rejected == [] and result.row_count == 4
    first, second = result.accepted
    assert (first.finess_ej, first.lines, first.sites) == (EJ, (2, 4, 5), (ET2, ET1, ET3))
    volet1 = first.contract.volet1
    assert volet1 is not None
    assert volet1.national == {"NAT_1": [ET2], "NAT_2": [ET2, ET1], "NAT_6": [ET3]}
    assert volet1.regional == ["ATB"]
    assert first.contract.volet2 is not None
    assert [t.code for t in first.contract.volet2.themes] == [
        t.code for t in campaign.volet2_themes
    ]
    assert first.contract.establishment.representative.title == "Directrice"
    assert first.contract.cpam.name == "CPAM de la Gironde"
    assert second.contract.volet1 is not None and second.contract.volet2 is None
    assert second.contract.volet1.national == {} and second.contract.volet1.regional == ["TS"]


def test_empty_cells_take_the_establishment_value(tmp_path: Path, campaign) -> None:
    rows = [
        row(et=ET1, cpam="33"),
        row(et=ET2, raison_sociale="", adresse="", representant="", qualite_representant=""),
    ]
    [accepted] = read(write_csv(tmp_path / "c.csv", rows), campaign).accepted
    establishment = accepted.contract.establishment
    assert establishment.legal_name == "Centre hospitalier fictif d'Arès"
    assert establishment.representative.title == "Directrice"


def test_blank_rows_are_skipped_and_line_numbers_kept(tmp_path: Path, campaign) -> None:
    path = tmp_path / "c.csv"
    write_csv(path, [row(), {}, row(et=ET2, NAT_2="bof")])
    assert [r.line for r in iter_targeting_rows(path)] == [2, 4]
    problem = only_problem(read(path, campaign))
    assert (problem.line, problem.column, problem.value) == (4, "NAT_2", "bof")


# --------------------------------------------------------------------------- refusals


def test_bad_finess_key_names_line_column_value_and_rule(tmp_path: Path, campaign) -> None:
    bad_site = ET2[:8] + str((int(ET2[8]) + 1) % 10)
    rows = [row(), row(et=bad_site), row(EJ_B, ET_B)]
    result = read(write_csv(tmp_path / "c.csv", rows), campaign)
    problem = only_problem(result)
    assert str(problem).startswith("ligne 3, colonne finess_et : numéro FINESS invalide")
    assert "clé de contrôle" in problem.rule and problem.value == bad_site
    assert [t.finess_ej for t in result.accepted] == [EJ_B]


def test_invalid_finess_ej_is_grouped_under_its_raw_value(tmp_path: Path, campaign) -> None:
    rows = [row(ej="33099501", et=ET1), row(ej="33099501", et=ET2), row(EJ_B, ET_B)]
    result = read(write_csv(tmp_path / "c.csv", rows), campaign)
    assert result.refused_ej == ["33099501"]
    found = problems(result, "33099501")
    assert [(p.line, p.column) for p in found] == [(2, "finess_ej"), (3, "finess_ej")]
    assert all("9 caractères" in p.rule for p in found)


@pytest.mark.parametrize("column", ["NAT_3", "ATB", "volet_parcours"])
def test_unknown_value_in_an_indicator_column(tmp_path: Path, campaign, column: str) -> None:
    result = read(write_csv(tmp_path / "c.csv", [row(**{column: "peut-être"})]), campaign)
    problem = only_problem(result)
    assert (problem.line, problem.column, problem.value) == (2, column, "peut-être")
    assert "X, 1 ou OUI pour ciblé" in problem.rule


@pytest.mark.parametrize(
    ("column", "first", "second"),
    [
        ("raison_sociale", "CH fictif d'Arès", "CH fictif d'Arès-Plage"),
        ("adresse", "1 rue du Port - 33740 Arès", "3 rue du Port - 33740 Arès"),
        ("representant", "Madame Léa BÉGUÉ", "Monsieur Jean BÉGUÉ"),
        ("qualite_representant", "Directrice", "Directrice générale"),
        ("cpam", "33", "16"),
        ("ATB", "OUI", "NON"),
        ("DMI", "OUI", ""),
        ("volet_parcours", "NON", "OUI"),
    ],
)
def test_rows_of_one_establishment_must_agree(
    tmp_path: Path, campaign, column: str, first: str, second: str
) -> None:
    rows = [row(et=ET1, **{column: first}), row(et=ET2, **{column: second})]
    problem = only_problem(read(write_csv(tmp_path / "c.csv", rows), campaign))
    assert (problem.line, problem.column, problem.value) == (3, column, second)
    assert f"la ligne 2 indique « {first} »" in problem.rule


def test_the_same_site_twice(tmp_path: Path, campaign) -> None:
    rows = [row(et=ET1), row(et=ET1, NAT_1="X")]
    problem = only_problem(read(write_csv(tmp_path / "c.csv", rows), campaign))
    assert (problem.line, problem.column, problem.value) == (3, "finess_et", ET1)
    assert "site déjà présent ligne 2" in problem.rule


def test_one_site_under_two_establishments_refuses_both(tmp_path: Path, campaign) -> None:
    rows = [row(et=ET1), row(EJ_B, ET1), row(fin(30), fin(31))]
    result = read(write_csv(tmp_path / "c.csv", rows), campaign)
    assert result.refused_ej == [EJ, EJ_B]
    assert f"ligne 3 sous {EJ_B}" in only_problem(result, EJ).rule
    assert f"ligne 2 sous {EJ}" in only_problem(result, EJ_B).rule
    assert [t.finess_ej for t in result.accepted] == [fin(30)]


def test_an_establishment_without_volet_is_refused(tmp_path: Path, campaign) -> None:
    rows = [row(NAT_2="", volet_parcours="NON"), row(et=ET2, NAT_2="0")]
    problem = only_problem(read(write_csv(tmp_path / "c.csv", rows), campaign))
    assert problem.line == 2 and "aucun volet conclu" in problem.rule


@pytest.mark.parametrize(
    ("ej", "cpam", "rule"),
    [
        (fin(10, "64"), "", "le département 64 a plusieurs CPAM (64-bayonne, 64-pau)"),
        (EJ, "33-nord", "CPAM inconnue de la campagne (attendu : 16, 17,"),
        (fin(10, "75"), "", "aucune CPAM de la campagne pour le département 75"),
    ],
)
def test_ambiguous_or_unknown_cpam(tmp_path: Path, campaign, ej: str, cpam: str, rule: str) -> None:
    rows = [row(ej, fin(11, ej[:2]), cpam=cpam)]
    problem = only_problem(read(write_csv(tmp_path / "c.csv", rows), campaign), ej)
    assert (problem.line, problem.column, problem.value) == (2, "cpam", cpam)
    assert rule in problem.rule


def test_cpam_key_in_any_case(tmp_path: Path, campaign) -> None:
    rows = [row(fin(10, "64"), fin(11, "64"), cpam="64-Pau")]
    [accepted] = read(write_csv(tmp_path / "c.csv", rows), campaign).accepted
    assert accepted.contract.establishment.cpam == "64-pau"


@pytest.mark.parametrize("column", ["finess_et", "representant", "raison_sociale", "adresse"])
def test_missing_required_value(tmp_path: Path, campaign, column: str) -> None:
    problem = only_problem(read(write_csv(tmp_path / "c.csv", [row(**{column: ""})]), campaign))
    assert (problem.line, problem.column, problem.value) == (2, column, "")
    assert "valeur obligatoire manquante" in problem.rule


def test_every_problem_of_an_establishment_is_collected(tmp_path: Path, campaign) -> None:
    rows = [
        row(et=ET1, NAT_1="?", cpam="99"),
        row(et=ET2, ATB="OUI", adresse="ailleurs"),
        row(et=ET2),
        row(EJ_B, ET_B),
    ]
    result = read(write_csv(tmp_path / "c.csv", rows), campaign)
    found = [(p.line, p.column) for p in problems(result)]
    assert found == [(2, "cpam"), (2, "NAT_1"), (3, "adresse"), (3, "ATB"), (4, "finess_et")]
    assert [t.finess_ej for t in result.accepted] == [EJ_B]


def test_value_in_a_column_without_header(tmp_path: Path, campaign) -> None:
    path = write_csv(tmp_path / "c.csv", [row()], columns=[*COLUMNS, ""])
    with open(path, "a", encoding="utf-8", newline="") as handle:
        handle.write(";".join([*[row(et=ET2).get(c, "") for c in COLUMNS], "en trop"]) + "\r\n")
    problem = only_problem(read(path, campaign))
    assert (problem.line, problem.value) == (3, "en trop")
    assert "sans en-tête" in problem.rule


# --------------------------------------------------------------------------- the header


def test_missing_required_column(tmp_path: Path, campaign) -> None:
    columns = [c for c in COLUMNS if c != "representant"]
    path = write_csv(tmp_path / "c.csv", [row()], columns=columns)
    with pytest.raises(InputError, match="colonne obligatoire « representant » absente"):
        read(path, campaign)


def test_unknown_column_is_named_with_a_suggestion(tmp_path: Path, campaign) -> None:
    columns = [c if c != "NAT_1" else "NAT1" for c in COLUMNS]
    path = write_csv(tmp_path / "ciblage.csv", [row()], columns=columns)
    with pytest.raises(InputError) as caught:
        read(path, campaign)
    message = str(caught.value)
    assert "ciblage.csv : ligne 1 : colonne inconnue (voulait-on dire « NAT_1 » ?)" in message
    assert "(valeur « NAT1 »)" in message and "colonnes attendues : finess_ej, finess_et" in message


def test_names_and_addresses_may_come_from_the_extract_only(tmp_path: Path, campaign) -> None:
    columns = [c for c in COLUMNS if c not in ("raison_sociale", "adresse")]
    path = write_csv(tmp_path / "c.csv", [row()], columns=columns)
    with pytest.raises(InputError, match="« raison_sociale » absente"):
        read(path, campaign)
    extract = write_extract(tmp_path / "extrait.csv", "utf-8")
    [accepted] = read(path, campaign, finess_extract=extract).accepted
    assert accepted.contract.establishment.legal_name == "CENTRE HOSPITALIER FICTIF D'ARÈS"


@pytest.mark.parametrize(
    ("content", "rule"),
    [
        (b"", "fichier vide"),
        (b"\r\nfiness_ej;finess_et\r\n", "la première ligne est vide"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "classeur illisible (format non reconnu"),
        (b"finess_ej;finess_et;raison_sociale;adresse;representant\r\n", "aucune ligne"),
        (
            b"finess_ej;finess_et;raison_sociale;adresse;representant\r\n\xe9;\x81;\r\n",
            "ligne 2 : encodage non reconnu (octet 0x81)",
        ),
    ],
)
def test_unreadable_files(tmp_path: Path, campaign, content: bytes, rule: str) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=re.escape(rule)):
        read(path, campaign)
    with pytest.raises(InputError, match="introuvable"):
        read(tmp_path / "absent.csv", campaign)


# --------------------------------------------------------------------------- CSV dialects


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("utf-8-sig", ";"), ("utf-8", ","), ("cp1252", ";"), ("cp1252", ",")],
)
def test_encodings_and_separators(tmp_path: Path, campaign, encoding: str, delimiter: str) -> None:
    rows = [row(raison_sociale="Hôpital « Saint-Éloi », Arès", adresse="Île d'Arès ; 33740")]
    path = write_csv(tmp_path / "c.csv", rows, delimiter=delimiter, encoding=encoding)
    [accepted] = read(path, campaign).accepted
    establishment = accepted.contract.establishment
    assert establishment.legal_name == "Hôpital « Saint-Éloi », Arès"
    assert establishment.address == "Île d'Arès ; 33740"
    assert establishment.representative.name == "Madame Léa BÉGUÉ"


def test_digest_ignores_format_and_column_order_but_not_values(tmp_path: Path, campaign) -> None:
    rows = [row(), row(et=ET2, ATB="OUI")]
    rows[0]["ATB"] = "OUI"
    digest = read(write_csv(tmp_path / "a.csv", rows), campaign).accepted[0].digest
    reordered = list(reversed(COLUMNS))
    path = write_csv(tmp_path / "b.csv", rows, columns=reordered, delimiter=",", encoding="cp1252")
    assert read(path, campaign).accepted[0].digest == digest
    assert read(write_xlsx(tmp_path / "c.xlsx", rows), campaign).accepted[0].digest == digest
    rows[1]["nom_et"] = "Autre nom"
    assert read(write_csv(tmp_path / "d.csv", rows), campaign).accepted[0].digest != digest


# --------------------------------------------------------------------------- XLSX


def plan_row(**values: object) -> dict[str, object]:
    data: dict[str, object] = {
        "finess_ej": EJ,
        "volet": 1,
        "indicateur": "NAT_2",
        "finess_et": ET1,
        "axe": "Déprescription des IPP",
        "action": "Revue des ordonnances de sortie",
        "pilote": "PUI",
        "echeance": dt.datetime(2023, 6, 30),
        "cible": 0.6,
    }
    data.update(values)
    return data


def test_xlsx_without_plan_sheet_first_sheet_and_numbers(tmp_path: Path, campaign) -> None:
    # Département 01 is not in the campaign: the CPAM is named.
    ej, et = finess("01099510"), finess("01099511")
    data = row(int(ej), int(et), cpam="87", NAT_2=1)  # type: ignore[arg-type]
    path = write_xlsx(tmp_path / "c.xlsx", [data], sheet="Feuil1")
    [accepted] = read(path, campaign).accepted
    assert (accepted.finess_ej, accepted.sites) == (ej, (et,))
    assert ej.startswith("0") and accepted.lines == (2,)
    assert [r.indicator for r in accepted.contract.action_plan] == ["NAT_2"]  # defaults only
    as_text = write_csv(tmp_path / "c.csv", [{**data, "finess_ej": ej, "finess_et": et}])
    assert read(as_text, campaign).accepted[0].digest == accepted.digest


def test_xlsx_plan_actions_sheet(tmp_path: Path, campaign) -> None:
    rows = [row(ATB="OUI", volet_parcours="OUI"), row(et=ET2, ATB="OUI", volet_parcours="OUI")]
    plan = [plan_row(), plan_row(volet=2, indicateur="HOSP_EVIT", finess_et=None)]
    [accepted] = read(write_xlsx(tmp_path / "c.xlsx", rows, plan), campaign).accepted
    assert accepted.plan_lines == (2, 3)
    own = accepted.contract.action_plan[:2]
    assert (own[0].site, own[0].deadline, own[0].target) == (ET1, "30/06/2023", "0.6")
    assert (own[1].volet, own[1].indicator, own[1].site) == (2, "HOSP_EVIT", None)
    nat2_sites = [r.site for r in accepted.contract.action_plan if r.indicator == "NAT_2"]
    assert nat2_sites == [ET1, ET2]  # the own row replaces ET1's default line


@pytest.mark.parametrize(
    ("values", "column", "rule"),
    [
        ({"volet": 3}, "volet", "volet attendu : 1 ou 2"),
        ({"volet": 2, "indicateur": "HOSP_EVIT"}, "volet", "le volet 2 n'est pas conclu"),
        ({"indicateur": "NAT_9"}, "indicateur", "indicateur inconnu"),
        ({"indicateur": "NAT_5"}, "indicateur", "ciblé sur aucun site"),
        ({"indicateur": "MIPA", "finess_et": None}, "indicateur", "régional non retenu"),
        ({"finess_et": ET_B}, "finess_et", "n'est pas un site de l'établissement"),
        ({"axe": None}, "axe", "valeur obligatoire manquante"),
        ({"finess_ej": EJ_B}, "finess_ej", "établissement absent du fichier de ciblage"),
    ],
)
def test_plan_row_problems(
    tmp_path: Path, campaign, values: dict[str, object], column: str, rule: str
) -> None:
    path = write_xlsx(tmp_path / "c.xlsx", [row()], [plan_row(), plan_row(**values)])
    result = read(path, campaign)
    ej = str(values.get("finess_ej", EJ))
    problem = only_problem(result, ej)
    assert (problem.sheet, problem.line, problem.column) == ("plan_actions", 3, column)
    assert rule in problem.rule
    assert str(problem).startswith(f"plan_actions, ligne 3, colonne {column} : ")


def test_plan_from_a_separate_csv(tmp_path: Path, campaign) -> None:
    targeting = write_csv(tmp_path / "c.csv", [row()])
    plan = tmp_path / "plan.csv"
    with open(plan, "w", encoding="cp1252", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(PLAN_COLUMNS)
        writer.writerow([{**plan_row(), "echeance": "30/06/2023"}.get(c, "") for c in PLAN_COLUMNS])
    [accepted] = read(targeting, campaign, action_plan=plan).accepted
    assert accepted.contract.action_plan[0].axis == "Déprescription des IPP"


# --------------------------------------------------------------------------- FINESS extract


def extract_lines() -> list[str]:
    def site(et: str, ej: str, rs: str, rslongue: str) -> str:
        fields = dict.fromkeys(SITE_FIELDS, "")
        fields.update(
            structureet="structureet", nofinesset=et, nofinessej=ej, rs=rs, rslongue=rslongue,
            numvoie="12", typvoie="AV", voie="DE LA LIBERATION", compvoie="B",
            ligneacheminement="33740 ARES", departement="33", categetab="355",
        )  # fmt: skip
        return ";".join(fields.values())

    return [
        "finess;etalab;111;2026-05-12",
        f"structureej;{EJ};CH FICTIF ARES;CENTRE HOSPITALIER FICTIF D'ARÈS;;;12;AV;"
        "DE LA LIBERATION;;BP 7;015;33;GIRONDE;33740 ARES;0556000000;;13;EPS",
        site(ET1, EJ, "CH ARES SITE PORT", ""),
        site(ET2, EJ, "CH ARES", "CENTRE HOSPITALIER FICTIF D'ARÈS - SITE DES PRÉS SALÉS"),
        site(ET3, EJ_B, "CLINIQUE B", ""),
        site(fin(40), fin(41), "AUTRE", ""),
        f"geolocalisation;{ET1};417242.5;6571234.1;1,ATLASANTE,100,IGN;2026-05-10",
    ]


def write_extract(path: Path, encoding: str) -> Path:
    path.write_bytes(("\n".join(extract_lines()) + "\n").encode(encoding))
    return path


@pytest.mark.parametrize("encoding", ["iso-8859-1", "utf-8"])
def test_extract_fills_names_and_addresses(tmp_path: Path, campaign, encoding: str) -> None:
    extract = write_extract(tmp_path / "extrait.csv", encoding)
    rows = [
        row(et=ET1, raison_sociale="", adresse="", nom_et=""),
        row(et=ET2, raison_sociale="", adresse="", nom_et=""),
    ]
    result = read(write_csv(tmp_path / "c.csv", rows), campaign, finess_extract=extract)
    [accepted] = result.accepted
    establishment = accepted.contract.establishment
    assert establishment.legal_name == "CENTRE HOSPITALIER FICTIF D'ARÈS"
    assert establishment.address == "12 AV DE LA LIBERATION BP 7 33740 ARES"
    assert [s.name for s in establishment.sites] == [
        "CH ARES SITE PORT",
        "CENTRE HOSPITALIER FICTIF D'ARÈS - SITE DES PRÉS SALÉS",
    ]


def test_site_known_under_another_establishment_is_refused(tmp_path: Path, campaign) -> None:
    extract = write_extract(tmp_path / "extrait.csv", "iso-8859-1")
    rows = [row(et=ET1), row(et=ET3)]
    result = read(write_csv(tmp_path / "c.csv", rows), campaign, finess_extract=extract)
    problem = only_problem(result)
    assert (problem.line, problem.column, problem.value) == (3, "finess_et", ET3)
    assert f"dépend de l'entité juridique {EJ_B}, pas de {EJ}" in problem.rule


def test_name_missing_from_file_and_extract(tmp_path: Path, campaign) -> None:
    extract = write_extract(tmp_path / "extrait.csv", "utf-8")
    rows = [row(EJ_B, ET_B, raison_sociale="")]
    result = read(write_csv(tmp_path / "c.csv", rows), campaign, finess_extract=extract)
    problem = only_problem(result, EJ_B)
    assert problem.column == "raison_sociale"
    assert (
        "manquante sur toutes les lignes" in problem.rule and "absente de l'extrait" in problem.rule
    )


def test_extract_reader_keeps_only_wanted_numbers(tmp_path: Path) -> None:
    path = write_extract(tmp_path / "extrait.csv", "iso-8859-1")
    extract = read_finess_extract(path, {ET2, EJ})
    assert set(extract.sites) == {ET2} and set(extract.entities) == {EJ}
    entry = extract.site(ET2)
    assert entry is not None
    assert (entry.finess_ej, entry.departement, entry.category) == (EJ, "33", "355")
    assert entry.address == "12 B AV DE LA LIBERATION 33740 ARES"
    assert extract.dates == ["2026-05-12"]
    assert set(read_finess_extract(path).sites) == {ET1, ET2, ET3, fin(40)}


@pytest.mark.parametrize(
    ("lines", "rule"),
    [
        (["nofinesset;rs"], "n'est pas un extrait FINESS"),
        (["finess;etalab;111;2026-05-12", f"structureet;{ET1};{EJ};trop court"], "ligne 2"),
    ],
)
def test_extract_reader_refuses_other_files(tmp_path: Path, lines: list[str], rule: str) -> None:
    path = tmp_path / "extrait.csv"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(InputError, match=rule):
        read_finess_extract(path, {ET1})


# --------------------------------------------------------------------------- rejets.csv


def test_write_rejects_lists_every_line_of_refused_establishments(tmp_path: Path, campaign) -> None:
    rows = [row(et=ET1), row(et=ET2, NAT_3="bof"), row(EJ_B, ET_B), row(et=ET3)]
    path = write_xlsx(tmp_path / "c.xlsx", rows, [plan_row(), plan_row(indicateur="NAT_9")])
    result = read(path, campaign)
    out = tmp_path / "sortie" / "rejets.csv"
    assert write_rejects(out, result.refused) == 5
    raw = out.read_bytes()
    header = "\ufeffligne;finess_ej;raison_sociale;finess_et;colonne;valeur;erreur\r\n"
    assert raw.startswith(header.encode("utf-8"))
    with open(out, encoding="utf-8-sig", newline="") as handle:
        lines = list(csv.reader(handle, delimiter=";"))
    because = (
        "établissement refusé en entier à cause de ses autres lignes "
        "(ligne 3 et ligne 3 du plan d'actions)"
    )
    name = "Centre hospitalier fictif d'Arès"
    assert lines[1:] == [
        ["2", EJ, name, ET1, "", "", because],
        ["3", EJ, name, ET2, "NAT_3", "bof", lines[2][6]],
        ["5", EJ, name, ET3, "", "", because],
        ["2", EJ, name, ET1, "plan_actions", "", because],
        ["3", EJ, name, ET1, "plan_actions.indicateur", "NAT_9", lines[5][6]],
    ]
    assert "X, 1 ou OUI" in lines[2][6] and "indicateur inconnu" in lines[5][6]
    assert [p.name for p in out.parent.iterdir()] == ["rejets.csv"]


def test_model_objections_are_located_too(tmp_path: Path, campaign, monkeypatch) -> None:
    """Rules the models may gain later still refuse one establishment, located, not the batch."""
    from caqes_docs.inputs import targeting
    from caqes_docs.inputs.validation import InvalidData

    def objecting(*args: object, **kwargs: object) -> None:
        raise InvalidData(
            [
                InputError("règle du site", place="etablissement.sites[1].nom", value="Site B"),
                InputError("règle du plan", place="plan_actions[0].axe"),
                InputError("règle du contrat", place="date_fin"),
            ]
        )

    monkeypatch.setattr(targeting, "build_contract", objecting)
    path = write_xlsx(tmp_path / "c.xlsx", [row(), row(et=ET2)], [plan_row()])
    found = [(p.sheet, p.line, p.column, p.value, p.rule) for p in read(path, campaign).rejected]
    assert found == [
        ("ciblage", 2, "date_fin", "", "règle du contrat"),
        ("ciblage", 3, "nom_et", "Site B", "règle du site"),
        ("plan_actions", 2, "axe", "", "règle du plan"),
    ]


# --------------------------------------------------------------------------- workbooks as saved


TEST_DATA = Path(__file__).resolve().parent / "data"
EXAMPLE = "ciblage-nouvelle-aquitaine-2022"


@pytest.mark.parametrize("suffix", ["ods", "xls"])
def test_examples_saved_by_libreoffice_give_the_same_contracts(
    example_results, campaign: Campaign, suffix: str
) -> None:
    # examples/*.ods and *.xls: the .xlsx example converted by LibreOffice Calc 7.4.
    _, from_xlsx = example_results
    result = read_targeting(
        EXAMPLES / f"{EXAMPLE}.{suffix}", campaign, finess_extract=EXAMPLES / "finess-extrait.csv"
    )
    assert [(t.finess_ej, t.digest) for t in result.accepted] == [
        (t.finess_ej, t.digest) for t in from_xlsx.accepted
    ]
    assert [str(p) for p in result.rejected] == [str(p) for p in from_xlsx.rejected]


# tests/data/ciblage-cellules.*: written by openpyxl (a formula =NA() in qualite_representant
# line 2; a number as raison_sociale and a date as nom_et line 3; numeric FINESS numbers of
# département 01 line 4), then saved by LibreOffice Calc 7.4 as .ods, .xlsx and .xls.
CELLS_A, CELLS_B, CELLS_C = fin(30), fin(40), finess("01099550")


@pytest.mark.parametrize("suffix", ["ods", "xlsx", "xls"])
def test_numbers_and_dates_where_text_is_expected_are_refused(campaign, suffix: str) -> None:
    result = read(TEST_DATA / f"ciblage-cellules.{suffix}", campaign)
    assert [(p.line, p.column, p.value, p.rule) for p in problems(result, CELLS_B)] == [
        (3, "raison_sociale", "12345", "texte attendu dans cette colonne, pas un nombre"),
        (3, "nom_et", "03/01/2022", "texte attendu dans cette colonne, pas une date"),
    ]
    accepted = {item.finess_ej: item for item in result.accepted}
    assert accepted[CELLS_C].sites == (finess("01099551"),)  # the leading zero is back


@pytest.mark.parametrize("suffix", ["ods", "xlsx"])
def test_a_formula_error_is_refused_not_taken_for_an_empty_cell(campaign, suffix: str) -> None:
    result = read(TEST_DATA / f"ciblage-cellules.{suffix}", campaign)
    problem = only_problem(result, CELLS_A)
    assert (problem.line, problem.column, problem.value) == (2, "qualite_representant", "#N/A")
    assert problem.rule.startswith("erreur de formule dans la cellule")


def test_xls_formula_errors_cannot_be_seen_so_the_officer_is_told(campaign) -> None:
    result = read(TEST_DATA / "ciblage-cellules.xls", campaign)
    assert CELLS_A in [item.finess_ej for item in result.accepted]  # python-calamine issue 105
    assert any("(.xls), une erreur de formule (#N/A…) se lit" in w for w in result.warnings)
    assert not any(".xls" in w for w in read(TEST_DATA / "ciblage-cellules.ods", campaign).warnings)


@pytest.mark.parametrize("value", ["#N/A", "#n/a", "#VALEUR!", "#REF!", "Err:502"])
def test_formula_errors_written_as_text_are_refused(tmp_path: Path, campaign, value: str) -> None:
    # What Excel writes in a CSV file for an error cell; openpyxl writes an error cell.
    for path in (write_csv(tmp_path / "c.csv", [row(nom_et=value)]),):
        problem = only_problem(read(path, campaign))
        assert (problem.column, problem.value) == ("nom_et", value)
        assert problem.rule.startswith("erreur de formule")
    openpyxl_error = write_xlsx(tmp_path / "c.xlsx", [row(raison_sociale="#N/A")])
    assert only_problem(read(openpyxl_error, campaign)).column == "raison_sociale"


def test_dates_and_booleans_in_flag_and_plan_columns(tmp_path: Path, campaign) -> None:
    rows = [row(NAT_2=True, ATB=dt.date(2022, 1, 1))]  # type: ignore[arg-type]
    plan = [plan_row(echeance=dt.date(2023, 6, 30), cible=dt.date(2023, 1, 1))]
    result = read(write_xlsx(tmp_path / "c.xlsx", rows, plan), campaign)
    assert [(p.sheet, p.column, p.value, p.rule) for p in problems(result)] == [
        ("ciblage", "ATB", "01/01/2022", "texte ou nombre ou valeur logique (VRAI/FAUX) attendu "
         "dans cette colonne, pas une date"),
        ("plan_actions", "cible", "01/01/2023", "texte ou nombre attendu dans cette colonne, "
         "pas une date"),
    ]  # fmt: skip


def test_headers_match_whatever_their_case_accents_and_spaces(tmp_path: Path, campaign) -> None:
    data = row()
    headers = {"finess_ej": "FINESS_EJ", "finess_et": "Finess et", "nom_et": "Nom-ET"}
    headers |= {"qualite_representant": "Qualité_Représentant", "NAT_2": "nat_2"}
    columns = [headers.get(name, name) for name in COLUMNS]
    path = write_csv(tmp_path / "c.csv", [{headers.get(k, k): v for k, v in data.items()}],
                     columns=columns)  # fmt: skip
    [accepted] = read(path, campaign).accepted
    assert accepted.contract.establishment.representative.title == "Directrice"
    assert accepted.contract.establishment.sites[0].name == f"Site {ET1}"
    assert accepted.contract.volet1.national == {"NAT_2": [ET1]}  # type: ignore[union-attr]
    twice = write_csv(tmp_path / "d.csv", [data], columns=[*COLUMNS, "Finess_EJ"])
    with pytest.raises(InputError, match=r"ligne 1 : colonne en double \(valeur « Finess_EJ »"):
        read(twice, campaign)


def test_csv_targeting_says_once_that_the_campaign_lines_are_used(tmp_path: Path, campaign) -> None:
    rows = [row(), row(et=ET2), row(EJ_B, ET_B)]
    result = read(write_csv(tmp_path / "ciblage.csv", rows), campaign)
    defaulted = [w for w in result.warnings if "plan d'actions" in w]
    assert defaulted == [
        "ciblage.csv : le fichier CSV n'a pas de feuille « plan_actions » et aucun fichier de "
        f"plan d'actions n'est donné : les 2 établissements {EJ}, {EJ_B} reçoivent les lignes "
        "de plan d'actions proposées par la campagne"
    ]
    plan = write_csv(tmp_path / "plan.csv", [plan_row()], columns=PLAN_COLUMNS)
    with_plan = read(tmp_path / "ciblage.csv", campaign, action_plan=plan)
    assert [w for w in with_plan.warnings if "plan d'actions" in w] == [
        f"sans ligne de plan d'actions propre, l'établissement {EJ_B} reçoit les lignes "
        "proposées par la campagne"
    ]


def test_placeholder_cpam_data_is_reported(tmp_path: Path, campaign) -> None:
    from caqes_docs.inputs.validation import read_yaml
    from caqes_docs.resources import data_file

    rows = [row(), row(finess("40099510"), finess("40099511"))]
    path = write_csv(tmp_path / "c.csv", rows)
    [warning] = [w for w in read(path, campaign).warnings if "à compléter" in w]
    assert warning == (
        "la campagne « CAQES Nouvelle-Aquitaine 2022-2024 » contient encore des données à "
        "compléter, reprises telles quelles dans les contrats : CPAM 33, 40 : adresse postale "
        "(sans code postal), nom du directeur"
    )
    data = read_yaml(data_file("campagne-nouvelle-aquitaine-2022.yaml"))
    for key in ("33", "40"):
        data["cpam"][key]["adresse"] = "1 place de l'Europe - 33000 Bordeaux"
        data["cpam"][key]["representant"]["nom"] = "Madame Anne MARTIN"
    data["cpam"]["40"]["representant"]["nom"] = "à compléter"
    complete = Campaign.model_validate(data)
    [warning] = [w for w in read(path, complete).warnings if "à compléter" in w]
    assert warning.endswith(
        "reprises telles quelles dans les contrats : CPAM 40 : nom du directeur"
    )


# --------------------------------------------------------------------------- hostile files


@pytest.mark.parametrize(
    ("char", "shown"), [("\x07", "<U+0007>"), ("\x1c", "<U+001C>"), ("\u202e", "<U+202E>")]
)
def test_forbidden_characters_in_cells_are_located(
    tmp_path: Path, campaign, char: str, shown: str
) -> None:
    path = write_csv(tmp_path / "c.csv", [row(representant=f"Madame{char} Léa")])
    problem = only_problem(read(path, campaign))
    assert (problem.line, problem.column, problem.value) == (
        2,
        "representant",
        f"Madame{shown} Léa",
    )
    assert problem.rule.startswith(f"caractère interdit U+{ord(char):04X}")
    rtl = write_xlsx(tmp_path / "c.xlsx", [row(nom_et="Site\u2067A")])
    assert only_problem(read(rtl, campaign)).value == "Site<U+2067>A"
    tab = write_csv(tmp_path / "t.csv", [row(adresse="1 rue\tdu Port\n33740 Arès")])
    assert read(tab, campaign).accepted[0].contract.establishment.address == (
        "1 rue du Port 33740 Arès"
    )


def _zip(path: Path, parts: dict[str, bytes]) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return path


def test_an_archive_inflating_beyond_the_bound_is_refused_before_parsing(
    tmp_path: Path, campaign
) -> None:
    from caqes_docs.inputs import spreadsheet

    big = spreadsheet.MAX_ARCHIVE_BYTES + 1
    path = _zip(tmp_path / "bombe.xlsx", {"xl/worksheets/sheet1.xml": b"<" * big})
    assert path.stat().st_size < 1024 * 1024
    with pytest.raises(InputError, match=r"archive refusée : \d+ Mo une fois décompressé"):
        read(path, campaign)


def test_an_archive_lying_about_its_sizes_is_refused(tmp_path: Path, campaign) -> None:
    import zipfile

    path = _zip(tmp_path / "ment.xlsx", {"xl/workbook.xml": b"<" * 100_000})
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.infolist()[0]
    # Declare 100 bytes instead of 100,000 in the local header and the central directory.
    for offset in (info.header_offset + 22, data.rindex(b"PK\x01\x02") + 24):
        data[offset : offset + 4] = (100).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="classeur illisible"):
        read(path, campaign)


def test_a_sheet_reaching_the_far_corner_is_refused_and_the_process_survives(
    tmp_path: Path, campaign
) -> None:
    # Two cells, A1 and XFD1048576: python-calamine would ask for 512 GB and abort.
    book = Workbook()
    book.active.title = "ciblage"
    book.active["A1"] = "finess_ej"
    book.active["XFD1048576"] = "x"
    path = tmp_path / "coin.xlsx"
    book.save(path)
    assert path.stat().st_size < 10_000
    with pytest.raises(InputError, match="classeur refusé : sa lecture demanderait plus de"):
        read(path, campaign)
    assert read(write_csv(tmp_path / "c.csv", [row()]), campaign).accepted


@pytest.mark.parametrize("column", ["qualite_representant", "representant", "adresse"])
def test_a_date_in_a_text_column_is_not_printed_into_a_contract(
    tmp_path: Path, campaign, column: str
) -> None:
    path = write_xlsx(tmp_path / "c.xlsx", [row(**{column: dt.datetime(2022, 7, 1)})])
    problem = only_problem(read(path, campaign))
    assert (problem.line, problem.column, problem.value) == (2, column, "01/07/2022")
    assert problem.rule == "texte attendu dans cette colonne, pas une date"


def test_sheets_are_found_whatever_the_case_of_their_names(tmp_path: Path, campaign) -> None:
    from openpyxl import load_workbook

    path = write_xlsx(tmp_path / "c.xlsx", [row()], [plan_row()])
    book = load_workbook(path)
    targeting, plan = book["ciblage"], book["plan_actions"]
    targeting.title = "x"  # openpyxl appends « 1 » to a title equal to another but for case
    targeting.title, plan.title = "CIBLAGE", "Plan actions"
    book.move_sheet(targeting, offset=1)  # neither first nor named exactly: still found
    book.save(path)
    [accepted] = read(path, campaign).accepted
    assert accepted.plan_lines == (2,)


@pytest.mark.parametrize("name", ["c.csv", "c.xlsx"])
def test_a_file_beyond_the_size_bound_is_refused_before_reading(
    tmp_path: Path, campaign, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    from caqes_docs.inputs import spreadsheet

    path = write_csv(tmp_path / name, [row()] * 30) if name.endswith("csv") else None
    path = path or write_xlsx(tmp_path / name, [row()] * 30)
    monkeypatch.setattr(spreadsheet, "MAX_FILE_BYTES", path.stat().st_size - 1)
    with pytest.raises(InputError, match=r"(fichier|classeur) refusé : plus de \d+ Mo"):
        read(path, campaign)
