"""Rendering the contract and annexes: faithful to the seed model, strict, escaping."""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import unicodedata
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from docx import Document
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.packuri import PackURI
from docx.opc.part import Part
from docx.oxml.ns import qn
from docxtpl import DocxTemplate
from lxml import etree

from caqes_docs.documents.archive import MAX_PARTS, MAX_UNPACKED_BYTES
from caqes_docs.documents.lint import ANCHORS, check_template, sample_context
from caqes_docs.documents.render import (
    FOOTNOTES,
    TemplateSet,
    build_context,
    date_fr,
    make_environment,
    render_contract,
    render_docx,
)
from caqes_docs.errors import TemplateError
from caqes_docs.inputs.campaign import load_campaign
from caqes_docs.inputs.contract_file import load_contract

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SEED = Path(__file__).resolve().parent / "data" / "contrat-type-caqes-ars-nouvelle-aquitaine.txt"


def docx_text(path: Path) -> str:
    body = Document(str(path)).element.body
    return "\n".join("".join(t.text or "" for t in p.iter(qn("w:t"))) for p in body.iter(qn("w:p")))


def normalize(text: str) -> str:
    """Compare text, not typography: apostrophes, spaces, case and accents on capitals vary."""
    text = text.replace("’", "'").replace("\u00a0", " ").replace("\u202f", " ")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(char for char in text if not unicodedata.combining(char))
    return re.sub(r"\s+", " ", text).strip().lower()


def render(tmp_path: Path, name: str) -> tuple[Path, list[Path], str]:
    contract = load_contract(EXAMPLES / name, load_campaign())
    rendered = render_contract(contract, tmp_path)
    return rendered.contract, [p for _, p in rendered.annexes], docx_text(rendered.contract)


@pytest.fixture(scope="module")
def bordeaux(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path], str]:
    return render(tmp_path_factory.mktemp("bordeaux"), "chu-fictif-bordeaux.yaml")


def test_french_dates() -> None:
    assert date_fr(dt.date(2022, 7, 1)) == "1er juillet 2022"
    assert date_fr(dt.date(2024, 12, 31)) == "31 décembre 2024"
    assert date_fr(dt.date(2023, 8, 2)) == "2 août 2023"


def _seed_sentences() -> list[str]:
    """Sentences of the seed model from the préambule to the volet's last article."""
    seed = SEED.read_text(encoding="utf-8")
    body = seed[seed.index("Le contrat d’amélioration") : seed.index("Date d’effet du contrat")]
    # The extraction split words at line ends in two places of the legal text.
    body = body.replace("L. 16230-3", "L. 162-30-3").replace("R.1413- 90", "R.1413-90")
    # List markers of the extraction ("-", "o", a private-use bullet) are Word bullets here.
    body = re.sub(r"(?m)^\s*(?:-|o|\uf0b7|\uf0a7)\s+", "\n", body).replace("\uf0b7", "")
    sentences = [
        part for line in re.split(r"\n\s*\n|(?<=[.;:])\s+", body) if (part := normalize(line))
    ]
    placeholders = ("es adresse", "finess n°", "nat_", "xxxx", "liste en sus", "médicaments dmi")
    return [s for s in sentences if len(s) > 40 and not any(p in s for p in placeholders)]


def test_contract_reproduces_seed_text(bordeaux: tuple[Path, list[Path], str]) -> None:
    text = normalize(bordeaux[2])
    missing = [s for s in _seed_sentences() if s not in text]
    assert not missing, f"{len(missing)} phrase(s) du contrat type absentes : {missing[:3]}"


def test_contract_has_every_article_and_data(bordeaux: tuple[Path, list[Path], str]) -> None:
    text = normalize(bordeaux[2])
    for number in range(1, 13):
        assert f"article {number} :" in text
    for fragment in (
        "centre hospitalier universitaire fictif de bordeaux",
        "finess juridique : 330990011",
        "il entre exceptionnellement en vigueur le 1er juillet 2022",
        "prendra fin le 31 décembre 2024",
        "durée de 3 ans",
        "volet pertinence des prescriptions",
        "volet pertinence des parcours et des séjours",
        "hospitalisations évitables des personnes âgées",
        "date d'effet du contrat : 1er juillet 2022",
        "représentée par son directeur général monsieur benoît elleboode",
        "cpam de la gironde",
    ):
        assert normalize(fragment) in text, fragment
    for visa in load_campaign().visas:
        assert normalize(visa) in text
    assert "{{" not in text and "{%" not in text and "}}" not in text


def _table_with(path: Path, header: str) -> list[list[str]]:
    for table in Document(str(path)).tables:
        rows = [[cell.text.strip() for cell in row.cells] for row in table.rows]
        if rows and header in rows[0][0]:
            return rows
    raise AssertionError(f"tableau « {header} » absent")


def test_national_table_has_one_column_per_site(bordeaux: tuple[Path, list[Path], str]) -> None:
    rows = _table_with(bordeaux[0], "Indicateurs nationaux")
    assert len(rows) == 7
    assert all(len(row) == 6 for row in rows)
    assert "330990060" in rows[0][5]
    marks = {row[0].split()[0]: row[1:] for row in rows[1:]}
    assert marks["NAT_1"] == ["X", "", "X", "", ""]
    assert marks["NAT_2"] == ["X", "X", "X", "X", ""]
    assert marks["NAT_4"] == ["", "", "", "", ""]
    assert marks["NAT_6"] == ["X", "", "", "", "X"]


def test_regional_table_groups_and_answers(bordeaux: tuple[Path, list[Path], str]) -> None:
    rows = _table_with(bordeaux[0], "Indicateurs régionaux")
    answers = {row[0].split()[0]: row[-1] for row in rows[1:] if row[-1] in ("OUI", "NON")}
    assert answers == {
        "MEDCOUTINN": "OUI", "DMI": "OUI", "ATB": "OUI", "MIPA": "NON", "CHO": "OUI",
        "DLR": "NON", "PSY": "NON", "GEN": "OUI", "BIOSIM": "OUI", "TS": "NON",
    }  # fmt: skip
    labels = [row[0] for row in rows]
    for group in ("Liste en sus", "Iatrogénie médicamenteuse et parcours"):
        assert any(group in label for label in labels)


def test_anchors_once_each(bordeaux: tuple[Path, list[Path], str]) -> None:
    for anchor in ANCHORS:
        assert bordeaux[2].count(anchor) == 1


def test_annexes_follow_the_action_plan(bordeaux: tuple[Path, list[Path], str]) -> None:
    annex1, annex2 = bordeaux[1]
    text1 = docx_text(annex1)
    assert "Déprescription des IPP au long cours" in text1
    assert "ANNEXE 1" in text1 and "ANNEXE 2" not in text1
    assert "Développement de la chirurgie ambulatoire" in docx_text(annex2)


def test_rendered_packages_keep_the_template_parts(
    bordeaux: tuple[Path, list[Path], str],
) -> None:
    templates = TemplateSet.shipped()
    for output, template in zip((bordeaux[0], *bordeaux[1]), templates.paths(), strict=True):
        with zipfile.ZipFile(output) as made, zipfile.ZipFile(template) as source:
            assert made.testzip() is None  # every part's CRC and size check out
            assert made.namelist() == source.namelist()
            changed = {name for name in source.namelist() if made.read(name) != source.read(name)}
            # only what docxtpl renders: body, headers, footers and document properties
            assert "word/document.xml" in changed
            assert all(
                re.fullmatch(r"word/(document|header\d*|footer\d*)\.xml|docProps/core\.xml", name)
                for name in changed
            )


def test_annex_body_without_tree_fixes_is_the_same_xml(
    bordeaux: tuple[Path, list[Path], str],
) -> None:
    # The annexes skip docxtpl's table fix (no cell tags): it would change nothing.
    annex = bordeaux[1][0]
    with zipfile.ZipFile(annex) as package:
        xml = package.read("word/document.xml")
    body = etree.fromstring(xml).find(qn("w:body"))
    fixed = DocxTemplate(str(TemplateSet.shipped().annex1)).fix_tables(
        etree.tostring(body, encoding="unicode")
    )
    canonical = etree.tostring(body, method="c14n")
    assert etree.tostring(fixed, method="c14n") == canonical


def test_volet_not_concluded_does_not_appear(tmp_path: Path) -> None:
    _, annexes, text = render(tmp_path, "ch-fictif-limoges.yaml")
    assert [p.name for p in annexes] == ["CAQES-NA-2022-870990017-annexe2.docx"]
    text = normalize(text)
    assert "volet pertinence des prescriptions" not in text
    assert "indicateurs nationaux (in)" not in text
    assert "annexe 2 : volet pertinence des parcours et des sejours" in text


def test_values_are_escaped_and_printed_as_written(tmp_path: Path) -> None:
    data = yaml.safe_load((EXAMPLES / "clinique-fictive-bayonne.yaml").read_text("utf-8"))
    tricky = "A & B <x> l’« Hôpital » {{ 7*7 }} {% if x %}"
    data["etablissement"]["raison_sociale"] = tricky
    source = tmp_path / "contrat.yaml"
    source.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    contract = load_contract(source, load_campaign())
    text = docx_text(render_contract(contract, tmp_path / "out").contract)
    assert tricky in text
    assert "49" not in text.split(tricky)[0][-5:]


def test_missing_variable_names_variable_and_template(tmp_path: Path) -> None:
    broken = _edited_template(tmp_path, "Article 12", "Article 12 {{ etablissement.telephone }}")
    contract = load_contract(EXAMPLES / "clinique-fictive-bayonne.yaml", load_campaign())
    shipped = TemplateSet.shipped()
    templates = TemplateSet(broken, shipped.annex1, shipped.annex2)
    with pytest.raises(TemplateError, match=r"contrat-modifie.docx.*telephone"):
        render_contract(contract, tmp_path / "out", templates)
    assert not list((tmp_path / "out").glob("*.docx"))


def _edited_template(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the shipped contract model with one text replaced in its body XML."""
    source = TemplateSet.shipped().contract
    target = tmp_path / "contrat-modifie.docx"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "word/document.xml":
                xml = data.decode("utf-8")
                assert old in xml, old
                data = xml.replace(old, new, 1).encode("utf-8")
            zout.writestr(item, data)
    return target


def test_check_template_accepts_shipped_models() -> None:
    shipped = TemplateSet.shipped()
    for path in (shipped.contract, shipped.annex1, shipped.annex2):
        assert check_template(path) == [], path


def test_check_template_reports_syntax_error_with_place(tmp_path: Path) -> None:
    broken = _edited_template(tmp_path, "Article 12", "Article 12 {{ reference ")
    [problem] = check_template(broken)
    assert "syntaxe" in str(problem) and "paragraphe" in str(problem)
    # Jinja's English, in French
    assert "inattendu" in str(problem) and "Encountered" not in str(problem)


def test_render_reports_unclosed_block_in_french(tmp_path: Path) -> None:
    broken = _edited_template(tmp_path, "Article 12", "{% if volet1 %}Article 12")
    with pytest.raises(TemplateError, match="balise « if » jamais fermée"):
        render_docx(broken, sample_context("contrat.docx"), tmp_path / "out.docx")


def test_check_template_reports_unknown_variable(tmp_path: Path) -> None:
    broken = _edited_template(tmp_path, "Article 12", "Article 12 {{ numero_siret }}")
    assert any("numero_siret" in str(p) for p in check_template(broken))


def test_check_template_reports_missing_and_duplicated_anchor(tmp_path: Path) -> None:
    missing = _edited_template(tmp_path, "/s2_CPAM/", "/s2_XXXX/")
    assert any("/s2_CPAM/" in str(p) and "absente" in str(p) for p in check_template(missing))
    twice = tmp_path / "twice"
    twice.mkdir()
    doubled = _edited_template(twice, "/d3_ARS/", "/d3_ARS/ /s1_ETAB/")
    assert any("/s1_ETAB/" in str(p) and "2 fois" in str(p) for p in check_template(doubled))


def test_check_template_on_a_file_that_is_not_docx(tmp_path: Path) -> None:
    bogus = tmp_path / "contrat.docx"
    shutil.copy(SEED, bogus)
    with pytest.raises(TemplateError, match="pas un document Word"):
        check_template(bogus)


def test_context_lists_sites_in_order() -> None:
    contract = load_contract(EXAMPLES / "chu-fictif-bordeaux.yaml", load_campaign())
    sites = build_context(contract)["etablissement"]["sites"]
    assert [s["numero"] for s in sites] == [1, 2, 3, 4, 5]


# --- the compiled path renders what docxtpl renders, as docxtpl renders it --------------------

FOOTNOTES_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<w:footnotes xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
    '<w:footnote w:id="1"><w:p><w:r><w:t>Note : {{ etablissement.</w:t></w:r>'
    "<w:r><w:t>raison_sociale }}</w:t></w:r></w:p></w:footnote></w:footnotes>"
)


def tagged_everywhere(path: Path, title: str = "Contrat {{ reference }}") -> Path:
    """A model with tags in every place docxtpl renders: body (with a column loop), header,
    footer, footnotes and document properties."""
    doc = Document()
    section = doc.sections[0]
    section.header.paragraphs[0].text = "En-tête {{ reference }} {{ date_effet|date_fr }}"
    section.footer.paragraphs[0].text = "Pied {{ etablissement.raison_sociale }}"
    doc.add_paragraph("Corps {{ etablissement.raison_sociale }}")
    table = doc.add_table(rows=1, cols=3)
    for cell, text in zip(
        table.rows[0].cells,
        ("{%tc for site in etablissement.sites %}", "{{ site.finess }}", "{%tc endfor %}"),
        strict=True,
    ):
        cell.text = text
    notes = Part(
        PackURI("/word/footnotes.xml"), FOOTNOTES, FOOTNOTES_XML.encode(), doc.part.package
    )
    doc.part.relate_to(notes, RT.FOOTNOTES)
    doc.core_properties.title = title
    doc.core_properties.subject = "{{ date_effet|date_fr }}"
    doc.save(path)
    return path


def canonical_parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        return {
            name: etree.tostring(etree.fromstring(package.read(name)), method="c14n")
            for name in package.namelist()
            if name.endswith((".xml", ".rels"))
        }


def assert_renders_as_docxtpl(template: Path, context: dict[str, Any], out: Path) -> None:
    render_docx(template, context, out)
    plain = DocxTemplate(str(template))
    plain.render(context, make_environment(), autoescape=True)
    buffer = io.BytesIO()
    plain.save(buffer)
    ours, theirs = canonical_parts(out.read_bytes()), canonical_parts(buffer.getvalue())
    assert sorted(ours) == sorted(theirs)
    for name in ours:
        assert ours[name] == theirs[name], f"{template.name} : {name}"


MODELS = [
    ("templates/contrat.docx", "chu-fictif-bordeaux.yaml"),
    ("templates/contrat.docx", "ch-fictif-limoges.yaml"),
    ("templates/contrat.docx", "clinique-fictive-bayonne.yaml"),
    ("annexes/annexe1.docx", "chu-fictif-bordeaux.yaml"),
    ("annexes/annexe2.docx", "chu-fictif-bordeaux.yaml"),
    ("templates/avenant.docx", None),
    ("templates/resiliation.docx", None),
]


@pytest.mark.parametrize(("model", "example"), MODELS)
def test_shipped_models_render_as_docxtpl_does(
    tmp_path: Path, model: str, example: str | None
) -> None:
    template = ROOT / model
    if example is None:
        context = sample_context(template.name)
    else:
        context = build_context(load_contract(EXAMPLES / example, load_campaign()))
    assert_renders_as_docxtpl(template, context, tmp_path / "out.docx")


TRICKY = 'A & B <x> "l’« Hôpital »" {{ 7*7 }} {% if x %}\tTab\nLigne'


@pytest.mark.parametrize("model", ["templates/contrat.docx", "annexes/annexe1.docx"])
def test_tricky_values_render_as_docxtpl_does(tmp_path: Path, model: str) -> None:
    # Escaping, and the listing resolution our path skips when no value has a tab or newline.
    context = sample_context("contrat.docx")
    context["etablissement"]["raison_sociale"] = TRICKY
    context["etablissement"]["sites"][0]["nom"] = TRICKY
    context["annexe1"]["lignes"][0]["action"] = TRICKY
    assert_renders_as_docxtpl(ROOT / model, context, tmp_path / "out.docx")
    assert "A &amp; B &lt;x&gt;" in canonical_parts((tmp_path / "out.docx").read_bytes())[
        "word/document.xml"
    ].decode("utf-8")


def test_tags_in_every_place_render_as_docxtpl_does(tmp_path: Path) -> None:
    template = tagged_everywhere(tmp_path / "partout.docx")
    context = sample_context("contrat.docx")
    out = tmp_path / "out.docx"
    assert_renders_as_docxtpl(template, context, out)
    with zipfile.ZipFile(out) as package:
        parts = {
            name: package.read(name).decode("utf-8")
            for name in package.namelist()
            if name.endswith(".xml")
        }
    assert "<dc:title>Contrat CAQES-NA-2022-330990011</dc:title>" in parts["docProps/core.xml"]
    assert "1er juillet 2022" in parts["docProps/core.xml"]
    assert "En-tête CAQES-NA-2022-330990011" in parts["word/header1.xml"]
    name = context["etablissement"]["raison_sociale"]
    for part in ("word/footer1.xml", "word/footnotes.xml", "word/document.xml"):
        assert name in parts[part], part
    assert "330990060" in parts["word/document.xml"]  # the column loop ran
    assert not any(re.search(r"\{[{%]", text) for text in parts.values())


def test_document_title_prints_values_as_written(tmp_path: Path) -> None:
    # docxtpl renders properties with the escaping environment: « A &amp; B » in the title.
    template = tagged_everywhere(tmp_path / "titre.docx", "{{ etablissement.raison_sociale }}")
    context = sample_context("contrat.docx")
    context["etablissement"]["raison_sociale"] = "A & B <Océan>"
    out = tmp_path / "out.docx"
    render_docx(template, context, out)
    assert Document(str(out)).core_properties.title == "A & B <Océan>"


def test_an_edited_model_is_compiled_again(tmp_path: Path) -> None:
    template = tagged_everywhere(tmp_path / "modele.docx", "Premier {{ reference }}")
    context = sample_context("contrat.docx")
    render_docx(template, context, tmp_path / "a.docx")
    tagged_everywhere(tmp_path / "modele.docx", "Second titre, plus long {{ reference }}")
    render_docx(template, context, tmp_path / "b.docx")
    assert Document(str(tmp_path / "b.docx")).core_properties.title.startswith("Second")


# --- check-template: what rendering would skip, what it refuses ------------------------------


def _with_parts(source: Path, target: Path, changes: dict[str, bytes]) -> Path:
    """A copy of ``source`` with parts replaced or added."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            zout.writestr(item, changes.pop(item.filename, zin.read(item.filename)))
        for name, data in changes.items():
            zout.writestr(name, data)
    return target


def test_check_template_reports_tags_rendering_would_leave(tmp_path: Path) -> None:
    source = TemplateSet.shipped().contract
    with zipfile.ZipFile(source) as package:
        core = package.read("docProps/core.xml").decode("utf-8")
    core = core.replace("<cp:keywords/>", "<cp:keywords>{{ reference }}</cp:keywords>")
    comments = (
        '<w:comments xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        '<w:comment w:id="0"><w:p><w:r><w:t>{{ cpam.nom }}</w:t></w:r></w:p></w:comment>'
        "</w:comments>"
    )
    edited = _with_parts(
        source,
        tmp_path / "contrat.docx",
        {"docProps/core.xml": core.encode(), "word/comments.xml": comments.encode()},
    )
    problems = [str(p) for p in check_template(edited)]
    assert any(p.startswith("propriétés du document (mots-clés)") for p in problems), problems
    assert any(p.startswith("commentaires") and "cpam.nom" in p for p in problems), problems
    # tags in the title are rendered: no problem there
    titled = tagged_everywhere(tmp_path / "annexe-titre.docx")
    assert check_template(titled) == []


def test_check_template_refuses_an_archive_too_large_once_unpacked(tmp_path: Path) -> None:
    # 40 MB of zeros deflate to 40 KB: without a bound, every reader inflates them.
    bomb = _with_parts(
        TemplateSet.shipped().annex1,
        tmp_path / "annexe-bombe.docx",
        {"word/media/image1.png": bytes(MAX_UNPACKED_BYTES + 1)},
    )
    assert bomb.stat().st_size < 200_000
    with pytest.raises(TemplateError, match="décompressé"):
        check_template(bomb)
    with pytest.raises(TemplateError, match="décompressé"):
        render_docx(bomb, sample_context("annexe1.docx"), tmp_path / "out.docx")
    assert not (tmp_path / "out.docx").exists()


def test_check_template_refuses_an_archive_of_too_many_parts(tmp_path: Path) -> None:
    # Each entry costs zipfile an object and python-docx a look: a million tiny ones add up.
    extra = {f"word/media/vide{n}.bin": b"" for n in range(MAX_PARTS)}
    crowded = _with_parts(TemplateSet.shipped().annex1, tmp_path / "annexe-parties.docx", extra)
    with pytest.raises(TemplateError, match=f"parties dans l’archive \\(au plus {MAX_PARTS}\\)"):
        check_template(crowded)


EXTERNAL_LINKS = [
    ("hyperlink", "https://exemple.fr/contrat"),
    ("image", "file:///C:/Logos/ars.png"),
    ("oleObject", "file://serveur/partage/tableau.xlsx"),
    ("attachedTemplate", "file://serveur/modeles/Normal.dotm"),
]


@pytest.mark.parametrize(("kind", "target"), EXTERNAL_LINKS)
def test_external_links_are_reported_and_refused(tmp_path: Path, kind: str, target: str) -> None:
    source = TemplateSet.shipped().annex1
    part = "word/_rels/settings.xml.rels" if kind == "attachedTemplate" else None
    link = (
        f'<Relationship Id="rId99" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        f'relationships/{kind}" Target="{target}" TargetMode="External"/>'
    )
    if part:  # settings.xml has no relationships yet
        rels = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns='
            '"http://schemas.openxmlformats.org/package/2006/relationships"></Relationships>'
        )
    else:
        with zipfile.ZipFile(source) as package:
            rels = package.read("word/_rels/document.xml.rels").decode("utf-8")
    rels = rels.replace("</Relationships>", link + "</Relationships>")
    linked = _with_parts(
        source, tmp_path / "annexe1.docx", {part or "word/_rels/document.xml.rels": rels.encode()}
    )
    problems = [str(p) for p in check_template(linked)]
    assert any(f"lien externe ({kind})" in p and target in p for p in problems), problems
    with pytest.raises(TemplateError, match=f"pointe hors du document.*{re.escape(target)}"):
        render_docx(linked, sample_context("annexe1.docx"), tmp_path / "out.docx")
    assert not (tmp_path / "out.docx").exists()


def test_fields_fetching_outside_content_are_reported_and_refused(tmp_path: Path) -> None:
    source = TemplateSet.shipped().annex1
    with zipfile.ZipFile(source) as package:
        xml = package.read("word/document.xml").decode("utf-8")
    # Word splits an instruction over runs as it likes.
    field = (
        '<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        '<w:r><w:instrText xml:space="preserve"> INCLUDE</w:instrText></w:r>'
        '<w:r><w:instrText xml:space="preserve">PICTURE "http://exemple.fr/logo.png" \\d '
        "</w:instrText></w:r>"
        '<w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>'
    )
    xml = xml.replace("<w:body>", "<w:body>" + field, 1)
    linked = _with_parts(source, tmp_path / "annexe1.docx", {"word/document.xml": xml.encode()})
    problems = [str(p) for p in check_template(linked)]
    assert any("champ INCLUDEPICTURE" in p and "http://exemple.fr/logo.png" in p for p in problems)
    with pytest.raises(TemplateError, match="pointe hors du document"):
        render_docx(linked, sample_context("annexe1.docx"), tmp_path / "out.docx")


def test_a_zip_that_is_not_a_docx_is_one_french_error(tmp_path: Path) -> None:
    archive = tmp_path / "contrat.docx"
    with zipfile.ZipFile(archive, "w") as package:
        package.writestr("notes.txt", "pas un document Word")
    with pytest.raises(TemplateError, match="pas un document Word"):
        check_template(archive)
    with pytest.raises(TemplateError, match="pas un document Word"):
        render_docx(archive, sample_context("contrat.docx"), tmp_path / "out.docx")
