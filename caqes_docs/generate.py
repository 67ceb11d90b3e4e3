"""``caqes generate``: contract files in, DOCX sources (and signable PDFs) out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from caqes_docs.campaign import Campaign, load_campaign
from caqes_docs.contract_file import load_contract
from caqes_docs.errors import CaqesError
from caqes_docs.models import Contract
from caqes_docs.render import RenderedContract, TemplateSet, render_contract


@dataclass
class Generated:
    """What was written for one contract file."""

    source: Path
    contract: Contract
    rendered: RenderedContract
    pdf: Path | None = None


@dataclass
class GenerationReport:
    generated: list[Generated] = field(default_factory=list)
    failed: list[tuple[Path, CaqesError]] = field(default_factory=list)


def generate(
    contract_files: Sequence[Path],
    out_dir: Path,
    *,
    campaign: Campaign | None = None,
    campaign_file: Path | None = None,
    templates: TemplateSet | None = None,
) -> GenerationReport:
    """Render every contract file; a bad file is reported and the others still complete."""
    campaign = campaign or load_campaign(campaign_file)
    report = GenerationReport()
    for source in contract_files:
        try:
            contract = load_contract(source, campaign)
            rendered = render_contract(contract, out_dir, templates)
        except CaqesError as exc:
            report.failed.append((source, exc))
            continue
        report.generated.append(Generated(source, contract, rendered))
    return report
