"""The annual evaluation's documents: the report and the notification letter, as PDF/A.

Like the contracts: an officer-editable DOCX model rendered with the renderer's Jinja
environment, converted by the LibreOffice pool, then one revision adding the metadata (and,
for the letter, its one empty signature field ``s3_ARS`` at the ARS's anchors) with the issued
record beside the letter, so that the ARS signs it as it signs contracts.

The report carries a chart (matplotlib), inserted as a picture by docxtpl's InlineImage; the
project's compiled renderer writes a model's parts back unchanged and cannot add a picture's
part, so these two models are rendered by docxtpl itself, after the same checks on the model.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from docx.shared import Mm
from docxtpl import DocxTemplate, InlineImage

from caqes_docs.documents.archive import read_package, refuse_external_links
from caqes_docs.documents.charts import ThemePoint, achievement_chart
from caqes_docs.documents.render import make_environment
from caqes_docs.errors import CaqesError, TemplateError
from caqes_docs.files import write_bytes
from caqes_docs.issued import IssuedRecord, write_issued_record
from caqes_docs.parties import party
from caqes_docs.pdf.assemble import DocumentMetadata, Part, assemble
from caqes_docs.pdf.convert import ConversionTask, SofficePool
from caqes_docs.pdf.fields import FieldGeometry, find_anchors, plan_fields

REPORT_TEMPLATE = "rapport-evaluation.docx"
LETTER_TEMPLATE = "notification-interessement.docx"
CHART_WIDTH = Mm(160)
CHART_TITLE = "Niveau d’atteinte par thème régional"


@dataclass
class EvaluationDocuments:
    """One establishment's report and letter: what they say, where they go, how it went."""

    context: dict[str, Any]
    chart: Sequence[tuple[str, str, Decimal | None]]
    """(code, label, achievement) of each theme; no chart without a theme."""
    report: Path
    letter: Path
    work: Path
    reference: str
    finess_ej: str
    name: str
    year: int
    error: str | None = None
    letter_record: IssuedRecord | None = None
    pdfs: dict[str, Path] = field(default_factory=dict)  # "report"/"letter" → converted PDF

    def docx(self, kind: str) -> Path:
        target = self.report if kind == "report" else self.letter
        return self.work / f"{target.stem}.docx"

    def metadata(self, title: str) -> DocumentMetadata:
        return DocumentMetadata(
            title=f"{title} {self.year} — {self.name}",
            subject=f"Intéressement {self.year} — contrat CAQES {self.reference}",
            keywords=(
                f"CAQES; reference={self.reference}; finess_ej={self.finess_ej}; "
                f"interessement={self.year}"
            ),
        )


def render_model(
    template: Path, context: dict[str, Any], output: Path, images: dict[str, bytes] | None = None
) -> None:
    """Render ``template`` with the renderer's environment, ``images`` as pictures."""
    package = read_package(template)
    refuse_external_links(package.parts, template.name)
    document = DocxTemplate(io.BytesIO(package.data))
    full = dict(context)
    for name, png in (images or {}).items():
        full[name] = InlineImage(document, io.BytesIO(png), width=CHART_WIDTH)
    try:
        document.render(full, make_environment(), autoescape=True)
    except Exception as exc:  # jinja2 and docxtpl raise many kinds on a broken model
        raise TemplateError(f"{template.name} : rendu impossible ({exc})") from None
    buffer = io.BytesIO()
    document.save(buffer)
    write_bytes(output, buffer.getvalue())


def _render(docs: EvaluationDocuments, templates: Path) -> None:
    context = dict(docs.context)
    points = [ThemePoint(*point) for point in docs.chart]
    images = {"graphique": achievement_chart(points, CHART_TITLE)} if points else {}
    context.setdefault("graphique", "")
    render_model(templates / REPORT_TEMPLATE, context, docs.docx("report"), images)
    render_model(templates / LETTER_TEMPLATE, context, docs.docx("letter"))


def _convert(batch: Sequence[EvaluationDocuments], workers: int | None) -> None:
    tasks = {
        id(task): (docs, kind, task)
        for docs in batch
        if docs.error is None
        for kind in ("report", "letter")
        for task in [
            ConversionTask(
                docs.docx(kind), docs.work / f"{docs.docx(kind).stem}.pdf", durable=False
            )
        ]
    }
    if not tasks:
        return
    with SofficePool(workers) as pool:
        for result in pool.convert([task for _, _, task in tasks.values()]):
            docs, kind, task = tasks[id(result.task)]
            if result.ok:
                docs.pdfs[kind] = task.target
            elif docs.error is None:
                docs.error = result.message()


def _finish_report(docs: EvaluationDocuments, moment: dt.datetime) -> None:
    part = Part.from_file(docs.pdfs["report"], "Rapport d’évaluation", docs.report.name)
    write_bytes(docs.report, assemble([part], docs.metadata("Rapport d’évaluation"), now=moment))


def _finish_letter(
    docs: EvaluationDocuments, geometry: FieldGeometry, moment: dt.datetime
) -> IssuedRecord:
    """The letter with its one field, ``s3_ARS``, and its issued record beside it."""
    ars = party("ARS")
    part = Part.from_file(docs.pdfs["letter"], "Notification", docs.letter.name)
    anchors = find_anchors(part.pdf, [ars.signature_anchor, ars.date_anchor], source=part.name)
    placements = plan_fields(anchors, geometry, [ars], source=part.name)
    metadata = docs.metadata("Notification de l’intéressement")
    pdf = assemble([part], metadata, placements, now=moment)
    record = IssuedRecord(
        sha256=hashlib.sha256(pdf).hexdigest(),
        size=len(pdf),
        source=docs.letter.name,
        reference=docs.reference,
        finess_ej=docs.finess_ej,
        file_name=docs.letter.name,
        issued_at=moment.isoformat(),
    )
    write_bytes(docs.letter, pdf)
    try:
        write_issued_record(docs.letter, record)
    except BaseException:
        docs.letter.unlink(missing_ok=True)
        raise
    return record


def issue_documents(
    batch: Sequence[EvaluationDocuments],
    templates: Path,
    geometry: FieldGeometry,
    workers: int | None = None,
) -> None:
    """Render, convert and finish every report and letter; a failure is noted in ``error``.

    The PDFs are written beside each other only when both converted: a letter is never issued
    without its report.
    """
    for docs in batch:
        try:
            _render(docs, templates)
        except CaqesError as exc:
            docs.error = str(exc)
    _convert(batch, workers)
    moment = dt.datetime.now().astimezone().replace(microsecond=0)
    for docs in batch:
        if docs.error is not None:
            continue
        try:
            _finish_report(docs, moment)
            docs.letter_record = _finish_letter(docs, geometry, moment)
        except (CaqesError, OSError) as exc:
            docs.error = str(exc)
