"""The life of a contract after its issue: signed copies received, avenants, résiliations.

- :func:`receive` takes in PDFs returned by the parties: each is identified by the issued PDF
  it extends byte for byte, its signatures are verified, the new ones recorded and the file
  kept beside the issued one as ``X.signe.pdf`` (the most complete copy). Anything doubtful
  is refused and changes nothing.
- :func:`amend` issues avenant n°k from a changes file (:mod:`caqes_docs.registry.amendments`);
  :func:`terminate` issues the avenant de résiliation of a volet (article 11). Each is a
  signable PDF registered in the registry; its consolidated version becomes current once the
  three parties have signed it.
- :func:`status` and :func:`export_registry` report where every document stands.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from caqes_docs.errors import CaqesError, ConversionError, InputError, RegistryError
from caqes_docs.files import system_reason, write_bytes, write_json
from caqes_docs.issued import load_issued_record, sidecar_path
from caqes_docs.parties import ROLES
from caqes_docs.registry.evaluations import EvaluationRecord, evaluations, export_evaluations
from caqes_docs.registry.store import (
    AMENDMENT,
    CONTRACT,
    SUPERSEDED,
    TERMINATION,
    ContractRecord,
    DocumentRecord,
    DocumentTerms,
    Registry,
    Signature,
    VersionRecord,
    missing_parties,
    now_iso,
)
from caqes_docs.resources import shipped_dir

if TYPE_CHECKING:
    from asn1crypto import x509

    from caqes_docs.inputs.campaign import Campaign
    from caqes_docs.inputs.models import Contract
    from caqes_docs.signatures.qualified import TrustedLists
    from caqes_docs.signatures.verify import VerificationReport

# Receiving, amending and terminating import pyHanko, docxtpl and LibreOffice's driver inside
# their functions: ``caqes status`` (this module's status()) answers without loading them.

RECORDED = "enregistré"
UNCHANGED = "déjà enregistré"
REFUSED = "refusé"
SIGNED_SUFFIX = ".signe"


# --- receiving signed copies ----------------------------------------------------------------


@dataclass(frozen=True)
class ReceiveOutcome:
    """What became of one received file; ``message`` is one French line."""

    path: Path
    status: str
    message: str
    reference: str | None = None
    document: str | None = None
    new_parties: tuple[str, ...] = ()
    complete: bool = False
    qualifications: tuple[tuple[str, str], ...] = ()
    """(party, « qualifiée (signature) » / « non qualifiée : … ») when trusted lists were given."""

    @property
    def ok(self) -> bool:
        return self.status != REFUSED


class _Refused(Exception):
    """Raised inside a transaction to roll it back and refuse the file."""


def signed_copy_path(issued: Path) -> Path:
    """``X.signe.pdf`` beside the issued ``X.pdf``."""
    return issued.with_name(f"{issued.stem}{SIGNED_SUFFIX}{issued.suffix}")


def receive(
    paths: Iterable[str | Path],
    registry: Registry,
    trust_roots: Sequence[str | Path | x509.Certificate],
    trusted_lists: TrustedLists | None = None,
) -> list[ReceiveOutcome]:
    """Take in each PDF; a refused file is reported and the others still go on.
    ``trusted_lists`` (signatures/qualified.py) say whether each certificate is qualified."""
    from asn1crypto import x509

    from caqes_docs.signatures.verify import load_trust_roots

    if not trust_roots:
        raise InputError(
            "au moins un certificat racine de confiance est nécessaire pour vérifier les "
            "signatures reçues",
            place="--trust",
        )
    roots = [
        root if isinstance(root, x509.Certificate) else load_trust_roots([root])[0]
        for root in trust_roots
    ]
    return [_receive_one(Path(path), registry, roots, trusted_lists) for path in paths]


def _receive_one(
    path: Path,
    registry: Registry,
    roots: list[x509.Certificate],
    trusted_lists: TrustedLists | None = None,
) -> ReceiveOutcome:
    from caqes_docs.signatures.verify import SIGNED as FIELD_SIGNED

    try:
        data = path.read_bytes()
    except OSError as exc:
        return ReceiveOutcome(path, REFUSED, f"lecture impossible ({system_reason(exc)})")
    document = registry.document_extended_by(data)
    if document is None:
        return ReceiveOutcome(path, REFUSED, _unknown_document(path, data, registry))
    if document.status == SUPERSEDED:
        return _identified(
            path, document, REFUSED, "cette émission a été remplacée par une émission plus récente"
        )
    contract = registry.contract(document.reference)
    try:
        report = _verify(path, registry, document, contract, roots, trusted_lists)
    except CaqesError as exc:
        return _identified(path, document, REFUSED, str(exc))
    if not report.ok:
        return _identified(path, document, REFUSED, _problems(report))
    if _changed_since(path, data):
        # What is kept must be exactly what was verified.
        return _identified(path, document, REFUSED, "le fichier a changé pendant sa vérification")
    signed = {
        sig.role: Signature(
            party=sig.role,
            signer=sig.signer or "",
            subject=sig.subject,
            signing_time=_time(sig.signing_time or sig.timestamp_time),
        )
        for sig in report.signatures
        if sig.status == FIELD_SIGNED
    }
    try:
        with registry.transaction():
            outcome = _record(path, data, registry, document, signed, contract.signing_order())
    except _Refused as refusal:
        return _identified(path, document, REFUSED, str(refusal))
    if trusted_lists is None:
        return outcome
    found = tuple((sig.role, sig.qualification) for sig in report.signatures if sig.qualification)
    return replace(outcome, qualifications=found)


def _changed_since(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() != data
    except OSError:
        return True


def _identified(
    path: Path, document: DocumentRecord, status: str, message: str, **extra: Any
) -> ReceiveOutcome:
    return ReceiveOutcome(path, status, message, document.reference, document.label, **extra)


def _unknown_document(path: Path, data: bytes, registry: Registry) -> str:
    from caqes_docs.signatures.verify import keywords_reference, open_pdf

    try:
        claimed = keywords_reference(open_pdf(data, path))
    except CaqesError:
        return "ce fichier n'est pas un PDF lisible"
    if claimed and any(c.reference == claimed for c in registry.contracts()):
        return (
            f"le fichier se présente comme un document du contrat {claimed} mais ne prolonge "
            "aucune version émise enregistrée : la version émise a été modifiée"
        )
    return "document inconnu du registre : il ne prolonge aucun PDF émis enregistré"


def _verify(
    path: Path,
    registry: Registry,
    document: DocumentRecord,
    contract: ContractRecord,
    roots: list[x509.Certificate],
    trusted_lists: TrustedLists | None = None,
) -> VerificationReport:
    """What ``verify`` says of ``path`` against the registered issue of ``document``: its
    record, its contract's campaign, FINESS and CPAM (each party's certificate is bound to
    them)."""
    from caqes_docs.signatures.verify import verify_document

    campaign: Campaign | None = contract.campaign_model()
    issued = registry.issued_record(document)
    return verify_document(
        path,
        trust_roots=roots,
        issued=issued,
        finess_ej=contract.finess_ej,
        campaign=campaign,
        cpam=contract.current_version.contract().cpam.name,
        order=contract.signing_order(),
        trusted_lists=trusted_lists,
    )


def verify_with_registry(
    path: str | Path,
    registry: Registry,
    trust_roots: Sequence[str | Path | x509.Certificate],
    trusted_lists: TrustedLists | None = None,
) -> VerificationReport:
    """``verify`` for a file that may come without its issued record (received by mail): the
    registry finds the issue it extends; a file it does not know is verified as it is, and
    without a record beside it is never valid (nothing proves what it extends)."""
    from caqes_docs.signatures.verify import load_trust_roots, verify_document

    path = Path(path)
    roots = load_trust_roots(trust_roots)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"lecture impossible ({system_reason(exc)})", file=path) from None
    document = registry.document_extended_by(data)
    if document is None:
        return verify_document(path, trust_roots=roots, trusted_lists=trusted_lists)
    return _verify(
        path, registry, document, registry.contract(document.reference), roots, trusted_lists
    )


def _problems(report: VerificationReport) -> str:
    problems = list(report.problems)
    for sig in report.signatures:
        problems += [f"{sig.field} ({sig.party}) : {problem}" for problem in sig.problems]
    return "signatures refusées : " + " ; ".join(problems)


def _time(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _record(
    path: Path,
    data: bytes,
    registry: Registry,
    document: DocumentRecord,
    signed: dict[str, Signature],
    order: tuple[str, ...],
) -> ReceiveOutcome:
    """Inside the transaction: compare with what is recorded now, then record what is new."""
    recorded = {sig.party: sig for sig in registry.signatures(document.id)}
    lost = [party for party in order if party in recorded and party not in signed]
    if lost:
        raise _Refused(
            f"le fichier porte moins de signatures ({_parties(signed, order)}) que celles déjà "
            f"enregistrées ({_parties(recorded, order)}) : copie antérieure, rien n'est modifié"
        )
    for party, known in recorded.items():
        got = signed[party]
        if (got.signer, got.signing_time) != (known.signer, known.signing_time):
            raise _Refused(
                f"la signature {party} du fichier ({got.signer}, {got.signing_time}) diffère "
                f"de celle déjà enregistrée ({known.signer}, {known.signing_time})"
            )
    new = [signed[party] for party in order if party in signed and party not in recorded]
    if not new:
        message = "aucune signature nouvelle" if signed else "aucune signature dans ce fichier"
        return _identified(path, document, UNCHANGED, message)
    target = signed_copy_path(document.issued_path)
    try:
        write_bytes(target, data)
    except OSError as exc:
        raise _Refused(
            f"{target} : copie signée impossible à écrire ({system_reason(exc)})"
        ) from None
    registry.add_signatures(document, new, target, path.name)
    complete = not missing_parties(list(recorded) + [sig.party for sig in new], order)
    message = f"signature(s) enregistrée(s) : {', '.join(sig.party for sig in new)}"
    if complete:
        version = registry.complete(document)
        message += " ; signé par les trois parties"
        if version is not None:
            message += f", version consolidée n°{version}"
        late = _late_signature(document, list(recorded.values()) + new)
        if late:
            registry.add_event(document.contract_id, document.id, "attention", late)
            message += f" ; attention : {late}"
    else:
        waiting = missing_parties(list(recorded) + [sig.party for sig in new], order)
        message += f" ; en attente : {', '.join(waiting)}"
    return _identified(
        path,
        document,
        RECORDED,
        message,
        new_parties=tuple(sig.party for sig in new),
        complete=complete,
    )


def _parties(signatures: dict[str, Any], order: tuple[str, ...]) -> str:
    return ", ".join(party for party in order if party in signatures) or "aucune"


def _late_signature(document: DocumentRecord, signatures: Sequence[Any]) -> str | None:
    """A warning when the last signature falls after the year the effect date assumed."""
    if document.kind == CONTRACT or document.signature_date is None:
        return None
    times = [dt.datetime.fromisoformat(s.signing_time) for s in signatures if s.signing_time]
    if not times:
        return None
    last = max(times).date()
    if last.year <= document.signature_date.year:
        return None
    return (
        f"dernière signature le {last.strftime('%d/%m/%Y')}, après l'année de signature prévue "
        f"({document.signature_date.year}) sur laquelle repose la date d'effet écrite "
        f"({document.effective_date.strftime('%d/%m/%Y') if document.effective_date else '?'})"
    )


# --- status -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusRow:
    reference: str
    establishment: str
    campaign: str
    document: str
    kind: str
    status: str
    signed: dict[str, str | None]  # party -> signing time, None when not signed
    waiting_for: str | None
    effective_date: dt.date | None
    last_event: str
    last_event_time: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "etablissement": self.establishment,
            "campagne": self.campaign,
            "document": self.document,
            "type": self.kind,
            "statut": self.status,
            "signatures": self.signed,
            "en_attente_de": self.waiting_for,
            "date_effet": self.effective_date.isoformat() if self.effective_date else None,
            "dernier_evenement": self.last_event,
            "date_dernier_evenement": self.last_event_time,
        }


@dataclass(frozen=True)
class StatusReport:
    rows: list[StatusRow]
    evaluations: list[EvaluationRecord] = field(default_factory=list)
    """The live annual evaluation of each contract and year (caqes evaluate)."""

    @property
    def totals(self) -> dict[str, int]:
        totals = {"documents": len(self.rows), "complets": 0}
        totals.update({f"en_attente_{party}": 0 for party in ROLES})
        for row in self.rows:
            if row.waiting_for is None:
                totals["complets"] += 1
            else:
                totals[f"en_attente_{row.waiting_for}"] += 1
        return totals

    def to_dict(self) -> dict[str, Any]:
        return {
            "documents": [row.to_dict() for row in self.rows],
            "totaux": self.totals,
            "evaluations": [evaluation.to_dict() for evaluation in self.evaluations],
        }


def status(registry: Registry, campaign: str | None = None) -> StatusReport:
    """One row per live document (superseded issues left out), by reference and number."""
    if campaign is not None and campaign not in registry.campaigns():
        known = ", ".join(registry.campaigns()) or "aucune"
        raise InputError(
            f"campagne inconnue du registre (connues : {known})", place="--campaign", value=campaign
        )
    rows = []
    orders: dict[str, tuple[str, ...]] = {}  # one campaign validation each, not one a contract
    for contract in registry.contracts(campaign):
        if contract.campaign not in orders:
            orders[contract.campaign] = contract.signing_order()
        order = orders[contract.campaign]
        for document in registry.documents(contract.id):
            signatures = {sig.party: sig.signing_time for sig in registry.signatures(document.id)}
            waiting = missing_parties(list(signatures), order)
            last = registry.events(document_id=document.id)
            rows.append(
                StatusRow(
                    reference=contract.reference,
                    establishment=contract.establishment,
                    campaign=contract.campaign,
                    document=document.label,
                    kind=document.kind,
                    status=document.status,
                    signed={party: signatures.get(party) for party in ROLES},
                    waiting_for=waiting[0] if waiting else None,
                    effective_date=document.effective_date,
                    last_event=last[-1].detail if last else "",
                    last_event_time=last[-1].time if last else "",
                )
            )
    return StatusReport(rows, evaluations(registry, campaign=campaign))


# --- issuing avenants -----------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedDocument:
    """An avenant (or avenant de résiliation) written and registered."""

    document: DocumentRecord
    pdf: Path
    sources: tuple[Path, ...]
    changes: tuple[str, ...]
    effective_date: dt.date
    contract_ends: bool = False


def _check_can_amend(registry: Registry, contract: ContractRecord, what: str) -> None:
    problem = registry.amendment_problem(contract, what)
    if problem:
        raise RegistryError(problem)


def _next_number(registry: Registry, contract: ContractRecord) -> int:
    return max(doc.number for doc in registry.documents(contract.id)) + 1


def _default_out(registry: Registry, contract: ContractRecord) -> Path:
    initial = next(doc for doc in registry.documents(contract.id) if doc.kind == CONTRACT)
    return initial.issued_path.parent


def _templates_dir(templates: Path | None) -> Path:
    return templates if templates is not None else shipped_dir("templates")


@dataclass(frozen=True)
class _IssueJob:
    """An avenant's DOCX (and annexes) to turn into its signable PDF, and what it makes."""

    docx: Path
    annexes: tuple[tuple[Path, str], ...]
    pdf: Path
    title: str
    consolidated: Contract
    kind: str


def _issue_and_register(
    registry: Registry, job: _IssueJob, campaign: str, terms: DocumentTerms
) -> DocumentRecord:
    """The signable PDF/A of an avenant and its registration, or neither.

    A PDF left at the same path by an interrupted run, unknown to the registry, is replaced;
    a PDF whose registration fails is removed, so that the command can simply be run again.
    """
    from caqes_docs.pdf.assemble import DocumentMetadata
    from caqes_docs.pdf.signable import SignableJob, make_signable

    if job.pdf.exists() and registry.document_extended_by(job.pdf.read_bytes()) is None:
        job.pdf.unlink()
    reference = job.consolidated.reference
    finess = job.consolidated.establishment.finess_ej
    signable = SignableJob(
        contract=job.docx,
        output=job.pdf,
        metadata=DocumentMetadata(
            title=job.title,
            subject=f"{job.title} — contrat CAQES {reference}",
            keywords=f"CAQES; reference={reference}; finess_ej={finess}; avenant={terms.number}",
        ),
        reference=reference,
        finess_ej=finess,
        annexes=job.annexes,
        contract_title=job.title,
    )
    [result] = make_signable([signable], workers=1)
    if not result.ok:
        raise ConversionError(f"{job.pdf.name} : {result.error}")
    try:
        return registry.register_issued(
            job.consolidated,
            job.kind,
            job.pdf,
            load_issued_record(job.pdf),
            campaign,
            terms=terms,
        )
    except CaqesError:
        job.pdf.unlink(missing_ok=True)
        sidecar_path(job.pdf).unlink(missing_ok=True)
        raise


def amend(
    registry: Registry,
    reference: str,
    changes_file: Path,
    signature_date: dt.date,
    *,
    out_dir: Path | None = None,
    templates: Path | None = None,
) -> IssuedDocument:
    """Write, convert and register avenant n°k of ``reference``."""
    from caqes_docs.documents.render import TemplateSet, render_docx
    from caqes_docs.registry.amendments import amendment_context, plan_amendment

    contract = registry.contract(reference)
    _check_can_amend(registry, contract, "avenant")
    version = contract.current_version
    amendment = plan_amendment(
        version.contract(), changes_file, signature_date, campaign=contract.campaign_model()
    )
    number = _next_number(registry, contract)
    out_dir = out_dir or _default_out(registry, contract)
    stem = f"{reference}-avenant-{number}"
    context = amendment_context(amendment, number)
    docx = out_dir / f"{stem}.docx"
    render_docx(_templates_dir(templates) / "avenant.docx", context, docx)
    annex_templates = TemplateSet.shipped()
    annexes = []
    for annex in amendment.annexes:
        path = out_dir / f"{stem}-annexe{annex.volet}.docx"
        template = annex_templates.annex1 if annex.volet == 1 else annex_templates.annex2
        render_docx(template, context, path)
        annexes.append((path, f"Annexe {annex.volet} (avenant n°{number})"))
    pdf = out_dir / f"{stem}.pdf"
    title = f"Avenant n°{number} au contrat {reference}"
    document = _issue_and_register(
        registry,
        _IssueJob(docx, tuple(annexes), pdf, title, amendment.contract, AMENDMENT),
        contract.campaign,
        DocumentTerms(
            number=number,
            signature_date=signature_date,
            effective_date=amendment.effective_date,
            based_on_version=version.number,
            changes=amendment.changes,
        ),
    )
    return IssuedDocument(
        document,
        pdf,
        (docx, *(path for path, _ in annexes)),
        amendment.changes,
        amendment.effective_date,
    )


def volets_in_force(contract: Contract) -> list[int]:
    return [volet for volet, part in ((1, contract.volet1), (2, contract.volet2)) if part]


def _volet_start(versions: Sequence[VersionRecord], volet: int) -> dt.date | None:
    """When the volet came into force for its current run of versions."""
    start = None
    for version in versions:
        if version.data.get(f"volet{volet}") is None:
            start = None
        elif start is None:
            start = version.effective_date
    return start


def terminate(
    registry: Registry,
    reference: str,
    volet: int,
    signature_date: dt.date,
    *,
    out_dir: Path | None = None,
    templates: Path | None = None,
) -> IssuedDocument:
    """Write, convert and register the avenant de résiliation of ``volet``."""
    from caqes_docs.documents.render import date_fr, render_docx
    from caqes_docs.registry.amendments import (
        VOLET_LABELS,
        terminated_contract,
        termination_context,
        termination_effective_date,
    )

    contract = registry.contract(reference)
    _check_can_amend(registry, contract, "résiliation")
    version = contract.current_version
    current = version.contract()
    effective = termination_effective_date(signature_date)
    in_force = volets_in_force(current)
    _check_termination(registry, contract, current, volet, signature_date, effective, in_force)
    last = in_force == [volet]
    number = _next_number(registry, contract)
    out_dir = out_dir or _default_out(registry, contract)
    stem = f"{reference}-avenant-{number}-resiliation-volet{volet}"
    docx = out_dir / f"{stem}.docx"
    context = termination_context(current, number, volet, signature_date, last)
    render_docx(_templates_dir(templates) / "resiliation.docx", context, docx)
    pdf = out_dir / f"{stem}.pdf"
    title = f"Avenant n°{number} de résiliation du volet {volet} du contrat {reference}"
    consolidated = terminated_contract(current, volet, effective)
    sentence = (
        f"Le volet {volet} « {VOLET_LABELS[volet]} » est résilié ; la résiliation prend effet "
        f"le {date_fr(effective)}."
    )
    if last:
        sentence += f" Dernier volet en vigueur : le contrat prend fin le {date_fr(effective)}."
    document = _issue_and_register(
        registry,
        _IssueJob(docx, (), pdf, title, consolidated, TERMINATION),
        contract.campaign,
        DocumentTerms(
            number=number,
            signature_date=signature_date,
            effective_date=effective,
            based_on_version=version.number,
            volet=volet,
            changes=(sentence,),
        ),
    )
    return IssuedDocument(document, pdf, (docx,), (sentence,), effective, contract_ends=last)


def _check_termination(
    registry: Registry,
    contract: ContractRecord,
    current: Contract,
    volet: int,
    signature_date: dt.date,
    effective: dt.date,
    in_force: list[int],
) -> None:
    from caqes_docs.documents.render import date_fr
    from caqes_docs.registry.amendments import VOLET_LABELS

    def refuse(rule: str) -> InputError:
        return InputError(rule, place="--volet", value=f"{volet} ({VOLET_LABELS[volet]})")

    if volet not in in_force:
        remaining = ", ".join(str(v) for v in in_force) or "aucun"
        raise refuse(
            f"ce volet n'est pas en vigueur dans le contrat {contract.reference} "
            f"(volets en vigueur : {remaining})"
        )
    if signature_date > current.end_date:
        raise InputError(
            f"le contrat a pris fin le {date_fr(current.end_date)}",
            place="--date-signature",
            value=signature_date.isoformat(),
        )
    if effective > current.end_date:
        raise InputError(
            f"le contrat prend fin le {date_fr(current.end_date)}, avant la date d'effet de la "
            f"résiliation ({date_fr(effective)})",
            place="--date-signature",
            value=signature_date.isoformat(),
        )
    start = _volet_start(registry.versions(contract.id), volet)
    if start is not None and effective < start:
        raise refuse(
            f"ce volet n'entre en vigueur que le {date_fr(start)}, après la date d'effet de la "
            f"résiliation ({date_fr(effective)})"
        )


# --- export -------------------------------------------------------------------------------------


def export_registry(registry: Registry, out: Path | None = None) -> dict[str, Any]:
    """The whole registry as plain data; written atomically to ``out`` when given."""
    data = registry.export_data()
    data["evaluations"] = export_evaluations(registry)
    data["exporte_le"] = now_iso()
    if out is not None:
        write_json(out, data)
    return data
