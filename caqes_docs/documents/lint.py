"""Checking a template an officer may have edited, before any contract is rendered with it.

The checks: links to anything outside the document (refused at rendering), Jinja tags in
places docxtpl does not render (they would reach the contract as written), Jinja syntax
(located by paragraph), variables the context does not provide, a render with sample data
(catches unknown attributes such as ``etablissement.nomm``), and — for a contract model —
each signature anchor exactly once, in one run of white text.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2
from docx import Document
from docx.oxml.ns import qn
from docxtpl import DocxTemplate
from jinja2 import meta
from lxml import etree

from caqes_docs.documents.archive import Package, external_links, parse_xml, read_package
from caqes_docs.documents.render import (
    CORE_PROPERTIES,
    Source,
    build_context,
    jinja_syntax_fr,
    make_environment,
    open_template,
    undefined_name,
)
from caqes_docs.errors import TemplateError
from caqes_docs.inputs.campaign import load_campaign
from caqes_docs.inputs.contract_file import load_contract
from caqes_docs.parties import ANCHORS, party
from caqes_docs.registry.amendments import amendment_context, plan_amendment, termination_context
from caqes_docs.resources import shipped_dir

_TAGS = re.compile(r"<[^>]+>")
_JINJA = re.compile(r"\{[{%#]|[}%#]\}")
_PROPERTY_LABELS = {
    "keywords": "mots-clés",
    "category": "catégorie",
    "lastModifiedBy": "modifié par",
    "contentStatus": "état",
}
_PART_LABELS = {
    "word/endnotes.xml": "notes de fin",
    "word/comments.xml": "commentaires",
    "docProps/app.xml": "propriétés étendues du document",
    "docProps/custom.xml": "propriétés personnalisées du document",
    "word/document.xml": "corps du document",
    "word/settings.xml": "paramètres du document",
}


@dataclass(frozen=True)
class Problem:
    place: str
    message: str

    def __str__(self) -> str:
        return f"{self.place} : {self.message}"


def sample_context(template_name: str) -> dict:
    """Sample variables for a model, chosen by its file name (``avenant*``, ``resiliation*``).

    The bundled example with five sites and both volets exercises every branch.
    """
    campaign = load_campaign()
    contract = load_contract(shipped_dir("examples") / "chu-fictif-bordeaux.yaml", campaign)
    name = template_name.lower()
    if name.startswith("avenant"):
        changes = shipped_dir("examples") / "avenants" / "avenant-exemple.yaml"
        plan = plan_amendment(contract, changes, dt.date(2023, 11, 15), campaign=campaign)
        return amendment_context(plan, 1)
    if name.startswith("resiliation"):
        return termination_context(contract, 1, 2, dt.date(2024, 3, 1), False)
    if name.startswith("bordereau"):
        from caqes_docs.workflows.bordereau import sample_context as bordereau_context

        return bordereau_context()
    if name.startswith(EVALUATION_MODELS):
        from caqes_docs.workflows.evaluation import sample_context as evaluation_context

        return evaluation_context(name)
    return build_context(contract)


def _paragraph_text(xml: str, lineno: int) -> str:
    lines = xml.splitlines()
    text = _TAGS.sub("", lines[lineno - 1]) if 0 < lineno <= len(lines) else ""
    return text.strip()[:80]


def check_syntax(sources: list[Source], env: jinja2.Environment) -> list[Problem]:
    problems = []
    for source in sources:
        try:
            env.parse(source.xml)
        except jinja2.TemplateSyntaxError as exc:
            place = source.label
            if source.prop is None:
                place += f", paragraphe {max((exc.lineno or 1) - 1, 1)}"
            snippet = _paragraph_text(source.xml, exc.lineno or 0)
            problems.append(
                Problem(place, f"erreur de syntaxe Jinja : {jinja_syntax_fr(exc)} — « {snippet} »")
            )
    return problems


def check_variables(sources: list[Source], env: jinja2.Environment, context: dict) -> list[Problem]:
    problems = []
    for source in sources:
        unknown = meta.find_undeclared_variables(env.parse(source.xml)) - set(context)
        problems += [
            Problem(source.label, f"variable « {var} » inconnue des modèles de données")
            for var in sorted(unknown)
        ]
    return problems


def check_unrendered(package: Package, sources: list[Source]) -> list[Problem]:
    """Jinja tags where docxtpl never looks: they would reach the contract as written."""
    rendered = {source.part for source in sources if source.prop is None}
    properties = {source.part for source in sources if source.prop is not None}
    problems = []
    for info, data in package.parts:
        name = info.filename
        if name in rendered or not name.endswith((".xml", ".rels")):
            continue
        if name in properties:
            problems += _unrendered_properties(data, name)
            continue
        # Word may split a tag over runs: look in the text without the XML tags too.
        text = data.decode("utf-8", "replace")
        found = _JINJA.search(text) or _JINJA.search(_TAGS.sub("", text))
        if found:
            problems.append(Problem(_PART_LABELS.get(name, name), _unrendered(found)))
    return problems


def _unrendered_properties(data: bytes, name: str) -> list[Problem]:
    root = parse_xml(data, name)
    rendered = {qn(prop) for prop in CORE_PROPERTIES}
    problems = []
    for element in root:
        found = _JINJA.search(element.text or "")
        if element.tag not in rendered and found:
            local = etree.QName(element).localname
            label = _PROPERTY_LABELS.get(local, local)
            problems.append(Problem(f"propriétés du document ({label})", _unrendered(found)))
    return problems


def _unrendered(found: re.Match[str]) -> str:
    start = max(found.start() - 20, 0)
    snippet = _TAGS.sub("", found.string[start : found.end() + 40]).strip()
    return (
        f"balise Jinja qui resterait telle quelle dans les contrats (« {snippet} ») : voir "
        "« Où placer les balises » dans docs/variables-modeles.md"
    )


def check_links(package: Package) -> list[Problem]:
    return [
        Problem(
            _PART_LABELS.get(link.source, link.source),
            f"lien externe ({link.kind}) vers « {link.target} » : le rendu refuse ce modèle ; "
            "incorporer l’élément dans le document ou supprimer le lien",
        )
        for link in external_links(package.parts)
    ]


def check_render(
    data: bytes, env: jinja2.Environment, context: dict
) -> tuple[list[Problem], bytes]:
    template = DocxTemplate(io.BytesIO(data))
    try:
        template.render(context, env, autoescape=True)
    except jinja2.UndefinedError as exc:
        return [Problem("rendu d'essai", f"variable inconnue ({undefined_name(exc)})")], b""
    except TemplateError as exc:
        return [Problem("rendu d'essai", str(exc))], b""
    buffer = io.BytesIO()
    template.save(buffer)
    return [], buffer.getvalue()


def check_anchors(rendered: bytes, anchors: tuple[str, ...] = ANCHORS) -> list[Problem]:
    body = Document(io.BytesIO(rendered)).element.body
    paragraphs = ["".join(t.text or "" for t in p.iter(qn("w:t"))) for p in body.iter(qn("w:p"))]
    runs = list(body.iter(qn("w:r")))
    problems = []
    for anchor in anchors:
        count = sum(text.count(anchor) for text in paragraphs)
        if count == 0:
            problems.append(Problem("bloc de signature", f"ancre « {anchor} » absente"))
            continue
        if count > 1:
            problems.append(
                Problem("bloc de signature", f"ancre « {anchor} » présente {count} fois")
            )
            continue
        problems += _anchor_run_problems(anchor, runs)
    return problems


def _anchor_run_problems(anchor: str, runs: list) -> list[Problem]:
    holders = [r for r in runs if anchor in "".join(t.text or "" for t in r.iter(qn("w:t")))]
    if not holders:
        return [Problem("bloc de signature", f"ancre « {anchor} » coupée en plusieurs morceaux")]
    color = holders[0].find(f"{qn('w:rPr')}/{qn('w:color')}")
    if color is None or (color.get(qn("w:val")) or "").upper() != "FFFFFF":
        return [
            Problem("bloc de signature", f"ancre « {anchor} » visible : elle doit être en blanc")
        ]
    return []


def check_template(path: Path, *, contract_model: bool | None = None) -> list[Problem]:
    """Every problem found in the template at ``path``; an empty list means it is usable.

    ``contract_model`` says whether signature anchors are required; by default, every model
    except the annexes (``annexe*.docx``) must carry them. A file that is not a DOCX, or
    too large once unpacked, raises :class:`TemplateError` before any part is parsed.
    """
    if contract_model is None:
        contract_model = not path.name.lower().startswith(("annexe", "rapport-evaluation"))
    package = read_package(path)
    _, sources = open_template(package.data, path.name)
    problems = check_links(package) + check_unrendered(package, sources)
    env = make_environment()
    syntax = check_syntax(sources, env)
    if syntax:
        return problems + syntax
    context = sample_context(path.name)
    variables = check_variables(sources, env, context)
    if variables:
        return problems + variables
    rendering, rendered = check_render(package.data, env, context)
    if not rendering and contract_model:
        rendering = check_anchors(rendered, _signed_by(path.name))
    return problems + rendering


# The annual evaluation's models: the report is not signed, the letter by the ARS alone.
EVALUATION_MODELS = ("rapport-evaluation", "notification-interessement")


def _signed_by(name: str) -> tuple[str, ...]:
    if name.lower().startswith(("notification-interessement", "bordereau")):
        ars = party("ARS")
        return (ars.signature_anchor, ars.date_anchor)
    return ANCHORS
