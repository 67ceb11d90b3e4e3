"""From DOCX files to one signable PDF/A-2b per contract, with its "issued digest" record.

For each job (a contract DOCX and its annex DOCX files), the documents are converted through a
:class:`~caqes_docs.pdf.convert.SofficePool` in streaming mode; as soon as every part of a job is
converted, the anchors give the fields' places (:mod:`caqes_docs.pdf.fields`), the annexes, the
bookmarks, the metadata and the three empty signature fields are added to the contract's PDF in
one revision (:mod:`caqes_docs.pdf.assemble`), the PDF is written atomically and its record
``X.emission.json`` beside ``X.pdf``::

    {"fichier": "X.pdf", "sha256": "…", "taille": 123456, "reference": "…",
     "finess_ej": "…", "emis_le": "2025-06-30T10:00:00+02:00"}

A job that fails names the document and the reason; the other jobs go on. No PDF is ever left
half written, nor without its record.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from caqes_docs.errors import CaqesError
from caqes_docs.files import system_reason, write_bytes
from caqes_docs.issued import IssuedRecord, write_issued_record
from caqes_docs.parties import ANCHORS
from caqes_docs.pdf.assemble import DocumentMetadata, Part, assemble
from caqes_docs.pdf.convert import DEFAULT_TIMEOUT_S, ConversionTask, CoreRotation, SofficePool
from caqes_docs.pdf.fields import FieldGeometry, find_anchors, plan_fields

__all__ = [
    "JobResult",
    "SignableJob",
    "iter_signable",
    "make_signable",
]


@dataclass(frozen=True)
class SignableJob:
    """One contract to issue: its DOCX, its annexes ``(DOCX, bookmark title)`` and the PDF."""

    contract: Path
    output: Path
    metadata: DocumentMetadata
    reference: str
    finess_ej: str
    annexes: Sequence[tuple[Path, str]] = ()
    geometry: FieldGeometry = field(default_factory=FieldGeometry)
    contract_title: str = "Contrat"

    def parts(self) -> list[tuple[Path, str]]:
        return [(Path(self.contract), self.contract_title), *self.annexes]


@dataclass(frozen=True)
class JobResult:
    """The outcome of a job; ``cpu_ms`` is the post-processing CPU time of each step."""

    job: SignableJob
    error: str | None = None
    sha256: str | None = None
    cpu_ms: Mapping[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


def make_signable(
    jobs: Sequence[SignableJob],
    *,
    pool: SofficePool | None = None,
    workers: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    soffice: str | os.PathLike[str] = "soffice",
    overwrite: bool = False,
    on_result: Callable[[JobResult], None] | None = None,
) -> list[JobResult]:
    """Run every job; return the results in the jobs' order (see :func:`iter_signable`)."""
    results: dict[int, JobResult] = {}
    for result in iter_signable(
        jobs, pool=pool, workers=workers, timeout=timeout, soffice=soffice, overwrite=overwrite
    ):
        results[id(result.job)] = result
        if on_result is not None:
            on_result(result)
    return [results[id(job)] for job in jobs]


def iter_signable(
    jobs: Iterable[SignableJob],
    *,
    pool: SofficePool | None = None,
    workers: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    soffice: str | os.PathLike[str] = "soffice",
    overwrite: bool = False,
) -> Iterator[JobResult]:
    """Yield one result per job as soon as it is final.

    ``pool`` lets a caller reuse LibreOffice profiles across calls; otherwise one is made from
    ``workers``, ``timeout`` and ``soffice`` (a missing LibreOffice raises ConversionError
    before anything is done). An existing output PDF is refused unless ``overwrite``: it may
    already carry signatures.
    """
    jobs = list(jobs)
    with ExitStack() as stack:
        if pool is None:
            pool = stack.enter_context(SofficePool(workers, timeout=timeout, soffice=soffice))
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="caqes-signable-")))
        runnable: list[_Pending] = []
        outputs: set[Path] = set()
        for index, job in enumerate(jobs):
            problem = _output_problem(job, outputs, overwrite)
            if problem:
                yield JobResult(job, problem)
            else:
                runnable.append(_Pending(job, index, work))
        owner = {id(task): pending for pending in runnable for task in pending.tasks}
        tasks = [task for pending in runnable for task in pending.tasks]
        conversions = stack.enter_context(closing(pool.convert(tasks)))
        cores = CoreRotation(pool.workers)
        for conversion in conversions:
            pending = owner[id(conversion.task)]
            if pending.done:
                continue
            if not conversion.ok:
                pending.done = True
                yield JobResult(pending.job, conversion.message())
            elif pending.converted(conversion.task):
                pending.done = True
                with cores.next_core():
                    result = _finish(pending)
                yield result


class _Pending:
    """A job whose parts are being converted into the work folder."""

    def __init__(self, job: SignableJob, index: int, work: Path) -> None:
        self.job = job
        self.tasks = [
            ConversionTask(Path(source), work / f"{index:05d}-{part}.pdf", durable=False)
            for part, (source, _title) in enumerate(job.parts())
        ]
        self.waiting = {id(task) for task in self.tasks}
        self.done = False

    def converted(self, task: ConversionTask) -> bool:
        """Note one converted part; whether it was the last one."""
        self.waiting.discard(id(task))
        return not self.waiting


def _output_problem(job: SignableJob, outputs: set[Path], overwrite: bool) -> str | None:
    output = Path(job.output).resolve()
    if output in outputs:
        return f"{job.output} : même fichier de sortie qu'un autre contrat"
    outputs.add(output)
    if output.exists() and not overwrite:
        return (
            f"{job.output} : le fichier existe déjà (peut-être déjà signé), il n'est pas remplacé"
        )
    return None


def _finish(pending: _Pending) -> JobResult:
    """Merge, add the fields, write the PDF and its record; the parts are deleted after."""
    job = pending.job
    cpu: dict[str, float] = {}
    clock = time.thread_time()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.thread_time()
        cpu[step] = (now - clock) * 1000
        clock = now

    moment = datetime.now().astimezone().replace(microsecond=0)
    try:
        parts = [
            Part.from_file(task.target, title, Path(source).name)
            for task, (source, title) in zip(pending.tasks, job.parts(), strict=True)
        ]
        contract = parts[0]
        anchors = find_anchors(contract.pdf, ANCHORS, source=contract.name)
        placements = plan_fields(anchors, job.geometry, source=contract.name)
        lap("anchors")
        signable = assemble(parts, job.metadata, placements, now=moment)
        lap("assemble")
        digest = hashlib.sha256(signable).hexdigest()
        _issue(job, signable, digest, moment)
        lap("write")
    except CaqesError as exc:
        return JobResult(job, str(exc), cpu_ms=cpu)
    except OSError as exc:
        return JobResult(
            job, f"{job.output} : écriture impossible ({system_reason(exc)})", cpu_ms=cpu
        )
    finally:
        for task in pending.tasks:
            task.target.unlink(missing_ok=True)
    return JobResult(job, None, digest, cpu)


def _issue(job: SignableJob, pdf: bytes, digest: str, moment: datetime) -> None:
    """Write the PDF, then its record; without its record the PDF is removed again."""
    output = Path(job.output)
    record = IssuedRecord(
        sha256=digest,
        size=len(pdf),
        source=output.name,
        reference=job.reference,
        finess_ej=job.finess_ej,
        file_name=output.name,
        issued_at=moment.isoformat(),
    )
    write_bytes(output, pdf)
    try:
        write_issued_record(output, record)
    except BaseException:
        output.unlink(missing_ok=True)
        raise
