"""Fixtures for the outside signers and the attacks (tests/test_outside_signers.py,
tests/test_attacks.py).

- :func:`party_pki` — a test PKI made here with ``cryptography``: one root and the three
  parties of the stand-in contract (establishment FINESS 330781196, the Gironde CPAM and the
  ARS under the campaign's names), plus the impostors: another establishment and another CPAM
  under the same root, an establishment whose organisation name merely contains our FINESS,
  and each party's own subject under another root and self-signed. RSA keys, made at test
  time, never stored.
- :func:`sign_copy` — caqes' ``sign_documents`` with trust roots for the earlier signatures.
- :func:`signed_chain` — the stand-in contract signed by a tool (caqes itself, or one of
  :data:`outside_signers.TOOLS`) up to each party, computed once per process.
- :class:`Desk` — an officer's folder: the issued contract, its issued record, a registry that
  knows it, and the returned copies (with the issued record beside them or not).
- The status hooks: with ``CAQES_ATTACKS_STATUS=FILE.md``, each run of these tests lists its
  failures and known gaps in FILE.md; each module's ``KNOWN_GAPS`` become xfails.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from attacks import Keys
from conftest_pki import FINESS, REFERENCE, build_stand_in_contract
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from outside_signers import PLAIN, Credential, Step, ToolContext, sign_chain
from pyhanko.sign.signers import Signer

from caqes_docs.inputs.campaign import load_campaign
from caqes_docs.inputs.contract_file import load_contract
from caqes_docs.issued import load_issued_record
from caqes_docs.parties import PARTIES, ROLES
from caqes_docs.registry.store import CONTRACT, Registry
from caqes_docs.signatures.signing import load_p12, sign_documents

FIELDS = {party.role.value: party.field for party in PARTIES}
NEXT = dict(zip(ROLES, [*ROLES[1:], None], strict=True))
PASSWORD = "caqes-signataires"
OTHER_FINESS = "330000340"  # a real-looking FINESS juridique of another establishment
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "chu-fictif-bordeaux.yaml"
CAQES = "caqes"
"""The name of caqes' own signer in :func:`signed_chain`."""


@functools.cache
def _campaign():  # type: ignore[no-untyped-def]
    return load_campaign()


# --- the test PKI -----------------------------------------------------------------------------


def _name(**parts: str) -> x509.Name:
    oids = {
        "O": NameOID.ORGANIZATION_NAME,
        "organizationIdentifier": NameOID.ORGANIZATION_IDENTIFIER,
        "CN": NameOID.COMMON_NAME,
    }
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "FR")]
    return x509.Name(attributes + [x509.NameAttribute(oids[k], v) for k, v in parts.items()])


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class _Authority:
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate


def _certificate(
    subject: x509.Name, key: rsa.RSAPrivateKey, issuer: _Authority | None, *, ca: bool
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    signing_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3 * 365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=not ca,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), False
        )
    return builder.sign(signing_key, hashes.SHA256())


def _authority(name: str) -> _Authority:
    key = _key()
    return _Authority(key, _certificate(_name(O="CAQES tests", CN=name), key, None, ca=True))


@dataclass(frozen=True)
class PartyPki:
    """Where the test PKI's files are, and signers loaded from them."""

    root: Path
    credentials: dict[str, Credential]
    """The honest parties (ETAB, CPAM, ARS) and the impostors, by name."""

    def signer(self, name: str) -> Signer:
        return _signer(self.credentials[name])

    def keys(self) -> Keys:
        """The signers the attacks use."""
        return Keys(
            parties={role: self.signer(role) for role in ROLES},
            impostors={name: self.signer(name) for name in self.credentials if ":" in name},
        )


@functools.cache
def _signer(credential: Credential) -> Signer:
    return load_p12(credential.p12, credential.password.encode())


@functools.cache
def party_pki_files() -> PartyPki:
    """The parties under one root, and for each party its impostors (``NAME:ROLE``)."""
    directory = Path(tempfile.mkdtemp(prefix="caqes-signataires-"))
    root = _authority("AC racine de test des signataires CAQES")
    other_root = _authority("AC racine étrangère")
    ours = {"O": "CHU de Bordeaux", "organizationIdentifier": f"FINESS-{FINESS}"}
    # The CPAM and the ARS under the names the bundled campaign knows them by.
    campaign = _campaign()
    cpam, other_cpam, ars = campaign.cpams["33"].name, campaign.cpams["17"].name, campaign.ars.name
    honest = {
        "ETAB": {**ours, "CN": "Directeur général du CHU"},
        "CPAM": {"O": cpam, "CN": f"Directrice de la {cpam}"},
        "ARS": {"O": ars, "CN": "Directeur général de l'ARS"},
    }
    neighbour = {
        "organizationIdentifier": f"FINESS-{OTHER_FINESS}",
        "CN": "Directeur de la clinique",
    }
    subjects: dict[str, tuple[dict[str, str], _Authority | None]] = {
        **{role: (subject, root) for role, subject in honest.items()},
        # The party's own subject, certified by a root nobody trusts, or by itself.
        **{f"autre-racine:{role}": (subject, other_root) for role, subject in honest.items()},
        **{f"auto-signe:{role}": (subject, None) for role, subject in honest.items()},
        # Right root, wrong party.
        "autre-etablissement:ETAB": ({"O": "Clinique voisine", **neighbour}, root),
        # Its organisation name merely contains our FINESS.
        "etablissement-homonyme:ETAB": ({"O": f"Clinique ex-{FINESS}", **neighbour}, root),
        "autre-cpam:CPAM": ({"O": other_cpam, "CN": f"Directeur de la {other_cpam}"}, root),
    }
    credentials = {}
    for label, (parts, issuer) in subjects.items():
        key = _key()
        certificate = _certificate(_name(**parts), key, issuer, ca=False)
        blob = pkcs12.serialize_key_and_certificates(
            name=parts["CN"].encode(),
            key=key,
            cert=certificate,
            cas=[issuer.certificate] if issuer else None,
            encryption_algorithm=serialization.BestAvailableEncryption(PASSWORD.encode()),
        )
        path = directory / f"{label.replace(':', '-')}.p12"
        path.write_bytes(blob)
        credentials[label] = Credential(path, PASSWORD)
    root_path = directory / "racine.pem"
    root_path.write_bytes(root.certificate.public_bytes(serialization.Encoding.PEM))
    return PartyPki(root_path, credentials)


@pytest.fixture(scope="session")
def party_pki() -> PartyPki:
    return party_pki_files()


# --- signed copies, made once -------------------------------------------------------------------


@functools.cache
def issued_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as work:
        return build_stand_in_contract(Path(work)).read_bytes()


@functools.cache
def signed_chain(tool: str, context: ToolContext = PLAIN) -> dict[str, bytes]:
    """The stand-in contract signed ETAB, then CPAM, then ARS by ``tool``; each stage's bytes.

    ``tool`` is :data:`CAQES` (caqes' own ``sign_documents``) or a name of
    :data:`outside_signers.TOOLS`; each party uses its own credential of :func:`party_pki_files`.
    """
    pki = party_pki_files()
    work = Path(tempfile.mkdtemp(prefix=f"caqes-{tool}-"))
    issued = build_stand_in_contract(work, "emis")
    targets = {role: work / f"{role}.pdf" for role in ROLES}
    if tool == CAQES:
        source = issued
        for role in ROLES:
            target = build_stand_in_contract(work, role, content=source.read_bytes())
            [result] = sign_copy([target], role, pki.signer(role), [pki.root], output=targets[role])
            assert result.ok, result.error
            source = targets[role]
    else:
        steps = [Step(FIELDS[role], pki.credentials[role], targets[role]) for role in ROLES]
        sign_chain(tool, issued, steps, context)
    return {role: targets[role].read_bytes() for role in ROLES}


def sign_copy(  # type: ignore[no-untyped-def]
    paths: list[Path], role: str, signer: Signer, roots: list[Path], **options
):
    """``sign_documents`` trusting ``roots`` for the earlier signatures."""
    return sign_documents(paths, role, signer, trust_roots=roots, **options)


def before(stage: str) -> str | None:
    """The party that signs just before ``stage`` (None for the first)."""
    index = ROLES.index(stage)
    return ROLES[index - 1] if index else None


# --- an officer's desk: issued contract, record, registry ---------------------------------------


def registry_snapshot(db: Path) -> list[str]:
    """The registry's logical content, to compare before and after a refused file."""
    with contextlib.closing(sqlite3.connect(db)) as connection:
        return list(connection.iterdump())


def folder_snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (but the registry's own) and its digest."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.name.startswith("caqes.db")
    }


@dataclass
class Desk:
    """A folder with the issued contract, its ``.emission.json`` and a registry knowing it."""

    folder: Path
    registry: Registry
    issued: Path

    @property
    def db(self) -> Path:
        return self.folder / "caqes.db"

    def returned(self, data: bytes, name: str = "retour", *, record: bool = True) -> Path:
        """A returned copy in the inbox, with the issued record beside it or not (mail)."""
        inbox = self.folder / "courrier"
        inbox.mkdir(exist_ok=True)
        if record:
            return build_stand_in_contract(inbox, name, content=data)
        path = inbox / f"{name}.pdf"
        path.write_bytes(data)
        return path


@functools.cache
def _contract():  # type: ignore[no-untyped-def]
    """The example contract, renamed to the stand-in's reference and FINESS juridique."""
    base = load_contract(EXAMPLE, _campaign())
    establishment = base.establishment.model_copy(update={"finess_ej": FINESS})
    return base.model_copy(update={"reference": REFERENCE, "establishment": establishment})


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    folder = tmp_path / "bureau"
    (folder / "contrats").mkdir(parents=True)
    issued = build_stand_in_contract(folder / "contrats", REFERENCE)
    registry = Registry.open(folder / "caqes.db")
    record = load_issued_record(issued)
    registry.register_issued(_contract(), CONTRACT, issued, record, _campaign())
    try:
        yield Desk(folder, registry, issued)
    finally:
        registry.close()


# --- the live status of the attack and outside-signer tests -------------------------------------

STATUS_FILE_VARIABLE = "CAQES_ATTACKS_STATUS"
"""When set, the path where the failing cases of these tests are listed after a run."""
_OUR_MODULES = ("test_attacks.py", "test_outside_signers.py")
_failures: dict[str, str] = {}
_outcomes: dict[str, int] = {}


GAPS_STRICT = True
"""Whether a known gap that passes fails the run (so that its line gets removed)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark as xfail each test listed in its module's ``KNOWN_GAPS``:
    ``{test function: {reason: [parameter ids]}}`` (``[""]`` for a test without parameters)."""
    for item in items:
        gaps = getattr(getattr(item, "module", None), "KNOWN_GAPS", None) or {}
        callspec = getattr(item, "callspec", None)
        parameters = callspec.id if callspec is not None else ""
        for reason, ids in gaps.get(getattr(item, "originalname", item.name), {}).items():
            if parameters in ids:
                item.add_marker(pytest.mark.xfail(strict=GAPS_STRICT, reason=reason))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect each failure, known gap (xfail) and gap that now passes (xpass)."""
    if not report.nodeid.split("::")[0].endswith(_OUR_MODULES):
        return
    known = hasattr(report, "wasxfail")
    if report.when == "call" or report.failed:
        outcome = ("xfail" if report.skipped else "xpass") if known else report.outcome
        _outcomes[outcome] = _outcomes.get(outcome, 0) + 1
    if report.failed or (known and report.when == "call"):
        crash = getattr(report.longrepr, "reprcrash", None)
        message = str(report.longrepr or "")
        if crash is not None:
            message = f"{crash.message} ({Path(crash.path).name}:{crash.lineno})"
        if known and report.passed:
            message = "PASSES NOW: remove it from KNOWN_GAPS"
        prefix = "[known gap] " if known and report.skipped else ""
        _failures[report.nodeid] = prefix + " ".join(message.split())[:600]


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get(STATUS_FILE_VARIABLE)
    if not target or not _outcomes:
        return
    lines = [
        "# Attacks and outside signers: failing cases and known gaps",
        "",
        f"Run at {dt.datetime.now().astimezone():%Y-%m-%d %H:%M} — "
        + ", ".join(f"{count} {outcome}" for outcome, count in sorted(_outcomes.items())),
        "",
        "Each line: test id — what the code did (the assertion or the exception); "
        "[known gap]: marked xfail in KNOWN_GAPS of its module.",
        "",
    ]
    lines += [
        f"- `{nodeid.split('::', 1)[1]}` — {why}" for nodeid, why in sorted(_failures.items())
    ]
    Path(target).write_text("\n".join(lines) + "\n", encoding="utf-8")
    # The same, as JSON (test name → message), beside it: to update KNOWN_GAPS from.
    failures = dict(_failures)
    Path(target).with_suffix(".json").write_text(
        json.dumps(failures, ensure_ascii=False, indent=1), encoding="utf-8"
    )
