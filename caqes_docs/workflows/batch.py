"""``caqes batch``: every targeted establishment of a targeting file, in one run.

For each accepted establishment the folder ``OUT/<finess_ej>/`` receives the DOCX sources,
exactly one signable PDF with its issued record, and ``etablissement.json`` (its manifest
entry). The folder is built under a hidden staging name and renamed into place once
complete, so that it appears whole or not at all; a run killed midway leaves only staging
folders, removed by the next run. An establishment whose inputs (its rows, the campaign, the
templates) have not changed since its folder was made is left as it is.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caqes_docs import __version__
from caqes_docs.documents.render import RenderedContract, TemplateSet, render_contracts
from caqes_docs.errors import CaqesError
from caqes_docs.files import sha256_file, system_reason, write_json
from caqes_docs.inputs.campaign import Campaign, load_campaign
from caqes_docs.inputs.targeting import (
    RefusedEstablishment,
    TargetedContract,
    read_targeting,
    write_rejects,
)
from caqes_docs.issued import load_issued_record
from caqes_docs.pdf.convert import SofficePool, started_pool
from caqes_docs.pdf.signable import JobResult, iter_signable
from caqes_docs.registry.store import Registry
from caqes_docs.resources import data_file
from caqes_docs.workflows.generate import signable_job
from caqes_docs.workflows.manifest import ENTRY, MANIFEST, read_entry

REJECTS = "rejets.csv"
STAGING_PREFIX = ".en-cours-"
RETIRED_PREFIX = ".ancien-"


@dataclass
class BatchReport:
    out_dir: Path
    generated: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    refused: list[RefusedEstablishment] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # from reading the targeting file

    @property
    def rejects(self) -> Path:
        return self.out_dir / REJECTS

    @property
    def manifest(self) -> Path:
        return self.out_dir / MANIFEST


Progress = Callable[[str, str], None]
"""Called with (event, FINESS juridique); events: ``total`` (with the count as the FINESS
argument), ``généré``, ``à jour``, ``échec``."""


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def inputs_fingerprint(campaign_file: Path | None, templates: TemplateSet) -> str:
    """What every establishment's output depends on besides its own rows."""
    campaign = (campaign_file or data_file("campagne-nouvelle-aquitaine-2022.yaml")).read_bytes()
    models = [
        path.read_bytes() for path in (templates.contract, templates.annex1, templates.annex2)
    ]
    return _digest(__version__.encode(), campaign, *models)


def _folder_is_current(folder: Path, inputs: str) -> bool:
    """The folder was made from the same inputs and its files are as written then."""
    entry = read_entry(folder)
    if entry is None or entry.get("empreinte_entrees") != inputs:
        return False
    return all(
        (folder / name).is_file() and sha256_file(folder / name) == digest
        for name, digest in entry.get("fichiers", {}).items()
    )


def _not_replaceable(folder: Path) -> str | None:
    """Why an existing folder must not be replaced: signed in place, or holding other files.

    A party's signed copy, received and stored beside the issued PDF, must never be lost
    to a new issue of the contract.
    """
    entry = read_entry(folder) or {}
    listed = set(entry.get("fichiers", {})) | {ENTRY}
    extra = sorted(path.name for path in folder.iterdir() if path.name not in listed)
    if extra:
        return f"{folder} contient des fichiers ajoutés depuis l'émission ({', '.join(extra)})"
    for pdf in folder.glob("*.pdf"):
        try:
            changed = sha256_file(pdf) != load_issued_record(pdf).sha256
        except CaqesError:
            changed = True
        if changed:
            return f"{pdf} a changé depuis son émission (signé ?)"
    return None


def _clean_leftovers(out_dir: Path) -> None:
    for path in out_dir.iterdir():
        if path.is_dir() and path.name.startswith((STAGING_PREFIX, RETIRED_PREFIX)):
            shutil.rmtree(path, ignore_errors=True)


def _input_place(targeted: TargetedContract) -> dict[str, Any]:
    """Where the establishment is in this run's input: its lines move when rows are added."""
    return {
        "sites": list(targeted.sites),
        "lignes": list(targeted.lines),
        "lignes_plan_actions": list(targeted.plan_lines),
    }


def _entry(targeted: TargetedContract, staging: Path, inputs: str) -> dict[str, Any]:
    contract = targeted.contract
    files = {
        path.name: sha256_file(path) for path in sorted(staging.iterdir()) if path.name != ENTRY
    }
    pdf = next(name for name in files if name.endswith(".pdf"))
    record = load_issued_record(staging / pdf).as_json()
    return {
        "finess_ej": contract.establishment.finess_ej,
        "reference": contract.reference,
        "raison_sociale": contract.establishment.legal_name,
        **_input_place(targeted),
        "volets": [n for n, volet in ((1, contract.volet1), (2, contract.volet2)) if volet],
        "dossier": targeted.finess_ej,
        "fichiers": files,
        "emission": {k: record[k] for k in ("fichier", "sha256", "taille", "emis_le")},
        "empreinte_entrees": inputs,
    }


def _swap_into_place(staging: Path, folder: Path, register: Callable[[Path], None]) -> None:
    """Replace ``folder`` by ``staging`` and register it; if registering fails, undo.

    At every instant one complete folder exists under the final or the retired name.
    """
    retired = folder.with_name(RETIRED_PREFIX + folder.name)
    if folder.exists():
        os.replace(folder, retired)
    os.replace(staging, folder)
    try:
        register(folder)
    except BaseException:
        os.replace(folder, staging)
        if retired.exists():
            os.replace(retired, folder)
        raise
    shutil.rmtree(retired, ignore_errors=True)


@dataclass
class _Work:
    targeted: TargetedContract
    folder: Path
    staging: Path
    inputs: str
    rendered: RenderedContract | None = None


def _plan(
    accepted: Iterable[TargetedContract], out_dir: Path, fingerprint: str, report: BatchReport
) -> list[_Work]:
    todo = []
    for targeted in accepted:
        folder = out_dir / targeted.finess_ej
        inputs = _digest(fingerprint.encode(), targeted.digest.encode())
        if _folder_is_current(folder, inputs):
            report.up_to_date.append(targeted.finess_ej)
            continue
        problem = _not_replaceable(folder) if folder.exists() else None
        if problem:
            advice = "le dossier n'est pas remplacé ; déplacez-le pour émettre de nouveau"
            report.failed.append((targeted.finess_ej, f"{problem} : {advice}"))
            continue
        staging = out_dir / f"{STAGING_PREFIX}{targeted.finess_ej}"
        todo.append(_Work(targeted, folder, staging, inputs))
    return todo


def run_batch(
    targeting: Path,
    out_dir: Path,
    *,
    campaign_file: Path | None = None,
    finess_extract: Iterable[Path] = (),
    action_plan: Path | None = None,
    workers: int | None = None,
    registry: Path | None = None,
    on_progress: Progress | None = None,
    pool: SofficePool | None = None,
) -> BatchReport:
    """Issue the contract of every valid establishment of ``targeting`` into ``out_dir``.

    ``pool`` converts the documents: a caller may start it (:meth:`SofficePool.start`) before
    anything else, even before importing this module. Without one, a pool of ``workers``
    soffice processes is started first thing, so that LibreOffice loads while the targeting
    file is read and the documents rendered (at worst it is stopped unused).
    """
    with started_pool(workers) if pool is None else nullcontext(pool) as converter:
        campaign = load_campaign(campaign_file)
        templates = TemplateSet.shipped()
        result = read_targeting(
            targeting,
            campaign,
            finess_extract=list(finess_extract) or None,
            action_plan=action_plan,
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        _clean_leftovers(out_dir)
        report = BatchReport(out_dir, refused=list(result.refused), warnings=list(result.warnings))
        write_rejects(report.rejects, result.refused)
        progress = on_progress or (lambda event, finess: None)
        todo = _plan(result.accepted, out_dir, inputs_fingerprint(campaign_file, templates), report)
        progress("total", str(len(result.accepted)))
        for finess in report.up_to_date:
            progress("à jour", finess)
        with Registry.open(registry) as opened:
            _register_current(result.accepted, opened, campaign, report)
            if todo:
                _render_all(todo, workers)
                _issue_all(todo, campaign, workers, converter, opened, report, progress)
        _write_manifest(report, result.accepted, targeting, campaign)
        return report


def _register_current(
    accepted: list[TargetedContract], registry: Registry, campaign: Campaign, report: BatchReport
) -> None:
    """Register the up-to-date folders the registry does not know.

    A run killed between moving a folder into place and registering it leaves such a
    folder; so does a run with another registry.
    """
    current = [targeted for targeted in accepted if targeted.finess_ej in report.up_to_date]
    if not current:
        return
    known = {document.issued_sha256 for document in registry.documents(include_superseded=True)}
    for targeted in current:
        folder = report.out_dir / targeted.finess_ej
        issued = (read_entry(folder) or {}).get("emission", {})
        if issued.get("sha256") in known:
            continue
        pdf = folder / str(issued.get("fichier"))
        try:
            registry.register_issued(
                targeted.contract, "contrat", pdf, load_issued_record(pdf), campaign
            )
        except CaqesError as exc:
            report.up_to_date.remove(targeted.finess_ej)
            report.failed.append((targeted.finess_ej, str(exc)))


def _render_all(todo: list[_Work], workers: int | None) -> None:
    """Render every establishment into its staging folder, on every core.

    A template that cannot be rendered fails for every establishment alike: the run stops
    with that error (the staging folders are removed by the next run).
    """
    for work in todo:
        shutil.rmtree(work.staging, ignore_errors=True)
    items = [(work.targeted.contract, work.staging) for work in todo]
    for work, rendered in zip(todo, render_contracts(items, workers=workers), strict=True):
        work.rendered = rendered


def _issue_all(
    todo: list[_Work],
    campaign: Campaign,
    workers: int | None,
    pool: SofficePool | None,
    registry: Registry,
    report: BatchReport,
    progress: Progress,
) -> None:
    by_output = {}
    jobs = []
    for work in todo:
        assert work.rendered is not None
        job = signable_job(work.targeted.contract, work.rendered, campaign)
        by_output[Path(job.output)] = work
        jobs.append(job)
    for result in iter_signable(jobs, pool=pool, workers=workers):
        work = by_output[Path(result.job.output)]
        problem = result.error or _complete(work, result, registry, campaign)
        if problem:
            shutil.rmtree(work.staging, ignore_errors=True)
            report.failed.append((work.targeted.finess_ej, problem))
            progress("échec", work.targeted.finess_ej)
        else:
            report.generated.append(work.targeted.finess_ej)
            progress("généré", work.targeted.finess_ej)


def _complete(work: _Work, result: JobResult, registry: Registry, campaign: Campaign) -> str | None:
    """Write the folder's entry, register the contract and move the folder into place."""
    try:
        write_json(work.staging / ENTRY, _entry(work.targeted, work.staging, work.inputs))
        name = Path(result.job.output).name

        def register(folder: Path) -> None:
            pdf = folder / name
            registry.register_issued(
                work.targeted.contract, "contrat", pdf, load_issued_record(pdf), campaign
            )

        _swap_into_place(work.staging, work.folder, register)
    except CaqesError as exc:
        return str(exc)
    except OSError as exc:
        return f"{work.folder} : écriture impossible ({system_reason(exc)})"
    return None


def _write_manifest(
    report: BatchReport,
    accepted: list[TargetedContract],
    targeting: Path,
    campaign: Campaign,
) -> None:
    entries = []
    for targeted in accepted:
        entry = read_entry(report.out_dir / targeted.finess_ej)
        if entry is not None and targeted.finess_ej not in dict(report.failed):
            entries.append({**entry, **_input_place(targeted)})
    write_json(
        report.manifest,
        {
            "campagne": campaign.name,
            "ciblage": targeting.name,
            "outil": f"caqes-docs {__version__}",
            "etablissements": entries,
            "refuses": [
                {"finess_ej": refused.finess_ej, "lignes": [line.line for line in refused.lines]}
                for refused in report.refused
            ],
            "echecs": [{"finess_ej": finess, "erreur": error} for finess, error in report.failed],
        },
    )


def manifest_summary(path: Path) -> dict[str, Any]:
    """The manifest's counts, for a quick look (``caqes batch`` prints them)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {key: len(data[key]) for key in ("etablissements", "refuses", "echecs")}
