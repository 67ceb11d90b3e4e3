"""Verification of a contract's signatures, and the facts signing relies on.

A contract PDF is issued with three empty signature fields (``s1_ETAB``, ``s2_CPAM``,
``s3_ARS``) and a sidecar ``X.emission.json`` recording the SHA-256 and size of the issued
bytes. Every later state must extend those bytes (incremental updates only); between them and
the first signature nothing but that signature may come, and after each signature only the
remaining fields may be filled and signed (plus long-term validation data).
:func:`verify_document` reports all of this per field; :mod:`caqes_docs.signatures.signing` uses the
lower-level helpers here to refuse signing a document in a bad state.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from io import BytesIO
from pathlib import Path
from typing import Any

from asn1crypto import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    FormUpdatingRule,
    ModificationLevel,
    StandardDiffPolicy,
    SuspiciousModification,
)
from pyhanko.sign.diff_analysis.rules.file_structure_rules import CatalogModificationRule
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.general import load_cert_from_pemder
from pyhanko.sign.validation import (
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.dss import DocumentSecurityStore, NoDSSFoundError
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.generic_cms import validate_sig_integrity
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko_certvalidator import ValidationContext

from caqes_docs.errors import VerificationError
from caqes_docs.issued import IssuedRecord, read_issued_record
from caqes_docs.parties import PARTIES, ROLES, party

# pyHanko logs every untrusted certificate path as a warning with a traceback; the report says
# it in French. Without this handler, an application that configures no logging would get
# those tracebacks on stderr (logging's last-resort handler); one that does still sees them.
logging.getLogger("pyhanko").addHandler(logging.NullHandler())

# Same shape as the campaign's ``signature.certificats``: a text the signer's certificate
# subject must contain, ``{finess_ej}`` standing for the establishment's FINESS juridique.
DEFAULT_CERTIFICATE_RULES: dict[str, str] = {"ETAB": "{finess_ej}", "CPAM": "CPAM", "ARS": "ARS"}


class FieldStatus(StrEnum):
    """Where a party's signature field stands."""

    SIGNED = "signé"
    PENDING = "en attente"


SIGNED = FieldStatus.SIGNED
PENDING = FieldStatus.PENDING
NOT_CHECKED = "non vérifiée"
MATCHES = "conforme"
DIFFERS = "non conforme"
UNKNOWN = "non vérifiable"
ISSUED_CHANGED = "modifié"

# Form filling covers filling and signing the remaining fields; LTA updates (DSS, document
# timestamps) rank below it.
ALLOWED_AFTER_SIGNATURE = ModificationLevel.FORM_FILLING
MODIFICATION_LABELS: dict[ModificationLevel, str] = {
    ModificationLevel.NONE: "aucune",
    ModificationLevel.LTA_UPDATES: "mises à jour de validation à long terme",
    ModificationLevel.FORM_FILLING: "remplissage et signature des champs restants",
    ModificationLevel.ANNOTATIONS: "ajout ou modification d'annotations",
    ModificationLevel.OTHER: "autres modifications du document",
}

_FINESS_KEYWORD = re.compile(r"finess_ej\s*=\s*((?:\d{2}|2[AB])\d{7})", re.I)
_REFERENCE_KEYWORD = re.compile(r"reference\s*=\s*([^;,]+)", re.I)


# --- reading the document ---------------------------------------------------------------------


def open_pdf(data: bytes, name: str | Path) -> PdfFileReader:
    """A strict reader over ``data``; a file pyHanko cannot parse is a VerificationError."""
    try:
        return PdfFileReader(BytesIO(data))
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise VerificationError(f"{name} : PDF illisible ({exc})") from exc


@dataclass(frozen=True)
class SignatureFields:
    """The document's signature fields: the three expected ones and any other."""

    embedded: dict[str, EmbeddedPdfSignature]
    empty: set[str]
    timestamps: list[EmbeddedPdfSignature]
    unexpected: list[str]

    def filled(self, role: str) -> bool:
        return party(role).field in self.embedded

    def missing(self) -> list[str]:
        present = set(self.embedded) | self.empty
        return [name for name in (p.field for p in PARTIES) if name not in present]


def read_signature_fields(reader: PdfFileReader, name: str | Path) -> SignatureFields:
    """Sort the signature fields of ``reader`` into expected, timestamps and unexpected."""
    expected = {p.field for p in PARTIES}
    embedded: dict[str, EmbeddedPdfSignature] = {}
    empty: set[str] = set()
    timestamps: list[EmbeddedPdfSignature] = []
    unexpected: list[str] = []
    try:
        for field_name, value, field_ref in enumerate_sig_fields(reader):
            if value is None:
                if field_name in expected:
                    empty.add(field_name)
                else:
                    unexpected.append(field_name)
                continue
            signature = EmbeddedPdfSignature(reader, field_ref, field_name)
            if field_name in expected:
                embedded[field_name] = signature
            elif signature.sig_object_type == "/DocTimeStamp":
                timestamps.append(signature)
            else:
                unexpected.append(field_name)
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise VerificationError(f"{name} : champs de signature illisibles ({exc})") from exc
    return SignatureFields(embedded, empty, timestamps, unexpected)


def integrity_problem(signature: EmbeddedPdfSignature, *, with_diff: bool) -> str | None:
    """Why ``signature`` no longer holds, in French; None when it does.

    Checks the signed bytes against the signature and, with ``with_diff``, that what was
    appended after it is no more than filling and signing fields. No trust decision here.
    """
    try:
        signature.compute_integrity_info(skip_diff=not with_diff)
        intact, valid = validate_sig_integrity(
            signature.signer_info,
            signature.signer_cert,
            expected_content_type="data",
            actual_digest=signature.compute_digest(),
        )
    except (SignatureValidationError, PdfError, ValueError, KeyError) as exc:
        return f"signature illisible ({exc})"
    if not (intact and valid):
        return "le contenu signé a été altéré"
    if with_diff:
        level = modification_level(signature)
        if level > ALLOWED_AFTER_SIGNATURE:
            return f"modification après signature : {MODIFICATION_LABELS[level]}"
    return None


def _policy_before_first_signature() -> StandardDiffPolicy:
    """pyHanko's default policy, letting the first signature also certify the document.

    Certifying adds /Perms to the catalog and sets the append-only flag in /SigFlags; the
    default policy, made to judge what follows a signature, counts both as suspicious.
    """
    form_rule = DEFAULT_DIFF_POLICY.form_rule
    assert form_rule is not None
    catalog_keys = CatalogModificationRule().ignored_keys | {"/Perms"}
    return StandardDiffPolicy(
        global_rules=[
            CatalogModificationRule(ignored_keys=catalog_keys)
            if isinstance(rule, CatalogModificationRule)
            else rule
            for rule in DEFAULT_DIFF_POLICY.global_rules
        ],
        form_rule=FormUpdatingRule(
            field_rules=form_rule.field_rules,
            ignored_acroform_keys=form_rule.ignored_acroform_keys | {"/SigFlags"},
        ),
    )


_BEFORE_FIRST_SIGNATURE = _policy_before_first_signature()


def change_since_issued(
    reader: PdfFileReader, issued_size: int, fields: SignatureFields
) -> str | None:
    """What was changed between the issued file and the first signature, in French; None
    when that is no more than filling and signing fields.

    Each signature's own analysis covers what follows it; this covers what precedes the first
    one, which no signature's analysis sees: content added to the issued file before the
    first party signed it, or in the very revision of its signature.
    """
    try:
        issued = _issued_revision(reader, issued_size)
        signed = [signature.signed_revision for signature in fields.embedded.values()]
        last = min(signed) if signed else reader.xrefs.total_revisions - 1
        old = reader.get_historical_resolver(issued)
        level = ModificationLevel.NONE
        for revision in range(issued + 1, last + 1):
            new = reader.get_historical_resolver(revision)
            level = max(level, _BEFORE_FIRST_SIGNATURE.apply(old, new).modification_level)
    except SuspiciousModification:
        level = ModificationLevel.OTHER
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        return f"révisions illisibles ({exc})"
    if level > ALLOWED_AFTER_SIGNATURE:
        return MODIFICATION_LABELS[level]
    return None


def _issued_revision(reader: PdfFileReader, issued_size: int) -> int:
    """The last revision of the issued file: its cross-reference section lies within it."""
    xrefs = reader.xrefs
    within = [
        revision
        for revision in range(xrefs.total_revisions)
        if xrefs.get_startxref_for_revision(revision) < issued_size
    ]
    if not within:
        raise ValueError("aucune révision dans la version émise")
    return max(within)


def modification_level(signature: EmbeddedPdfSignature) -> ModificationLevel:
    """The worst change appended after ``signature`` (OTHER when pyHanko found it suspicious)."""
    result = signature.diff_result
    level = getattr(result, "modification_level", None)
    return level if isinstance(level, ModificationLevel) else ModificationLevel.OTHER


def signer_common_name(certificate: x509.Certificate) -> str:
    native = certificate.subject.native
    return str(native.get("common_name") or native.get("organization_name") or "")


def subject_values(certificate: x509.Certificate) -> list[str]:
    return [str(value) for value in certificate.subject.native.values()]


def keywords_finess(reader: PdfFileReader) -> str | None:
    """The FINESS juridique recorded in the Info dictionary's Keywords, if any."""
    match = _FINESS_KEYWORD.search(_keywords(reader))
    return match.group(1).upper() if match else None


def keywords_reference(reader: PdfFileReader) -> str | None:
    match = _REFERENCE_KEYWORD.search(_keywords(reader))
    return match.group(1).strip() if match else None


def _keywords(reader: PdfFileReader) -> str:
    try:
        info = reader.trailer["/Info"]
        return str(info.get("/Keywords", ""))
    except (KeyError, PdfError, TypeError):
        return ""


def party_matches(
    role: str,
    certificate: x509.Certificate,
    finess_ej: str | None,
    rules: Mapping[str, str] | None = None,
) -> str:
    """Whether the certificate subject names the party: MATCHES, DIFFERS or UNKNOWN."""
    template = {**DEFAULT_CERTIFICATE_RULES, **(rules or {})}[role]
    if "{finess_ej}" in template and not finess_ej:
        return UNKNOWN
    try:
        needle = template.format(finess_ej=finess_ej or "")
    except (KeyError, IndexError, ValueError) as exc:
        raise VerificationError(
            f"règle de certificat invalide pour {role} : « {template} » "
            "(seule la variable {finess_ej} est permise)"
        ) from exc
    # Whole-token match: "ARS" must not be found inside "MARSEILLE", nor a FINESS inside a
    # longer number.
    pattern = re.compile(rf"(?<![0-9A-Za-z]){re.escape(needle)}(?![0-9A-Za-z])", re.IGNORECASE)
    return MATCHES if any(pattern.search(v) for v in subject_values(certificate)) else DIFFERS


# --- the report -------------------------------------------------------------------------------


@dataclass
class SignatureReport:
    """One of the three expected fields."""

    field: str
    role: str
    party: str
    status: str
    signer: str | None = None
    subject: str | None = None
    signing_time: datetime | None = None
    timestamp_time: datetime | None = None
    intact: bool | None = None
    trust: str | None = None
    modification_level: str | None = None
    modifications_ok: bool | None = None
    certification: bool | None = None
    party_match: str | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class TimestampReport:
    """A document timestamp (PAdES B-LTA)."""

    field: str
    time: datetime | None
    intact: bool
    trust: str
    modification_level: str


@dataclass
class VerificationReport:
    """The state of one contract PDF.

    ``ok``: nothing is wrong with it (signatures present are intact, trusted when trust roots
    were given, made by their party, in order, followed only by signing the remaining fields;
    the file extends the issued one, and nothing but the first signature came between them).
    ``complete``: the three parties have signed. ``issued_change``: what came between the
    issued file and the first signature when it was more than that signature.
    """

    path: str
    ok: bool
    complete: bool
    signatures: list[SignatureReport]
    issued: str
    issued_source: str | None
    finess_ej: str | None
    finess_source: str | None
    reference: str | None
    pages: int
    document_timestamps: list[TimestampReport] = field(default_factory=list)
    unexpected_fields: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    issued_change: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data (dates as ISO 8601 strings), ready for ``json.dumps``."""
        return _plain(dataclasses.asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


# --- verification -------------------------------------------------------------------------------


def load_trust_roots(paths: Iterable[str | Path]) -> list[x509.Certificate]:
    """Read PEM or DER certificates to use as trust anchors."""
    roots: list[x509.Certificate] = []
    for path in paths:
        try:
            roots.append(load_cert_from_pemder(str(path)))
        except (OSError, ValueError, TypeError) as exc:
            raise VerificationError(f"{path} : certificat de confiance illisible ({exc})") from exc
    return roots


def verify_document(
    path: str | Path,
    *,
    trust_roots: Iterable[str | Path | x509.Certificate] = (),
    issued: IssuedRecord | None = None,
    finess_ej: str | None = None,
    rules: Mapping[str, str] | None = None,
    order: tuple[str, ...] = ROLES,
) -> VerificationReport:
    """Verify the three signature fields of ``path`` and everything appended after them.

    ``trust_roots`` are certificates (objects or PEM/DER paths); without them trust is
    "non vérifiée". ``issued`` defaults to the sidecar beside the file. The FINESS juridique
    checked against the establishment's certificate comes from ``finess_ej``, else the
    sidecar, else the PDF Keywords. ``rules`` overrides :data:`DEFAULT_CERTIFICATE_RULES`.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise VerificationError(f"{path} : lecture impossible ({exc.strerror or exc})") from exc
    roots = [
        root if isinstance(root, x509.Certificate) else load_trust_roots([root])[0]
        for root in trust_roots
    ]
    record = issued if issued is not None else read_issued_record(path)
    return asyncio.run(_verify(path, data, roots, record, finess_ej, rules, order))


async def _verify(
    path: Path,
    data: bytes,
    roots: list[x509.Certificate],
    record: IssuedRecord | None,
    finess_arg: str | None,
    rules: Mapping[str, str] | None,
    order: tuple[str, ...],
) -> VerificationReport:
    reader = open_pdf(data, path)
    fields = read_signature_fields(reader, path)
    finess, finess_source = _finess(finess_arg, record, reader)
    context = _validation_context(reader, roots)
    try:
        signatures = [
            await _signature_report(role, fields, context, bool(roots), finess, rules)
            for role in ROLES
        ]
        timestamps = [
            await _timestamp_report(stamp, context, bool(roots)) for stamp in fields.timestamps
        ]
    finally:
        await context.aclose()

    issued, issued_source, change = UNKNOWN, None, None
    if record is not None:
        issued_source = record.source
        issued_size = record.issued_size(data)
        if issued_size is not None:
            change = change_since_issued(reader, issued_size, fields)
        issued = MATCHES if issued_size is not None and change is None else ISSUED_CHANGED
    report = VerificationReport(
        path=str(path),
        ok=False,
        complete=all(sig.status == SIGNED for sig in signatures),
        signatures=signatures,
        issued=issued,
        issued_source=issued_source,
        issued_change=change,
        finess_ej=finess,
        finess_source=finess_source,
        reference=(record.reference if record else None) or keywords_reference(reader),
        pages=_page_count(reader),
        document_timestamps=timestamps,
        unexpected_fields=fields.unexpected,
    )
    report.problems = _document_problems(report, fields, order)
    report.ok = not report.problems and all(not sig.problems for sig in signatures)
    return report


def _finess(
    argument: str | None, record: IssuedRecord | None, reader: PdfFileReader
) -> tuple[str | None, str | None]:
    if argument:
        return argument, "argument"
    if record is not None and record.finess_ej:
        return record.finess_ej, record.source
    from_keywords = keywords_finess(reader)
    return (from_keywords, "mots-clés du PDF") if from_keywords else (None, None)


def _validation_context(reader: PdfFileReader, roots: list[x509.Certificate]) -> ValidationContext:
    # Offline and reproducible: revocation data comes from the document's DSS (PAdES B-LT),
    # nothing is fetched; a missing revocation source is not fatal ("soft-fail").
    settings: dict[str, Any] = {"trust_roots": roots, "allow_fetching": False}
    try:
        return DocumentSecurityStore.read_dss(reader).as_validation_context(settings)
    except NoDSSFoundError:
        return ValidationContext(**settings)


async def _signature_report(
    role: str,
    fields: SignatureFields,
    context: ValidationContext,
    trust_checked: bool,
    finess: str | None,
    rules: Mapping[str, str] | None,
) -> SignatureReport:
    name = party(role).field
    report = SignatureReport(field=name, role=role, party=party(role).name, status=PENDING)
    signature = fields.embedded.get(name)
    if signature is None:
        if name not in fields.empty:
            report.status = "absent"
            report.problems.append(f"champ de signature {name} absent")
        return report

    report.status = SIGNED
    certificate = signature.signer_cert
    report.signer = signer_common_name(certificate)
    report.subject = certificate.subject.human_friendly
    report.certification = signature.docmdp_level is not None
    try:
        status = await async_validate_pdf_signature(signature, signer_validation_context=context)
    except (SignatureValidationError, PdfError, ValueError, KeyError) as exc:
        report.intact = False
        report.problems.append(f"signature illisible ({exc})")
        return report

    report.intact = bool(status.intact and status.valid)
    report.signing_time = status.signer_reported_dt
    if status.timestamp_validity is not None:
        report.timestamp_time = status.timestamp_validity.timestamp
    report.trust = ("oui" if status.trusted else "non") if trust_checked else NOT_CHECKED
    level = modification_level(signature)
    report.modification_level = MODIFICATION_LABELS[level]
    report.modifications_ok = level <= ALLOWED_AFTER_SIGNATURE and status.docmdp_ok is not False
    report.party_match = party_matches(role, certificate, finess, rules)

    if not report.intact:
        report.problems.append("le contenu signé a été altéré")
    token = status.timestamp_validity
    if token is not None and not (token.intact and token.valid):
        report.problems.append("le jeton d'horodatage de la signature est invalide")
    if report.trust == "non":
        report.problems.append("certificat du signataire non reconnu par les autorités données")
    if not report.modifications_ok:
        report.problems.append(f"modification après signature : {report.modification_level}")
    if report.party_match == DIFFERS:
        report.problems.append(
            f"le certificat ({report.subject}) ne correspond pas à la partie {report.party}"
        )
    return report


async def _timestamp_report(
    stamp: EmbeddedPdfSignature, context: ValidationContext, trust_checked: bool
) -> TimestampReport:
    try:
        status = await async_validate_pdf_timestamp(stamp, validation_context=context)
    except (SignatureValidationError, PdfError, ValueError, KeyError):
        return TimestampReport(stamp.field_name, None, False, NOT_CHECKED, UNKNOWN)
    trust = ("oui" if status.trusted else "non") if trust_checked else NOT_CHECKED
    level = modification_level(stamp)
    return TimestampReport(
        field=stamp.field_name,
        time=status.timestamp,
        intact=bool(status.intact and status.valid),
        trust=trust,
        modification_level=MODIFICATION_LABELS[level],
    )


def _document_problems(
    report: VerificationReport, fields: SignatureFields, order: tuple[str, ...]
) -> list[str]:
    problems: list[str] = []
    if report.issued_change is not None:
        problems.append(
            "le document a été modifié depuis son émission, avant la première signature : "
            f"{report.issued_change}"
        )
    elif report.issued == ISSUED_CHANGED:
        problems.append(f"le document ne prolonge pas la version émise ({report.issued_source})")
    if fields.unexpected:
        problems.append(f"champs de signature inattendus : {', '.join(fields.unexpected)}")
    for stamp in report.document_timestamps:
        if not stamp.intact or stamp.trust == "non":
            problems.append(f"horodatage de document {stamp.field} invalide")
    order_problem = _order_problem(fields, order)
    if order_problem:
        problems.append(order_problem)
    return problems


def _order_problem(fields: SignatureFields, order: tuple[str, ...]) -> str | None:
    """Signatures must appear in ``order``, each in a later revision than the previous one."""
    signed = [role for role in order if fields.filled(role)]
    if signed != list(order[: len(signed)]):
        return f"ordre de signature non respecté (attendu : {' puis '.join(order)})"
    revisions = [fields.embedded[party(role).field].signed_revision for role in signed]
    if revisions != sorted(revisions):
        return f"ordre de signature non respecté (attendu : {' puis '.join(order)})"
    return None


def _page_count(reader: PdfFileReader) -> int:
    try:
        pages = reader.root["/Pages"]
        return int(pages["/Count"]) if isinstance(pages, generic.DictionaryObject) else 0
    except (KeyError, PdfError, TypeError, ValueError):
        return 0
