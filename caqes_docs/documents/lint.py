"""Checking a template an officer may have edited, before any contract is rendered with it.

Four checks: Jinja syntax (located by paragraph), variables the context does not provide,
a render with sample data (catches unknown attributes such as ``etablissement.nomm``), and —
for a contract model — each signature anchor exactly once, in one run of white text.
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

from caqes_docs.documents.render import build_context, make_environment
from caqes_docs.errors import TemplateError
from caqes_docs.inputs.campaign import load_campaign
from caqes_docs.inputs.contract_file import load_contract
from caqes_docs.registry.amendments import amendment_context, plan_amendment, termination_context
from caqes_docs.resources import shipped_dir

ANCHORS = ("/s1_ETAB/", "/d1_ETAB/", "/s2_CPAM/", "/d2_CPAM/", "/s3_ARS/", "/d3_ARS/")
_TAGS = re.compile(r"<[^>]+>")


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
    return build_context(contract)


def _parts_xml(template: DocxTemplate) -> list[tuple[str, str]]:
    """(part name, patched XML with one paragraph per line) for body, headers, footers."""
    template.init_docx()
    parts = [("corps du document", template.get_xml())]
    for uri, label in ((template.HEADER_URI, "en-tête"), (template.FOOTER_URI, "pied de page")):
        parts += [
            (label, template.get_part_xml(part)) for _, part in template.get_headers_footers(uri)
        ]
    return [
        (name, re.sub(r"<w:p([ >])", r"\n<w:p\1", template.patch_xml(xml))) for name, xml in parts
    ]


def _paragraph_text(xml: str, lineno: int) -> str:
    lines = xml.splitlines()
    text = _TAGS.sub("", lines[lineno - 1]) if 0 < lineno <= len(lines) else ""
    return text.strip()[:80]


def check_syntax(parts: list[tuple[str, str]], env: jinja2.Environment) -> list[Problem]:
    problems = []
    for name, xml in parts:
        try:
            env.parse(xml)
        except jinja2.TemplateSyntaxError as exc:
            place = f"{name}, paragraphe {max((exc.lineno or 1) - 1, 1)}"
            snippet = _paragraph_text(xml, exc.lineno or 0)
            problems.append(
                Problem(place, f"erreur de syntaxe Jinja : {exc.message} — « {snippet} »")
            )
    return problems


def check_variables(
    parts: list[tuple[str, str]], env: jinja2.Environment, context: dict
) -> list[Problem]:
    problems = []
    for name, xml in parts:
        unknown = meta.find_undeclared_variables(env.parse(xml)) - set(context)
        problems += [
            Problem(name, f"variable « {var} » inconnue des modèles de données")
            for var in sorted(unknown)
        ]
    return problems


def check_render(path: Path, env: jinja2.Environment, context: dict) -> tuple[list[Problem], bytes]:
    template = DocxTemplate(str(path))
    try:
        template.render(context, env, autoescape=True)
    except jinja2.UndefinedError as exc:
        return [Problem("rendu d'essai", f"variable inconnue ({exc.message})")], b""
    except TemplateError as exc:
        return [Problem("rendu d'essai", str(exc))], b""
    buffer = io.BytesIO()
    template.save(buffer)
    return [], buffer.getvalue()


def check_anchors(rendered: bytes) -> list[Problem]:
    body = Document(io.BytesIO(rendered)).element.body
    paragraphs = ["".join(t.text or "" for t in p.iter(qn("w:t"))) for p in body.iter(qn("w:p"))]
    runs = list(body.iter(qn("w:r")))
    problems = []
    for anchor in ANCHORS:
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
    except the annexes (``annexe*.docx``) must carry them.
    """
    if contract_model is None:
        contract_model = not path.name.lower().startswith("annexe")
    try:
        template = DocxTemplate(str(path))
        parts = _parts_xml(template)
    except Exception as exc:  # python-docx raises many types on a file that is not a DOCX
        raise TemplateError(
            f"{path} : ce n'est pas un document Word (.docx) lisible ({exc})"
        ) from None
    env = make_environment()
    problems = check_syntax(parts, env)
    if problems:
        return problems
    context = sample_context(path.name)
    problems = check_variables(parts, env, context)
    if problems:
        return problems
    problems, rendered = check_render(path, env, context)
    if not problems and contract_model:
        problems = check_anchors(rendered)
    return problems
