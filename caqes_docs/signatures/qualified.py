"""Is a signer's certificate qualified (eIDAS) at signing time? Read from EU trusted lists.

French administrations expect qualified certificates. A trusted list (ETSI TS 119 612: an EU
member state's TL, or the EU list of the lists, LOTL, that points to them) names the qualified
certificate authorities (service type « CA/QC ») and what their certificates are qualified for:
e-signatures (QCForESig) or e-seals (QCForESeal). Everything here is pyHanko's reader
(``pyhanko.sign.validation.qualified``); caqes only reads the files, offline, and says the
result in French.

What is checked before a list is used — a list nobody signed, or signed by someone else, is
refused, never read:

- a LOTL: its XAdES signature against the certificates given as list signers, or, without
  them, the EU LOTL signers bundled with pyHanko (``latest_known_lotl_tlso_certs``);
- a TL: its XAdES signature against the certificates a LOTL given alongside names for the
  member-state lists, and the list signers given explicitly. A TL alone, with no certificate
  to check it against, is refused.

The signature's certificate must then chain, signatures checked, to a certificate of a CA/QC
service of the lists; pyHanko's assessor applies the service's qualifiers (QCStatement,
QCForESig, QCForESeal, NotQualified…) and the certificate's own QC statements, at the
signing time (the timestamp's when there is one, else the time the signer claims).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from asn1crypto import x509
from pyhanko.sign.general import load_cert_from_pemder
from pyhanko.sign.validation.qualified.assess import QualificationAssessor
from pyhanko.sign.validation.qualified.tsp import QcCertType, TSPRegistry, TSPTrustManager
from pyhanko_certvalidator import CertificateValidator, ValidationContext

from caqes_docs.errors import InputError
from caqes_docs.files import system_reason

QUALIFIED_ESIG = "qualifiée (signature)"
QUALIFIED_ESEAL = "qualifiée (cachet)"
NOT_CHECKED = "non vérifiée"
NOT_QUALIFIED = "non qualifiée"
NO_QUALIFIED_CA = "le certificat ne relève d'aucun service qualifié (CA/QC) des listes de confiance"
NOT_DECLARED = "les listes de confiance ne le déclarent pas qualifié à la date de signature"
WEB_ONLY = "certificat qualifié d'authentification de site web, ni signature ni cachet"
# The French TL is about 1 MB, the LOTL under 1 MB: anything far larger is not a trusted list.
MAX_LIST_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class TrustedLists:
    """Qualified services read from signed trusted lists."""

    registry: TSPRegistry
    sources: tuple[str, ...]


def is_qualified(qualification: str | None) -> bool:
    return qualification in (QUALIFIED_ESIG, QUALIFIED_ESEAL)


def load_trusted_lists(
    paths: Sequence[str | Path], signers: Iterable[str | Path | x509.Certificate] = ()
) -> TrustedLists:
    """Read the trusted lists in ``paths`` (TLs and LOTLs, in any order), each checked against
    its expected signers (see the module's documentation). ``signers``: certificates that may
    sign them (objects or PEM/DER files). A list that cannot be read or whose signature does
    not hold is an InputError naming the file."""
    # The XML reader (signxml, xsdata) loads only when lists are given.
    from pyhanko.sign.validation.qualified.eutl_parse import (
        LOTL_RULE,
        latest_known_lotl_tlso_certs,
        trust_list_to_registry,
        validate_and_parse_lotl,
    )

    explicit = [_certificate(signer) for signer in signers]
    texts = {Path(path): _read(Path(path)) for path in paths}
    lotls = {path: text for path, text in texts.items() if _looks_like_lotl(text)}
    tl_signers = list(explicit)
    for path, text in lotls.items():
        try:
            lotl = validate_and_parse_lotl(text, explicit or latest_known_lotl_tlso_certs())
        except Exception as exc:  # a forged or malformed list: one line
            raise InputError(
                f"liste des listes de confiance refusée ({_reason(exc)})", file=path
            ) from None
        for reference in lotl.references:
            if LOTL_RULE not in reference.scheme_rules:
                tl_signers.extend(reference.tlso_certs)
    registry = TSPRegistry()
    for path, text in texts.items():
        if path in lotls:
            continue
        if not tl_signers:
            raise InputError(
                "liste de confiance sans signataire attendu : donner la liste des listes (LOTL) "
                "qui la désigne ou le certificat de son signataire",
                file=path,
            )
        try:
            trust_list_to_registry(text, tl_signers, registry)
        except Exception as exc:  # a forged or malformed list: one line
            raise InputError(f"liste de confiance refusée ({_reason(exc)})", file=path) from None
    return TrustedLists(registry, tuple(str(path) for path in texts))


async def qualification(
    lists: TrustedLists | None,
    certificate: x509.Certificate,
    other_certs: Iterable[x509.Certificate],
    moment: datetime | None,
) -> str:
    """« qualifiée (signature) », « qualifiée (cachet) », « non qualifiée : <raison> », or
    « non vérifiée » without trusted lists."""
    if lists is None:
        return NOT_CHECKED
    context = ValidationContext(
        trust_manager=TSPTrustManager(lists.registry),
        other_certs=list(other_certs),
        moment=moment,
        allow_fetching=False,
    )
    try:
        path = await CertificateValidator(
            certificate, validation_context=context
        ).async_validate_path()
    except Exception:  # no path, or a broken one: not under a qualified CA
        return f"{NOT_QUALIFIED} : {NO_QUALIFIED_CA}"
    try:
        status = (
            QualificationAssessor(lists.registry).check_entity_cert_qualified(path, moment).status
        )
    except Exception as exc:  # e.g. several QC types declared in the certificate
        return f"{NOT_QUALIFIED} : déclarations de qualification illisibles ({_short(exc)})"
    if not status.qualified:
        return f"{NOT_QUALIFIED} : {NOT_DECLARED}"
    if status.qc_type == QcCertType.QC_ESIGN:
        return QUALIFIED_ESIG
    if status.qc_type == QcCertType.QC_ESEAL:
        return QUALIFIED_ESEAL
    return f"{NOT_QUALIFIED} : {WEB_ONLY}"


def _read(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_LIST_BYTES:
            raise InputError(
                f"liste de confiance trop grande (plus de {MAX_LIST_BYTES // 2**20} Mo)", file=path
            )
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise InputError(
            f"liste de confiance illisible ({system_reason(exc)})", file=path
        ) from None
    except UnicodeDecodeError:
        raise InputError("liste de confiance illisible (pas du XML en UTF-8)", file=path) from None


def _looks_like_lotl(text: str) -> bool:
    """A LOTL points to other lists; only its signed content is used (validate_and_parse_lotl)."""
    from pyhanko.sign.validation.qualified.eutl_parse import parse_lotl_unsafe

    try:
        return bool(parse_lotl_unsafe(text).references)
    except Exception:  # a TL has no pointers, or the text is no list at all
        return False


def _certificate(signer: str | Path | x509.Certificate) -> x509.Certificate:
    if isinstance(signer, x509.Certificate):
        return signer
    try:
        return load_cert_from_pemder(str(signer))
    except Exception as exc:  # any unreadable file: one French line
        raise InputError(f"certificat illisible ({_short(exc)})", file=signer) from None


def _reason(exc: BaseException) -> str:
    from pyhanko.sign.validation.errors import SignatureValidationError

    if isinstance(exc, SignatureValidationError):
        return "signature XML absente, invalide ou d'un signataire non attendu"
    return f"XML illisible : {_short(exc)}"


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "…"
