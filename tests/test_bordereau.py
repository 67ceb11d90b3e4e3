"""The bordereau de signature: real contracts (LibreOffice), real signatures, a real registry.

Two example contracts are issued and signed by their three parties with the demo PKI. The
first is received once, signed by all (``caqes receive``); the second, under the longest
realistic establishment name, is received party by party as through the portal, with the
portal's journal (uploads accepted and refused, the ARS countersignature). Each complete
contract gets its sealed bordereau, whose facts are checked against ``caqes verify --json``
and whose seal and match are checked by :func:`check_bordereau` (and ``caqes verify
--bordereau``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest_pki import SoftToken
from pypdf import PdfReader

from caqes_docs.cli import main
from caqes_docs.errors import CaqesError, VerificationError
from caqes_docs.inputs.campaign import load_campaign
from caqes_docs.issued import sidecar_path
from caqes_docs.parties import ROLES, party
from caqes_docs.registry.lifecycle import receive, signed_copy_path
from caqes_docs.registry.store import DocumentRecord, Registry, Signature
from caqes_docs.signatures.pki import create_demo_pki
from caqes_docs.signatures.signing import load_p12, sign_documents
from caqes_docs.signatures.verify import SIGNED, verify_document
from caqes_docs.workflows.bordereau import (
    BORDEREAU_EVENT,
    MAX_EVENTS,
    EventFact,
    bordereau_facts,
    check_bordereau,
    issue_bordereau,
    missing_bordereaux,
    receipt_rows,
)
from caqes_docs.workflows.generate import generate

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ("chu-fictif-bordeaux", "clinique-fictive-bayonne")
PASSWORD = b"caqes-bordereau"
# The longest establishment name of the national FINESS file is about this long.
LONG_NAME = (
    "Groupement de coopération sanitaire Centre hospitalier intercommunal de la Côte basque "
    "et Clinique « Les Pins » & Associés"
)
REFUSED_UPLOADS = 20


@dataclass(frozen=True)
class Signed:
    folder: Path
    registry: Path
    root: Path
    ars_p12: Path
    references: list[str]


def _signer(pki, contract, role: str):  # type: ignore[no-untyped-def]
    if role == "ETAB":
        return load_p12(pki.establishments[contract.establishment.finess_ej], PASSWORD)
    if role == "CPAM":
        establishment = contract.establishment
        key, _ = load_campaign().cpam_for(establishment.finess_ej, establishment.cpam)
        return load_p12(pki.cpams[key], PASSWORD)
    return load_p12(pki.ars, PASSWORD)


def _record_signed(registry: Registry, document: DocumentRecord, copy: Path, root: Path) -> None:
    """What ``caqes receive`` records for a copy signed by all: verified first."""
    report = verify_document(copy, trust_roots=[root])
    assert report.ok and report.complete, report.all_problems()
    target = signed_copy_path(document.issued_path)
    shutil.copyfile(copy, target)
    signatures = [
        Signature(sig.role, sig.signer or "", sig.subject, sig.signing_time.isoformat())
        for sig in report.signatures
        if sig.status == SIGNED and sig.signing_time
    ]
    with registry.transaction():
        registry.add_signatures(document, signatures, target, copy.name)
        registry.complete(document)


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _journal(registry: Registry, document: DocumentRecord, kind: str, detail: str) -> None:
    with registry.transaction():
        registry.add_event(document.contract_id, document.id, kind, detail)


def _receive_through_portal(
    registry: Registry, document: DocumentRecord, copies: dict[str, Path], root: Path
) -> None:
    """Each party's copy received in turn, journaled as ``web/exchange.py`` and
    ``web/tasks.py`` do: refused uploads first, then the accepted upload or countersignature."""
    original = f"{document.issued_path.stem}-a-signer-version-definitive.signe-{{}}.pdf"
    for number in range(REFUSED_UPLOADS):
        name = original.format(f"essai-{number:02d}")
        _journal(
            registry, document, "dépôt refusé",
            f"dépôt refusé (Établissement, fichier « {name} », SHA-256 {number:064x}) : ce "
            f"fichier ne prolonge pas le contrat {document.reference} émis pour ce lien : "
            "c'est un autre document, ou une copie modifiée en dehors de la signature",
        )  # fmt: skip
    for role, copy in copies.items():
        [outcome] = receive([copy], registry, [root])
        assert outcome.ok, outcome.message
        if role == "ARS":
            detail = (
                "contresignature ARS depuis le portail par Marie-Hélène de LA ROCHEFOUCAULD-"
                f"DUPONT : {outcome.message}"
            )
            _journal(registry, document, "contresignature", detail)
            continue
        name = original.format(role.lower())
        _journal(
            registry, document, "dépôt",
            f"dépôt accepté ({party(role).name}, fichier « {name} », SHA-256 {_sha256(copy)}) "
            f": {outcome.message}",
        )  # fmt: skip


def _example(folder: Path, name: str) -> Path:
    """The example contract file; the second under :data:`LONG_NAME`."""
    source = ROOT / "examples" / f"{name}.yaml"
    if name == EXAMPLES[0]:
        return source
    target = folder / source.name
    text = source.read_text(encoding="utf-8")
    target.write_text(
        text.replace(
            "raison_sociale: Clinique « Les Pins » & Associés", f"raison_sociale: {LONG_NAME}"
        ),
        encoding="utf-8",
    )
    return target


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Signed:
    folder = tmp_path_factory.mktemp("bordereau")
    db = folder / "caqes.db"
    report = generate(
        [_example(folder, name) for name in EXAMPLES], folder / "contrats", registry=db
    )
    assert not report.failed, report.failed
    pki = create_demo_pki(
        folder / "pki",
        [(item.contract.establishment.finess_ej, item.contract.establishment.legal_name)
         for item in report.generated],
        PASSWORD,
    )  # fmt: skip
    with Registry.open(db) as registry:
        documents = {doc.reference: doc for doc in registry.documents()}
        for number, item in enumerate(report.generated):
            assert item.pdf is not None
            source = item.pdf
            copies = {}
            for role in ROLES:
                target = folder / f"{item.pdf.stem}-{role}.pdf"
                [result] = sign_documents(
                    [source],
                    role,
                    _signer(pki, item.contract, role),
                    output=target,
                    trust_roots=[pki.root_certificate],
                )
                assert result.ok, result.error
                source = copies[role] = target
            document = documents[item.contract.reference]
            if number == 0:
                _record_signed(registry, document, source, pki.root_certificate)
            else:
                _receive_through_portal(registry, document, copies, pki.root_certificate)
    assert pki.ars is not None
    return Signed(
        folder, db, pki.root_certificate, pki.ars, [i.contract.reference for i in report.generated]
    )


def _put_on_token(token: SoftToken, p12: Path, label: str) -> None:
    """Import the key and certificate of ``p12`` onto the SoftHSM token under ``label``."""
    import pkcs11
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
    from pkcs11.util.x509 import decode_x509_certificate

    key, certificate, _ = pkcs12.load_key_and_certificates(p12.read_bytes(), PASSWORD)
    assert key is not None and certificate is not None
    numbers = key.private_numbers()  # type: ignore[union-attr]

    def raw(value: int) -> bytes:
        return value.to_bytes((value.bit_length() + 7) // 8, "big")

    library = pkcs11.lib(str(token.module))
    with library.get_token(token_label=token.label).open(rw=True, user_pin=token.pin) as session:
        if list(session.get_objects({pkcs11.Attribute.LABEL: label})):
            return
        A = pkcs11.Attribute
        session.create_object({
            A.CLASS: pkcs11.ObjectClass.PRIVATE_KEY, A.KEY_TYPE: pkcs11.KeyType.RSA,
            A.TOKEN: True, A.PRIVATE: True, A.SENSITIVE: True, A.SIGN: True, A.LABEL: label,
            A.ID: b"\x09", A.MODULUS: raw(numbers.public_numbers.n),
            A.PUBLIC_EXPONENT: raw(numbers.public_numbers.e), A.PRIVATE_EXPONENT: raw(numbers.d),
            A.PRIME_1: raw(numbers.p), A.PRIME_2: raw(numbers.q), A.EXPONENT_1: raw(numbers.dmp1),
            A.EXPONENT_2: raw(numbers.dmq1), A.COEFFICIENT: raw(numbers.iqmp),
        })  # fmt: skip
        attributes = decode_x509_certificate(certificate.public_bytes(Encoding.DER))
        attributes.update({A.TOKEN: True, A.LABEL: label, A.ID: b"\x09"})
        session.create_object(attributes)


def _bordereaux_command(signed: Signed, *arguments: str) -> str:
    result = CliRunner().invoke(
        main,
        ["bordereaux", *arguments, "--trust", str(signed.root), "--registry", str(signed.registry)],
        prog_name="caqes",
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def sealed(signed: Signed, softhsm_token: SoftToken) -> dict[str, Path]:
    """Every complete document's bordereau, sealed once for the module by ``caqes
    bordereaux``: the first with the ARS's PKCS#12 file, the other with the same key on a
    PKCS#11 token (SoftHSM)."""
    first, second = signed.references
    password = signed.folder / "mot-de-passe.txt"
    password.write_bytes(PASSWORD + b"\n")
    output = _bordereaux_command(
        signed, first, "--p12", str(signed.ars_p12), "--password-file", str(password)
    )
    assert "1 bordereau(x) scellé(s), 0 refusé(s)." in output
    with Registry.open(signed.registry) as registry:
        assert [doc.reference for doc in missing_bordereaux(registry)] == [second]
    _put_on_token(softhsm_token, signed.ars_p12, "ars-caqes")
    pin = signed.folder / "pin.txt"
    pin.write_text(softhsm_token.pin + "\n", encoding="utf-8")
    output = _bordereaux_command(
        signed, "--pkcs11-module", str(softhsm_token.module), "--pkcs11-token",
        softhsm_token.label, "--pkcs11-key", "ars-caqes", "--pin-file", str(pin),
    )  # fmt: skip
    assert "1 bordereau(x) scellé(s), 0 refusé(s)." in output
    with Registry.open(signed.registry) as registry:
        assert missing_bordereaux(registry) == []
        return {doc.reference: doc.bordereau_path for doc in registry.documents()}


def _document(signed: Signed, reference: str) -> DocumentRecord:
    with Registry.open(signed.registry) as registry:
        return next(doc for doc in registry.documents() if doc.reference == reference)


def test_the_bordereau_is_one_sealed_pdf_a_page_beside_the_signed_copy(
    signed: Signed, sealed: dict[str, Path]
) -> None:
    reference = signed.references[0]
    path = sealed[reference]
    document = _document(signed, reference)
    assert path == document.bordereau_path
    assert path.parent == document.signed_path.parent  # type: ignore[union-attr]
    reader = PdfReader(path)
    assert len(reader.pages) == 1
    assert b"pdfaid:part" in path.read_bytes()  # PDF/A, as the contracts
    report = verify_document(path, trust_roots=[signed.root])
    assert report.ok, report.all_problems()
    assert [(sig.role, sig.status) for sig in report.signatures] == [("ARS", SIGNED)]
    text = reader.pages[0].extract_text()
    for fact in (reference, document.issued_sha256, "Établissement", "CPAM", "ARS"):
        assert fact in text


def test_its_facts_are_those_of_verify_json(signed: Signed, sealed: dict[str, Path]) -> None:
    reference = signed.references[0]
    document = _document(signed, reference)
    result = CliRunner().invoke(
        main,
        [
            "verify",
            "--json",
            "--trust",
            str(signed.root),
            "--issued",
            document.issued_sha256,
            str(document.signed_path),
        ],
        prog_name="caqes",
    )
    assert result.exit_code == 0, result.output
    [verified] = json.loads(result.output)
    with Registry.open(signed.registry) as registry:
        facts = bordereau_facts(registry, document, [signed.root])
    assert facts.ok is verified["valide"] is True
    assert facts.reference == verified["reference"]
    stated = [
        (s.role, s.signer, s.subject, s.signing_time.isoformat() if s.signing_time else None,
         s.timestamp_time, s.verification)
        for s in facts.signatures
    ]  # fmt: skip
    expected = [
        (s["role"], s["signataire"], s["certificat"], s["date_signature"], s["date_horodatage"],
         "; ".join(s["problemes"]) or "valide")
        for s in verified["signatures"]
    ]  # fmt: skip
    assert stated == expected
    # What the report leaves out: the issuer (the demo root) and the revision each covers.
    assert {s.issuer for s in facts.signatures} == {"AC racine de démonstration CAQES"}
    etab = facts.signatures[0]
    assert etab.certificate == (
        f"{etab.signer}, Centre hospitalier universitaire fictif de Bordeaux, "
        f"FINESS-{facts.finess_ej}"
    )
    assert [s.revision for s in facts.signatures] == sorted(s.revision for s in facts.signatures)
    assert facts.signatures[-1].covered_bytes <= document.signed_path.stat().st_size  # type: ignore[union-attr]
    # The bordereau's text states the same facts.
    text = PdfReader(sealed[reference]).pages[0].extract_text()
    for sig in facts.signatures:
        assert sig.signer in text


def test_the_bordereau_matches_its_contract_and_is_recorded(
    signed: Signed, sealed: dict[str, Path]
) -> None:
    for reference in signed.references:  # sealed with the PKCS#12 file, then the token
        check = check_bordereau(sealed[reference], trust_roots=[signed.root])
        assert check.ok and check.sealed and check.matches, check.problems
        assert check.reference == reference
    reference = signed.references[0]
    document = _document(signed, reference)
    with Registry.open(signed.registry) as registry:
        export = registry.export_data()
        kinds = [event.kind for event in registry.events(document_id=document.id)]
    [contract] = [c for c in export["contrats"] if c["reference"] == reference]
    assert contract["documents"][0]["bordereau"] == str(sealed[reference])
    assert kinds.count(BORDEREAU_EVENT) == 1


def test_a_bordereau_moved_next_to_another_contract_does_not_match(
    signed: Signed, sealed: dict[str, Path], tmp_path: Path
) -> None:
    first, second = signed.references
    other = _document(signed, second)
    moved = tmp_path / other.bordereau_path.name
    shutil.copyfile(sealed[first], moved)
    shutil.copyfile(sidecar_path(sealed[first]), sidecar_path(moved))
    shutil.copyfile(other.signed_path, tmp_path / other.signed_path.name)  # type: ignore[arg-type]
    check = check_bordereau(moved, trust_roots=[signed.root])
    assert check.sealed and not check.matches and not check.ok
    # Without its issued record beside it, the seal is still judged (on what it covers).
    sidecar_path(moved).unlink()
    assert check_bordereau(moved, trust_roots=[signed.root]).sealed
    assert f"ne correspond pas à {other.signed_path.name}" in check.problems[0]  # type: ignore[union-attr]
    # The same through the command line: one line per bordereau, status 1.
    result = CliRunner().invoke(
        main, ["verify", "--bordereau", "--trust", str(signed.root), str(moved)], prog_name="caqes"
    )
    assert result.exit_code == 1
    assert "NE CORRESPOND PAS" in result.output
    ok = CliRunner().invoke(
        main,
        ["verify", "--bordereau", "--trust", str(signed.root), str(sealed[first])],
        prog_name="caqes",
    )
    assert ok.exit_code == 0, ok.output


def test_a_tampered_bordereau_loses_its_seal(
    signed: Signed, sealed: dict[str, Path], tmp_path: Path
) -> None:
    reference = signed.references[0]
    document = _document(signed, reference)
    copy = tmp_path / sealed[reference].name
    data = bytearray(sealed[reference].read_bytes())
    data[len(data) // 3] ^= 0x01  # inside the page, covered by the seal
    copy.write_bytes(bytes(data))
    shutil.copyfile(document.signed_path, tmp_path / document.signed_path.name)  # type: ignore[arg-type]
    try:
        check = check_bordereau(copy, trust_roots=[signed.root])
    except VerificationError:
        return  # unreadable once altered: refused all the same
    assert not check.sealed and not check.ok


def test_a_bordereau_is_never_replaced(signed: Signed, sealed: dict[str, Path]) -> None:
    signer = load_p12(signed.ars_p12, PASSWORD)
    document = _document(signed, signed.references[0])
    before = sealed[document.reference].read_bytes()
    with (
        Registry.open(signed.registry) as registry,
        pytest.raises(VerificationError, match="jamais remplacé"),
    ):
        issue_bordereau(registry, document, signer, [signed.root])
    assert sealed[document.reference].read_bytes() == before


@pytest.mark.skipif(not shutil.which("pdftoppm"), reason="poppler-utils absent")
def test_the_bordereau_renders_on_one_page(sealed: dict[str, Path], tmp_path: Path) -> None:
    path = next(iter(sealed.values()))
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(path), str(tmp_path / "page")], check=True)
    assert [p.name for p in tmp_path.glob("page*.png")] == ["page-1.png"]


def test_the_model_passes_check_template() -> None:
    from caqes_docs.documents.lint import check_template

    assert check_template(ROOT / "templates" / "bordereau.docx") == []


def _portal_document(signed: Signed) -> DocumentRecord:
    return _document(signed, signed.references[1])


def test_a_portal_contract_with_many_long_receptions_holds_on_one_page(
    signed: Signed, sealed: dict[str, Path]
) -> None:
    document = _portal_document(signed)
    reader = PdfReader(sealed[document.reference])
    assert len(reader.pages) == 1
    [seal] = [
        annotation.get_object()
        for annotation in reader.pages[0].get("/Annots", [])
        if annotation.get_object().get("/T") == party("ARS").field
    ]
    assert seal["/Rect"][1] > 0  # on the page, not pushed off it
    text = " ".join(reader.pages[0].extract_text().split())
    with Registry.open(signed.registry) as registry:
        facts = bordereau_facts(registry, document, [signed.root])
    # 20 refused uploads + 2 accepted + 3 « signature » + « signé » + the countersignature.
    assert len(facts.events) == REFUSED_UPLOADS + 7
    shown = REFUSED_UPLOADS + 7 - (MAX_EVENTS - 1)
    assert f"… et {shown} autre(s) réception(s), dont {shown} dépôt(s) refusé(s)" in text
    for fact in ("dépôt accepté (Établissement", "dépôt accepté (CPAM", "contresignature ARS"):
        assert fact in text
    assert "Common Name" not in text and "Organization" not in text
    assert "émis par AC racine de démonstration CAQES" in text
    assert f"FINESS-{document.reference[-9:]}" in text
    assert document.issued_sha256 in text  # the documents' digests only, not the uploads'
    assert f"{0:064x}" not in text and _sha256(signed_copy_path(document.issued_path)) in text
    check = check_bordereau(sealed[document.reference], trust_roots=[signed.root])
    assert check.ok, check.problems


def test_receipt_rows_keep_the_signatures_and_count_the_rest() -> None:
    refused = [EventFact(f"2023-01-{day:02d}T10:00:00+01:00", "dépôt refusé", "dépôt refusé")
               for day in range(1, 25)]  # fmt: skip
    accepted = [EventFact("2023-01-26T10:00:00+01:00", "signature", f"signé par {role}")
                for role in ROLES]  # fmt: skip
    rows = receipt_rows(refused + accepted)
    assert len(rows) == MAX_EVENTS
    assert [row["detail"] for row in rows[-4:-1]] == [f"signé par {role}" for role in ROLES]
    room = MAX_EVENTS - 1 - len(ROLES)  # the latest refusals fill the room left
    assert rows[0]["date"] == f"{24 - room + 1:02d}/01/2023 10:00:00"
    left = 24 - room
    assert rows[-1]["detail"] == (
        f"… et {left} autre(s) réception(s), dont {left} dépôt(s) refusé(s) : voir caqes export"
    )
    assert receipt_rows(accepted) == [
        {"date": "26/01/2023 10:00:00", "detail": f"signé par {role}"} for role in ROLES
    ]
    long = EventFact(
        "2023-01-26T10:00:00+01:00",
        "dépôt",
        f"dépôt accepté (Établissement, fichier « {'x' * 80}.pdf », SHA-256 {'a' * 64}) : "
        "signature(s) enregistrée(s) : ETAB ; en attente : CPAM, ARS",
    )
    [row] = receipt_rows([long])
    assert row["detail"].startswith(
        f"dépôt accepté (Établissement, fichier « {'x' * 14}…{'x' * 11}.pdf ») : signature"
    )
    assert "SHA-256" not in row["detail"] and "en attente" not in row["detail"]
    [row] = receipt_rows([EventFact(long.time, "dépôt", "W" * 200)])
    assert row["detail"] == "W" * 48 + "…"  # cut to what one line of the table holds


def test_verify_bordereau_says_when_the_signed_copy_is_missing(
    signed: Signed, sealed: dict[str, Path], tmp_path: Path
) -> None:
    alone = tmp_path / sealed[signed.references[0]].name
    shutil.copyfile(sealed[signed.references[0]], alone)
    result = CliRunner().invoke(
        main, ["verify", "--bordereau", "--trust", str(signed.root), str(alone)], prog_name="caqes"
    )
    assert result.exit_code == 1
    expected = alone.name.replace(".bordereau.pdf", ".signe.pdf")
    assert f"copie signée : introuvable : {expected} attendu à côté du bordereau" in result.output
    assert "NE CORRESPOND PAS" not in result.output
    assert "scellé par l’ARS" in result.output  # the seal itself still holds


def _crowded_model(folder: Path, extra: float) -> Path:
    """The shipped model with ``extra`` points of space above the seal: a page that holds
    fewer receptions."""
    from docx import Document
    from docx.shared import Pt

    model = Document(str(ROOT / "templates" / "bordereau.docx"))
    [seal] = [p for p in model.paragraphs if p.text.startswith("Scellé pour")]
    seal.paragraph_format.space_before = Pt(10 + extra)
    folder.mkdir()
    model.save(str(folder / "bordereau.docx"))
    return folder


def test_a_crowded_page_is_made_again_with_fewer_receptions_never_two_pages(
    signed: Signed, sealed: dict[str, Path], tmp_path: Path
) -> None:
    document = _portal_document(signed)
    shipped = sealed[document.reference]
    aside = {path: tmp_path / path.name for path in (shipped, sidecar_path(shipped))}
    for path, copy in aside.items():
        path.replace(copy)
    signer = load_p12(signed.ars_p12, PASSWORD)
    try:
        # 10 rows of receptions overflow by about 35 pt; 3 rows leave about 35 pt free.
        crowded = _crowded_model(tmp_path / "plein", 93)
        with Registry.open(signed.registry) as registry:
            issued = issue_bordereau(registry, document, signer, [signed.root], templates=crowded)
        reader = PdfReader(issued.path)
        assert len(reader.pages) == 1
        text = " ".join(reader.pages[0].extract_text().split())
        assert "… et 25 autre(s) réception(s), dont 20 dépôt(s) refusé(s)" in text
        assert check_bordereau(issued.path, trust_roots=[signed.root]).ok
        issued.path.unlink()
        sidecar_path(issued.path).unlink()
        # Not even 3 rows: refused, nothing written.
        full = _crowded_model(tmp_path / "trop-plein", 300)
        with (
            Registry.open(signed.registry) as registry,
            pytest.raises(CaqesError, match="ne tiennent pas sur une page"),
        ):
            issue_bordereau(registry, document, signer, [signed.root], templates=full)
        assert not shipped.exists()
    finally:
        for path, copy in aside.items():
            path.unlink(missing_ok=True)
            copy.replace(path)
