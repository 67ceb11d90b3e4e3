"""Verification of a document's signatures: one function for ``verify``, ``receive`` and ``sign``.

A CAQES document is issued with one empty signature field per party (``s1_ETAB``,
``s2_CPAM``, ``s3_ARS``, or a subset of them) and an issued record (``X.emission.json``, the
manifest or the registry) holding the SHA-256 and size of the issued bytes. A returned copy
holds if, and only if:

- it extends the issued bytes, and each stretch of revisions — issued file to first
  signature, each signature to the next, last signature to the end — changes no more than
  :mod:`caqes_docs.signatures.revisions` allows (the same rule for every stretch);
- each signature is intact, covers its whole revision, has nothing but zeros in the unused
  room of its /Contents, and its certificate chains to a trusted root and names its party
  (:mod:`caqes_docs.signatures.binding`); a timestamp comes from a trusted authority;
- the parties signed in the campaign's order, and no byte after the last signed revision is
  left unaccounted for (appended data, an update nothing links to, objects nothing refers to).

A file that pyHanko's strict reader refuses (poppler writes generation numbers it dislikes) is
read leniently, and every check above still runs on what was read. No malformed value ends in
a traceback: :func:`check_document` turns anything unexpected into a :class:`VerificationError`
naming the file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asn1crypto import parser as asn1_parser
from asn1crypto import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm, enumerate_sig_fields
from pyhanko.sign.general import load_cert_from_pemder
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore, NoDSSFoundError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from caqes_docs.errors import VerificationError
from caqes_docs.files import system_reason
from caqes_docs.issued import IssuedRecord, read_issued_record
from caqes_docs.parties import PARTIES, ROLES, party
from caqes_docs.signatures.binding import DIFFERS, MATCHES, UNKNOWN, ExpectedSigner
from caqes_docs.signatures.qualified import TrustedLists, is_qualified, qualification
from caqes_docs.signatures.revisions import segment_problems

if TYPE_CHECKING:
    from caqes_docs.inputs.campaign import Campaign

# pyHanko logs every untrusted certificate path as a warning with a traceback; the report says
# it in French. Without this handler, an application that configures no logging would get
# those tracebacks on stderr (logging's last-resort handler); one that does still sees them.
logging.getLogger("pyhanko").addHandler(logging.NullHandler())


class FieldStatus(StrEnum):
    """Where a party's signature field stands."""

    SIGNED = "signé"
    PENDING = "en attente"


SIGNED = FieldStatus.SIGNED
PENDING = FieldStatus.PENDING
NOT_CHECKED = "non vérifiée"
ISSUED_CHANGED = "modifié"
# What followed a signature, in the report.
FOLLOWED_BY_SIGNATURES = "remplissage et signature des champs restants"
FOLLOWED_BY_CHANGES = "autres modifications du document"

# After the last %%EOF a few bytes of whitespace are usual (an editor's final newline).
_TRAILING_WHITESPACE = 32
_PDF_WHITESPACE = b" \t\r\n\f\x00"
_EOF_MARK = re.compile(rb"%%EOF")
_OBJECT_HEADER = re.compile(rb"(?<![0-9])[0-9]{1,10}[ \t\r\n\f\x00]+[0-9]{1,5}[ \t\r\n\f\x00]+obj")
_FINESS_KEYWORD = re.compile(r"finess_ej\s*=\s*((?:\d{2}|2[AB])\d{7})", re.I)
_REFERENCE_KEYWORD = re.compile(r"reference\s*=\s*([^;,]+)", re.I)
_GOOD_COVERAGE = (SignatureCoverageLevel.ENTIRE_REVISION, SignatureCoverageLevel.ENTIRE_FILE)


# --- reading the document ---------------------------------------------------------------------


def open_pdf(data: bytes, name: str | Path) -> PdfFileReader:
    """A reader over ``data``: strict, else lenient (``reader.strict`` tells which).

    pyHanko's strict reader refuses some honest files (poppler's generation numbers); its
    lenient reader reads them, and every check is made on what it read.
    """
    try:
        return PdfFileReader(BytesIO(data))
    except Exception:  # any failure of the strict reader: try the lenient one
        pass
    try:
        return PdfFileReader(BytesIO(data), strict=False)
    except Exception as exc:  # hostile input: one French line
        end = data.rfind(b"%%EOF")
        if end >= 0 and data[end + 5 :].strip(_PDF_WHITESPACE):
            # Readers look for the end mark in the last kilobyte only.
            raise VerificationError(
                f"{name} : {len(data) - end - 5} octets ajoutés après la fin du PDF "
                "(%%EOF), couverts par aucune signature"
            ) from None
        raise VerificationError(f"{name} : PDF illisible ({_short(exc)})") from exc


def _short(exc: BaseException) -> str:
    """What went wrong, in French; the library's own (English) words stay in the exception
    chain, which ``--verbose`` shows."""
    if isinstance(exc, PdfError):
        missing = _MISSING_OBJECT.search(str(exc))
        if missing:
            return f"l'objet n° {missing[1]}, encore désigné par le document, est absent"
        return "structure PDF incohérente"
    if isinstance(exc, (TypeError, ValueError, KeyError, IndexError, AttributeError)):
        return "valeur d'un type ou d'une forme inattendus"
    return "lecture impossible"


_MISSING_OBJECT = re.compile(r"Reference\(idnum=(\d+)")


@dataclass(frozen=True)
class SignatureFields:
    """The document's signature fields: the parties' ones and any other."""

    embedded: dict[str, EmbeddedPdfSignature]
    empty: set[str]
    timestamps: list[EmbeddedPdfSignature]
    unexpected: list[str]
    broken: dict[str, str] = field(default_factory=dict)
    """Party fields whose value cannot be read as a signature, with why."""

    def filled(self, role: str) -> bool:
        name = party(role).field
        return name in self.embedded or name in self.broken

    def present(self, role: str) -> bool:
        name = party(role).field
        return name in self.embedded or name in self.empty or name in self.broken

    def roles(self, order: Iterable[str] = ROLES) -> tuple[str, ...]:
        """The parties of ``order`` whose field the document has."""
        return tuple(role for role in order if self.present(role))

    def missing(self) -> list[str]:
        """Party fields absent, when the document has none at all (else it is a subset)."""
        if any(self.present(p.role) for p in PARTIES):
            return []
        return [p.field for p in PARTIES]


def read_signature_fields(reader: PdfFileReader, name: str | Path) -> SignatureFields:
    """Sort the signature fields of ``reader`` into the parties', timestamps and unexpected."""
    expected = {p.field for p in PARTIES}
    embedded: dict[str, EmbeddedPdfSignature] = {}
    empty: set[str] = set()
    timestamps: list[EmbeddedPdfSignature] = []
    unexpected: list[str] = []
    broken: dict[str, str] = {}
    try:
        for field_name, value, field_ref in enumerate_sig_fields(reader):
            field_name = str(field_name)
            if value is None:
                (empty.add(field_name) if field_name in expected else unexpected.append(field_name))
                continue
            try:
                signature = EmbeddedPdfSignature(reader, field_ref, field_name)
                kind = signature.sig_object_type
            except Exception as exc:  # a forged value: reported, not raised
                if field_name in expected:
                    broken[field_name] = f"signature illisible ({_short(exc)})"
                else:
                    unexpected.append(field_name)
                continue
            if field_name in expected:
                embedded[field_name] = signature
            elif kind == "/DocTimeStamp":
                timestamps.append(signature)
            else:
                unexpected.append(field_name)
    except Exception as exc:  # hostile input: one French line
        raise VerificationError(
            f"{name} : champs de signature illisibles ({_short(exc)})"
        ) from None
    return SignatureFields(embedded, empty, timestamps, unexpected, broken)


def signer_common_name(certificate: x509.Certificate) -> str:
    native = certificate.subject.native
    return str(native.get("common_name") or native.get("organization_name") or "")


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
    except Exception:  # a hint only; a broken Info dictionary gives none
        return ""


# --- the report -------------------------------------------------------------------------------


@dataclass
class SignatureReport:
    """One party's field."""

    field: str
    role: str
    party: str
    status: str
    signer: str | None = None
    subject: str | None = None
    signing_time: datetime | None = None
    timestamp_time: datetime | None = None
    timestamp_trust: str | None = None
    intact: bool | None = None
    trust: str | None = None
    modification_level: str | None = None
    modifications_ok: bool | None = None
    certification: bool | None = None
    party_match: str | None = None
    expected_identity: str | None = None
    qualification: str | None = None
    """« qualifiée (signature) » or « (cachet) », « non qualifiée : … », « non vérifiée »."""
    problems: list[str] = field(default_factory=list)


@dataclass
class TimestampReport:
    """A document timestamp (PAdES B-LTA)."""

    field: str
    time: datetime | None
    intact: bool
    trust: str


@dataclass
class VerificationReport:
    """The state of one document.

    ``ok``: nothing is wrong with it (see the module's documentation); ``complete``: every
    party of the document has signed. ``issued``: MATCHES when the file extends the issued
    one and each stretch since changed nothing beyond the allow-list, ISSUED_CHANGED when
    not, UNKNOWN without an issued record (then ``ok`` is false: nothing proves the file
    extends what was issued).
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
    trust_checked: bool = False
    lenient_reading: bool = False
    document_timestamps: list[TimestampReport] = field(default_factory=list)
    unexpected_fields: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def all_problems(self) -> list[str]:
        """The document's problems, then each signature's, prefixed by its field."""
        return self.problems + [
            f"{sig.field} ({sig.party}) : {problem}"
            for sig in self.signatures
            for problem in sig.problems
        ]

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


def load_trust_roots(paths: Iterable[str | Path | x509.Certificate]) -> list[x509.Certificate]:
    """Certificates to use as trust anchors: objects as they are, files read as PEM or DER."""
    roots: list[x509.Certificate] = []
    for path in paths:
        if isinstance(path, x509.Certificate):
            roots.append(path)
            continue
        try:
            roots.append(load_cert_from_pemder(str(path)))
        except Exception as exc:  # any unreadable file: one French line
            raise VerificationError(
                f"{path} : certificat de confiance illisible ({_short(exc)})"
            ) from None
    return roots


@dataclass(frozen=True)
class Expectations:
    """What the document must be: its issued record, its parties' identities, their order."""

    record: IssuedRecord | None = None
    signers: Mapping[str, ExpectedSigner] | None = None
    order: tuple[str, ...] = ROLES
    finess_ej: str | None = None
    finess_source: str | None = None
    render_check: bool = True
    """Compare the rendered pages of the issued and signed revisions (defence in depth)."""
    trusted_lists: TrustedLists | None = None
    qualified_roles: frozenset[str] = frozenset()
    """Parties whose certificate the campaign requires qualified (per ``trusted_lists``)."""


def verify_document(
    path: str | Path,
    *,
    trust_roots: Iterable[str | Path | x509.Certificate] = (),
    issued: IssuedRecord | None = None,
    finess_ej: str | None = None,
    campaign: Campaign | None = None,
    cpam: str | None = None,
    order: Iterable[str] | None = None,
    trusted_lists: TrustedLists | None = None,
) -> VerificationReport:
    """Verify ``path``: every party's field, every stretch of revisions, every byte.

    ``trust_roots``: certificates (objects or PEM/DER paths); without them trust is "non
    vérifiée". ``issued`` defaults to the record beside the file. The FINESS juridique that
    binds the establishment comes from ``finess_ej``, else the record, else the PDF Keywords;
    ``campaign`` (default: the bundled one) says how each party's certificate is recognised
    and the signing order (``order`` overrides it); ``cpam`` is the name of the contract's
    CPAM when known. ``trusted_lists`` (qualified.load_trusted_lists) say whether each
    certificate is qualified; without them qualification is "non vérifiée".
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise VerificationError(f"{path} : lecture impossible ({system_reason(exc)})") from None
    roots = load_trust_roots(trust_roots)
    record = issued if issued is not None else read_issued_record(path)
    expectations = expectations_for(data, path, record, finess_ej, campaign, cpam, order)
    expectations = dataclasses.replace(expectations, trusted_lists=trusted_lists)
    return asyncio.run(check_document(data, path, roots, expectations))


def expectations_for(
    data: bytes,
    name: str | Path,
    record: IssuedRecord | None,
    finess_ej: str | None,
    campaign: Campaign | None,
    cpam: str | None,
    order: Iterable[str] | None,
) -> Expectations:
    """The expectations for a document, its FINESS taken from the first source that has it."""
    from caqes_docs.signatures.binding import expected_signers

    campaign = campaign if campaign is not None else _bundled_campaign()
    finess, source = finess_ej, "argument" if finess_ej else None
    if finess is None and record is not None and record.finess_ej:
        finess, source = record.finess_ej, record.source
    if finess is None:
        try:
            finess = keywords_finess(open_pdf(data, name))
        except VerificationError:
            finess = None
        source = "mots-clés du PDF" if finess else None
    return Expectations(
        record=record,
        signers=expected_signers(campaign, finess, cpam),
        order=tuple(order) if order is not None else tuple(campaign.signature.order),
        finess_ej=finess,
        finess_source=source,
        qualified_roles=campaign.signature.qualified_roles(),
    )


@functools.cache
def _bundled_campaign() -> Campaign:
    """The bundled campaign, read once: reading its YAML costs more than a verification."""
    from caqes_docs.inputs.campaign import load_campaign

    return load_campaign()


async def check_document(
    data: bytes,
    name: str | Path,
    roots: list[x509.Certificate],
    expectations: Expectations,
) -> VerificationReport:
    """The report on ``data``; anything unexpected is a VerificationError naming ``name``."""
    try:
        return await _check(data, str(name), roots, expectations)
    except VerificationError:
        raise
    except RecursionError:
        raise VerificationError(
            f"{name} : PDF malformé (objets imbriqués trop profondément)"
        ) from None
    except Exception as exc:  # hostile input never ends in a traceback
        raise VerificationError(
            f"{name} : PDF malformé ou modifié de façon incohérente ({_short(exc)})"
        ) from exc


async def _check(
    data: bytes, name: str, roots: list[x509.Certificate], expect: Expectations
) -> VerificationReport:
    reader = open_pdf(data, name)
    fields = read_signature_fields(reader, name)
    roles = fields.roles(ROLES)
    context = _validation_context(reader, roots)
    try:
        signatures = [
            await _signature_report(role, fields, context, bool(roots), expect) for role in roles
        ]
        timestamps = [
            await _timestamp_report(stamp, context, bool(roots)) for stamp in fields.timestamps
        ]
    finally:
        await context.aclose()
    record = expect.record
    report = VerificationReport(
        path=name,
        ok=False,
        complete=bool(signatures) and all(sig.status == SIGNED for sig in signatures),
        signatures=signatures,
        issued=UNKNOWN,
        issued_source=record.source if record else None,
        finess_ej=expect.finess_ej,
        finess_source=expect.finess_source,
        reference=(record.reference if record else None) or keywords_reference(reader),
        pages=_page_count(reader),
        trust_checked=bool(roots),
        lenient_reading=not reader.strict,
        document_timestamps=timestamps,
        unexpected_fields=fields.unexpected,
    )
    report.problems = _document_problems(data, reader, fields, report, expect)
    report.ok = not report.all_problems()
    return report


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
    expect: Expectations,
) -> SignatureReport:
    name = party(role).field
    report = SignatureReport(field=name, role=role, party=party(role).name, status=PENDING)
    if name in fields.broken:
        report.status = SIGNED
        report.intact = False
        report.problems.append(fields.broken[name])
        return report
    signature = fields.embedded.get(name)
    if signature is None:
        return report
    report.status = SIGNED
    try:
        await _judge_signature(report, signature, context, trust_checked, expect)
    except Exception as exc:  # a forged signature: reported, not raised
        report.intact = False
        report.problems.append(f"signature illisible ({_short(exc)})")
    return report


async def _judge_signature(
    report: SignatureReport,
    signature: EmbeddedPdfSignature,
    context: ValidationContext,
    trust_checked: bool,
    expect: Expectations,
) -> None:
    certificate = signature.signer_cert
    report.signer = signer_common_name(certificate)
    report.subject = certificate.subject.human_friendly
    report.certification = signature.docmdp_level is not None
    # The stretches of revisions are judged by caqes' own allow-list (revisions.py).
    status = await async_validate_pdf_signature(
        signature, signer_validation_context=context, skip_diff=True
    )
    report.intact = bool(status.intact and status.valid)
    report.signing_time = status.signer_reported_dt
    report.trust = ("oui" if status.trusted else "non") if trust_checked else NOT_CHECKED
    expected = (expect.signers or {}).get(report.role)
    report.party_match = expected.judge(certificate) if expected else UNKNOWN
    report.expected_identity = expected.describe() if expected else None
    # Until a stretch after it is refused (_revision_problems).
    report.modifications_ok = True
    report.modification_level = FOLLOWED_BY_SIGNATURES

    if not report.intact:
        report.problems.append("le contenu signé a été altéré")
    if status.coverage not in _GOOD_COVERAGE:
        report.problems.append(
            "la plage d'octets signée (/ByteRange) ne couvre pas toute sa révision du document"
        )
    padding = _padding_problem(signature)
    if padding:
        report.problems.append(padding)
    token = status.timestamp_validity
    if token is not None:
        report.timestamp_time = token.timestamp
        report.timestamp_trust = ("oui" if token.trusted else "non") if trust_checked else None
        if not (token.intact and token.valid):
            report.problems.append("le jeton d'horodatage de la signature est invalide")
        elif report.timestamp_trust == "non":
            report.problems.append(
                "le jeton d'horodatage vient d'une autorité d'horodatage non reconnue"
            )
    if report.trust == "non":
        report.problems.append("certificat du signataire non reconnu par les autorités données")
    if report.party_match == DIFFERS:
        report.problems.append(
            f"le certificat ({report.subject}) ne correspond pas à la partie {report.party} "
            f"(attendu : {report.expected_identity})"
        )
    elif report.party_match == UNKNOWN:
        report.problems.append(
            f"partie du certificat non vérifiable : {report.expected_identity or 'règle absente'}"
        )
    # At the timestamp's time when there is one, else at the time the signer claims.
    report.qualification = await qualification(
        expect.trusted_lists,
        certificate,
        signature.other_embedded_certs,
        report.timestamp_time or report.signing_time,
    )
    if report.role in expect.qualified_roles and not is_qualified(report.qualification):
        report.problems.append(
            f"la campagne exige un certificat qualifié pour la partie {report.party} : "
            f"{report.qualification}"
        )


def _padding_problem(signature: EmbeddedPdfSignature) -> str | None:
    """Bytes after the signature container in /Contents must be the zeros of its room."""
    contents = bytes(signature.sig_object.raw_get("/Contents"))
    _class, _method, _tag, header, body, _trailer = asn1_parser.parse(contents)
    if contents[len(header) + len(body) :].strip(b"\x00"):
        return "octets non nuls après la signature dans /Contents"
    return None


async def _timestamp_report(
    stamp: EmbeddedPdfSignature, context: ValidationContext, trust_checked: bool
) -> TimestampReport:
    try:
        status = await async_validate_pdf_timestamp(
            stamp, validation_context=context, skip_diff=True
        )
    except Exception:  # a forged timestamp: reported as invalid
        return TimestampReport(stamp.field_name, None, False, NOT_CHECKED)
    trust = ("oui" if status.trusted else "non") if trust_checked else NOT_CHECKED
    intact = bool(status.intact and status.valid) and status.coverage in _GOOD_COVERAGE
    return TimestampReport(stamp.field_name, status.timestamp, intact, trust)


# --- the document as a whole ------------------------------------------------------------------


def _document_problems(
    data: bytes,
    reader: PdfFileReader,
    fields: SignatureFields,
    report: VerificationReport,
    expect: Expectations,
) -> list[str]:
    problems: list[str] = []
    if fields.missing():
        problems.append(f"aucun champ de signature des parties ({', '.join(fields.missing())})")
    if fields.unexpected:
        problems.append(f"champs de signature inattendus : {', '.join(fields.unexpected)}")
    for stamp in report.document_timestamps:
        if not stamp.intact:
            problems.append(f"horodatage de document {stamp.field} invalide")
        elif stamp.trust == "non":
            problems.append(
                f"horodatage de document {stamp.field} d'une autorité d'horodatage non reconnue"
            )
    order_problem = _order_problem(fields, fields.roles(expect.order))
    if order_problem:
        problems.append(order_problem)
    problems += _revision_problems(data, reader, fields, report, expect)
    return problems


def _order_problem(fields: SignatureFields, order: tuple[str, ...]) -> str | None:
    """Signatures must appear in ``order``, each in a later revision than the previous one."""
    signed = [role for role in order if fields.filled(role)]
    wrong = f"ordre de signature non respecté (attendu : {' puis '.join(order)})"
    if signed != list(order[: len(signed)]):
        return wrong
    revisions = [
        fields.embedded[party(role).field].signed_revision
        for role in signed
        if party(role).field in fields.embedded
    ]
    if revisions != sorted(set(revisions)):
        return wrong
    return None


@dataclass(frozen=True)
class _Mark:
    """A signed revision: a party's signature or a document timestamp."""

    revision: int
    end: int
    """Where its byte range ends."""
    own_field: str | None


def _marks(fields: SignatureFields) -> list[_Mark]:
    marks = []
    for name, signature in fields.embedded.items():
        marks.append(_Mark(signature.signed_revision, _range_end(signature), name))
    for stamp in fields.timestamps:
        marks.append(_Mark(stamp.signed_revision, _range_end(stamp), None))
    return sorted(marks, key=lambda mark: mark.revision)


def _range_end(signature: EmbeddedPdfSignature) -> int:
    start, length = signature.byte_range[2], signature.byte_range[3]
    return int(start) + int(length)


def _revision_problems(
    data: bytes,
    reader: PdfFileReader,
    fields: SignatureFields,
    report: VerificationReport,
    expect: Expectations,
) -> list[str]:
    """Each stretch of revisions judged by the allow-list, and the bytes after the last one."""
    problems: list[str] = []
    marks = _marks(fields)
    last = reader.xrefs.total_revisions - 1
    issued_revision = _issued_revision(data, reader, expect.record, report)
    if expect.record is None:
        problems.append(
            "aucune trace de l'émission (fiche .emission.json, --issued, --manifest ou "
            "registre) : rien ne prouve que ce fichier prolonge le document émis"
        )
    elif issued_revision is None:
        problems.append(f"le document ne prolonge pas la version émise ({expect.record.source})")
    base = issued_revision
    refused_after: list[int] = []  # where each refused stretch starts
    for index, mark in enumerate(marks):
        if base is not None:
            found = segment_problems(
                reader, base, mark.revision, own_field=mark.own_field, allow_timestamps=index > 0
            )
            where = (
                f"avant la signature {mark.own_field}"
                if mark.own_field
                else "avant un horodatage de document"
            )
            problems += [f"document modifié {where} : {problem}" for problem in found]
            refused_after += [base] if found else []
        base = mark.revision
    if base is not None and base < last:
        found = segment_problems(reader, base, last, own_field=None, allow_timestamps=bool(marks))
        where = "après la dernière signature" if marks else "depuis son émission"
        problems += [f"document modifié {where} : {problem}" for problem in found]
        refused_after += [base] if found else []
    _mark_followed_by_changes(report, fields, refused_after)
    if issued_revision is not None:
        changed = any(problem.startswith("document modifié") for problem in problems)
        report.issued = ISSUED_CHANGED if changed else MATCHES
    if marks:
        problems += _uncovered_problems(data, reader, marks)
    if issued_revision is not None and marks and not problems and expect.render_check:
        problems += _rendering_problems(data, reader, fields, issued_revision, marks, expect)
    problems += _docmdp_problems(fields, marks)
    return problems


def _mark_followed_by_changes(
    report: VerificationReport, fields: SignatureFields, refused_after: list[int]
) -> None:
    """A signature is followed by changes when a refused stretch starts at or after it."""
    for sig in report.signatures:
        signature = fields.embedded.get(sig.field)
        if signature is not None and any(b >= signature.signed_revision for b in refused_after):
            sig.modifications_ok = False
            sig.modification_level = FOLLOWED_BY_CHANGES


def _rendering_problems(
    data: bytes,
    reader: PdfFileReader,
    fields: SignatureFields,
    issued_revision: int,
    marks: list[_Mark],
    expect: Expectations,
) -> list[str]:
    """Defence in depth: the issued file and the last signed revision, as a reader sees them,
    are the same outside the issued signature boxes (:mod:`caqes_docs.signatures.rendering`)."""
    from caqes_docs.signatures.rendering import visible_differences, widget_boxes

    assert expect.record is not None
    size = expect.record.issued_size(data)
    assert size is not None
    names = [p.field for p in PARTIES] + [stamp.field_name for stamp in fields.timestamps]
    masks = widget_boxes(reader.get_historical_resolver(issued_revision), names)
    signed_end = max(mark.end for mark in marks)
    return [
        f"rendu des pages différent de la version émise, {difference}"
        for difference in visible_differences(data[:size], data[:signed_end], masks)
    ]


def _issued_revision(
    data: bytes, reader: PdfFileReader, record: IssuedRecord | None, report: VerificationReport
) -> int | None:
    """The last revision of the issued file, or None when the file does not extend it."""
    if record is None:
        return None
    size = record.issued_size(data)
    if size is None:
        report.issued = ISSUED_CHANGED
        return None
    xrefs = reader.xrefs
    within = [r for r in range(xrefs.total_revisions) if xrefs.get_startxref_for_revision(r) < size]
    if not within:
        report.issued = ISSUED_CHANGED
        return None
    return max(within)


def _uncovered_problems(data: bytes, reader: PdfFileReader, marks: list[_Mark]) -> list[str]:
    """Bytes after the last signed revision: only whole, linked revisions of known objects."""
    problems = []
    covered = max(mark.end for mark in marks)
    tail = data[covered:]
    ends = [match.end() for match in _EOF_MARK.finditer(tail)]
    trailing = tail[ends[-1] :] if ends else tail
    if trailing.strip(_PDF_WHITESPACE) or len(trailing) > _TRAILING_WHITESPACE:
        problems.append(
            f"{len(trailing)} octets ajoutés après la fin du fichier, couverts par aucune signature"
        )
    last_signed = max(mark.revision for mark in marks)
    later = range(last_signed + 1, reader.xrefs.total_revisions)
    if len(ends) != len(later):
        problems.append(
            "mise à jour incrémentale non reliée au document après la dernière signature"
        )
    declared = sum(len(reader.xrefs.explicit_refs_in_revision(r)) + 1 for r in later)
    if len(_OBJECT_HEADER.findall(tail)) > declared:
        problems.append("objets non référencés ajoutés après la dernière signature")
    return problems


def _docmdp_problems(fields: SignatureFields, marks: list[_Mark]) -> list[str]:
    """A certification that forbids every change (P=1) admits no later signature."""
    for name, signature in fields.embedded.items():
        if signature.docmdp_level == MDPPerm.NO_CHANGES and any(
            mark.revision > signature.signed_revision and mark.own_field for mark in marks
        ):
            return [f"la signature {name} certifie le document sans modification permise"]
    return []


def _page_count(reader: PdfFileReader) -> int:
    try:
        pages = reader.root["/Pages"]
        return int(pages["/Count"]) if isinstance(pages, generic.DictionaryObject) else 0
    except Exception:  # a count for the report only
        return 0
