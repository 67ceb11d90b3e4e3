"""Rendering the contract and its annexes with docxtpl.

The Jinja environment is strict (a missing variable names itself and the template) and
escapes every value, so that ``A & B <x>`` or ``{{ 7*7 }}`` in the data print as written.
The variables templates may use are documented in ``docs/variables-modeles.md``; the
context is built here and only here.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from docx.oxml.ns import qn
from docxtpl import DocxTemplate
from lxml import etree

from caqes_docs.documents.archive import parse_xml, read_package, refuse_external_links
from caqes_docs.documents.package import PackageWriter
from caqes_docs.errors import TemplateError
from caqes_docs.files import write_bytes
from caqes_docs.inputs.catalogue import catalogue
from caqes_docs.inputs.models import ActionRow, Contract, Party, Representative
from caqes_docs.resources import shipped_dir

MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip


def date_fr(value: dt.date) -> str:
    """``2022-07-01`` -> « 1er juillet 2022 », as French legal texts write dates."""
    if not isinstance(value, dt.date):
        raise TemplateError(f"le filtre date_fr attend une date, pas « {value} »")
    day = "1er" if value.day == 1 else str(value.day)
    return f"{day} {MONTHS[value.month - 1]} {value.year}"


@dataclass(frozen=True)
class TemplateSet:
    """The three models a contract is rendered with."""

    contract: Path
    annex1: Path
    annex2: Path

    def paths(self) -> tuple[Path, Path, Path]:
        return self.contract, self.annex1, self.annex2

    @classmethod
    def shipped(cls) -> TemplateSet:
        return cls(
            shipped_dir("templates") / "contrat.docx",
            shipped_dir("annexes") / "annexe1.docx",
            shipped_dir("annexes") / "annexe2.docx",
        )


def make_environment(*, autoescape: bool = True) -> jinja2.Environment:
    """Strict, and escaping for XML unless told otherwise (plain-text document properties)."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=autoescape)
    env.filters["date_fr"] = date_fr
    return env


def _representative(rep: Representative) -> dict[str, str]:
    return {"nom": rep.name, "qualite": rep.title}


def _party(party: Party) -> dict[str, Any]:
    return {
        "nom": party.name,
        "adresse": party.address,
        "representant": _representative(party.representative),
    }


def _volet1(contract: Contract) -> dict[str, Any] | None:
    volet = contract.volet1
    if volet is None:
        return None
    sites = [site.finess for site in contract.establishment.sites]
    national = [
        {
            "code": ind.code,
            "libelle": ind.label,
            "marques": ["X" if site in volet.targeted_sites(ind.code) else "" for site in sites],
        }
        for ind in catalogue().national
    ]
    regional = [
        {
            "libelle": group or "",
            "indicateurs": [
                {
                    "code": ind.code,
                    "libelle": ind.label,
                    "concerne": "OUI" if ind.code in volet.regional else "NON",
                }
                for ind in indicators
            ],
        }
        for group, indicators in catalogue().regional_groups()
    ]
    return {"nationaux": national, "regionaux": regional}


def _annex_lines(contract: Contract, volet: int) -> list[dict[str, str]]:
    # Catalogue order, then the campaign's themes: the annex follows the contract's tables.
    labels = {ind.code: ind.label for ind in (*catalogue().national, *catalogue().regional)}
    if contract.volet2:
        labels.update({theme.code: theme.label for theme in contract.volet2.themes})
    order = {code: index for index, code in enumerate(labels)}
    sites = {site.finess: index for index, site in enumerate(contract.establishment.sites)}
    rows = sorted(
        (row for row in contract.action_plan if row.volet == volet),
        key=lambda row: (order.get(row.indicator, len(order)), sites.get(row.site or "", -1)),
    )
    return [_annex_line(row, labels) for row in rows]


def _annex_line(row: ActionRow, labels: dict[str, str]) -> dict[str, str]:
    return {
        "indicateur": row.indicator,
        "libelle_indicateur": labels.get(row.indicator, ""),
        "site": row.site or "",
        "axe": row.axis,
        "action": row.action,
        "pilote": row.owner,
        "echeance": row.deadline,
        "indicateur_suivi": row.follow_up,
        "valeur_initiale": row.baseline,
        "cible": row.target,
    }


def build_context(contract: Contract) -> dict[str, Any]:
    """The variables of ``docs/variables-modeles.md`` for one contract."""
    est = contract.establishment
    return {
        "reference": contract.reference,
        "ars": {**_party(contract.ars), "nom_court": contract.ars.short_name},
        "cpam": _party(contract.cpam),
        "etablissement": {
            "raison_sociale": est.legal_name,
            "adresse": est.address,
            "finess_ej": est.finess_ej,
            "representant": _representative(est.representative),
            "sites": [
                {"finess": site.finess, "nom": site.name, "numero": index}
                for index, site in enumerate(est.sites, start=1)
            ],
        },
        "date_effet": contract.effective_date,
        "date_fin": contract.end_date,
        "duree_annees": contract.calendar_years,
        "entree_exceptionnelle": contract.exceptional_start,
        "visas": list(contract.visas),
        "volet1": _volet1(contract),
        "volet2": (
            {"themes": [{"code": t.code, "libelle": t.label} for t in contract.volet2.themes]}
            if contract.volet2
            else None
        ),
        "annexe1": {"lignes": _annex_lines(contract, 1)},
        "annexe2": {"lignes": _annex_lines(contract, 2)},
    }


# What docxtpl's ``DocxTemplate.render`` renders, and so what this module renders: the body,
# the headers and footers of the main document, the footnotes, and six core properties
# (``render_properties``: author, comments, identifier, language, subject, title).
FOOTNOTES = "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"
CORE_PROPERTIES = {
    "dc:creator": "auteur",
    "dc:description": "commentaires",
    "dc:identifier": "identifiant",
    "dc:language": "langue",
    "dc:subject": "objet",
    "dc:title": "titre",
}
CORE = "application/vnd.openxmlformats-package.core-properties+xml"


@dataclass(frozen=True)
class Source:
    """One piece of a model that is rendered: its part, a French label, its Jinja source."""

    part: str  # e.g. ``word/footer1.xml``; for a core property, usually ``docProps/core.xml``
    label: str
    xml: str  # patched by docxtpl, one paragraph per line (a core property: its plain text)
    prop: str | None = None  # the core property's element, e.g. ``dc:title``


def open_template(data: bytes, name: str) -> tuple[DocxTemplate, list[Source]]:
    """The docxtpl template of a model's bytes, and every piece of it docxtpl renders."""
    try:
        template = DocxTemplate(io.BytesIO(data))
        return template, template_sources(template)
    except TemplateError:
        raise
    except Exception as exc:  # python-docx raises many types on a zip that is not a DOCX
        raise TemplateError(f"{name} : ce n'est pas un document Word (.docx) lisible") from exc


def template_sources(template: DocxTemplate) -> list[Source]:
    """Every piece of ``template`` docxtpl renders, patched as docxtpl does."""
    template.init_docx()
    sources = [Source("word/document.xml", "corps du document", template.get_xml())]
    for uri, label in ((template.HEADER_URI, "en-tête"), (template.FOOTER_URI, "pied de page")):
        sources += [
            Source(part.partname.lstrip("/"), label, template.get_part_xml(part))
            for _, part in template.get_headers_footers(uri)
        ]
    # docxtpl renders the footnotes once per section, so a value holding « {{ » would be
    # evaluated on the second pass of a two-section model: here they are rendered once.
    package = template.docx.part.package
    sources += [
        Source(part.partname.lstrip("/"), "notes de bas de page", part.blob.decode("utf-8"))
        for part in package.iter_parts()
        if part.content_type == FOOTNOTES
    ]
    sources = [
        Source(s.part, s.label, _mark_paragraphs(template.patch_xml(s.xml))) for s in sources
    ]
    # Asked for properties a package lacks, python-docx would make some up: look first.
    for part in package.iter_parts():
        if part.content_type != CORE:
            continue
        name = part.partname.lstrip("/")
        root = parse_xml(part.blob, name)
        for prop in CORE_PROPERTIES:
            element = root.find(qn(prop))
            text = element.text if element is not None and element.text else ""
            label = f"propriétés du document ({CORE_PROPERTIES[prop]})"
            sources.append(Source(name, label, text, prop))
    return sources


class _CompiledTemplate:
    """A docxtpl template prepared once and rendered many times.

    docxtpl re-reads the package, re-patches the XML and re-compiles the Jinja source on
    every render, then rewrites the package through python-docx: ten times the cost of the
    render itself (bench/bench_render.py). Here every piece docxtpl renders
    (``template_sources``) is patched by docxtpl and compiled once; each render applies
    docxtpl's own post-processing (table grid fixing, listing resolution) and writes the
    package's other parts back unchanged. tests/test_render.py renders every shipped model,
    and a model with tags in every renderable place, both ways and compares the XML.
    """

    def __init__(self, path: Path) -> None:
        self.name = path.name
        package = read_package(path)
        refuse_external_links(package.parts, path.name)
        self._docx, sources = open_template(package.data, path.name)
        xml_env, text_env = make_environment(), make_environment(autoescape=False)
        document = package.part("word/document.xml")
        self._head, self._tail = _around_body(document)
        # docxtpl's table and drawing fixes need a parsed tree: only pay for it when the
        # template has cell tags (columns that come and go) or drawings (ids to renumber).
        # Word may split a tag over several runs, hence the search in the text alone, and
        # docxtpl's patch removes the ``tc`` of ``{%tc``, hence the search before it.
        raw = self._docx.get_xml()
        self._fix_tree = bool(_CELL_TAG.search(re.sub(r"<[^>]*>", "", raw))) or "docPr" in raw
        self._body = xml_env.from_string(sources[0].xml)
        self._parts = {s.part: xml_env.from_string(s.xml) for s in sources[1:] if not s.prop}
        # Core properties are plain text, escaped by the XML serialiser: rendering them with
        # the escaping environment would print « &amp; » in the title (docxtpl does so).
        self._core = [(s.prop, text_env.from_string(s.xml)) for s in sources if s.prop]
        self._core_part = next((s.part for s in sources if s.prop), None)
        self._core_xml = package.part(self._core_part) if self._core_part else b""
        rendered = {"word/document.xml", *self._parts}
        if self._core_part:
            rendered.add(self._core_part)
        self._package = PackageWriter(package.parts, rendered)

    def render(self, context: dict[str, Any], output: Path) -> None:
        rendered = {"word/document.xml": self._document(context)}
        for name, template in self._parts.items():
            rendered[name] = self._finish(template.render(context)).encode("utf-8")
        if self._core_part:
            rendered[self._core_part] = self._properties(context)
        write_bytes(output, self._package.build(rendered))

    def _document(self, context: dict[str, Any]) -> bytes:
        xml = self._finish(self._body.render(context))
        if not self._fix_tree:
            return self._head + xml.encode("utf-8") + self._tail
        body = self._docx.fix_tables(xml)
        self._docx.docx_ids_index = 1000
        self._docx.fix_docpr_ids(body)
        # the body, serialised alone, declares the namespaces it uses again: still the same XML
        return self._head + etree.tostring(body, encoding="UTF-8") + self._tail

    def _properties(self, context: dict[str, Any]) -> bytes:
        root = parse_xml(self._core_xml, str(self._core_part))
        for prop, template in self._core:
            element = root.find(qn(prop))
            if element is None:  # as python-docx does when docxtpl sets it
                element = etree.SubElement(root, qn(prop))
            element.text = template.render(context)
        return etree.tostring(root, encoding="UTF-8", standalone=True)

    def _finish(self, xml: str) -> str:
        xml = xml.replace("\n<w:p>", "<w:p>").replace("\n<w:p ", "<w:p ")
        for escaped, tag in (("{_{", "{{"), ("}_}", "}}"), ("{_%", "{%"), ("%_}", "%}")):
            xml = xml.replace(escaped, tag)
        # Listing resolution turns tabs and line breaks inside values into Word runs; it is
        # a slow regex pass, useless when no value holds such a character.
        if any(char in xml for char in "\t\a\n\f"):
            xml = self._docx.resolve_listing(xml)
        return xml


def _around_body(document_xml: bytes) -> tuple[bytes, bytes]:
    """What comes before ``<w:body>`` and after ``</w:body>`` in a document part."""
    start = re.search(rb"<w:body\b[^>]*>", document_xml)
    end = document_xml.rfind(b"</w:body>")
    if start is None or end < start.end():
        raise ValueError("corps du document (w:body) introuvable")
    return document_xml[: start.start()], document_xml[end + len(b"</w:body>") :]


_CELL_TAG = re.compile(r"\{%-?\s*tc\b")


def _mark_paragraphs(src_xml: str) -> str:
    # As docxtpl does: one paragraph per line, so that Jinja's line numbers locate errors.
    return re.sub(r"<w:p([ >])", r"\n<w:p\1", src_xml)


@lru_cache(maxsize=32)
def _template(path: Path, mtime_ns: int, size: int) -> _CompiledTemplate:
    # Keyed by the file's time stamp and size too: a model edited while a process runs (the
    # portal) is compiled again.
    try:
        return _CompiledTemplate(path)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"{path.name} : erreur de syntaxe Jinja ({jinja_syntax_fr(exc)}), voir "
            "caqes check-template"
        ) from None
    except (KeyError, ValueError) as exc:
        raise TemplateError(f"{path.name} : modèle illisible ({exc})") from None


def render_docx(template_path: Path, context: dict[str, Any], output: Path) -> None:
    """Render one template into ``output`` (written whole or not at all)."""
    path = template_path.resolve()
    try:
        stat = path.stat()
    except OSError:
        raise TemplateError(f"modèle introuvable : {template_path}") from None
    template = _template(path, stat.st_mtime_ns, stat.st_size)
    try:
        template.render(context, output)
    except jinja2.UndefinedError as exc:
        raise TemplateError(
            f"{template_path.name} : variable inconnue ({undefined_name(exc)})"
        ) from None


_JINJA_MESSAGES = (
    (r"unexpected end of template.*innermost block that needs to be closed is '(\w+)'",
     "balise « {0} » jamais fermée (il manque « end{0} »)"),
    (r"unexpected end of template", "balise ouverte mais jamais fermée"),
    (r"Encountered unknown tag '(\w+)'.*innermost block that needs to be closed is '(\w+)'",
     "balise « {0} » inattendue : la balise « {1} » ouverte avant n'est pas fermée"),
    (r"Encountered unknown tag '(\w+)'", "balise inconnue ou mal placée « {0} »"),
    (r"expected token '(.+?)', got '(.+?)'", "« {1} » inattendu"),
    (r"Expected an expression, got '(.+?)'", "expression attendue"),
    (r"unexpected char '?\"?(.+?)'?\"? at \d+", "caractère inattendu"),
    (r"unexpected '(.+?)'", "« {0} » inattendu"),
)  # fmt: skip


def jinja_syntax_fr(exc: jinja2.TemplateSyntaxError) -> str:
    """Jinja's English syntax message, in French; the original when no wording fits."""
    message = exc.message or ""
    for pattern, french in _JINJA_MESSAGES:
        found = re.search(pattern, message, re.IGNORECASE | re.DOTALL)
        if found:
            return french.format(*found.groups())
    return message


def undefined_name(exc: jinja2.UndefinedError) -> str:
    # "'dict object' has no attribute 'x'" or "'x' is undefined" -> the name alone.
    message = exc.message or ""
    if "has no attribute" in message:
        return message.rsplit(" ", 1)[-1].strip("'")
    return message.split("'")[1] if message.count("'") >= 2 else message


@dataclass(frozen=True)
class RenderedContract:
    contract: Path
    annexes: tuple[tuple[int, Path], ...]


def render_contract(
    contract: Contract, out_dir: Path, templates: TemplateSet | None = None, stem: str | None = None
) -> RenderedContract:
    """Write the contract DOCX and one DOCX per concluded volet's annex into ``out_dir``."""
    templates = templates or TemplateSet.shipped()
    stem = stem or contract.reference
    context = build_context(contract)
    out_dir.mkdir(parents=True, exist_ok=True)
    contract_path = out_dir / f"{stem}.docx"
    render_docx(templates.contract, context, contract_path)
    annexes = []
    for volet, template, concluded in (
        (1, templates.annex1, contract.volet1),
        (2, templates.annex2, contract.volet2),
    ):
        if concluded is not None:
            path = out_dir / f"{stem}-annexe{volet}.docx"
            render_docx(template, context, path)
            annexes.append((volet, path))
    return RenderedContract(contract_path, tuple(annexes))


def _render_one(item: tuple[Contract, Path, TemplateSet | None]) -> RenderedContract:
    return render_contract(*item)


def render_contracts(
    items: Sequence[tuple[Contract, Path]],
    *,
    templates: TemplateSet | None = None,
    workers: int | None = None,
) -> list[RenderedContract]:
    """Render many contracts (each into its folder) on every core, in the given order."""
    workers = workers or os.cpu_count() or 1
    work = [(contract, folder, templates) for contract, folder in items]
    if workers == 1 or len(work) < 2:
        return [_render_one(item) for item in work]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_render_one, work, chunksize=max(1, len(work) // (4 * workers))))
