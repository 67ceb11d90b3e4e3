"""Fixtures for the signing and verification tests: a signable contract, keys, services.

- :func:`build_stand_in_contract` — STAND-IN for the real generator (DOCX → PDF/A-2b with
  LibreOffice, three empty signature fields in one incremental revision, sidecar
  ``X.emission.json``). Swap it for the real one when it exists; nothing else depends on
  how the PDF was made.
- ``demo_pki`` / ``demo_signers`` — :func:`caqes_docs.signatures.pki.create_demo_pki` (RSA, no
  revocation services).
- ``loopback_pki`` — a certomancer PKI (tests/pki/certomancer.yml) whose timestamp
  authority, OCSP responder and CRL are served by certomancer's aiohttp animator in a
  background thread on 127.0.0.1 (a free port).
- ``softhsm_token`` — a SoftHSM2 token holding the establishment's key and certificate.

No private key is stored in the repository: every key is generated at test time.
Expensive results are cached per process, so that importing these fixtures into several
test modules does not redo them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from docx import Document
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter, append_signature_field
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, Signer

from caqes_docs.issued import sidecar_path
from caqes_docs.signatures.pki import DemoPki, create_demo_pki
from caqes_docs.signatures.signing import load_p12, sign_documents

FINESS = "330781196"
REFERENCE = "CAQES-NA-2026-330781196"
PASSWORD = b"caqes-test"
PKI_CONFIG = Path(__file__).parent / "pki" / "certomancer.yml"
SOFTHSM_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")


# --- the signable contract (STAND-IN for the real generator) ---------------------------------


@functools.cache
def _stand_in_pdf() -> bytes:
    """A PDF/A-2b contract with empty fields s1_ETAB, s2_CPAM, s3_ARS (one revision)."""
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "contrat.docx"
        document = Document()
        document.add_heading("Contrat d'amélioration de la qualité et de l'efficience des soins", 0)
        for article in range(1, 25):
            document.add_heading(f"Article {article}", 1)
            document.add_paragraph(
                "Le présent contrat fixe les engagements de l'établissement, de la CPAM et de "
                "l'ARS Nouvelle-Aquitaine en matière de pertinence des prescriptions. " * 4
            )
        table = document.add_table(rows=2, cols=3)
        for column, (sig, date) in enumerate(
            [("/s1_ETAB/", "/d1_ETAB/"), ("/s2_CPAM/", "/d2_CPAM/"), ("/s3_ARS/", "/d3_ARS/")]
        ):
            table.cell(0, column).text = sig
            table.cell(1, column).text = date
        document.core_properties.keywords = f"CAQES; reference={REFERENCE}; finess_ej={FINESS}"
        document.save(source)
        subprocess.run(
            [
                "soffice",
                f"-env:UserInstallation=file://{work}/profile",
                "--headless",
                "--convert-to",
                'pdf:writer_pdf_Export:{"SelectPdfVersion":{"type":"long","value":"2"}}',
                "--outdir",
                work,
                str(source),
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
        converted = (Path(work) / "contrat.pdf").read_bytes()
    pages = len(PdfFileReader(BytesIO(converted)).root["/Pages"]["/Kids"])
    writer = IncrementalPdfFileWriter(BytesIO(converted))
    # As in the real generator's PDFs: pyHanko only updates an Info /ModDate that exists, and
    # LibreOffice writes none for a document without a modification date.
    info_ref = writer.trailer.raw_get("/Info")
    info_ref.get_object()["/ModDate"] = generic.pdf_date(dt.datetime.now(dt.UTC))
    writer.mark_update(info_ref)
    for column, name in enumerate(("s1_ETAB", "s2_CPAM", "s3_ARS")):
        left = 40 + 180 * column
        spec = SigFieldSpec(name, on_page=pages - 1, box=(left, 80, left + 160, 140))
        append_signature_field(writer, spec)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def build_stand_in_contract(
    directory: Path, name: str = "contrat", content: bytes | None = None
) -> Path:
    """Write ``<name>.pdf`` and its sidecar ``<name>.emission.json`` into ``directory``.

    ``content`` replaces the PDF (e.g. a copy already signed); the sidecar always records
    the issued stand-in.
    """
    issued = _stand_in_pdf()
    pdf = directory / f"{name}.pdf"
    pdf.write_bytes(content if content is not None else issued)
    sidecar = {
        "fichier": pdf.name,
        "sha256": hashlib.sha256(issued).hexdigest(),
        "taille": len(issued),
        "reference": REFERENCE,
        "finess_ej": FINESS,
        "emis_le": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    sidecar_path(pdf).write_text(json.dumps(sidecar, ensure_ascii=False), encoding="utf-8")
    return pdf


@pytest.fixture
def contract(tmp_path: Path) -> Path:
    """A freshly issued contract (PDF + sidecar) in the test's own directory."""
    return build_stand_in_contract(tmp_path)


@functools.cache
def signed_stand_in(roles: tuple[str, ...]) -> bytes:
    """The stand-in signed by ``roles`` in turn (demo PKI, PAdES B-B), computed once."""
    with tempfile.TemporaryDirectory() as work:
        pdf = build_stand_in_contract(Path(work))
        for role in roles:
            (result,) = sign_documents(
                [pdf], role, demo_signer_set()[role], output=pdf,
                trust_roots=[_demo_pki().root_certificate],
            )  # fmt: skip
            assert result.ok, result.error
        return pdf.read_bytes()


# --- forged changes (each appended as an incremental revision) ----------------------------------


Change = Callable[[IncrementalPdfFileWriter], None]


def append_change(data: bytes, change: Change) -> bytes:
    writer = IncrementalPdfFileWriter(BytesIO(data))
    change(writer)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def annotate(writer: IncrementalPdfFileWriter) -> None:
    """A sticky note on page 1."""
    note = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Text"),
            generic.pdf_name("/Rect"): generic.ArrayObject(
                [generic.NumberObject(x) for x in (50, 50, 80, 80)]
            ),
            generic.pdf_name("/Contents"): generic.pdf_string("Montant : 1 000 000 €"),
            generic.pdf_name("/F"): generic.NumberObject(4),  # print
        }
    )
    page_ref, _ = writer.find_page_for_modification(0)
    writer.register_annotation(page_ref, writer.add_object(note))


def overlay(writer: IncrementalPdfFileWriter) -> None:
    """A content stream drawn over page 1 (a white box hiding text)."""
    stream = generic.StreamObject(stream_data=b"q 1 g 40 700 300 40 re f Q")
    writer.add_stream_to_page(0, writer.add_object(stream))


def new_page(writer: IncrementalPdfFileWriter) -> None:
    """An extra blank page at the end."""
    page = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Page"),
            generic.pdf_name("/MediaBox"): generic.ArrayObject(
                [generic.NumberObject(x) for x in (0, 0, 595, 842)]
            ),
            generic.pdf_name("/Resources"): generic.DictionaryObject(),
        }
    )
    writer.insert_page(page)


def add_annotation(data: bytes) -> bytes:
    return append_change(data, annotate)


def add_overlay(data: bytes) -> bytes:
    return append_change(data, overlay)


def add_page(data: bytes) -> bytes:
    return append_change(data, new_page)


CHANGES: dict[str, Change] = {"annotation": annotate, "surimpression": overlay, "page": new_page}


def certify_with_change(data: bytes, change: Change, signer: Signer) -> bytes:
    """``data`` certified by the establishment with pyHanko, ``change`` in the same revision.

    What another signing tool could do: alter the document and sign it in one update.
    """
    writer = IncrementalPdfFileWriter(BytesIO(data))
    change(writer)
    metadata = PdfSignatureMetadata(
        field_name="s1_ETAB",
        subfilter=SigSeedSubFilter.PADES,
        certify=True,
        docmdp_permissions=MDPPerm.FILL_FORMS,
    )
    out = BytesIO()
    PdfSigner(metadata, signer).sign_pdf(writer, existing_fields_only=True, output=out)
    return out.getvalue()


def add_signature_field(data: bytes, name: str) -> bytes:
    """A fourth, empty signature field."""
    return append_change(
        data,
        lambda writer: append_signature_field(writer, SigFieldSpec(name, box=(10, 10, 90, 40))),
    )


# --- demo PKI (caqes_docs.signatures.pki) ---------------------------------------------------


@functools.cache
def _demo_pki() -> DemoPki:
    directory = Path(tempfile.mkdtemp(prefix="caqes-demo-pki-"))
    return create_demo_pki(directory, [(FINESS, "CHU de Bordeaux")], PASSWORD)


@functools.cache
def demo_signer_set() -> dict[str, Signer]:
    pki = _demo_pki()
    assert pki.cpam is not None and pki.ars is not None
    return {
        "ETAB": load_p12(pki.establishments[FINESS], PASSWORD),
        "CPAM": load_p12(pki.cpam, PASSWORD),
        "ARS": load_p12(pki.ars, PASSWORD),
    }


@pytest.fixture(scope="session")
def demo_pki() -> DemoPki:
    return _demo_pki()


@pytest.fixture(scope="session")
def demo_signers() -> dict[str, Signer]:
    return demo_signer_set()


# --- loopback PKI with timestamp authority, OCSP and CRL ------------------------------------


@dataclass(frozen=True)
class LoopbackPki:
    url: str
    tsa_url: str
    root_certificate: Path
    signers: dict[str, Signer]


_LOOPBACK_KEYS = ("root", "etab", "cpam", "ars", "tsa", "ocsp")


@pytest.fixture(scope="session")
def loopback_pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackPki]:
    from aiohttp import web
    from certomancer import CertomancerConfig
    from certomancer.integrations.aiohttp_animator import build_animator_app
    from certomancer.registry import ArchLabel, CertLabel

    directory = tmp_path_factory.mktemp("loopback-pki")
    (directory / "keys").mkdir()
    for label in _LOOPBACK_KEYS:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        (directory / "keys" / f"{label}.key.pem").write_bytes(pem)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    config = CertomancerConfig.from_file(
        str(PKI_CONFIG), key_search_dir=str(directory), external_url_prefix=url
    )
    arch = config.get_pki_arch(ArchLabel("caqes"))
    app = build_animator_app({arch.arch_label: arch}, with_web_ui=False)

    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.SockSite(runner, listener).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="certomancer-animator", daemon=True)
    thread.start()
    assert ready.wait(10), "the loopback PKI did not start"

    root = directory / "root.pem"
    root.write_bytes(arch.get_cert(CertLabel("root")).dump())
    signers = {}
    for role in ("ETAB", "CPAM", "ARS"):
        p12 = directory / f"{role.lower()}.p12"
        p12.write_bytes(arch.package_pkcs12(CertLabel(role.lower()), password=PASSWORD))
        signers[role] = load_p12(p12, PASSWORD)
    try:
        yield LoopbackPki(url, f"{url}/caqes/tsa/tsa", root, signers)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


# --- SoftHSM2 token ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SoftToken:
    module: Path
    label: str
    key_label: str
    pin: str


@functools.cache
def _softhsm_token() -> SoftToken:
    """A token with the establishment's key and certificate, imported with python-pkcs11.

    SoftHSM reads SOFTHSM2_CONF once, when the module is first loaded: the variable is set
    for the whole test process, before any PKCS#11 use.
    """
    import pkcs11
    from cryptography.hazmat.primitives.serialization import pkcs12
    from pkcs11.util.x509 import decode_x509_certificate

    directory = Path(tempfile.mkdtemp(prefix="caqes-softhsm-"))
    (directory / "tokens").mkdir()
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    token = SoftToken(SOFTHSM_MODULE, "caqes-test", "etab", "123456")
    subprocess.run(
        [
            shutil.which("softhsm2-util") or "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            token.label,
            "--pin",
            token.pin,
            "--so-pin",
            "654321",
        ],
        check=True,
        capture_output=True,
    )

    key, cert, chain = pkcs12.load_key_and_certificates(
        _demo_pki().establishments[FINESS].read_bytes(), PASSWORD
    )
    assert key is not None and cert is not None
    numbers = key.private_numbers()
    library = pkcs11.lib(str(SOFTHSM_MODULE))
    with library.get_token(token_label=token.label).open(rw=True, user_pin=token.pin) as session:
        key_id = b"\x01"
        session.create_object(
            {
                pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY,
                pkcs11.Attribute.KEY_TYPE: pkcs11.KeyType.RSA,
                pkcs11.Attribute.TOKEN: True,
                pkcs11.Attribute.PRIVATE: True,
                pkcs11.Attribute.SENSITIVE: True,
                pkcs11.Attribute.SIGN: True,
                pkcs11.Attribute.LABEL: token.key_label,
                pkcs11.Attribute.ID: key_id,
                pkcs11.Attribute.MODULUS: _int_bytes(numbers.public_numbers.n),
                pkcs11.Attribute.PUBLIC_EXPONENT: _int_bytes(numbers.public_numbers.e),
                pkcs11.Attribute.PRIVATE_EXPONENT: _int_bytes(numbers.d),
                pkcs11.Attribute.PRIME_1: _int_bytes(numbers.p),
                pkcs11.Attribute.PRIME_2: _int_bytes(numbers.q),
                pkcs11.Attribute.EXPONENT_1: _int_bytes(numbers.dmp1),
                pkcs11.Attribute.EXPONENT_2: _int_bytes(numbers.dmq1),
                pkcs11.Attribute.COEFFICIENT: _int_bytes(numbers.iqmp),
            }
        )
        for label, certificate in [(token.key_label, cert), ("ac-racine", chain[0])]:
            attributes = decode_x509_certificate(
                certificate.public_bytes(serialization.Encoding.DER)
            )
            attributes.update(
                {
                    pkcs11.Attribute.TOKEN: True,
                    pkcs11.Attribute.LABEL: label,
                    pkcs11.Attribute.ID: key_id if label == token.key_label else b"\x02",
                }
            )
            session.create_object(attributes)
    return token


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


@pytest.fixture(scope="session")
def softhsm_token() -> SoftToken:
    if not SOFTHSM_MODULE.exists() or shutil.which("softhsm2-util") is None:
        pytest.fail("SoftHSM2 manquant : apt-get install softhsm2")
    return _softhsm_token()
