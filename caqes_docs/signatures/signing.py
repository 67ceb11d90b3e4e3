"""PAdES signatures of the contract's three fields, in order ETAB, CPAM, ARS.

The first party in the order certifies the document (DocMDP "fill forms"): afterwards only
the remaining fields may be filled and signed. Each signature is an incremental update written
atomically; a document that was changed since it was issued, or whose earlier signatures no
longer hold, is refused before anything is written.

Keys come from a PKCS#12 file (:func:`load_p12`) or a smartcard/HSM (:func:`open_pkcs11`);
both are loaded once and reused for every file of a batch.

Cost (bench/bench_sign.py, real contracts): the checks dominate, above all pyHanko's
difference analyses. pyHanko is used through its public API only; what leans on the behaviour
of its version is in :mod:`caqes_docs.signatures._pyhanko_compat`.
"""

from __future__ import annotations

import asyncio
import hashlib
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import aiohttp
import pkcs11
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.serialization import pkcs12
from fontTools import subset, ttLib
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.api import FontEngineFactory
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import AxisAlignment, Margins, SimpleBoxLayoutRule
from pyhanko.pdf_utils.metadata.model import VENDOR, XMP_MODDATE
from pyhanko.pdf_utils.metadata.xmp_xml import MetadataStream
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import fields as sig_fields
from pyhanko.sign import general as sig_general
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, Signer, SimpleSigner
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from caqes_docs.errors import CaqesError, SigningError, VerificationError
from caqes_docs.files import system_reason, write_bytes
from caqes_docs.issued import IssuedRecord, read_issued_record, sidecar_path
from caqes_docs.parties import ROLES, party
from caqes_docs.signatures._pyhanko_compat import with_pades_attributes
from caqes_docs.signatures.binding import MATCHES
from caqes_docs.signatures.qualified import TrustedLists, is_qualified, qualification
from caqes_docs.signatures.verify import (
    SIGNED,
    VerificationReport,
    check_document,
    expectations_for,
    load_trust_roots,
    open_pdf,
    signer_common_name,
)

if TYPE_CHECKING:
    from caqes_docs.inputs.campaign import Campaign

LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")
# pyHanko adds a revision of its own after the signature at these levels (validation data,
# then a document timestamp).
_LEVELS_WITH_LATER_REVISIONS = ("B-LT", "B-LTA")
_ATTEMPTS = 3
APPEARANCE_FONT = Path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf")
# The appearance: the party, the signer (wrapped), the local French date of signing. One type
# size for the three parties' boxes; lines wrapped so that a 150 pt field holds them at that
# size (Liberation Sans averages half an em a character: 34 characters of 8 pt in 142 pt).
STAMP_TEXT = "%(party)s\n%(signer)s\nSigné le %(when)s"
_FONT_SIZE = 8
_LINE_CHARS = 34
FRENCH_TIME = ZoneInfo("Europe/Paris")
_AROUND_TEXT = SimpleBoxLayoutRule(
    x_align=AxisAlignment.ALIGN_MIN, y_align=AxisAlignment.ALIGN_MID, margins=Margins.uniform(3)
)


@dataclass(frozen=True)
class SignResult:
    """The outcome for one file; ``error`` is a French one-line message when ``ok`` is false."""

    path: Path
    role: str
    ok: bool
    output: Path | None = None
    signer: str | None = None
    level: str = "B-B"
    error: str | None = None


# --- signers ----------------------------------------------------------------------------------


class _LoadedKeySigner(SimpleSigner):
    """A software signer whose private key is parsed once.

    pyHanko's SimpleSigner re-parses the key for every signature; an RSA key's consistency
    check alone costs tens of milliseconds, which a batch of 150 contracts pays 150 times.
    """

    def __init__(self, key: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._key = key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        digest = get_pyca_cryptography_hash(digest_algorithm)
        if mechanism == "rsassa_pkcs1v15" and isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, PKCS1v15(), digest)
        if mechanism == "ecdsa" and isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(digest))
        return super().sign_raw(data, digest_algorithm)


def load_p12(path: str | Path, password: bytes | None) -> Signer:
    """A signer from a PKCS#12 file (``.p12``/``.pfx``) holding a key, its certificate and CA."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise SigningError(f"{path} : lecture impossible ({system_reason(exc)})") from exc
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(blob, password or None)
    except ValueError as exc:
        raise SigningError(f"{path} : mot de passe incorrect ou fichier PKCS#12 illisible") from exc
    if key is None or certificate is None:
        raise SigningError(
            f"{path} : le fichier PKCS#12 ne contient pas de clé avec son certificat"
        )
    der = serialization.Encoding.DER
    signing_cert = asn1_x509.Certificate.load(certificate.public_bytes(der))
    others = [asn1_x509.Certificate.load(cert.public_bytes(der)) for cert in chain]
    key_info = asn1_keys.PrivateKeyInfo.load(
        key.private_bytes(der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    signer = _LoadedKeySigner(
        key,
        signing_cert=signing_cert,
        signing_key=key_info,
        # The signer's own certificate is embedded anyway: listing it here would embed it twice.
        cert_registry=SimpleCertificateStore.from_certs(
            [cert for cert in others if cert.dump() != signing_cert.dump()]
        ),
    )
    return with_pades_attributes(signer)


@contextmanager
def open_pkcs11(
    module_path: str | Path,
    token_label: str,
    key_label: str,
    pin: str,
    *,
    cert_label: str | None = None,
) -> Iterator[Signer]:
    """Open a session on a smartcard/HSM token and yield a signer; the session closes after.

    The certificate is looked up under ``cert_label`` (default: ``key_label``); every other
    certificate on the token is pulled too, so that a CA chain stored there is embedded.
    """
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign.pkcs11 import open_pkcs11_session

    where = f"jeton « {token_label} » ({module_path})"
    try:
        session = open_pkcs11_session(
            str(module_path), token_criteria=TokenCriteria(label=token_label), user_pin=pin
        )
    except pkcs11.PinIncorrect as exc:
        raise SigningError(f"{where} : code PIN incorrect") from exc
    except (pkcs11.PKCS11Error, OSError, RuntimeError) as exc:
        raise SigningError(f"{where} : ouverture impossible ({type(exc).__name__} {exc})") from exc
    try:
        try:
            signer = _pkcs11_signer_class()(
                session,
                cert_label=cert_label or key_label,
                key_label=key_label,
                other_certs_to_pull=_other_certificates(session, cert_label or key_label),
            )
            signer.signing_cert  # noqa: B018 - load key and certificates now, fail early
        except (pkcs11.PKCS11Error, sig_general.SigningError) as exc:
            raise SigningError(
                f"{where} : clé « {key_label} » ou son certificat introuvable sur le jeton"
            ) from exc
        yield with_pades_attributes(signer)
    finally:
        session.close()


def _other_certificates(session: pkcs11.Session, cert_label: str) -> tuple[str, ...]:
    """Labels of the token's certificates other than the signer's own.

    pyHanko embeds the signer's certificate itself; pulled again with the others, it would
    be embedded twice in each signature, which some validators reject.
    """
    found = [
        (str(obj[pkcs11.Attribute.LABEL]), bytes(obj[pkcs11.Attribute.VALUE]))
        for obj in session.get_objects({pkcs11.Attribute.CLASS: pkcs11.ObjectClass.CERTIFICATE})
    ]
    own = {value for label, value in found if label == cert_label}
    return tuple(label for label, value in found if value not in own)


@cache
def _pkcs11_signer_class() -> type[Signer]:
    # Imported on first use: pyhanko.sign.pkcs11 alone takes ~0.4 s to import.
    from pyhanko.sign.pkcs11 import PKCS11Signer

    return PKCS11Signer


def validation_context_for(
    trust_roots: Sequence[str | Path], *, fetch: bool = True
) -> ValidationContext:
    """A validation context trusting ``trust_roots`` (PEM/DER files), fetching OCSP/CRL.

    Needed for levels B-LT and B-LTA, whose revocation data is collected at signing time.
    """
    return ValidationContext(trust_roots=load_trust_roots(trust_roots), allow_fetching=fetch)


# --- appearance -------------------------------------------------------------------------------


@cache
def _appearance_font_bytes(font_path: Path) -> bytes:
    """The appearance font cut down to Latin script, without layout tables or hinting, 1000 units.

    Embedding subsets the font in every document; doing it from the full Liberation Sans
    (with its OpenType layout tables) costs ~25 ms a signature, from this cut-down font ~2 ms.
    """
    from fontTools.ttLib.scaleUpem import scale_upem

    try:
        font = ttLib.TTFont(str(font_path))
    except OSError as exc:
        raise SigningError(
            f"police de l'apparence introuvable : {font_path} (paquet fonts-liberation)"
        ) from exc
    options = subset.Options()
    options.layout_features = []
    options.drop_tables += ["FFTM", "GSUB", "GPOS", "GDEF", "kern"]
    options.hinting = False
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    # Latin-1, Latin Extended-A (œ, Œ, Ÿ...), dashes, quotes, ellipsis, euro.
    punctuation = {0x2013, 0x2014, 0x2018, 0x2019, 0x201C, 0x201D, 0x2026, 0x20AC}
    subsetter.populate(unicodes=set(range(0x20, 0x7F)) | set(range(0xA0, 0x180)) | punctuation)
    subsetter.subset(font)
    # pyHanko writes the glyph widths (/W) in font units, which PDF reads as thousandths of
    # an em: right only for 1000-unit fonts. Liberation Sans has 2048 units to the em.
    scale_upem(font, 1000)
    buffer = BytesIO()
    font.save(buffer)
    return buffer.getvalue()


class _EmbeddedFontFactory(FontEngineFactory):
    """Font engine embedding (a subset of) the appearance font in each signed document."""

    def __init__(self, font_bytes: bytes) -> None:
        self._font_bytes = font_bytes

    def create_font_engine(
        self, writer: BasePdfFileWriter, obj_stream: Any = None
    ) -> GlyphAccumulator:
        return GlyphAccumulator(
            writer=writer,
            font_handle=BytesIO(self._font_bytes),
            font_size=_FONT_SIZE,
            obj_stream=obj_stream,
        )


@cache
def _stamp_style(font_path: Path = APPEARANCE_FONT) -> TextStampStyle:
    # An embedded font keeps the file PDF/A: pyHanko's default appearance font is not embedded.
    font = _EmbeddedFontFactory(_appearance_font_bytes(font_path))
    return TextStampStyle(
        stamp_text=STAMP_TEXT,
        # The engine and the text box must agree on the size, or lines drift (pyHanko #733).
        # Small margins (pyHanko's are 10 pt): four lines fit a 60 pt high field unshrunk.
        text_box_style=TextBoxStyle(
            font=font,
            font_size=_FONT_SIZE,
            leading=_FONT_SIZE + 2,
            box_layout_rule=_AROUND_TEXT,
        ),
        inner_content_layout=_AROUND_TEXT,
        # No frame: the field may overlap the lines of the table cell that holds it.
        border_width=0,
    )


# --- signing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    role: str
    level: str
    order: tuple[str, ...] | None
    signer: Signer
    timestamper: TimeStamper | None
    validation_context: ValidationContext | None
    issued: IssuedRecord | None
    bytes_reserved: int
    roots: list[asn1_x509.Certificate]
    campaign: Campaign | None
    cpam: str | None
    trusted_lists: TrustedLists | None = None


TrustRoot = str | Path | asn1_x509.Certificate
SIGNED_MARK = ".signe-"


def signed_copy_name(path: str | Path, role: str) -> Path:
    """Where ``sign`` writes without ``-o``: ``X.signe-<partie>.pdf`` beside ``X.pdf``.

    A copy signed before (``X.signe-etab.pdf``) gives ``X.signe-cpam.pdf``: one mark, the
    last party's. The issued PDF is never overwritten; ``batch`` sees the copy as a file
    added since the issue and keeps the folder.
    """
    path = Path(path)
    stem = path.stem.split(SIGNED_MARK, 1)[0]
    return path.with_name(f"{stem}{SIGNED_MARK}{role.lower()}{path.suffix}")


def sign_documents(
    paths: Sequence[str | Path],
    role: str,
    signer: Signer,
    *,
    level: str = "B-B",
    tsa_url: str | None = None,
    output: str | Path | None = None,
    order: Sequence[str] | None = None,
    issued: IssuedRecord | None = None,
    validation_context: ValidationContext | None = None,
    trust_roots: Sequence[TrustRoot] = (),
    campaign: Campaign | None = None,
    cpam: str | None = None,
    trusted_lists: TrustedLists | None = None,
) -> list[SignResult]:
    """Sign the field of ``role`` in each PDF of ``paths``, one result per file.

    ``level``: "B-B" (no timestamp), "B-T" (RFC 3161 timestamp from ``tsa_url``), "B-LT"
    (plus revocation data, fetched through ``validation_context``, see
    :func:`validation_context_for`), "B-LTA" (plus a document timestamp). ``output`` is
    only for a single file; otherwise each signed file is written beside its input
    (:func:`signed_copy_name`), never over it. ``issued`` is the issued record of a single
    file when it has no sidecar.

    Before signing, each file goes through the same verification as ``verify``
    (:func:`~caqes_docs.signatures.verify.check_document`): it must extend the issued file
    with nothing but allowed changes, and every earlier signature must be intact, trusted by
    ``trust_roots`` and bound to its party; the signer's own certificate must be the one of
    ``role`` for that contract (``campaign``, default the bundled one, says how parties are
    recognised and the order; ``order`` overrides it; ``cpam`` names the contract's CPAM when
    known; ``trusted_lists`` say which certificates are qualified, for the parties the
    campaign requires so, the signer included). A file that cannot be signed gets a failed
    result and nothing is written; the other files are still signed. Arguments that make
    every file fail raise SigningError.
    The validation context's network sessions are released when the call returns.
    """
    paths = [Path(path) for path in paths]
    order = tuple(order) if order is not None else None
    _check_arguments(paths, role, level, tsa_url, output, order, issued, validation_context)
    roots = _roots(trust_roots)
    job_options = {
        "roots": roots, "campaign": campaign, "cpam": cpam, "trusted_lists": trusted_lists,
    }  # fmt: skip
    return asyncio.run(
        _sign_all(
            paths, role, signer, level, tsa_url, output, order, issued, validation_context,
            job_options,
        )
    )  # fmt: skip


def _roots(
    trust_roots: Sequence[str | Path | asn1_x509.Certificate],
) -> list[asn1_x509.Certificate]:
    try:
        return load_trust_roots(trust_roots)
    except VerificationError as exc:
        raise SigningError(str(exc)) from None


def _check_arguments(
    paths: list[Path],
    role: str,
    level: str,
    tsa_url: str | None,
    output: str | Path | None,
    order: tuple[str, ...] | None,
    issued: IssuedRecord | None,
    validation_context: ValidationContext | None,
) -> None:
    if order is not None and sorted(order) != sorted(ROLES):
        raise SigningError(f"ordre de signature invalide : {order} (les parties {ROLES})")
    if role not in ROLES:
        raise SigningError(f"partie inconnue : « {role} » (attendu : {', '.join(ROLES)})")
    if level not in LEVELS:
        raise SigningError(f"niveau de signature inconnu : « {level} » ({', '.join(LEVELS)})")
    if level != "B-B" and not tsa_url:
        raise SigningError(f"le niveau {level} demande une autorité d'horodatage (tsa_url)")
    if level in ("B-LT", "B-LTA") and validation_context is None:
        raise SigningError(
            f"le niveau {level} demande les certificats racines de confiance "
            "pour collecter les informations de révocation"
        )
    if len(paths) != 1 and (output is not None or issued is not None):
        raise SigningError("un fichier de sortie ou une empreinte explicite vaut pour un seul PDF")


async def _sign_all(
    paths: list[Path],
    role: str,
    signer: Signer,
    level: str,
    tsa_url: str | None,
    output: str | Path | None,
    order: tuple[str, ...] | None,
    issued: IssuedRecord | None,
    validation_context: ValidationContext | None,
    job_options: dict[str, Any],
) -> list[SignResult]:
    session = aiohttp.ClientSession() if tsa_url else None
    try:
        timestamper = HTTPTimeStamper(tsa_url, session=session) if tsa_url else None
        _stamp_style()  # a missing appearance font fails the batch once, not every file
        await _ensure_loaded(signer)
        job = _Job(
            role=role,
            level=level,
            order=order,
            signer=signer,
            timestamper=timestamper,
            validation_context=validation_context,
            issued=issued,
            bytes_reserved=await _reserved_size(signer, timestamper, tsa_url),
            **job_options,
        )
        target = Path(output) if output is not None else None
        return [await _sign_path(path, job, target) for path in paths]
    finally:
        if session is not None:
            await session.close()
        if validation_context is not None:
            await validation_context.aclose()


async def _ensure_loaded(signer: Signer) -> None:
    loader = getattr(signer, "ensure_objects_loaded", None)
    if loader is not None:
        await loader()
    if signer.signing_cert is None:
        raise SigningError("aucun certificat de signataire disponible")


async def _reserved_size(
    signer: Signer, timestamper: TimeStamper | None, tsa_url: str | None
) -> int:
    """Room for the signature container, sized once per batch from a dry-run signature.

    pyHanko otherwise sizes it with a dummy signature for every file. A tight room also
    keeps later verifications fast: pyHanko parses the hex /Contents byte by byte.
    """
    try:
        container = await signer.async_sign(
            hashlib.sha256(b"").digest(),
            "sha256",
            dry_run=True,
            use_pades=True,
            timestamper=timestamper,
            signed_attr_settings=PdfCMSSignedAttributes(signing_time=datetime.now(UTC)),
        )
    except (TimestampRequestError, aiohttp.ClientError, TimeoutError) as exc:
        raise SigningError(f"autorité d'horodatage injoignable : {tsa_url}") from exc
    size = len(container.dump()) * 2
    # In hex digits. The dry run holds a real timestamp token (pyHanko asks the authority
    # once), whose size varies by a few dozen bytes from one response to the next (serial,
    # time, nonce, signature encoding): 1 KB of room spares that, the rare larger one is made
    # again. A B-B container varies by a few bytes of DER integers. B-LT adds nothing to the
    # container: PAdES puts the revocation data in the document's DSS.
    margin = 2048 if timestamper is not None else 256
    return size + margin + (size + margin) % 2


async def _sign_path(path: Path, job: _Job, output: Path | None) -> SignResult:
    signer_name = signer_common_name(job.signer.signing_cert)
    target = output or signed_copy_name(path, job.role)
    try:
        if output is None and target.exists():
            raise SigningError(
                f"{target} existe déjà : le retirer, ou donner le fichier de sortie (-o)"
            )
        data = _read(path)
        record = _issued_record(path, job.issued)
        certify = await _check_before_signing(path, data, record, job)
        signed = await _sign_bytes(path, data, job, certify)
        write_bytes(target, signed)
        if target != path:
            _copy_sidecar(path, target, record)
    except CaqesError as exc:
        return SignResult(path, job.role, False, None, signer_name, job.level, str(exc))
    return SignResult(path, job.role, True, target, signer_name, job.level)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SigningError(f"{path} : lecture impossible ({system_reason(exc)})") from exc


def _issued_record(path: Path, explicit: IssuedRecord | None) -> IssuedRecord:
    record = explicit or read_issued_record(path)
    if record is None:
        raise SigningError(
            f"{path} : aucune trace de l'émission ; placer {sidecar_path(path).name} à côté "
            "du fichier ou donner l'empreinte SHA-256 du PDF émis"
        )
    return record


async def _check_before_signing(path: Path, data: bytes, record: IssuedRecord, job: _Job) -> None:
    """The file as ``verify`` sees it must hold, the field of ``job.role`` be next, and the
    signer's certificate be the one of that party for this contract."""
    expect = expectations_for(data, path, record, None, job.campaign, job.cpam, job.order)
    expect = replace(expect, trusted_lists=job.trusted_lists)
    try:
        report = await check_document(data, path, job.roots, expect)
    except VerificationError as exc:
        raise SigningError(str(exc)) from None
    present = {sig.role for sig in report.signatures}
    roles = [role for role in expect.order if role in present]
    _check_turn(path, report, job.role, roles)
    if any(sig.status == SIGNED for sig in report.signatures) and not job.roots:
        raise SigningError(
            f"{path} : contresigner demande les certificats racines de confiance (--trust), "
            "pour vérifier les signatures déjà apposées"
        )
    problems = report.all_problems()
    if problems:
        raise SigningError(f"{path} : refusé, le document ne tient pas : {' ; '.join(problems)}")
    expected = expect.signers[job.role] if expect.signers else None
    certificate = job.signer.signing_cert
    if expected is None or expected.judge(certificate) != MATCHES:
        raise SigningError(
            f"{path} : le certificat du signataire ({certificate.subject.human_friendly}) "
            f"n'est pas celui de la partie {party(job.role).name} de ce document (attendu : "
            f"{expected.describe() if expected else 'règle absente'})"
        )
    if job.role in expect.qualified_roles:
        others = list(job.signer.cert_registry or ())
        verdict = await qualification(job.trusted_lists, certificate, others, datetime.now(UTC))
        if not is_qualified(verdict):
            raise SigningError(
                f"{path} : la campagne exige un certificat qualifié pour la partie "
                f"{party(job.role).name} : {verdict}"
            )
    return job.role == roles[0]


def _check_turn(path: Path, report: VerificationReport, role: str, roles: list[str]) -> None:
    """The field of ``role`` exists, is empty, and every party before it has signed."""
    name, who = party(role).field, party(role).name
    if role not in roles:
        present = ", ".join(party(r).field for r in roles) or "aucun"
        raise SigningError(
            f"{path} : pas de champ de signature {name} ({who}) dans ce document "
            f"(champs : {present})"
        )
    status = {sig.role: sig.status for sig in report.signatures}
    if status[role] == SIGNED:
        raise SigningError(f"{path} : le champ {name} ({who}) est déjà signé")
    position = roles.index(role)
    waiting = [party(r).name for r in roles[:position] if status[r] != SIGNED]
    if waiting:
        raise SigningError(
            f"{path} : signature {who} hors ordre ; doit d'abord signer : {', '.join(waiting)}"
        )
    ahead = [party(r).name for r in roles[position + 1 :] if status[r] == SIGNED]
    if ahead:
        raise SigningError(
            f"{path} : signature {who} hors ordre ; a déjà signé après elle : {', '.join(ahead)}"
        )


async def _sign_bytes(path: Path, data: bytes, job: _Job, certify: bool) -> bytes:
    """The signed file, from a fresh reading of ``data``.

    pyHanko's writer reads the clock once for Info /ModDate and once more for XMP ModifyDate;
    across a second boundary the two disagree, which PDF/A forbids: such a rare result is
    made again.
    """
    reserved: int | None = job.bytes_reserved
    for _attempt in range(_ATTEMPTS):
        writer = IncrementalPdfFileWriter.from_reader(open_pdf(data, path))
        _align_producer(writer)
        try:
            signed = await _pdf_signature(writer, job, reserved, certify)
        except sig_general.SigningError as exc:
            if reserved is None or "larger than expected" not in str(exc):
                raise SigningError(
                    f"{path} : signature refusée par la bibliothèque de signature (détail avec "
                    "--verbose)"
                ) from exc
            # The container outgrew its room (an unusually large timestamp token): let
            # pyHanko size it.
            reserved = None
            continue
        except SigningError as exc:
            raise SigningError(f"{path} : {exc}") from exc
        # At B-LT and B-LTA pyHanko writes later revisions with writers of its own.
        later = job.level in _LEVELS_WITH_LATER_REVISIONS
        if _dates_agree(open_pdf(signed, path) if later else writer):
            return signed
    raise SigningError(
        f"{path} : dates de modification incohérentes entre Info et XMP après {_ATTEMPTS} essais"
    )


def _dates_agree(reader: PdfFileReader | IncrementalPdfFileWriter) -> bool:
    """Whether the last revision's Info /ModDate and XMP ModifyDate are the same instant.

    pyHanko writes the revisions after the signature (validation data, document timestamp)
    with writers of its own, which read the clock twice.
    """
    try:
        info = reader.trailer["/Info"]
        metadata = reader.root["/Metadata"]
    except KeyError:
        return True
    if "/ModDate" not in info or not isinstance(metadata, MetadataStream):
        return True
    fields = {key: value for root in metadata.xmp for key, value in root}
    modified = fields.get(XMP_MODDATE)
    if modified is None:
        return True
    return generic.parse_pdf_date(info["/ModDate"]) == datetime.fromisoformat(str(modified.value))


async def _pdf_signature(
    writer: IncrementalPdfFileWriter, job: _Job, bytes_reserved: int | None, certify: bool
) -> bytes:
    long_term = job.level in _LEVELS_WITH_LATER_REVISIONS
    metadata = PdfSignatureMetadata(
        field_name=party(job.role).field,
        md_algorithm="sha256",
        subfilter=sig_fields.SigSeedSubFilter.PADES,
        certify=certify,
        docmdp_permissions=sig_fields.MDPPerm.FILL_FORMS,
        embed_validation_info=long_term,
        use_pades_lta=job.level == "B-LTA",
        validation_context=job.validation_context if long_term else None,
    )
    pdf_signer = PdfSigner(
        metadata, job.signer, timestamper=job.timestamper, stamp_style=_stamp_style()
    )
    output = BytesIO()
    try:
        await pdf_signer.async_sign_pdf(
            writer,
            existing_fields_only=True,
            bytes_reserved=bytes_reserved,
            appearance_text_params=_appearance_text(job),
            output=output,
        )
    except (TimestampRequestError, aiohttp.ClientError, TimeoutError) as exc:
        raise SigningError(
            "horodatage impossible : l'autorité d'horodatage n'a pas répondu"
        ) from exc
    except (PathBuildingError, PathValidationError) as exc:
        raise SigningError(
            f"certificat du signataire non validé pour le niveau {job.level} (chaîne de "
            "certification introuvable ou révocation non vérifiable ; voir --trust)"
        ) from exc
    except pkcs11.PKCS11Error as exc:
        raise SigningError(f"le jeton PKCS#11 a refusé de signer ({type(exc).__name__})") from exc
    except PdfError as exc:
        raise SigningError("écriture du PDF signé impossible (structure du PDF refusée)") from exc
    return output.getvalue()


def _appearance_text(job: _Job) -> dict[str, str]:
    """The appearance's lines; pyHanko's own date would be in the machine's zone (UTC)."""
    signer = signer_common_name(job.signer.signing_cert)
    return {
        "party": party(job.role).name,
        "signer": "\n".join(textwrap.wrap(signer, _LINE_CHARS, break_on_hyphens=False)) or signer,
        "when": datetime.now(FRENCH_TIME).strftime("%d/%m/%Y à %H:%M"),
    }


def _align_producer(writer: IncrementalPdfFileWriter) -> None:
    """Make the Info /Producer equal to the one pyHanko writes into the XMP metadata.

    pyHanko appends its name to the Info producer but replaces XMP pdf:Producer with it;
    PDF/A requires both to agree. Once equal, pyHanko leaves the Info entry alone.
    """
    info_ref = writer.trailer.raw_get("/Info") if "/Info" in writer.trailer else None
    if not isinstance(info_ref, generic.IndirectObject):
        return
    info = info_ref.get_object()
    if isinstance(info, generic.DictionaryObject) and info.get("/Producer") != VENDOR:
        info["/Producer"] = generic.TextStringObject(VENDOR)
        writer.mark_update(info_ref)


def _copy_sidecar(source: Path, output: Path, record: IssuedRecord) -> None:
    """Keep the issued record beside a signed copy, so the next party can sign it."""
    original = sidecar_path(source)
    copy = sidecar_path(output)
    if original.is_file() and not copy.exists() and record.source == original.name:
        write_bytes(copy, original.read_bytes())
