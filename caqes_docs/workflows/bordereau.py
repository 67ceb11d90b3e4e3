"""The « bordereau de signature »: one sealed page that proves who signed a document, and when.

When a document of the registry (contract, avenant, résiliation) is signed by every party,
:func:`issue_bordereau` writes ``X.bordereau.pdf`` beside its issued ``X.pdf`` and signed copy
``X.signe.pdf``: a one-page PDF/A made like the contracts (the officer-editable model
``templates/bordereau.docx``, LibreOffice, one empty field ``s3_ARS``), then sealed by the ARS
key. Its facts are those of :func:`~caqes_docs.signatures.verify.verify_document` on the
signed copy (what ``caqes verify --json`` prints), plus each certificate's issuer and the
revision each signature covers, and the receipt events of the registry.

The bordereau's Keywords name the document and the SHA-256 of the issued file and of the
signed copy it describes: :func:`check_bordereau` verifies the ARS seal and that the signed
copy beside it (or the one given) is exactly that copy. A bordereau moved next to another
contract does not match.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caqes_docs.errors import CaqesError, ConversionError, SigningError, VerificationError
from caqes_docs.files import local_time, system_reason
from caqes_docs.issued import IssuedRecord, read_issued_record, write_issued_record
from caqes_docs.parties import party
from caqes_docs.registry.store import SIGNED, DocumentRecord, Registry
from caqes_docs.resources import shipped_dir

TEMPLATE = "bordereau.docx"
BORDEREAU_EVENT = "bordereau"
# The registry's events that tell how the signatures came in (the portal's refused uploads
# included: a party's attempts are part of the story).
REFUSED_UPLOAD = "dépôt refusé"
RECEIPT_EVENTS = ("dépôt", REFUSED_UPLOAD, "signature", "contresignature", "signé")
# Rows of the receptions' table that one page holds beside the longest realistic facts, the
# summary row included; the full journal is in ``caqes export``.
MAX_EVENTS = 10
# What a page holds when even that is too much (unusually long names): the bordereau is made
# again with this many rows rather than spill its seal onto a second page.
FEW_EVENTS = 3
# The width of one line of the receptions' column, in ems of its 8 pt font (7,788 twips less
# the cell margins: 47.6 em), less a margin: each row is one line.
EVENT_LINE_EMS = 47.0
FILE_NAME = 30  # a file name longer than this is shortened in the middle
VALID = "valide"
_KEYWORD = re.compile(r"(\w+)=([^;]*)")
_DIGEST = re.compile(r",? ?SHA-256 [0-9a-fA-F]{64}")
_WAITING = re.compile(r" ; en attente : [^;]*")
_QUOTED = re.compile(r"« (.*?) »")


# --- the facts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignatureFact:
    """One party's signature as the bordereau states it."""

    role: str
    party: str
    signer: str
    subject: str
    """The certificate's subject, as ``caqes verify --json`` prints it."""
    certificate: str
    """The same, short and in French: common name, organisation, organisation identifier."""
    issuer: str
    """The common name of the certificate's issuer."""
    signing_time: dt.datetime | None
    timestamp_time: dt.datetime | None
    verification: str
    """« valide », or the verifier's problems."""
    revision: int
    """The revision the signature covers (1 = the issued file)."""
    revisions: int
    covered_bytes: int


@dataclass(frozen=True)
class EventFact:
    time: str
    kind: str
    detail: str


@dataclass(frozen=True)
class BordereauFacts:
    reference: str
    document: str
    establishment: str
    finess_ej: str
    ars: str
    issued_file: str
    issued_sha256: str
    issued_at: str
    signed_file: str
    signed_sha256: str
    verified_at: dt.datetime
    ok: bool
    problems: list[str]
    signatures: list[SignatureFact]
    events: list[EventFact] = field(default_factory=list)

    def keywords(self) -> str:
        """What :func:`check_bordereau` reads back from the sealed PDF."""
        return (
            f"CAQES; bordereau; reference={self.reference}; finess_ej={self.finess_ej}; "
            f"document={self.document}; emis_sha256={self.issued_sha256}; "
            f"copie_sha256={self.signed_sha256}"
        )

    def context(self, events: int = MAX_EVENTS) -> dict[str, Any]:
        """The variables of ``templates/bordereau.docx``, with at most ``events`` rows of
        receptions."""
        return {
            "reference": self.reference,
            "document": self.document,
            "etablissement": self.establishment,
            "finess_ej": self.finess_ej,
            "ars": {"nom_court": self.ars},
            "fichier_emis": self.issued_file,
            "emis_le": _when(self.issued_at),
            "sha256_emis": self.issued_sha256,
            "fichier_signe": self.signed_file,
            "sha256_signe": self.signed_sha256,
            "verifie_le": _when(self.verified_at),
            "resultat": (
                "toutes les signatures sont valides" if self.ok else "; ".join(self.problems)
            ),
            "signatures": [
                {
                    "partie": sig.party,
                    "signataire": sig.signer,
                    "sujet": sig.certificate,
                    "emetteur": sig.issuer,
                    "date_signature": _when(sig.signing_time),
                    "horodatage": _when(sig.timestamp_time) if sig.timestamp_time else "aucun",
                    "verification": sig.verification,
                    "revision": (
                        f"{sig.revision} sur {sig.revisions} (octets 0 à {sig.covered_bytes})"
                    ),
                }
                for sig in self.signatures
            ],
            "evenements": receipt_rows(self.events, events),
        }


def receipt_rows(events: Sequence[EventFact], limit: int = MAX_EVENTS) -> list[dict[str, str]]:
    """The receptions' table: one short line per event, at most ``limit`` rows.

    Beyond ``limit``, the events that recorded signatures stay (the latest, if even they are
    too many), the latest refused uploads fill what is left, and a last row counts the others,
    which ``caqes export`` keeps.
    """
    shown = list(range(len(events)))
    if len(events) > limit:
        room = limit - 1
        accepted = [i for i in shown if events[i].kind != REFUSED_UPLOAD][-room:]
        refused = [i for i in shown if events[i].kind == REFUSED_UPLOAD]
        spare = room - len(accepted)
        shown = sorted(accepted + (refused[-spare:] if spare else []))
    rows = [
        {"date": _when(events[i].time), "detail": receipt_line(events[i].detail)} for i in shown
    ]
    kept = frozenset(shown)
    left = [event for i, event in enumerate(events) if i not in kept]
    if left:
        refused = sum(event.kind == REFUSED_UPLOAD for event in left)
        among = f", dont {refused} dépôt(s) refusé(s)" if refused else ""
        rows.append(
            {
                "date": "",
                "detail": f"… et {len(left)} autre(s) réception(s){among} : voir caqes export",
            }
        )
    return rows


def receipt_line(detail: str) -> str:
    """One line of an event's detail: no digest (the header has the documents'), no waiting
    list, file names shortened in the middle, the end cut if still too long."""
    text = _WAITING.sub("", _DIGEST.sub("", detail))
    text = _QUOTED.sub(lambda match: f"« {_middle(match.group(1), FILE_NAME)} »", text)
    text = " ".join(text.split())
    if _ems(text) <= EVENT_LINE_EMS:
        return text
    while _ems(text + "…") > EVENT_LINE_EMS:
        text = text[:-1]
    return text.rstrip() + "…"


def _ems(text: str) -> float:
    """An upper bound of ``text``'s width in a sans-serif font (Arial's metrics, rounded up):
    enough to cut a line before the table wraps it, without the font at hand."""
    return sum(_char_ems(char) for char in text)


def _char_ems(char: str) -> float:
    if char in "…œŒæÆ":
        return 1.02
    if char in " .,;:'’!|()[]ijlft-/":
        return 0.34
    if char in "mwMWŵŴ":
        return 0.95
    if char.isupper():
        return 0.78
    if char.islower() or char.isdigit() or char in "«»_":
        return 0.56 if char.isascii() or char in "«»éèêëàâäîïôöùûüç" else 0.62
    return 1.02


def _middle(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return f"{text[:head]}…{text[len(text) - (width - 1 - head) :]}"


def describe_name(name: Any) -> str:
    """A certificate's subject in French and short: CN, O, organisation identifier."""
    native = name.native
    parts = [native.get(key) for key in ("common_name", "organization_name")]
    parts.append(native.get("organization_identifier"))
    return ", ".join(_text(part) for part in parts if part)


def _issuer_name(name: Any) -> str:
    native = name.native
    return _text(native.get("common_name") or native.get("organization_name") or "?")


def _text(value: Any) -> str:
    """A name attribute's value; a repeated attribute reads as its values joined."""
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def _when(moment: dt.datetime | str | None) -> str:
    return local_time(moment).strftime("%d/%m/%Y %H:%M:%S") if moment else "—"


def bordereau_facts(
    registry: Registry, document: DocumentRecord, trust_roots: Sequence[Any]
) -> BordereauFacts:
    """The facts of ``document``'s signed copy, verified now against the registry's record."""
    from caqes_docs.signatures.verify import verify_document

    if document.signed_path is None or not document.signed_path.is_file():
        raise VerificationError(f"{document.reference} {document.label} : aucune copie signée")
    contract = registry.contract(document.reference)
    campaign = contract.campaign_model()
    signed = document.signed_path
    report = verify_document(
        signed,
        trust_roots=trust_roots,
        issued=registry.issued_record(document),
        finess_ej=contract.finess_ej,
        campaign=campaign,
        cpam=contract.current_version.contract().cpam.name,
        order=contract.signing_order(),
    )
    data = signed.read_bytes()
    certificates = _certificates(data, signed)
    signatures = []
    for sig in report.signatures:
        certificate, issuer, revision, revisions, covered = certificates.get(
            sig.field, (sig.subject or "", "", 0, 0, 0)
        )
        signatures.append(
            SignatureFact(
                role=sig.role,
                party=sig.party,
                signer=sig.signer or "",
                subject=sig.subject or "",
                certificate=certificate,
                issuer=issuer,
                signing_time=sig.signing_time,
                timestamp_time=sig.timestamp_time,
                verification="; ".join(sig.problems) or (VALID if sig.intact else "non signée"),
                revision=revision,
                revisions=revisions,
                covered_bytes=covered,
            )
        )
    return BordereauFacts(
        reference=document.reference,
        document=document.label,
        establishment=contract.establishment,
        finess_ej=contract.finess_ej,
        ars=contract.current_version.contract().ars.short_name,
        issued_file=document.issued_path.name,
        issued_sha256=document.issued_sha256,
        issued_at=document.issued_at,
        signed_file=signed.name,
        signed_sha256=hashlib.sha256(data).hexdigest(),
        verified_at=dt.datetime.now().astimezone().replace(microsecond=0),
        ok=report.ok and report.complete,
        problems=report.all_problems(),
        signatures=signatures,
        events=[
            EventFact(event.time, event.kind, event.detail)
            for event in registry.events(document_id=document.id)
            if event.kind in RECEIPT_EVENTS
        ],
    )


def _certificates(data: bytes, name: Path) -> dict[str, tuple[str, str, int, int, int]]:
    """Per signature field: the certificate's subject in short and its issuer, the revision
    signed (1-based), the document's revisions and the bytes covered — what the verification
    report leaves out or states at length."""
    from caqes_docs.signatures.verify import open_pdf, read_signature_fields

    reader = open_pdf(data, name)
    fields = read_signature_fields(reader, name)
    total = reader.xrefs.total_revisions
    found = {}
    for field_name, signature in fields.embedded.items():
        start, length = signature.byte_range[2], signature.byte_range[3]
        found[field_name] = (
            describe_name(signature.signer_cert.subject),
            _issuer_name(signature.signer_cert.issuer),
            signature.signed_revision + 1,
            total,
            int(start) + int(length),
        )
    return found


def sample_context() -> dict[str, Any]:
    """Sample variables of ``templates/bordereau.docx``, for ``caqes check-template``."""
    when = dt.datetime(2023, 1, 16, 10, 30, tzinfo=dt.UTC)
    signatures = [
        SignatureFact(
            role, party(role).name, f"Signataire {role}", f"Common Name: Signataire {role}",
            f"Signataire {role}, Organisme {role}", "AC de démonstration", when,
            when if role == "ARS" else None,
            VALID, number + 2, 5, 250_000 + number * 15_000,
        )
        for number, role in enumerate(("ETAB", "CPAM", "ARS"))
    ]  # fmt: skip
    facts = BordereauFacts(
        reference="CAQES-NA-2022-330990011",
        document="contrat",
        establishment="Centre hospitalier « Les Pins » & associés",
        finess_ej="330990011",
        ars="ARS Nouvelle-Aquitaine",
        issued_file="CAQES-NA-2022-330990011.pdf",
        issued_sha256="0" * 64,
        issued_at=when.isoformat(),
        signed_file="CAQES-NA-2022-330990011.signe.pdf",
        signed_sha256="1" * 64,
        verified_at=when,
        ok=True,
        problems=[],
        signatures=signatures,
        events=[EventFact(when.isoformat(), "signature", "contrat signé par ETAB")],
    )
    return facts.context()


# --- issuing and sealing ------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedBordereau:
    document: DocumentRecord
    path: Path
    sha256: str
    facts: BordereauFacts


def issue_bordereau(
    registry: Registry,
    document: DocumentRecord,
    signer: Any,
    trust_roots: Sequence[Any],
    *,
    templates: Path | None = None,
) -> IssuedBordereau:
    """Write, seal with ``signer`` (the ARS key) and record the bordereau of ``document``.

    The document must be signed by every party and its signed copy valid against
    ``trust_roots``; an existing bordereau is never replaced. Raises a CaqesError in French.
    """
    [outcome] = issue_bordereaux(registry, [document], signer, trust_roots, templates=templates)
    if isinstance(outcome, CaqesError):
        raise outcome
    return outcome


@dataclass
class _Job:
    index: int
    document: DocumentRecord
    facts: BordereauFacts
    campaign: Any
    docx: Path
    pdf: Path


def issue_bordereaux(
    registry: Registry,
    documents: Sequence[DocumentRecord],
    signer: Any,
    trust_roots: Sequence[Any],
    *,
    templates: Path | None = None,
) -> list[IssuedBordereau | CaqesError]:
    """:func:`issue_bordereau` for each document, in order: its bordereau or why not.

    Every model is rendered first and converted in one LibreOffice run (its start-up is the
    bulk of one bordereau's time), then each is assembled, sealed and recorded. A page that
    does not hold its facts (unusually long names) is made again with fewer receptions: the
    seal never goes onto a second page.
    """
    from caqes_docs.documents.render import render_docx

    model = (templates or shipped_dir("templates")) / TEMPLATE
    outcomes: dict[int, IssuedBordereau | CaqesError] = {}
    with tempfile.TemporaryDirectory(prefix="caqes-bordereau-") as work:
        jobs: list[_Job] = []
        for index, document in enumerate(documents):
            try:
                facts, campaign = _checked_facts(registry, document, trust_roots)
                docx = Path(work) / f"{index:05d}.docx"
                render_docx(model, facts.context(), docx)
            except CaqesError as exc:
                outcomes[index] = exc
                continue
            jobs.append(_Job(index, document, facts, campaign, docx, docx.with_suffix(".pdf")))
        failed = _convert(jobs)
        crowded = [job for job in jobs if job.docx not in failed and _pages(job.pdf) > 1]
        for job in crowded:
            render_docx(model, job.facts.context(FEW_EVENTS), job.docx)
        failed |= _convert(crowded)
        for job in jobs:
            try:
                if job.docx in failed:
                    raise CaqesError(f"bordereau de {job.facts.reference} : {failed[job.docx]}")
                if job in crowded and _pages(job.pdf) > 1:
                    raise CaqesError(
                        f"bordereau de {job.facts.reference} : ses faits ne tiennent pas sur "
                        "une page, même réduits ; raccourcir le modèle templates/bordereau.docx"
                    )
                outcomes[job.index] = _seal_and_record(registry, job, signer, trust_roots)
            except CaqesError as exc:
                outcomes[job.index] = exc
    return [outcomes[index] for index in range(len(documents))]


def _convert(jobs: Sequence[_Job]) -> dict[Path, str]:
    """Convert the jobs' models in one LibreOffice run: the failures, model → French reason."""
    from caqes_docs.pdf.convert import ConversionTask, SofficePool

    if not jobs:
        return {}
    failed: dict[Path, str] = {}
    tasks = [ConversionTask(job.docx, job.pdf, durable=False) for job in jobs]
    try:
        with SofficePool(min(2, len(jobs))) as pool:
            for result in pool.convert(tasks):
                if not result.ok:
                    failed[result.task.source] = result.message()
    except ConversionError as exc:  # no LibreOffice: every bordereau waits
        return {job.docx: str(exc) for job in jobs}
    return failed


def _pages(pdf: Path) -> int:
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf)
    try:
        return len(document)
    finally:
        document.close()


def _checked_facts(
    registry: Registry, document: DocumentRecord, trust_roots: Sequence[Any]
) -> tuple[BordereauFacts, Any]:
    """The facts of a document that may get its bordereau now, and its campaign."""
    if document.status != SIGNED:
        raise VerificationError(
            f"{document.reference} {document.label} : pas encore signé par toutes les parties"
        )
    if document.bordereau_path.exists():
        raise VerificationError(
            f"{document.bordereau_path} existe déjà : un bordereau n'est jamais remplacé"
        )
    facts = bordereau_facts(registry, document, trust_roots)
    if not facts.ok:
        raise VerificationError(
            f"{document.reference} {document.label} : la copie signée ne tient pas, pas de "
            f"bordereau ({'; '.join(facts.problems)})"
        )
    return facts, registry.contract(document.reference).campaign_model()


def _seal_and_record(
    registry: Registry, job: _Job, signer: Any, trust_roots: Sequence[Any]
) -> IssuedBordereau:
    target = job.document.bordereau_path
    unsigned = job.pdf.with_name(target.name)
    _finish_pdf(job.facts, job.pdf, unsigned, job.campaign)
    seal(unsigned, target, signer, trust_roots, job.campaign)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    with registry.transaction():
        registry.add_event(
            job.document.contract_id,
            job.document.id,
            BORDEREAU_EVENT,
            f"bordereau de signature scellé par l'ARS : {target.name} (SHA-256 {digest})",
        )
    return IssuedBordereau(job.document, target, digest, job.facts)


def _finish_pdf(facts: BordereauFacts, converted: Path, output: Path, campaign: Any) -> None:
    """The converted page with its empty ``s3_ARS`` field, and its issued record beside it."""
    from caqes_docs.pdf.assemble import DocumentMetadata, Part, assemble
    from caqes_docs.pdf.fields import FieldGeometry, find_anchors, plan_fields

    part = Part.from_file(converted, "Bordereau de signature", output.name)
    ars = party("ARS")
    anchors = find_anchors(part.pdf, [ars.signature_anchor, ars.date_anchor], source=part.name)
    geometry = campaign.signature.fields.geometry() if campaign else FieldGeometry()
    placements = plan_fields(anchors, geometry, [ars], source=part.name)
    metadata = DocumentMetadata(
        title=f"Bordereau de signature — {facts.document} {facts.reference}",
        subject=f"Preuve de signature du {facts.document} du contrat CAQES {facts.reference}",
        keywords=facts.keywords(),
    )
    moment = dt.datetime.now().astimezone().replace(microsecond=0)
    pdf = assemble([part], metadata, placements, now=moment)
    output.write_bytes(pdf)
    write_issued_record(
        output,
        IssuedRecord(
            sha256=hashlib.sha256(pdf).hexdigest(),
            size=len(pdf),
            source=output.name,
            reference=facts.reference,
            finess_ej=facts.finess_ej,
            file_name=output.name,
            issued_at=moment.isoformat(),
        ),
    )


def seal(
    unsigned: Path, target: Path, signer: Any, trust_roots: Sequence[Any], campaign: Any
) -> None:
    """Sign the bordereau's only field, ``s3_ARS``, as ``caqes sign --role ARS`` does."""
    from caqes_docs.signatures.signing import sign_documents

    [result] = sign_documents(
        [unsigned], "ARS", signer, output=target, trust_roots=trust_roots, campaign=campaign
    )
    if not result.ok:
        target.unlink(missing_ok=True)
        raise SigningError(f"bordereau {target.name} : scellement impossible ({result.error})")


def issue_missing(
    registry: Registry,
    signer: Any,
    trust_roots: Sequence[Any],
    references: Iterable[str] | None = None,
) -> tuple[list[IssuedBordereau], list[str]]:
    """A bordereau for every complete document that has none: (issued, French failures)."""
    wanted = set(references) if references is not None else None
    documents = [
        document
        for document in missing_bordereaux(registry)
        if wanted is None or document.reference in wanted
    ]
    outcomes = issue_bordereaux(registry, documents, signer, trust_roots)
    issued = [outcome for outcome in outcomes if isinstance(outcome, IssuedBordereau)]
    failures = [
        f"{document.reference} {document.label} : {outcome}"
        for document, outcome in zip(documents, outcomes, strict=True)
        if isinstance(outcome, CaqesError)
    ]
    return issued, failures


def missing_bordereaux(registry: Registry) -> list[DocumentRecord]:
    """Documents signed by every party whose bordereau is not written yet."""
    return [
        document
        for document in registry.documents()
        if document.status == SIGNED and not document.bordereau_path.exists()
    ]


# --- checking -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BordereauCheck:
    """Whether a bordereau is sealed by the ARS and describes ``contract`` (``ok``: both)."""

    path: Path
    contract: Path | None
    sealed: bool
    matches: bool
    reference: str | None
    problems: list[str]
    """The seal's problems, and the copy's if it does not match."""
    missing: str | None = None
    """Why the signed copy could not be read (« introuvable : … »): not the same as a copy that
    does not match."""

    @property
    def ok(self) -> bool:
        return self.sealed and self.matches


def described_copy(bordereau: Path) -> Path:
    """``X.signe.pdf`` for ``X.bordereau.pdf``: the signed copy it is stored beside."""
    stem = bordereau.name.removesuffix(".pdf").removesuffix(".bordereau")
    return bordereau.with_name(f"{stem}.signe.pdf")


def check_bordereau(
    bordereau: str | Path,
    contract: str | Path | None = None,
    *,
    trust_roots: Sequence[Any] = (),
    campaign: Any = None,
) -> BordereauCheck:
    """Verify the ARS seal of ``bordereau`` and that it describes ``contract`` byte for byte.

    ``contract`` defaults to the signed copy beside the bordereau (:func:`described_copy`).
    """
    from caqes_docs.signatures.verify import SIGNED as FIELD_SIGNED
    from caqes_docs.signatures.verify import verify_document

    path = Path(bordereau)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise VerificationError(f"{path} : lecture impossible ({system_reason(exc)})") from None
    claims = bordereau_claims(data, path)
    if "copie_sha256" not in claims:
        raise VerificationError(f"{path} : ce PDF n'est pas un bordereau de signature CAQES")
    record = read_issued_record(path) or _first_revision(data, path)
    seal_report = verify_document(path, trust_roots=trust_roots, issued=record, campaign=campaign)
    problems = [f"sceau : {problem}" for problem in seal_report.all_problems()]
    sealed = seal_report.ok and [
        sig.role for sig in seal_report.signatures if sig.status == FIELD_SIGNED
    ] == ["ARS"]
    if not sealed and not problems:
        problems.append("sceau : le bordereau n'est pas scellé par l'ARS")
    copy = Path(contract) if contract is not None else described_copy(path)
    matches = False
    missing = None
    try:
        digest = hashlib.sha256(copy.read_bytes()).hexdigest()
    except FileNotFoundError:
        beside = " attendu à côté du bordereau" if contract is None else ""
        missing = f"introuvable : {copy.name if contract is None else copy}{beside}"
    except OSError as exc:
        missing = f"{copy} : lecture impossible ({system_reason(exc)})"
    else:
        matches = digest == claims["copie_sha256"]
        if not matches:
            problems.append(
                f"le bordereau ne correspond pas à {copy.name} : il décrit le "
                f"{claims.get('document', '?')} {claims.get('reference', '?')}, copie signée de "
                f"SHA-256 {claims['copie_sha256']} ; ce fichier a le SHA-256 {digest}"
            )
    return BordereauCheck(path, copy, sealed, matches, claims.get("reference"), problems, missing)


def bordereau_claims(data: bytes, name: Path) -> dict[str, str]:
    """The ``key=value`` pairs of the bordereau's Keywords."""
    from caqes_docs.signatures.verify import open_pdf

    try:
        keywords = str(open_pdf(data, name).trailer["/Info"].get("/Keywords", ""))
    except (CaqesError, KeyError, TypeError, AttributeError):
        return {}
    return {key: value.strip() for key, value in _KEYWORD.findall(keywords)}


def _first_revision(data: bytes, name: Path) -> IssuedRecord:
    """Without its issued record beside it, the bordereau as made ends with the last revision
    before the seal's: the seal covers it, and everything after the seal is judged as usual."""
    from caqes_docs.signatures.verify import open_pdf, read_signature_fields

    seal = read_signature_fields(open_pdf(data, name), name).embedded.get(party("ARS").field)
    end = data.rfind(b"%%EOF", 0, int(seal.byte_range[1])) if seal is not None else -1
    if end < 0:
        raise VerificationError(f"{name} : le bordereau n'est pas scellé par l'ARS")
    end += len(b"%%EOF")
    while data[end : end + 1] in (b"\r", b"\n"):
        end += 1
    return IssuedRecord(
        hashlib.sha256(data[:end]).hexdigest(), end, source=f"{name.name}, avant le sceau"
    )
