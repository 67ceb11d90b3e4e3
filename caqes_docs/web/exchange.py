"""What the portal's pages do with the registry, through the library's own functions.

The views stay thin: each calls one function here, which opens the registry named by the
settings, calls the library (:func:`~caqes_docs.registry.lifecycle.receive`,
:func:`~caqes_docs.registry.lifecycle.status`,
:func:`~caqes_docs.signatures.verify.verify_document`…) and records the portal's own events
(link opened, download, upload) in the registry's journal, so that ``caqes export`` shows
them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from caqes_docs.parties import ROLES, party
from caqes_docs.registry.lifecycle import (
    REFUSED,
    UNCHANGED,
    StatusReport,
    StatusRow,
    receive,
    status,
)
from caqes_docs.registry.store import (
    ContractRecord,
    DocumentRecord,
    Registry,
    missing_parties,
)
from caqes_docs.signatures.verify import VerificationReport, verify_document
from caqes_docs.web.models import PartyLink, RefusedUpload
from caqes_docs.workflows.reminders import last_reminders, mail_journal, mail_problems

PDF_MAGIC = b"%PDF-"
# Where a PDF header may start: readers accept a little junk before it, nothing more.
PDF_HEADER_WINDOW = 1024


# --- the registry and its journal ---------------------------------------------------------------


@contextlib.contextmanager
def open_registry() -> Iterator[Registry]:
    with Registry.open(settings.CAQES_REGISTRY) as registry:
        yield registry


def record_event(
    registry: Registry,
    kind: str,
    detail: str,
    contract_id: int | None = None,
    document_id: int | None = None,
) -> None:
    with registry.transaction():
        registry.add_event(contract_id, document_id, kind, detail)


def trust_roots() -> list[Path]:
    return [Path(path) for path in settings.CAQES_TRUST_ROOTS if Path(path).is_file()]


def files_dir(name: str) -> Path:
    """A folder of the portal's files (``depots``, ``refus``, ``ciblages``, ``tmp``)."""
    folder = Path(settings.CAQES_FILES) / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def generated_name(suffix: str) -> str:
    """A stored file's name: never the uploaded one."""
    return f"{uuid.uuid4().hex}{suffix}"


# --- documents --------------------------------------------------------------------------------


def cpam_name(contract: ContractRecord) -> str:
    """The CPAM the contract names, whose certificate signs for it."""
    return contract.current_version.contract().cpam.name


def document_by_id(registry: Registry, document_id: int) -> DocumentRecord | None:
    return next((doc for doc in registry.documents() if doc.id == document_id), None)


def latest_copy(document: DocumentRecord) -> Path:
    """The copy to sign next: the most complete signed copy, else the issued PDF."""
    if document.signed_path is not None and document.signed_path.is_file():
        return document.signed_path
    return document.issued_path


def awaited_party(registry: Registry, document: DocumentRecord) -> str | None:
    contract = registry.contract(document.reference)
    signed = [sig.party for sig in registry.signatures(document.id)]
    waiting = missing_parties(signed, contract.signing_order())
    return waiting[0] if waiting else None


def verification_report(registry: Registry, document: DocumentRecord) -> VerificationReport:
    """What ``caqes verify`` says of the document's latest copy, against the registry."""
    contract = registry.contract(document.reference)
    return verify_document(
        latest_copy(document),
        trust_roots=trust_roots(),
        issued=registry.issued_record(document),
        finess_ej=contract.finess_ej,
        campaign=contract.campaign_model(),
        cpam=cpam_name(contract),
        order=contract.signing_order(),
    )


def party_contact(contract: ContractRecord, role: str) -> str:
    """Whom a link goes to, as the contract names the party."""
    current = contract.current_version.contract()
    if role == "ETAB":
        holder = current.establishment
        return f"{holder.representative.name or holder.representative.title}, {holder.legal_name}"
    holder = current.cpam if role == "CPAM" else current.ars
    return f"{holder.representative.name or holder.representative.title}, {holder.name}"


# --- the dashboard ------------------------------------------------------------------------------

FILTERS = {
    "ETAB": "en attente de l'établissement",
    "CPAM": "en attente de la CPAM",
    "ARS": "en attente de l'ARS",
    "complet": "signés par les trois parties",
    "refus": "avec un dépôt refusé",
    "courriel": "dont un courriel n'a pas été remis",
}


@dataclass(frozen=True)
class DashboardRow:
    row: StatusRow
    document_id: int
    waiting_days: int | None
    refused_uploads: int
    last_reminder: dt.datetime | None = None  # caqes relances (caqes_docs/web/mail.py)
    mail_problem: str | None = None
    """Why a message still due did not reach its party (refusal by the server, bounce)."""


def dashboard(selected: str | None = None, today: dt.date | None = None) -> list[DashboardRow]:
    """One row per live document (contract, avenant, résiliation), filtered."""
    today = today or dt.date.today()
    with open_registry() as registry:
        report: StatusReport = status(registry)
        documents = {(doc.reference, doc.label): doc for doc in registry.documents()}
        last_signed = {
            doc.id: max((sig.recorded_at for sig in registry.signatures(doc.id)), default=None)
            for doc in documents.values()
        }
        journal = mail_journal(registry)
        reminded = last_reminders(registry, journal)
        undelivered = mail_problems(registry, journal=journal)
    refused: dict[int, int] = {}
    for document_id in RefusedUpload.objects.values_list("document_id", flat=True):
        refused[document_id] = refused.get(document_id, 0) + 1
    rows = []
    for row in report.rows:
        document = documents[(row.reference, row.document)]
        since = last_signed[document.id] or document.issued_at
        days = (today - dt.datetime.fromisoformat(since).date()).days if row.waiting_for else None
        rows.append(
            DashboardRow(
                row,
                document.id,
                days,
                refused.get(document.id, 0),
                reminded.get(document.id),
                undelivered.get(document.id),
            )
        )
    return [item for item in rows if _selected(item, selected)]


def _selected(item: DashboardRow, selected: str | None) -> bool:
    if selected in ROLES:
        return item.row.waiting_for == selected
    if selected == "complet":
        return item.row.waiting_for is None
    if selected == "refus":
        return item.refused_uploads > 0
    if selected == "courriel":
        return item.mail_problem is not None
    return True


# --- a party's upload -------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadResult:
    accepted: bool
    message: str
    sha256: str | None = None


def receive_upload(link: PartyLink, upload: UploadedFile) -> UploadResult:
    """Verify and record the signed copy a party uploaded through its link.

    The file is stored under a generated name, must be a PDF that extends this link's own
    issued document, at the party's turn; then the library's :func:`receive` verifies and
    records it. A refused file changes nothing but the journal and is kept aside.
    """
    stored = files_dir("depots") / generated_name(".pdf")
    digest, size, header = _store(upload, stored)
    original = Path(upload.name or "").name[:300]
    with open_registry() as registry:
        document = document_by_id(registry, link.document_id)
        if document is None:  # the document was superseded since the link was made
            stored.unlink(missing_ok=True)
            return UploadResult(False, "ce document n'est plus à signer ; contactez l'ARS")
        reason = _refusal_before_receive(registry, document, link, stored, header)
        outcome_message = None
        if reason is None:
            [outcome] = receive([stored], registry, trust_roots())
            if outcome.status == REFUSED:
                reason = outcome.message
            elif outcome.status == UNCHANGED:
                reason = _nothing_new(registry, document, link.party)
            else:
                outcome_message = outcome.message
        who = party(link.party).name
        if reason is not None:
            _keep_aside(link, stored, original, digest, size, reason)
            record_event(
                registry,
                "dépôt refusé",
                f"dépôt refusé ({who}, fichier « {original} », SHA-256 {digest}) : {reason}",
                document.contract_id,
                document.id,
            )
            return UploadResult(False, reason, digest)
        record_event(
            registry,
            "dépôt",
            f"dépôt accepté ({who}, fichier « {original} », SHA-256 {digest}) : {outcome_message}",
            document.contract_id,
            document.id,
        )
    stored.unlink(missing_ok=True)  # the registry keeps its own signed copy
    return UploadResult(True, str(outcome_message), digest)


def _store(upload: UploadedFile, target: Path) -> tuple[str, int, bytes]:
    digest = hashlib.sha256()
    size = 0
    header = b""
    with open(target, "xb") as handle:
        for chunk in upload.chunks():
            if len(header) < PDF_HEADER_WINDOW:
                header += chunk[: PDF_HEADER_WINDOW - len(header)]
            digest.update(chunk)
            size += len(chunk)
            handle.write(chunk)
    return digest.hexdigest(), size, header


def _refusal_before_receive(
    registry: Registry, document: DocumentRecord, link: PartyLink, stored: Path, header: bytes
) -> str | None:
    """What the portal refuses before verification: not a PDF, another document, not the turn."""
    if PDF_MAGIC not in header:
        return "ce fichier n'est pas un PDF"
    extended = registry.document_extended_by(stored.read_bytes())
    if extended is None or extended.id != document.id:
        return (
            f"ce fichier ne prolonge pas le {document.label} {document.reference} émis pour ce "
            "lien : c'est un autre document, ou une copie modifiée en dehors de la signature"
        )
    signed = [sig.party for sig in registry.signatures(document.id)]
    waiting = missing_parties(signed, registry.contract(document.reference).signing_order())
    if not waiting:
        return "le document est déjà signé par les trois parties : rien à déposer"
    if link.party not in waiting:
        return "votre signature est déjà enregistrée pour ce document"
    if waiting[0] != link.party:
        return (
            f"ce n'est pas encore votre tour : la signature {party(waiting[0]).name} est attendue"
        )
    return None


def _nothing_new(registry: Registry, document: DocumentRecord, role: str) -> str:
    """Why a copy that ``receive`` found verified but adding nothing is refused here.

    For the library such a copy is « déjà enregistré », harmless; but the party uploading it
    at its turn believes it has signed: its own signature is what is missing. The file can
    only carry the signatures already recorded (fewer or different ones are refused by
    ``receive``), so naming them says precisely what is in it.
    """
    recorded = [party(sig.party).name for sig in registry.signatures(document.id)]
    if not recorded:
        found = "c'est le PDF à signer tel qu'il a été téléchargé, sans aucune signature"
    elif len(recorded) == 1:
        found = f"il ne contient que la signature déjà enregistrée ({recorded[0]})"
    else:
        found = f"il ne contient que les signatures déjà enregistrées ({', '.join(recorded)})"
    return (
        f"ce fichier ne porte aucune nouvelle signature {party(role).of_name} : {found}. "
        "Signez-le avec votre certificat (Okular, Adobe Acrobat Reader ou votre outil de "
        "signature), puis déposez la copie signée"
    )


def _keep_aside(
    link: PartyLink, stored: Path, original: str, digest: str, size: int, reason: str
) -> None:
    aside = files_dir("refus") / stored.name
    stored.replace(aside)
    RefusedUpload.objects.create(
        link=link,
        reference=link.reference,
        document_id=link.document_id,
        party=link.party,
        stored_name=aside.name,
        original_name=original,
        sha256=digest,
        size=size,
        reason=reason,
    )


def refuse_without_file(link: PartyLink, original: str, size: int, reason: str) -> None:
    """An upload refused before its bytes were read (too large, no file): journal it."""
    RefusedUpload.objects.create(
        link=link,
        reference=link.reference,
        document_id=link.document_id,
        party=link.party,
        original_name=original[:300],
        size=size,
        reason=reason,
    )
    with open_registry() as registry:
        document = document_by_id(registry, link.document_id)
        record_event(
            registry,
            "dépôt refusé",
            f"dépôt refusé ({party(link.party).name}, fichier « {original} ») : {reason}",
            document.contract_id if document else None,
            link.document_id if document else None,
        )
