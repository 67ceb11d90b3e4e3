"""A demonstration PKI: one root CA and one PKCS#12 per signing party.

Real signatures use certificates from a qualified provider (smartcard, HSM); this PKI lets a
campaign be rehearsed end to end. Each establishment's certificate carries its FINESS juridique
in the subject (``organizationIdentifier=FINESS-<finess>``), which verification checks against
the contract. Keys are generated on the spot and only ever written inside PKCS#12 files.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from caqes_docs.errors import InputError
from caqes_docs.files import write_bytes
from caqes_docs.inputs.finess import finess_problem

ROOT_NAME = "AC racine de démonstration CAQES"
DEFAULT_CPAM_NAME = "CPAM de la Gironde"
# The organisation names the bundled campaign recognises its ARS and CPAMs by
# (caqes_docs/signatures/binding.py): its ``ars.nom`` and each ``cpam.<clé>.nom``.
ARS_NAME = "Agence Régionale de Santé Nouvelle-Aquitaine"
FINESS_PREFIX = "FINESS-"
_ROOT_YEARS = 10
# A contract runs at most five years (decree); its signers' certificates outlive it a little.
_LEAF_YEARS = 6
_KEY_BITS = 2048


@dataclass(frozen=True)
class DemoPki:
    """Where :func:`create_demo_pki` wrote its files."""

    root_certificate: Path
    establishments: dict[str, Path] = field(default_factory=dict)
    cpam: Path | None = None
    ars: Path | None = None
    cpams: dict[str, Path] = field(default_factory=dict)
    """One certificate per CPAM of the campaign, by its key (``cpam-<clé>.p12``)."""


def create_demo_pki(
    directory: str | Path,
    establishments: Sequence[tuple[str, str]],
    password: bytes | str,
    *,
    cpam_name: str = DEFAULT_CPAM_NAME,
    representative: str = "Directeur",
    cpams: dict[str, str] | None = None,
    ars_name: str = ARS_NAME,
) -> DemoPki:
    """Create a root CA and one PKCS#12 per party in ``directory``.

    ``establishments`` lists ``(finess_ej, name)``; each gets ``etab-<finess>.p12`` whose
    subject is ``O=<name>, organizationIdentifier=FINESS-<finess>, CN=<representative>``.
    ``cpam.p12`` and ``ars.p12`` follow, then ``cpam-<clé>.p12`` for each of ``cpams``
    (key → name; default: the CPAMs of the bundled campaign). ``root-ca.pem`` is the trust
    anchor to give to verification. Files are written atomically; the root's private key
    is discarded.
    """
    secret = password.encode("utf-8") if isinstance(password, str) else password
    if not secret:
        raise InputError("le mot de passe des fichiers PKCS#12 ne peut pas être vide")
    _check_establishments(establishments)
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    root_key = _new_key()
    root_name = _name(O="CAQES démonstration", CN=ROOT_NAME)
    root_cert = _root_certificate(root_key, root_name, now)
    root_path = target / "root-ca.pem"
    write_bytes(root_path, root_cert.public_bytes(serialization.Encoding.PEM))

    def issue(file_name: str, subject: x509.Name, key: rsa.RSAPrivateKey | None = None) -> Path:
        key = key or _new_key()
        cert = _leaf_certificate(key, subject, root_key, root_cert, now)
        friendly = subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        blob = pkcs12.serialize_key_and_certificates(
            name=str(friendly).encode("utf-8"),
            key=key,
            cert=cert,
            cas=[root_cert],
            encryption_algorithm=serialization.BestAvailableEncryption(secret),
        )
        path = target / file_name
        write_bytes(path, blob)
        return path

    etab_paths = {
        finess: issue(
            f"etab-{finess}.p12",
            _name(O=name, organizationIdentifier=f"{FINESS_PREFIX}{finess}", CN=representative),
        )
        for finess, name in establishments
    }
    cpam_path = issue("cpam.p12", _name(O=cpam_name, CN=f"Directeur de la {cpam_name}"))
    ars_path = issue(
        "ars.p12", _name(O=ars_name, CN="Directeur général de l'ARS Nouvelle-Aquitaine")
    )
    # A demonstration: one key behind every CPAM's certificate spares a key generation each.
    cpam_key = _new_key()
    cpam_paths = {
        key: issue(f"cpam-{key}.p12", _name(O=name, CN=f"Directeur de la {name}"), cpam_key)
        for key, name in (cpams if cpams is not None else _campaign_cpams()).items()
    }
    return DemoPki(root_path, etab_paths, cpam_path, ars_path, cpam_paths)


def _campaign_cpams() -> dict[str, str]:
    from caqes_docs.inputs.campaign import load_campaign

    return {key: cpam.name for key, cpam in load_campaign().cpams.items()}


def _check_establishments(establishments: Sequence[tuple[str, str]]) -> None:
    seen: set[str] = set()
    for finess, name in establishments:
        if not name:
            raise InputError("nom d'établissement manquant", place="établissements", value=finess)
        problem = finess_problem(finess)
        if problem:
            raise InputError(problem, place="FINESS juridique", value=finess)
        if finess in seen:
            raise InputError("FINESS juridique en double", place="établissements", value=finess)
        seen.add(finess)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)


_ATTRIBUTES = {
    "O": NameOID.ORGANIZATION_NAME,
    "organizationIdentifier": NameOID.ORGANIZATION_IDENTIFIER,
    "CN": NameOID.COMMON_NAME,
}


def _name(**parts: str) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "FR")]
    attributes += [x509.NameAttribute(_ATTRIBUTES[key], value) for key, value in parts.items()]
    return x509.Name(attributes)


def _root_certificate(
    key: rsa.RSAPrivateKey, name: x509.Name, now: dt.datetime
) -> x509.Certificate:
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365 * _ROOT_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _leaf_certificate(
    key: rsa.RSAPrivateKey,
    subject: x509.Name,
    issuer_key: rsa.RSAPrivateKey,
    issuer: x509.Certificate,
    now: dt.datetime,
) -> x509.Certificate:
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365 * _LEAF_YEARS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            # Non-repudiation (content commitment) is what PDF validators expect of a
            # signer who commits to a contract.
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
        .sign(issuer_key, hashes.SHA256())
    )
