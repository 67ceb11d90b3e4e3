"""``caqes generate``: contract files in; DOCX sources, signable PDFs and registry entries out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from caqes_docs.documents.render import RenderedContract, TemplateSet, render_contract
from caqes_docs.errors import CaqesError, ConversionError
from caqes_docs.files import sha256_file
from caqes_docs.inputs.campaign import Campaign, load_campaign
from caqes_docs.inputs.contract_file import load_contract
from caqes_docs.inputs.models import Contract
from caqes_docs.issued import load_issued_record, sidecar_path
from caqes_docs.pdf.assemble import contract_metadata
from caqes_docs.pdf.signable import SignableJob, make_signable
from caqes_docs.registry.store import Registry

ANNEX_TITLES = {
    1: "Annexe 1 — Volet pertinence des prescriptions",
    2: "Annexe 2 — Volet pertinence des parcours et des séjours",
}


@dataclass
class Generated:
    """What was written for one contract."""

    source: Path
    contract: Contract
    rendered: RenderedContract
    pdf: Path | None = None


@dataclass
class GenerationReport:
    generated: list[Generated] = field(default_factory=list)
    failed: list[tuple[Path, CaqesError]] = field(default_factory=list)


def signable_job(contract: Contract, rendered: RenderedContract, campaign: Campaign) -> SignableJob:
    """The signable PDF of a rendered contract: beside its DOCX, named by its reference."""
    return SignableJob(
        contract=rendered.contract,
        output=rendered.contract.with_suffix(".pdf"),
        metadata=contract_metadata(
            contract.reference,
            contract.establishment.finess_ej,
            f"Contrat CAQES — {contract.establishment.legal_name}",
        ),
        reference=contract.reference,
        finess_ej=contract.establishment.finess_ej,
        annexes=tuple((path, ANNEX_TITLES[volet]) for volet, path in rendered.annexes),
        geometry=campaign.signature.fields.geometry(),
    )


def replaceable(pdf: Path) -> bool:
    """An existing PDF may be issued again only while it is exactly as issued (unsigned)."""
    if not pdf.exists():
        return True
    try:
        return sha256_file(pdf) == load_issued_record(pdf).sha256
    except (CaqesError, OSError):
        return False


def generate(
    contract_files: Sequence[Path],
    out_dir: Path,
    *,
    campaign_file: Path | None = None,
    templates: TemplateSet | None = None,
    pdf: bool = True,
    registry: Path | None = None,
) -> GenerationReport:
    """Render every contract file, then issue their signable PDFs and register them.

    A bad file is reported and the others still complete. An existing PDF that was signed
    (or otherwise changed) since it was issued is never replaced.
    """
    campaign = load_campaign(campaign_file)
    report = GenerationReport()
    for source in contract_files:
        try:
            contract = load_contract(source, campaign)
            target = contract.reference + ".pdf"
            if pdf and not replaceable(out_dir / target):
                raise ConversionError(
                    f"{out_dir / target} a changé depuis son émission (signé ?) : "
                    "il n'est pas remplacé"
                )
            rendered = render_contract(contract, out_dir, templates)
        except CaqesError as exc:
            report.failed.append((source, exc))
            continue
        report.generated.append(Generated(source, contract, rendered))
    if pdf and report.generated:
        _issue_pdfs(report, campaign, registry)
    return report


def _issue_pdfs(report: GenerationReport, campaign: Campaign, registry_path: Path | None) -> None:
    jobs = [signable_job(item.contract, item.rendered, campaign) for item in report.generated]
    results = make_signable(jobs, overwrite=True)
    issued = []
    with Registry.open(registry_path) as registry:
        for item, result in zip(report.generated, results, strict=True):
            if not result.ok:
                report.failed.append((item.source, ConversionError(result.error or "")))
                continue
            pdf = Path(result.job.output)
            try:
                registry.register_issued(
                    item.contract, "contrat", pdf, load_issued_record(pdf), campaign
                )
            except CaqesError as exc:
                pdf.unlink(missing_ok=True)
                sidecar_path(pdf).unlink(missing_ok=True)
                report.failed.append((item.source, exc))
                continue
            item.pdf = pdf
            issued.append(item)
    report.generated = issued
