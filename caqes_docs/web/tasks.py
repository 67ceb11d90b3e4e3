"""Long work run by the task queue (huey, SQLite storage in the data folder).

Each task updates its :class:`~caqes_docs.web.models.Job` row as it goes, so the progress
page can follow it; a library error ends the job with its French message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from huey.contrib.djhuey import db_task

from caqes_docs.errors import CaqesError
from caqes_docs.files import system_reason
from caqes_docs.inputs.targeting import REJECT_COLUMNS, reject_rows
from caqes_docs.registry.lifecycle import REFUSED, receive
from caqes_docs.signatures.signing import load_p12, open_pkcs11, sign_documents
from caqes_docs.web.exchange import (
    awaited_party,
    cpam_name,
    document_by_id,
    files_dir,
    generated_name,
    latest_copy,
    open_registry,
    record_event,
    trust_roots,
)
from caqes_docs.web.mail import notify
from caqes_docs.web.models import Job
from caqes_docs.workflows.batch import run_batch


def _finish(job: Job, error: str = "") -> None:
    job.status = Job.FAILED if error else Job.DONE
    job.error = error
    job.finished_at = timezone.now()
    job.save()


def _run(job_id: int, work: object) -> None:
    job = Job.objects.get(id=job_id)
    job.status = Job.RUNNING
    job.save(update_fields=["status"])
    try:
        work(job)  # type: ignore[operator]
    except CaqesError as exc:
        _finish(job, str(exc))
        return
    except Exception as exc:  # the officer sees that it failed; the log has the detail
        _finish(job, f"erreur inattendue ({type(exc).__name__}) ; voir le journal du serveur")
        raise
    _finish(job)


@db_task()
def batch_task(job_id: int) -> None:
    _run(job_id, _batch)


def _batch(job: Job) -> None:
    def progress(event: str, finess: str) -> None:
        if event == "total":
            job.total = int(finess)
        else:
            job.done += 1
        job.save(update_fields=["total", "done"])

    report = run_batch(
        files_dir("ciblages") / job.input_name,
        Path(settings.CAQES_CONTRACTS_DIR),
        campaign_file=Path(settings.CAQES_CAMPAIGN_FILE) if settings.CAQES_CAMPAIGN_FILE else None,
        finess_extract=[Path(path) for path in settings.CAQES_FINESS_EXTRACT],
        registry=Path(settings.CAQES_REGISTRY),
        on_progress=progress,
    )
    job.result = {
        "generated": report.generated,
        "up_to_date": report.up_to_date,
        "failed": report.failed,
        "reject_columns": list(REJECT_COLUMNS),
        "rejects": [list(row) for row in reject_rows(report.refused)],
        "refused": len(report.refused),
    }


@db_task()
def countersign_task(job_id: int) -> None:
    _run(job_id, _countersign)


@contextlib.contextmanager
def ars_signer() -> Iterator[object]:
    """The server's ARS key: the PKCS#11 token when one is configured (its session stays open
    while the caller signs), else the PKCS#12 file."""
    if settings.CAQES_ARS_PKCS11_MODULE:
        pin = _first_line(settings.CAQES_ARS_PIN_FILE, "code PIN du jeton de l'ARS")
        with open_pkcs11(
            settings.CAQES_ARS_PKCS11_MODULE,
            settings.CAQES_ARS_PKCS11_TOKEN,
            settings.CAQES_ARS_PKCS11_KEY,
            pin,
        ) as signer:
            yield signer
    else:
        password = _first_line(settings.CAQES_ARS_PASSWORD_FILE, "mot de passe de la clé ARS")
        yield load_p12(settings.CAQES_ARS_P12, password.encode("utf-8") or None)


def _first_line(path: str, what: str) -> str:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = system_reason(exc) if isinstance(exc, OSError) else "pas en UTF-8"
        raise CaqesError(f"{path} : {what} illisible ({reason})") from None
    return lines[0] if lines else ""


def _countersign(job: Job) -> None:
    ids = [int(value) for value in job.arguments.get("documents", [])]
    job.total = len(ids)
    job.save(update_fields=["total"])
    outcomes = []
    with ars_signer() as signer:
        for document_id in ids:
            outcomes.append(_countersign_one(document_id, signer, job.created_by))
            job.done += 1
            job.result = {"outcomes": outcomes}
            job.save(update_fields=["done", "result"])
    # The documents now complete get their sealed bordereau and completion notices.
    notify(ids, bordereaux=True)


def _countersign_one(document_id: int, signer: object, officer: str) -> dict[str, object]:
    """As ``caqes sign --role ARS`` then ``caqes receive`` on the document's latest copy."""
    with open_registry() as registry:
        document = document_by_id(registry, document_id)
        if document is None:
            return {"document": str(document_id), "ok": False, "message": "document inconnu"}
        name = f"{document.reference} {document.label}"
        if awaited_party(registry, document) != "ARS":
            return {"document": name, "ok": False, "message": "la signature ARS n'est pas attendue"}
        contract = registry.contract(document.reference)
        output = files_dir("tmp") / generated_name(".pdf")
        try:
            [result] = sign_documents(
                [latest_copy(document)],
                "ARS",
                signer,  # type: ignore[arg-type]
                output=output,
                order=contract.signing_order(),
                issued=registry.issued_record(document),
                trust_roots=trust_roots(),
                campaign=contract.campaign_model(),
                cpam=cpam_name(contract),
            )
            if not result.ok:
                return {"document": name, "ok": False, "message": str(result.error)}
            [outcome] = receive([output], registry, trust_roots())
        finally:
            output.unlink(missing_ok=True)
        ok = outcome.status != REFUSED
        record_event(
            registry,
            "contresignature",
            f"contresignature ARS depuis le portail par {officer} : {outcome.message}",
            document.contract_id,
            document.id,
        )
        return {"document": name, "ok": ok, "message": outcome.message}
