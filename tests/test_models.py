"""Validation of the domain: FINESS numbers, dates, volets, campaign and contract files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from caqes_docs.errors import InputError
from caqes_docs.inputs.campaign import load_campaign
from caqes_docs.inputs.contract_file import load_contract
from caqes_docs.inputs.finess import departement, finess_problem
from caqes_docs.inputs.models import duration_problem
from caqes_docs.inputs.validation import InvalidData

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    "number",
    ["240000059", "240000372", "330781196", "330000340", "2A0000154", "2B0004246", "010780054"],
)
def test_valid_finess(number: str) -> None:
    assert finess_problem(number) is None


@pytest.mark.parametrize(
    ("number", "rule"),
    [
        ("240000058", "clé de contrôle"),
        ("2A0000155", "clé de contrôle"),
        ("2B0004245", "clé de contrôle"),
        ("24000005", "9 caractères"),
        ("2400000590", "9 caractères"),
        ("2C0000154", "commence par le code du département"),
        ("24000A059", "commence par le code du département"),
    ],
)
def test_invalid_finess(number: str, rule: str) -> None:
    assert rule in (finess_problem(number) or "")


def test_departement_of_overseas_and_corsica() -> None:
    assert departement("971234567") == "971"
    assert departement("2A0000154") == "2A"
    assert departement("330781196") == "33"


@pytest.mark.parametrize(
    ("start", "end", "ok"),
    [
        (dt.date(2022, 7, 1), dt.date(2024, 12, 31), True),
        (dt.date(2023, 1, 1), dt.date(2027, 12, 31), True),
        (dt.date(2023, 1, 1), dt.date(2028, 1, 1), False),
        (dt.date(2022, 7, 1), dt.date(2027, 7, 1), False),
        (dt.date(2024, 2, 29), dt.date(2029, 2, 27), True),
        (dt.date(2024, 2, 29), dt.date(2029, 2, 28), False),
        (dt.date(2022, 7, 1), dt.date(2022, 7, 1), False),
        (dt.date(2022, 7, 1), dt.date(2022, 6, 30), False),
    ],
)
def test_five_year_rule(start: dt.date, end: dt.date, ok: bool) -> None:
    assert (duration_problem(start, end) is None) is ok


def _write(tmp_path: Path, data: dict, name: str = "contrat.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _example(name: str = "clinique-fictive-bayonne.yaml") -> dict:
    return yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))


def _problems(path: Path) -> list[str]:
    with pytest.raises(InvalidData) as caught:
        load_contract(path, load_campaign())
    return [str(p) for p in caught.value.problems]


def test_examples_load() -> None:
    campaign = load_campaign()
    for path in sorted(EXAMPLES.glob("*.yaml")):
        contract = load_contract(path, campaign)
        assert contract.reference == f"CAQES-NA-2022-{contract.establishment.finess_ej}"
        assert contract.calendar_years == 3


def test_bad_finess_names_field_value_and_rule(tmp_path: Path) -> None:
    data = _example()
    data["etablissement"]["sites"][0]["finess"] = "640990025"
    [problem] = _problems(_write(tmp_path, data))
    assert "contrat.yaml" in problem
    assert "etablissement.sites[0].finess" in problem
    assert "640990025" in problem
    assert "clé de contrôle" in problem


def test_contract_without_volet_is_invalid(tmp_path: Path) -> None:
    data = _example()
    del data["volet1"]
    assert any("au moins un volet" in p for p in _problems(_write(tmp_path, data)))


def test_empty_volet1_is_invalid(tmp_path: Path) -> None:
    data = _example()
    data["volet1"] = {"nationaux": {}, "regionaux": []}
    assert any("aucun indicateur" in p for p in _problems(_write(tmp_path, data)))


def test_unknown_indicator_and_foreign_site(tmp_path: Path) -> None:
    data = _example()
    data["volet1"]["regionaux"] = ["ATB", "XYZ"]
    assert any("« XYZ » inconnu" in p for p in _problems(_write(tmp_path, data)))
    data = _example()
    data["volet1"]["nationaux"]["NAT_1"] = ["330990029"]
    assert any("n'est pas un site" in p for p in _problems(_write(tmp_path, data)))


def test_duplicated_site_and_unknown_field(tmp_path: Path) -> None:
    data = _example()
    data["etablissement"]["sites"].append(dict(data["etablissement"]["sites"][0]))
    assert any("figure deux fois" in p for p in _problems(_write(tmp_path, data)))
    data = _example()
    data["etablissement"]["telephone"] = "05"
    data["volet1"]["regionaux"] = "ATB"
    problems = _problems(_write(tmp_path, data))
    assert any("etablissement.telephone" in p and "champ inconnu" in p for p in problems)
    assert any("volet1.regionaux" in p and "liste attendue" in p for p in problems)


def test_ambiguous_cpam_in_64(tmp_path: Path) -> None:
    data = _example()
    del data["etablissement"]["cpam"]
    with pytest.raises(InputError, match="plusieurs CPAM"):
        load_contract(_write(tmp_path, data), load_campaign())


def test_campaign_over_five_years_is_refused(tmp_path: Path) -> None:
    from caqes_docs.resources import data_file

    data = yaml.safe_load(data_file("campagne-nouvelle-aquitaine-2022.yaml").read_text("utf-8"))
    data["date_fin"] = dt.date(2027, 12, 31)
    with pytest.raises(InvalidData, match="au plus 5 ans"):
        load_campaign(_write(tmp_path, data, "campagne.yaml"))


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    path = tmp_path / "casse.yaml"
    path.write_text("etablissement:\n  nom: [pas fermé\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"casse.yaml : ligne \d+"):
        load_contract(path, load_campaign())


def test_default_action_plan_rows_per_targeted_site() -> None:
    contract = load_contract(EXAMPLES / "chu-fictif-bordeaux.yaml", load_campaign())
    nat2 = [row for row in contract.action_plan if row.indicator == "NAT_2"]
    # The establishment's own NAT_2 row replaces the default for its site only.
    assert sorted(row.site for row in nat2) == [
        "330990029", "330990037", "330990045", "330990052",
    ]  # fmt: skip
    assert any(row.axis == "Déprescription des IPP au long cours" for row in nat2)
    themes = [row.indicator for row in contract.action_plan if row.volet == 2]
    assert themes == ["CHIR_AMBU", "HOSP_EVIT", "DUREE_SEJ"]


# --------------------------------------------------------------------------- names and characters


def _campaign_data() -> dict:
    from caqes_docs.resources import data_file

    return yaml.safe_load(data_file("campagne-nouvelle-aquitaine-2022.yaml").read_text("utf-8"))


@pytest.mark.parametrize(
    "reference",
    ["../../x", "/tmp/caqes-x", "a/b", "CAQES..x", ".cache", "R" * 300, "CAQES NA 2022", "é-1"],
)
def test_a_reference_must_make_a_safe_file_name(tmp_path: Path, reference: str) -> None:
    data = _example()
    data["reference"] = reference
    [problem] = _problems(_write(tmp_path, data))
    assert problem.startswith(f"{tmp_path / 'contrat.yaml'} : reference : ce nom sert de nom")
    assert "100 caractères au plus" in problem
    data["reference"] = "CAQES-NA-2022-640990017.v2_bis"
    assert load_contract(_write(tmp_path, data), load_campaign()).reference == data["reference"]


@pytest.mark.parametrize(
    ("pattern", "rule"),
    [
        ("../../{finess_ej}", "ce nom sert de nom de fichier"),
        ("/srv/{finess_ej}", "ce nom sert de nom de fichier"),
        ("{finess_ej:>100000000}", "« finess_ej » ; variables permises"),
        ("{finess_ej!r}", "« finess_ej » ; variables permises"),
        ("{finess_ej.__class__}", "« finess_ej.__class__ » ; variables permises"),
        ("CAQES-{departement}", "« departement » ; variables permises"),
        ("CAQES-{finess_ej", "accolades mal formées"),
        ("X" * 95 + "{finess_ej}", "100 caractères au plus"),
    ],
)
def test_a_campaign_reference_pattern_is_checked_before_use(
    tmp_path: Path, pattern: str, rule: str
) -> None:
    data = _campaign_data()
    data["reference"] = pattern
    with pytest.raises(InvalidData) as caught:
        load_campaign(_write(tmp_path, data, "campagne.yaml"))
    [problem] = caught.value.problems
    assert str(problem).startswith(f"{tmp_path / 'campagne.yaml'} : reference : ")
    assert rule in problem.rule


@pytest.mark.parametrize(
    ("char", "kind"),
    [
        ("\x00", "caractère de contrôle"),
        ("\x07", "caractère de contrôle"),
        ("\x1b", "caractère de contrôle"),
        ("\x1f", "caractère de contrôle"),
        ("\u202e", "inversion du sens d'écriture"),
        ("\u2066", "inversion du sens d'écriture"),
    ],
)
def test_control_and_bidi_characters_are_refused_where_they_stand(
    tmp_path: Path, char: str, kind: str
) -> None:
    data = _example()
    data["etablissement"]["raison_sociale"] = f"Clinique{char}fictive"
    data["etablissement"]["sites"][0]["nom"] = f"Site{char}"
    problems = _problems(_write(tmp_path, data))
    shown = f"<U+{ord(char):04X}>"
    assert problems == [
        f"{tmp_path / 'contrat.yaml'} : etablissement.raison_sociale : caractère interdit "
        f"U+{ord(char):04X} ({kind}) : ressaisir la valeur (valeur « Clinique{shown}fictive »)",
        f"{tmp_path / 'contrat.yaml'} : etablissement.sites[0].nom : caractère interdit "
        f"U+{ord(char):04X} ({kind}) : ressaisir la valeur (valeur « Site{shown} »)",
    ]


def test_tab_and_newline_are_allowed_and_keys_are_checked_too(tmp_path: Path) -> None:
    data = _example()
    data["etablissement"]["adresse"] = "1 rue du Port\n\t64100 Bayonne"
    assert load_contract(_write(tmp_path, data), load_campaign())
    data["etablissement"]["\u202etelephone"] = "05"
    problems = _problems(_write(tmp_path, data))
    assert any("etablissement : caractère interdit U+202E" in p for p in problems)


def test_campaign_text_is_checked_for_characters(tmp_path: Path) -> None:
    data = _campaign_data()
    data["cpam"]["33"]["adresse"] = "Bordeaux\x0b"
    with pytest.raises(InvalidData, match=r"cpam\.33\.adresse : caractère interdit U\+000B"):
        load_campaign(_write(tmp_path, data, "campagne.yaml"))


def test_models_refuse_forbidden_characters_whatever_their_source() -> None:
    from caqes_docs.inputs.models import Site
    from caqes_docs.inputs.validation import validate

    with pytest.raises(InvalidData, match=r"nom : caractère interdit U\+202D"):
        validate(Site, {"finess": "330781196", "nom": "Site \u202dA"})


def test_a_refused_value_is_shown_without_its_forbidden_characters() -> None:
    from caqes_docs.inputs.models import Establishment
    from caqes_docs.inputs.validation import validate

    data = {"raison_sociale": "CH \u202eA", "adresse": "1 rue - 33000 Bordeaux"}
    data |= {"finess_ej": "330781196", "representant": {"nom": "M. X"}}
    data["sites"] = [{"finess": "330781196", "nom": "Site"}]
    with pytest.raises(InvalidData) as caught:
        validate(Establishment, data)
    assert str(caught.value).endswith("(valeur « CH <U+202E>A »)")
