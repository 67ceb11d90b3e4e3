"""The DOCX models: in step with tools/build_templates.py, and rendering as the model reads.

Renders go through docxtpl with the renderer's Jinja environment (strict, autoescaped,
``date_fr``) and a context written by hand from docs/variables-modeles.md, so a template
using an undocumented variable fails here.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pdfplumber
import pytest
from docx import Document
from docx.oxml.ns import qn
from docxtpl import DocxTemplate
from pypdf import PdfReader

from caqes_docs.documents.render import build_context, make_environment
from caqes_docs.inputs.campaign import load_campaign
from caqes_docs.inputs.contract_file import load_contract

ROOT = Path(__file__).resolve().parent.parent
ANCHORS = ("/s1_ETAB/", "/d1_ETAB/", "/s2_CPAM/", "/d2_CPAM/", "/s3_ARS/", "/d3_ARS/")
TEXT_WIDTH = 9638  # A4 portrait less two 2 cm margins, in twips
NASTY = "« Les Pins » & <Océan> d'Arcachon"


def _load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_templates", ROOT / "tools" / "build_templates.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


builder = _load_builder()


# --- context -----------------------------------------------------------------------------

NATIONAL = [
    ("NAT_1", "Perfusions"),
    ("NAT_2", "Inhibiteurs de la pompe à protons"),
    ("NAT_3", "Examens pré anesthésiques"),
]
REGIONAL = [
    ("Liste en sus", [("MEDCOUTINN", "Médicaments"), ("DMI", "Dispositifs médicaux")]),
    ("", [("ATB", "Antibiotiques")]),
]


def _person(name: str, title: str) -> dict[str, str]:
    return {"nom": name, "qualite": title}


def make_context(sites: int = 3, *, volet1: bool = True, volet2: bool = True) -> dict[str, Any]:
    site_list = [
        {"finess": f"3307800{i:02d}", "nom": f"Site {i} {NASTY}", "numero": i}
        for i in range(1, sites + 1)
    ]
    line = {
        "indicateur": "NAT_1",
        "libelle_indicateur": "Perfusions",
        "site": "",
        "axe": "Bon usage",
        "action": "Former les prescripteurs & <internes>",
        "pilote": "Dr Martin",
        "echeance": "31/12/2023",
        "indicateur_suivi": "Taux de conformité",
        "valeur_initiale": "12 %",
        "cible": "8 %",
    }
    lines = [line, {**line, "site": "330780001", "indicateur": "NAT_2"}]
    return {
        "reference": "CAQES-NA-2022-330781196",
        "ars": {
            "nom": "Agence Régionale de Santé Nouvelle-Aquitaine",
            "nom_court": "Agence Régionale de Santé (ARS) Nouvelle-Aquitaine",
            "adresse": "103 bis rue Belleville - CS 91704 - 33063 Bordeaux Cedex",
            "representant": _person("Monsieur Benoît ELLEBOODE", "Directeur Général"),
        },
        "cpam": {
            "nom": "CPAM de la Gironde",
            "adresse": "Place de l'Europe, 33085 Bordeaux Cedex",
            "representant": _person("Madame Anne <Martin>", "Directrice"),
        },
        "etablissement": {
            "raison_sociale": f"Centre hospitalier {NASTY}",
            "adresse": "1 avenue de l'Hôpital, 33000 Bordeaux",
            "finess_ej": "330781196",
            "representant": _person("Monsieur Jean O'Neil", "Directeur"),
            "sites": site_list,
        },
        "date_effet": dt.date(2022, 7, 1),
        "date_fin": dt.date(2024, 12, 31),
        "duree_annees": 3,
        "entree_exceptionnelle": True,
        "visas": ["Vu le code de la santé publique ;", "Vu le code de la sécurité sociale ;"],
        "volet1": {
            "nationaux": [
                {"code": code, "libelle": label, "marques": ["X"] + [""] * (sites - 1)}
                for code, label in NATIONAL
            ],
            "regionaux": [
                {
                    "libelle": group,
                    "indicateurs": [
                        {"code": code, "libelle": label, "concerne": "OUI"}
                        for code, label in indicators
                    ],
                }
                for group, indicators in REGIONAL
            ],
        }
        if volet1
        else None,
        "volet2": {"themes": [{"code": "AMBU", "libelle": "Chirurgie & <ambulatoire>"}]}
        if volet2
        else None,
        "annexe1": {"lignes": lines},
        "annexe2": {"lignes": lines[:1]},
    }


def amendment_context() -> dict[str, Any]:
    """The contract's variables and those of an avenant (docs/variables-modeles.md)."""
    return {
        **make_context(),
        "avenant": {
            "numero": 2,
            "modifications": [
                "L’indicateur régional DLR Douleur est retenu (OUI).",
                f"Le site FINESS 330780001 (Site {NASTY}) est ajouté au contrat.",
            ],
            "annexes": [
                {"numero": 1, "libelle": "plan d’actions du volet 1", "nouvelle": False},
                {"numero": 2, "libelle": "plan d’actions du volet 2", "nouvelle": True},
            ],
            "date_signature": dt.date(2023, 12, 31),
            "date_effet": dt.date(2024, 1, 1),
        },
    }


def termination_context(last_volet: bool) -> dict[str, Any]:
    """The contract's variables and those of an avenant de résiliation."""
    return {
        **make_context(),
        "resiliation": {
            "numero": 3,
            "volet": 2,
            "volet_libelle": "Pertinence des parcours et des séjours",
            "date_signature": dt.date(2024, 1, 1),
            "date_effet": dt.date(2024, 12, 31),
            "dernier_volet": last_volet,
        },
    }


def render(template: str, context: dict[str, Any]) -> bytes:
    tpl = DocxTemplate(str(ROOT / template))
    tpl.render(context, make_environment(), autoescape=True)
    buffer = io.BytesIO()
    tpl.save(buffer)
    return buffer.getvalue()


def text_of(element: Any) -> str:
    """The text of ``w:t`` elements under ``element`` (tabs and breaks are elements)."""
    return "".join(t.text or "" for t in element.iter(qn("w:t")))


def body_text(docx: bytes) -> list[str]:
    """One string per paragraph of the body, tables included."""
    return [text_of(p) for p in Document(io.BytesIO(docx)).element.body.iter(qn("w:p"))]


def tables(docx: bytes) -> list[Any]:
    return list(Document(io.BytesIO(docx)).element.body.iter(qn("w:tbl")))


def grid(table: Any) -> list[int]:
    return [int(col.get(qn("w:w"))) for col in table.iter(qn("w:gridCol"))]


# --- the source and the committed files ---------------------------------------------------


def test_committed_models_match_their_source() -> None:
    assert builder.check() == []


def test_building_twice_gives_the_same_parts() -> None:
    first, second = builder.build_all(), builder.build_all()
    assert first.keys() == second.keys() == set(builder.BUILDERS)
    for name in first:
        assert builder.docx_parts(first[name]) == builder.docx_parts(second[name])


def test_check_reports_edited_and_missing_models(tmp_path: Path) -> None:
    assert builder.main(["--root", str(tmp_path)]) == 0
    assert builder.main(["--check", "--root", str(tmp_path)]) == 0

    edited = tmp_path / "annexes" / "annexe2.docx"
    with zipfile.ZipFile(edited) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    parts["word/document.xml"] = parts["word/document.xml"].replace(b"Cible", b"Objectif")
    with zipfile.ZipFile(edited, "w") as archive:
        for name, blob in parts.items():
            archive.writestr(name, blob)
    (tmp_path / "templates" / "contrat.docx").unlink()

    assert builder.check(tmp_path) == ["templates/contrat.docx", "annexes/annexe2.docx"]
    assert builder.main(["--check", "--root", str(tmp_path)]) == 1


# --- the contract ---------------------------------------------------------------------------


def test_contract_renders_the_model_text_with_escaped_values() -> None:
    text = body_text(render("templates/contrat.docx", make_context()))
    joined = "\n".join(text)
    assert "Référence : CAQES-NA-2022-330781196" in text
    assert f"Centre hospitalier {NASTY}," in text
    assert "Représenté par Madame Anne <Martin>, Directrice" in text
    assert text.index("Vu le code de la santé publique ;") < text.index(
        "Il a été convenu ce qui suit :"
    )
    assert "Finess juridique : 330781196" in text
    assert (
        "Le présent contrat est signé pour une durée de 3 ans. Il entre exceptionnellement en "
        "vigueur le 1er juillet 2022 suivant la date de signature et prendra fin le "
        "31 décembre 2024." in text
    )
    assert "Article 12 : voies de recours" in text
    assert "Date d’effet du contrat : 1er juillet 2022" in text
    assert "Pour l’Agence Régionale de Santé (ARS) Nouvelle-Aquitaine" in text
    assert "oChirurgie & <ambulatoire>" in text  # "o", a tab, the theme
    # Every tag is consumed: nothing of the template's syntax reaches the contract.
    assert not re.search(r"\{[{%#]|[}%#]\}", joined)


def test_article_3_without_exceptional_start_and_for_one_year() -> None:
    context = make_context()
    context.update(
        entree_exceptionnelle=False,
        duree_annees=1,
        date_effet=dt.date(2023, 1, 1),
        date_fin=dt.date(2023, 12, 31),
    )
    text = body_text(render("templates/contrat.docx", context))
    assert (
        "Le présent contrat est signé pour une durée de 1 an. Il entre en vigueur le "
        "1er janvier 2023 suivant la date de signature et prendra fin le 31 décembre 2023." in text
    )


@pytest.mark.parametrize(
    ("volet1", "volet2"), [(True, False), (False, True)], ids=["volet1", "volet2"]
)
def test_a_volet_not_concluded_leaves_no_trace(volet1: bool, volet2: bool) -> None:
    docx = render("templates/contrat.docx", make_context(volet1=volet1, volet2=volet2))
    joined = "\n".join(body_text(docx))
    markers = {
        True: ("VOLET PERTINENCE DES PRESCRIPTIONS", "CF. ANNEXE 1", "(volet 1 du contrat)"),
        False: ("VOLET PERTINENCE DES PARCOURS", "ANNEXE 2 :", "(volet 2 du contrat)"),
    }
    for marker in markers[True]:
        assert (marker in joined) is volet1
    for marker in markers[False]:
        assert (marker in joined) is volet2
    # Signature block only, or the national and regional tables and the signature block.
    assert len(tables(docx)) == (3 if volet1 else 1)


@pytest.mark.parametrize(
    ("volet1", "volet2", "sites"),
    [(True, True, 3), (False, True, 3), (True, False, 1), (False, True, 1)],
    ids=["deux-volets", "volet2-seul", "volet1-un-site", "volet2-un-site"],
)
def test_contract_names_every_site_whatever_the_volets(
    volet1: bool, volet2: bool, sites: int
) -> None:
    text = body_text(
        render("templates/contrat.docx", make_context(sites, volet1=volet1, volet2=volet2))
    )
    article1 = text.index("Article 1 : le présent contrat concerne l’établissement suivant :")
    lead = "Entités géographiques concernées :" if sites > 1 else "Entité géographique concernée :"
    assert text[article1 + 4] == lead
    for number in range(1, sites + 1):
        line = f"–Finess géographique : 3307800{number:02d} — Site {number} {NASTY}"
        assert text[article1 + 4 + number] == line  # "–", a tab, the site


def test_regional_table_groups_indicators() -> None:
    docx = render("templates/contrat.docx", make_context())
    regional = tables(docx)[1]
    rows = [[text_of(tc) for tc in tr.iter(qn("w:tc"))] for tr in regional.iter(qn("w:tr"))]
    assert rows == [
        ["Indicateurs régionaux (IR)", "Établissement concerné (OUI/NON)"],
        ["Liste en sus :"],
        ["MEDCOUTINN Médicaments", "OUI"],
        ["DMI Dispositifs médicaux", "OUI"],
        ["ATB Antibiotiques", "OUI"],
    ]


@pytest.mark.parametrize("sites", [1, 3, 5, 8])
def test_national_table_has_one_even_column_per_site(sites: int) -> None:
    national = tables(render("templates/contrat.docx", make_context(sites)))[0]
    widths = grid(national)
    assert len(widths) == sites + 1
    assert sum(widths) == pytest.approx(TEXT_WIDTH, abs=sites + 1)
    indicator, *site_columns = widths
    assert len(set(site_columns)) == 1
    # A 9-digit FINESS in 7.5 pt fits in 900 twips; the labels need about 3.5 cm.
    assert site_columns[0] >= 900
    assert indicator >= 2000
    for row in national.iter(qn("w:tr")):
        assert len(row.findall(qn("w:tc"))) == sites + 1
    header = text_of(national.find(qn("w:tr")))
    assert f"Finess n°{sites}3307800{sites:02d}Site {sites} {NASTY}" in header


def test_national_table_beyond_eight_sites_stays_a_valid_grid() -> None:
    national = tables(render("templates/contrat.docx", make_context(10)))[0]
    widths = grid(national)
    assert len(widths) == 11
    assert sum(widths) == pytest.approx(TEXT_WIDTH, abs=11)
    for row in national.iter(qn("w:tr")):
        assert len(row.findall(qn("w:tc"))) == 11


@pytest.mark.parametrize(
    ("template", "context"),
    [
        ("templates/contrat.docx", make_context()),
        ("templates/avenant.docx", amendment_context()),
        ("templates/resiliation.docx", termination_context(False)),
    ],
    ids=["contrat", "avenant", "resiliation"],
)
def test_signature_anchors_are_single_white_runs(template: str, context: dict[str, Any]) -> None:
    docx = render(template, context)
    body = Document(io.BytesIO(docx)).element.body
    for anchor in ANCHORS:
        runs = [r for r in body.iter(qn("w:r")) if anchor in text_of(r)]
        assert len(runs) == 1, anchor
        assert text_of(runs[0]) == anchor
        assert runs[0].find(f"{qn('w:rPr')}/{qn('w:color')}").get(qn("w:val")) == "FFFFFF"
        assert runs[0].find(f"{qn('w:rPr')}/{qn('w:sz')}").get(qn("w:val")) == "16"
    assert text_of(body).count("/s1_ETAB/") == 1


# --- the avenants ---------------------------------------------------------------------------


def footer_text(docx: bytes) -> str:
    return text_of(Document(io.BytesIO(docx)).sections[0].footer._element)


def test_amendment_lists_its_changes_annexes_and_effect_date() -> None:
    docx = render("templates/avenant.docx", amendment_context())
    text = body_text(docx)
    assert text[0] == (
        "AVENANT N° 2 AU CONTRAT D’AMÉLIORATION DE LA QUALITÉ ET DE L’EFFICIENCE DES SOINS"
    )
    assert "Référence du contrat : CAQES-NA-2022-330781196" in text
    assert f"Centre hospitalier {NASTY}," in text  # the same parties as the contract
    assert text.index("Vu le code de la sécurité sociale ;") < text.index(
        "Il a été convenu ce qui suit :"
    )
    changes = text.index(
        "Le présent avenant modifie le contrat CAQES-NA-2022-330781196 comme suit :"
    )
    assert text[changes + 1 : changes + 5] == [
        "–L’indicateur régional DLR Douleur est retenu (OUI).",  # "–", a tab, the change
        f"–Le site FINESS 330780001 (Site {NASTY}) est ajouté au contrat.",
        "L’annexe 1 du contrat (plan d’actions du volet 1) est remplacée par l’annexe 1 jointe "
        "au présent avenant.",
        "L’annexe 2 (plan d’actions du volet 2), jointe au présent avenant, est annexée au "
        "contrat.",
    ]
    assert (
        "Conformément aux articles 3 et 10 du contrat, le présent avenant, proposé et approuvé "
        "dans les mêmes formes que le contrat, entre en vigueur au 1er janvier suivant sa date "
        "de signature, soit le 1er janvier 2024 pour une signature au cours de l’année 2023."
        in text
    )
    assert "Date d’effet de l’avenant : 1er janvier 2024" in text
    assert "Pour l’Agence Régionale de Santé (ARS) Nouvelle-Aquitaine" in text
    assert footer_text(docx).startswith("Avenant n° 2 au contrat CAQES-NA-2022-330781196Page ")
    assert not re.search(r"\{[{%#]|[}%#]\}", "\n".join(text))


@pytest.mark.parametrize("last_volet", [True, False], ids=["dernier-volet", "autre-volet"])
def test_termination_cites_article_11_and_says_whether_the_contract_ends(
    last_volet: bool,
) -> None:
    docx = render("templates/resiliation.docx", termination_context(last_volet))
    text = body_text(docx)
    assert "Avenant de résiliation du volet 2 « Pertinence des parcours et des séjours »" in text
    assert (
        "Les parties signataires décident d’un commun accord de mettre fin au volet 2 "
        "« Pertinence des parcours et des séjours » du contrat CAQES-NA-2022-330781196, en "
        "application de l’article 11 du contrat." in text
    )
    assert any("soit le 31 décembre 2024." in line for line in text)
    ends = (
        "Ce volet étant le dernier volet en vigueur du contrat, le contrat prend fin le "
        "31 décembre 2024."
    )
    goes_on = (
        "Les autres volets du contrat demeurent en vigueur dans les conditions du contrat, "
        "jusqu’au 31 décembre 2024."
    )
    assert (ends in text) is last_volet
    assert (goes_on in text) is not last_volet
    assert "Date d’effet de la résiliation : 31 décembre 2024" in text
    assert footer_text(docx).startswith(
        "Avenant n° 3 (résiliation du volet 2) au contrat CAQES-NA-2022-330781196Page "
    )
    assert not re.search(r"\{[{%#]|[}%#]\}", "\n".join(text))


# --- the annexes ----------------------------------------------------------------------------


@pytest.mark.parametrize(("number", "first_header"), [(1, "Indicateur"), (2, "Thème")])
def test_annex_table_has_a_repeated_header_and_one_row_per_action(
    number: int, first_header: str
) -> None:
    context = make_context()
    docx = render(f"annexes/annexe{number}.docx", context)
    document = Document(io.BytesIO(docx))
    section = document.sections[0]
    assert section.page_width > section.page_height
    (table,) = tables(docx)
    rows = table.findall(qn("w:tr"))
    assert len(rows) == 1 + len(context[f"annexe{number}"]["lignes"])
    assert rows[0].find(f"{qn('w:trPr')}/{qn('w:tblHeader')}") is not None
    cells = [[text_of(tc) for tc in tr.findall(qn("w:tc"))] for tr in rows]
    assert cells[0][0] == first_header
    assert cells[1][:4] == [
        "NAT_1Perfusions",
        "Établissement",
        "Bon usage",
        "Former les prescripteurs & <internes>",
    ]
    if number == 1:
        assert cells[2][1] == "330780001"
    text = body_text(docx)
    assert f"Contrat CAQES-NA-2022-330781196 — Centre hospitalier {NASTY} " in text[1]
    assert "/s1_ETAB/" not in "".join(text)
    # Its pages follow the contract's in one PDF: the footer says which annex they are.
    assert footer_text(docx) == (
        f"Contrat CAQES-NA-2022-330781196 — plan d’actions du volet {number}"
        f"Annexe {number} — page 1/1"  # the fields' placeholder values
    )


# --- through LibreOffice ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The contract with eight sites and a two-page Annex 1, as LibreOffice prints them."""
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice (soffice) est requis"
    work = tmp_path_factory.mktemp("pdf")
    context = make_context(8)
    context["annexe1"]["lignes"] = context["annexe1"]["lignes"] * 12
    (work / "contrat.docx").write_bytes(render("templates/contrat.docx", context))
    (work / "annexe1.docx").write_bytes(render("annexes/annexe1.docx", context))
    (work / "avenant.docx").write_bytes(render("templates/avenant.docx", amendment_context()))
    (work / "resiliation.docx").write_bytes(
        render("templates/resiliation.docx", termination_context(True))
    )
    # Without keep-with-next, this example's « CF. ANNEXE 1 » line fell alone on a last page.
    bayonne = load_contract(ROOT / "examples" / "clinique-fictive-bayonne.yaml", load_campaign())
    (work / "bayonne.docx").write_bytes(render("templates/contrat.docx", build_context(bayonne)))
    # A profile of its own: another soffice running on the machine would hold the default one.
    profile = (work / "profile").as_uri()
    subprocess.run(
        [soffice, f"-env:UserInstallation={profile}", "--headless", "--convert-to", "pdf",
         "--outdir", str(work), str(work / "contrat.docx"), str(work / "annexe1.docx"),
         str(work / "avenant.docx"), str(work / "resiliation.docx"),
         str(work / "bayonne.docx")],
        check=True,
        capture_output=True,
        timeout=180,
    )  # fmt: skip
    names = ("contrat", "annexe1", "avenant", "resiliation", "bayonne")
    return {name: work / f"{name}.pdf" for name in names}


def test_pdf_anchors_are_whole_invisible_words_on_the_signature_page(
    pdfs: dict[str, Path],
) -> None:
    found: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    with pdfplumber.open(pdfs["contrat"]) as pdf:
        for number, page in enumerate(pdf.pages):
            for word in page.extract_words(extra_attrs=["non_stroking_color", "size"]):
                if "_ETAB" in word["text"] or "_CPAM" in word["text"] or "_ARS" in word["text"]:
                    found.setdefault(word["text"], []).append((number, word))
        assert sorted(found) == sorted(ANCHORS)
        assert all(len(hits) == 1 for hits in found.values())
        pages = {hits[0][0] for hits in found.values()}
        assert len(pages) == 1
        signature_page = pdf.pages[pages.pop()].extract_text()
    assert "Date d’effet du contrat : 1er juillet 2022" in signature_page
    assert "Pour l’établissement de santé" in signature_page
    for _, word in (hits[0] for hits in found.values()):
        assert tuple(word["non_stroking_color"]) == (1, 1, 1)
        assert word["size"] == pytest.approx(8)
    for party in ("1_ETAB", "2_CPAM", "3_ARS"):
        gap_cm = (found[f"/d{party}/"][0][1]["top"] - found[f"/s{party}/"][0][1]["top"]) / 72 * 2.54
        assert 3.0 <= gap_cm <= 4.0


@pytest.mark.parametrize(
    ("name", "effective"),
    [
        ("avenant", "Date d’effet de l’avenant : 1er janvier 2024"),
        ("resiliation", "Date d’effet de la résiliation : 31 décembre 2024"),
    ],
)
def test_pdf_avenant_anchors_are_once_each_on_the_signature_page(
    pdfs: dict[str, Path], name: str, effective: str
) -> None:
    found: dict[str, list[int]] = {}
    with pdfplumber.open(pdfs[name]) as pdf:
        for number, page in enumerate(pdf.pages):
            for word in page.extract_words(extra_attrs=["non_stroking_color"]):
                if word["text"] in ANCHORS:
                    assert tuple(word["non_stroking_color"]) == (1, 1, 1)
                    found.setdefault(word["text"], []).append(number)
        assert sorted(found) == sorted(ANCHORS)
        pages = {page for hits in found.values() for page in hits}
        assert len(pages) == 1 and all(len(hits) == 1 for hits in found.values())
        signature_page = pdf.pages[pages.pop()].extract_text()
    assert effective in signature_page
    assert "Pour l’établissement de santé" in signature_page


def test_pdf_has_no_bookmarks(pdfs: dict[str, Path]) -> None:
    assert PdfReader(pdfs["contrat"]).outline == []


def test_pdf_annex_repeats_its_header_on_each_page(pdfs: dict[str, Path]) -> None:
    with pdfplumber.open(pdfs["annexe1"]) as pdf:
        assert len(pdf.pages) >= 2
        for page in pdf.pages:
            assert page.width > page.height
            assert "Indicateur de suivi" in page.extract_text()


@pytest.mark.parametrize("name", ["contrat", "bayonne"])
def test_pdf_annex_references_stay_on_the_signature_page(pdfs: dict[str, Path], name: str) -> None:
    with pdfplumber.open(pdfs[name]) as pdf:
        pages = [page.extract_text() for page in pdf.pages]
    last = pages[-1]
    assert "/s1_ETAB/" in last and "/d3_ARS/" in last
    assert "Date d’effet du contrat" in last
    assert "CF. ANNEXE 1 : VOLET PERTINENCE DES PRESCRIPTIONS" in last


def test_pdf_annex_pages_name_their_annex(pdfs: dict[str, Path]) -> None:
    with pdfplumber.open(pdfs["annexe1"]) as pdf:
        count = len(pdf.pages)
        for number, page in enumerate(pdf.pages, start=1):
            assert f"Annexe 1 — page {number}/{count}" in page.extract_text()
