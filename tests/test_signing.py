"""Signing: order, refusals, atomicity, PKCS#12 and PKCS#11 keys, PAdES levels, PDF/A."""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import subprocess
from datetime import datetime, timedelta
from io import BytesIO
from pathlib import Path
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest
from conftest_pki import (
    CHANGES,
    FINESS,
    PASSWORD,
    _demo_pki,
    add_annotation,
    add_signature_field,
    append_change,
    build_stand_in_contract,
    certify_with_change,
    signed_stand_in,
)
from fontTools.ttLib import TTFont
from pyhanko.pdf_utils.generic import parse_pdf_date
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, append_signature_field
from pyhanko.sign.validation import read_certification_data
from pypdf import PdfReader, PdfWriter

from caqes_docs.errors import InputError, SigningError
from caqes_docs.inputs.campaign import load_campaign
from caqes_docs.issued import IssuedRecord, sidecar_path, write_issued_record
from caqes_docs.signatures import signing
from caqes_docs.signatures.pki import create_demo_pki
from caqes_docs.signatures.signing import (
    load_p12,
    open_pkcs11,
    sign_documents,
    validation_context_for,
)
from caqes_docs.signatures.verify import verify_document

pytest_plugins = ["conftest_pki"]

ROLES = ("ETAB", "CPAM", "ARS")
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def sign_one(path: Path, role: str, signer, **options) -> object:
    """Sign ``path`` in place (an explicit output), trusting the demo PKI unless told."""
    options = {"output": path, "trust_roots": [_demo_pki().root_certificate], **options}
    (result,) = sign_documents([path], role, signer, **options)
    return result


def refused(path: Path, role: str, signer, expected: str, **options) -> str:
    """Sign, expect a refusal mentioning ``expected``, and check nothing was written."""
    before = path.read_bytes()
    result = sign_one(path, role, signer, **options)
    assert not result.ok
    assert expected in result.error
    assert str(path) in result.error
    assert path.read_bytes() == before
    return result.error


def xmp_properties(packet: bytes) -> dict[str, str]:
    """Simple XMP properties, written as attributes or as elements of rdf:Description."""
    properties: dict[str, str] = {}
    for description in ElementTree.fromstring(packet).iter(f"{{{RDF}}}Description"):
        properties.update(
            {k: v for k, v in description.attrib.items() if not k.startswith(f"{{{RDF}}}")}
        )
        properties.update({child.tag: child.text or "" for child in description if len(child) == 0})
    return properties


# --- the full order -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def three_signed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("three")
    return build_stand_in_contract(directory, content=signed_stand_in(ROLES))


def test_three_parties_sign_in_order(contract: Path, demo_signers, demo_pki) -> None:
    names = []
    for role in ROLES:
        result = sign_one(contract, role, demo_signers[role])
        assert result.ok, result.error
        assert result.output == contract
        names.append(result.signer)
    assert names[0] == "Directeur"
    assert names[1] == "Directeur de la CPAM de la Gironde"

    report = verify_document(contract, trust_roots=[demo_pki.root_certificate])
    assert report.ok, report.problems
    assert [s.status for s in report.signatures] == ["signé"] * 3
    assert [s.trust for s in report.signatures] == ["oui"] * 3
    assert report.issued == "conforme"


def test_first_signature_certifies_fill_forms(three_signed: Path) -> None:
    reader = PdfFileReader(BytesIO(three_signed.read_bytes()))
    certification = read_certification_data(reader)
    assert certification is not None
    assert certification.permission == MDPPerm.FILL_FORMS
    assert certification.author_sig.get_object()["/Type"] == "/Sig"
    report = verify_document(three_signed)
    assert [s.certification for s in report.signatures] == [True, False, False]


def signers_certificates(pdf: Path) -> list[list[bytes]]:
    """For each signature of ``pdf``, the certificates its CMS embeds (DER)."""
    reader = PdfFileReader(BytesIO(pdf.read_bytes()))
    return [
        [cert.chosen.dump() for cert in sig.signed_data["certificates"]]
        for sig in reader.embedded_regular_signatures
    ]


def test_each_certificate_is_embedded_once(three_signed: Path) -> None:
    # Some validators reject a CMS that carries the signer's certificate twice.
    reader = PdfFileReader(BytesIO(three_signed.read_bytes()))
    for sig, certificates in zip(
        reader.embedded_regular_signatures, signers_certificates(three_signed), strict=True
    ):
        assert len(certificates) == len(set(certificates)) == 2  # signer and root
        assert certificates.count(sig.signer_cert.dump()) == 1


def test_certification_follows_the_order(contract: Path, demo_signers) -> None:
    order = ("CPAM", "ETAB", "ARS")
    assert sign_one(contract, "CPAM", demo_signers["CPAM"], order=order).ok
    assert sign_one(contract, "ETAB", demo_signers["ETAB"], order=order).ok
    report = verify_document(contract, order=order)
    assert [s.certification for s in report.signatures] == [False, True, None]
    assert report.ok, report.problems


def test_appearance_shows_signer_party_and_date(three_signed: Path, tmp_path: Path) -> None:
    flat = tmp_path / "flat.pdf"
    # qpdf exits 3 on warnings; the flattened file is still written.
    run = subprocess.run(
        ["qpdf", "--flatten-annotations=all", str(three_signed), str(flat)], capture_output=True
    )
    assert run.returncode in (0, 3), run.stderr
    text = subprocess.run(
        ["pdftotext", str(flat), "-"], capture_output=True, check=True, text=True
    ).stdout
    # Local French time, whatever the machine's zone (UTC here).
    now = datetime.now(ZoneInfo("Europe/Paris"))
    for party, signer in [
        ("Établissement", "Directeur"),
        ("CPAM", "Directeur de la CPAM de la Gironde"),
        ("ARS", "Directeur général de l'ARS\nNouvelle-Aquitaine"),
    ]:
        assert f"{party}\n{signer}\nSigné le {now:%d/%m/%Y} à {now:%H}:" in text


def test_the_three_appearances_share_one_type_size(three_signed: Path) -> None:
    # Each box is laid out at 8 pt, never shrunk to fit: a long name is wrapped instead.
    reader = PdfFileReader(BytesIO(three_signed.read_bytes()))
    for field in reader.root["/AcroForm"]["/Fields"]:
        appearance = field.get_object()["/AP"]["/N"]
        content = appearance.data.decode("latin-1")
        assert set(re.findall(r"/F1 ([\d.]+) Tf", content)) == {"8"}, content
        scales = re.findall(r"([\d.]+) 0 0 ([\d.]+) [\d.-]+ [\d.-]+ cm", content)
        assert all(float(x) == float(y) == 1 for x, y in scales), scales


def test_pdfa_identification_and_embedded_fonts_kept(three_signed: Path) -> None:
    reader = PdfReader(three_signed)
    xmp = xmp_properties(reader.trailer["/Root"]["/Metadata"].get_object().get_data())
    assert xmp["{http://www.aiim.org/pdfa/ns/id/}part"] == "2"
    assert xmp["{http://www.aiim.org/pdfa/ns/id/}conformance"] == "B"
    # PDF/A: the Info dictionary and the XMP packet name the same producer.
    assert reader.metadata.producer == xmp["{http://ns.adobe.com/pdf/1.3/}Producer"]
    fonts = subprocess.run(
        ["pdffonts", str(three_signed)], capture_output=True, check=True, text=True
    ).stdout.splitlines()[2:]
    assert any("LiberationSans" in line for line in fonts)
    embedded = [line.split()[-5] for line in fonts]
    assert embedded and set(embedded) == {"yes"}, fonts


def test_each_appearance_embeds_the_glyphs_it_shows(three_signed: Path) -> None:
    # The font subsets are cached by set of glyphs: a subset made for another text would
    # draw some characters blank.
    reader = PdfFileReader(BytesIO(three_signed.read_bytes()))
    glyph_sets = []
    for field in reader.root["/AcroForm"]["/Fields"]:
        font = field.get_object()["/AP"]["/N"]["/Resources"]["/Font"]["/F1"]
        used = to_unicode_map(font["/ToUnicode"].data)
        program = font["/DescendantFonts"][0]["/FontDescriptor"]["/FontFile2"].data
        embedded = TTFont(BytesIO(program))
        glyphs = embedded["glyf"]
        for cid, text in used.items():
            name = embedded.getGlyphName(cid)
            assert name in glyphs, (field["/T"], text)
            assert text.isspace() or glyphs[name].numberOfContours != 0, (field["/T"], text)
        glyph_sets.append(set(used.values()))
    assert len(glyph_sets) == 3
    assert {"P", "G"} <= glyph_sets[1] - glyph_sets[0]  # "CPAM de la Gironde"


def to_unicode_map(cmap: bytes) -> dict[int, str]:
    """Character ids and their text in a ToUnicode CMap as pyHanko writes it."""
    mapping: dict[int, str] = {}
    text = cmap.decode("ascii")
    for block in re.findall(r"beginbfchar(.*?)endbfchar", text, re.S):
        for source, target in re.findall(r"<([0-9a-f]+)>\s*<([0-9a-f]+)>", block):
            mapping[int(source, 16)] = bytes.fromhex(target).decode("utf-16-be")
    for block in re.findall(r"beginbfrange(.*?)endbfrange", text, re.S):
        for start, _end, targets in re.findall(
            r"<([0-9a-f]+)>\s*<([0-9a-f]+)>\s*\[([^\]]*)\]", block
        ):
            for offset, target in enumerate(re.findall(r"<([0-9a-f]+)>", targets)):
                mapping[int(start, 16) + offset] = bytes.fromhex(target).decode("utf-16-be")
    return mapping


def test_pdfsig_finds_three_valid_signatures(three_signed: Path) -> None:
    output = subprocess.run(["pdfsig", str(three_signed)], capture_output=True, text=True).stdout
    assert output.count("Signature Validation: Signature is Valid.") == 3
    assert "s1_ETAB" in output and "s3_ARS" in output


def test_pdfsig_trusts_the_chain_given_the_root(
    three_signed: Path, demo_pki, tmp_path: Path
) -> None:
    if shutil.which("certutil") is None:
        pytest.skip("certutil absent (paquet Debian libnss3-tools)")
    nss = tmp_path / "nss"
    nss.mkdir()
    root = str(demo_pki.root_certificate)
    subprocess.run(
        ["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True, capture_output=True
    )
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{nss}", "-n", "racine", "-t", "CT,C,C", "-i", root],
        check=True,
        capture_output=True,
    )
    output = subprocess.run(
        ["pdfsig", "-nssdir", str(nss), str(three_signed)], capture_output=True, text=True
    ).stdout
    assert output.count("Certificate Validation: Certificate is Trusted.") == 3, output


# --- refusals ---------------------------------------------------------------------------------


def test_out_of_order_is_refused(contract: Path, demo_signers) -> None:
    error = refused(contract, "CPAM", demo_signers["CPAM"], "hors ordre")
    assert "Établissement" in error
    assert sign_one(contract, "ETAB", demo_signers["ETAB"]).ok
    error = refused(contract, "ARS", demo_signers["ARS"], "hors ordre")
    assert "CPAM" in error


def test_a_field_already_signed_is_refused(tmp_path: Path, demo_signers) -> None:
    pdf = build_stand_in_contract(tmp_path, content=signed_stand_in(("ETAB",)))
    refused(pdf, "ETAB", demo_signers["ETAB"], "déjà signé")


def test_a_tampered_earlier_signature_is_refused(tmp_path: Path, demo_signers) -> None:
    data = bytearray(signed_stand_in(("ETAB",)))
    issued_size = len(build_stand_in_contract(tmp_path, "issued").read_bytes())
    # A digit of the signing date (/M), inside the range the ETAB signature covers.
    marker = b"/M (D\\072"
    position = data.index(marker, issued_size) + len(marker) + 3
    data[position] = ord("9") if data[position] != ord("9") else ord("8")
    pdf = build_stand_in_contract(tmp_path, content=bytes(data))
    error = refused(pdf, "CPAM", demo_signers["CPAM"], "le document ne tient pas")
    assert "s1_ETAB (Établissement) : le contenu signé a été altéré" in error


def test_content_added_after_a_signature_is_refused(tmp_path: Path, demo_signers) -> None:
    pdf = build_stand_in_contract(tmp_path, content=add_annotation(signed_stand_in(("ETAB",))))
    error = refused(pdf, "CPAM", demo_signers["CPAM"], "le document ne tient pas")
    assert "document modifié après la dernière signature : objet" in error
    assert "ajouté (Annot)" in error


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_content_added_before_the_first_signature_is_refused(
    contract: Path, demo_signers, change
) -> None:
    # The file still extends the issued bytes: only the analysis of what follows them sees it.
    contract.write_bytes(append_change(contract.read_bytes(), change))
    refused(contract, "ETAB", demo_signers["ETAB"], "document modifié depuis son émission")


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_content_changed_within_the_first_signature_is_refused(
    contract: Path, demo_signers, change
) -> None:
    # Another tool may alter the document and sign it in one revision: that signature is
    # intact, and its own analysis only sees what comes after it.
    certified = certify_with_change(contract.read_bytes(), change, demo_signers["ETAB"])
    contract.write_bytes(certified)
    refused(contract, "CPAM", demo_signers["CPAM"], "document modifié avant la signature s1_ETAB")


def test_a_file_changed_since_issued_is_refused(contract: Path, demo_signers) -> None:
    data = bytearray(contract.read_bytes())
    position = data.index(b"LibreOffice")
    data[position : position + 11] = b"LibreOffjce"
    contract.write_bytes(bytes(data))
    refused(contract, "ETAB", demo_signers["ETAB"], "ne prolonge pas la version émise")


def test_without_issued_record_signing_says_how_to_give_one(contract: Path, demo_signers) -> None:
    digest = hashlib.sha256(contract.read_bytes()).hexdigest()
    sidecar_path(contract).unlink()
    error = refused(contract, "ETAB", demo_signers["ETAB"], "aucune trace de l'émission")
    assert "contrat.emission.json" in error
    issued = IssuedRecord.from_digest(digest)
    assert sign_one(contract, "ETAB", demo_signers["ETAB"], issued=issued).ok


def test_an_unexpected_signature_field_is_refused(contract: Path, demo_signers) -> None:
    contract.write_bytes(add_signature_field(contract.read_bytes(), "s4_AUTRE"))
    refused(contract, "ETAB", demo_signers["ETAB"], "s4_AUTRE")


def ars_only_letter(directory: Path) -> Path:
    """A notification letter: one page, one signature field, the ARS's, and its record."""
    blank = PdfWriter()
    blank.add_blank_page(595, 842)
    buffer = BytesIO()
    blank.write(buffer)
    writer = IncrementalPdfFileWriter(BytesIO(buffer.getvalue()))
    append_signature_field(writer, SigFieldSpec("s3_ARS", on_page=0, box=(380, 80, 540, 140)))
    out = BytesIO()
    writer.write(out)
    pdf = directory / "courrier.pdf"
    pdf.write_bytes(out.getvalue())
    record = IssuedRecord(
        sha256=hashlib.sha256(out.getvalue()).hexdigest(), size=len(out.getvalue()),
        source="courrier.emission.json", finess_ej=FINESS,
    )  # fmt: skip
    write_issued_record(pdf, record)
    return pdf


def test_a_document_with_only_the_ars_field_is_signed_by_the_ars(
    tmp_path: Path, demo_signers, demo_pki
) -> None:
    letter = ars_only_letter(tmp_path)
    refused(letter, "ETAB", demo_signers["ETAB"], "pas de champ de signature s1_ETAB")
    result = sign_one(letter, "ARS", demo_signers["ARS"], output=None)
    assert result.ok, result.error
    assert result.output == tmp_path / "courrier.signe-ars.pdf"
    report = verify_document(result.output, trust_roots=[demo_pki.root_certificate])
    assert report.ok and report.complete, report.all_problems()
    assert [s.role for s in report.signatures] == ["ARS"]
    assert report.signatures[0].certification  # the first (only) party certifies
    # The contract checks hold: the CPAM cannot sign a letter that has no field for it.
    refused(result.output, "CPAM", demo_signers["CPAM"], "pas de champ de signature s2_CPAM")


def test_sign_writes_beside_the_issued_pdf_and_never_over_it(
    contract: Path, demo_signers, demo_pki
) -> None:
    issued = contract.read_bytes()
    roots = [demo_pki.root_certificate]
    [etab] = sign_documents([contract], "ETAB", demo_signers["ETAB"])
    assert etab.ok and etab.output == contract.with_name("contrat.signe-etab.pdf")
    assert contract.read_bytes() == issued
    assert sidecar_path(etab.output).read_bytes() == sidecar_path(contract).read_bytes()
    [cpam] = sign_documents([etab.output], "CPAM", demo_signers["CPAM"], trust_roots=roots)
    assert cpam.ok and cpam.output == contract.with_name("contrat.signe-cpam.pdf")
    # Signing the issued PDF again would overwrite the copy already made: refused.
    [again] = sign_documents([contract], "ETAB", demo_signers["ETAB"])
    assert not again.ok and "existe déjà" in again.error


def test_countersigning_needs_trusted_earlier_signatures(
    tmp_path: Path, demo_signers, loopback_pki
) -> None:
    pdf = build_stand_in_contract(tmp_path, content=signed_stand_in(("ETAB",)))
    refused(pdf, "CPAM", demo_signers["CPAM"], "racines de confiance", trust_roots=[])
    error = refused(
        pdf, "CPAM", demo_signers["CPAM"], "le document ne tient pas",
        trust_roots=[loopback_pki.root_certificate],
    )  # fmt: skip
    assert "s1_ETAB (Établissement) : certificat du signataire non reconnu" in error


@pytest.mark.parametrize(
    ("role", "key", "expected"),
    [
        ("ETAB", "CPAM", "attendu : organizationIdentifier=FINESS-330781196"),
        ("CPAM", "ARS", "attendu : organizationName=CPAM de la Gironde"),
        ("CPAM", "cpam-17", "attendu : organizationName=CPAM de la Gironde"),
        ("ETAB", "etab-autre", "attendu : organizationIdentifier=FINESS-330781196"),
    ],
)
def test_sign_refuses_a_certificate_of_another_party(
    tmp_path: Path, demo_signers, demo_pki, role: str, key: str, expected: str
) -> None:
    roles = ("ETAB",) if role == "CPAM" else ()
    pdf = build_stand_in_contract(tmp_path, content=signed_stand_in(roles))
    if key == "cpam-17":
        signer = load_p12(demo_pki.cpams["17"], PASSWORD)  # the Charente-Maritime CPAM
    elif key == "etab-autre":
        other = create_demo_pki(tmp_path / "pki", [("330000985", "Autre")], PASSWORD)
        signer = load_p12(other.establishments["330000985"], PASSWORD)
    else:
        signer = demo_signers[key]
    error = refused(pdf, role, signer, "n'est pas celui de la partie")
    assert expected in error


def test_one_failure_does_not_stop_the_batch(tmp_path: Path, demo_signers) -> None:
    good = build_stand_in_contract(tmp_path, "bon")
    bad = build_stand_in_contract(tmp_path, "mauvais", content=signed_stand_in(("ETAB",)))
    results = sign_documents([bad, good], "ETAB", demo_signers["ETAB"])
    assert [r.ok for r in results] == [False, True]
    assert "déjà signé" in results[0].error
    assert results[1].output == tmp_path / "bon.signe-etab.pdf"
    assert verify_document(results[1].output).signatures[0].status == "signé"
    assert not (tmp_path / "mauvais.signe-etab.pdf").exists()


def test_output_leaves_the_input_untouched(contract: Path, demo_signers, tmp_path: Path) -> None:
    before = contract.read_bytes()
    target = tmp_path / "sortie" / "contrat-signe.pdf"
    result = sign_one(contract, "ETAB", demo_signers["ETAB"], output=target)
    assert result.ok and result.output == target
    assert contract.read_bytes() == before
    # The issued record follows the copy, so the next party can sign it.
    assert sidecar_path(target).read_bytes() == sidecar_path(contract).read_bytes()
    assert sign_one(target, "CPAM", demo_signers["CPAM"]).ok


def test_arguments_that_fail_every_file_raise(contract: Path, demo_signers) -> None:
    etab = demo_signers["ETAB"]
    with pytest.raises(SigningError, match="horodatage"):
        sign_documents([contract], "ETAB", etab, level="B-T")
    with pytest.raises(SigningError, match="racines de confiance"):
        sign_documents([contract], "ETAB", etab, level="B-LT", tsa_url="http://127.0.0.1:1/")
    with pytest.raises(SigningError, match="partie inconnue"):
        sign_documents([contract], "DG", etab)
    with pytest.raises(SigningError, match="seul PDF"):
        sign_documents([contract, contract], "ETAB", etab, output=contract)
    with pytest.raises(SigningError, match="niveau de signature inconnu"):
        sign_documents([contract], "ETAB", etab, level="B-X")


def test_unreachable_timestamp_authority_is_reported(contract: Path, demo_signers) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/tsa"
    before = contract.read_bytes()
    with pytest.raises(SigningError, match="horodatage injoignable"):
        sign_documents([contract], "ETAB", demo_signers["ETAB"], level="B-T", tsa_url=url)
    assert contract.read_bytes() == before


# --- keys ----------------------------------------------------------------------------------------


def test_p12_with_a_wrong_password_is_refused(demo_pki) -> None:
    with pytest.raises(SigningError, match="mot de passe incorrect"):
        load_p12(demo_pki.cpam, b"faux")
    with pytest.raises(SigningError, match="lecture impossible"):
        load_p12(demo_pki.cpam.with_name("absent.p12"), PASSWORD)


def test_signing_through_a_pkcs11_token(contract: Path, softhsm_token, demo_pki) -> None:
    token = softhsm_token
    with open_pkcs11(token.module, token.label, token.key_label, token.pin) as signer:
        results = sign_documents([contract], "ETAB", signer, output=contract)
    assert results[0].ok, results[0].error
    report = verify_document(contract, trust_roots=[demo_pki.root_certificate])
    etab = report.signatures[0]
    assert etab.signer == "Directeur"
    assert etab.trust == "oui" and etab.party_match == "conforme"
    assert report.ok, report.problems
    [certificates] = signers_certificates(contract)
    assert len(certificates) == len(set(certificates))


def test_pkcs11_wrong_pin_or_key_is_refused(softhsm_token) -> None:
    token = softhsm_token
    with (
        pytest.raises(SigningError, match="code PIN incorrect"),
        open_pkcs11(token.module, token.label, token.key_label, "000000"),
    ):
        pass
    with (
        pytest.raises(SigningError, match="introuvable"),
        open_pkcs11(token.module, token.label, "absente", token.pin),
    ):
        pass


# --- PAdES levels against the loopback services -----------------------------------------------


def test_level_b_t_carries_a_timestamp(contract: Path, loopback_pki) -> None:
    result = sign_one(
        contract, "ETAB", loopback_pki.signers["ETAB"], level="B-T", tsa_url=loopback_pki.tsa_url
    )
    assert result.ok, result.error
    report = verify_document(contract, trust_roots=[loopback_pki.root_certificate])
    etab = report.signatures[0]
    assert etab.timestamp_time is not None
    assert abs((etab.timestamp_time - etab.signing_time).total_seconds()) < 60
    assert report.ok, report.problems


def test_level_b_lt_embeds_revocation_data(contract: Path, loopback_pki) -> None:
    context = validation_context_for([loopback_pki.root_certificate])
    result = sign_one(
        contract,
        "ETAB",
        loopback_pki.signers["ETAB"],
        level="B-LT",
        tsa_url=loopback_pki.tsa_url,
        validation_context=context,
    )
    assert result.ok, result.error
    dss = PdfFileReader(BytesIO(contract.read_bytes())).root["/DSS"]
    assert len(dss.get("/OCSPs", [])) + len(dss.get("/CRLs", [])) >= 1
    assert verify_document(contract, trust_roots=[loopback_pki.root_certificate]).ok


def test_level_b_lta_then_the_next_party_signs(contract: Path, loopback_pki) -> None:
    root = loopback_pki.root_certificate
    for role in ("ETAB", "CPAM"):
        result = sign_one(
            contract,
            role,
            loopback_pki.signers[role],
            level="B-LTA",
            tsa_url=loopback_pki.tsa_url,
            validation_context=validation_context_for([root]),
            trust_roots=[root],
        )
        assert result.ok, result.error
    report = verify_document(contract, trust_roots=[root])
    assert len(report.document_timestamps) == 2
    assert all(s.intact and s.trust == "oui" for s in report.document_timestamps)
    assert report.ok, report.problems
    assert re.search(
        r"validation à long terme|remplissage", report.signatures[1].modification_level
    )


# --- Info and XMP modification dates (PDF/A wants them equal) -------------------------------


def modification_dates(path: Path) -> tuple[datetime, datetime]:
    reader = PdfFileReader(BytesIO(path.read_bytes()))
    info = parse_pdf_date(reader.trailer["/Info"]["/ModDate"])
    xmp = xmp_properties(reader.root["/Metadata"].data)
    return info, datetime.fromisoformat(xmp["{http://ns.adobe.com/xap/1.0/}ModifyDate"])


def late_info_clock(monkeypatch: pytest.MonkeyPatch, times: int | None = None) -> list[str]:
    """Make pyHanko's reading of the clock for Info /ModDate fall a second after the XMP one.

    That is the race pyHanko runs whenever the two readings straddle a second boundary;
    ``times`` limits how many readings are late. Returns the late readings.
    """
    from pyhanko.pdf_utils.metadata import info

    original = info._write_meta_date
    late: list[str] = []

    def write_meta_date(dictionary, key, meta_date, existing_only):
        if meta_date == "now" and (times is None or len(late) < times):
            late.append(key)
            meta_date = datetime.now().astimezone() + timedelta(seconds=1)
        return original(dictionary, key, meta_date, existing_only)

    monkeypatch.setattr(info, "_write_meta_date", write_meta_date)
    return late


def test_info_and_xmp_dates_agree_across_a_second_boundary(
    contract: Path, demo_signers, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pyHanko reads the clock twice; a signature whose two readings disagree is made again.
    late = late_info_clock(monkeypatch, times=1)
    for role in ROLES:
        assert sign_one(contract, role, demo_signers[role]).ok
        info, xmp = modification_dates(contract)
        assert info == xmp
    assert late == ["/ModDate"]


def test_b_lt_signs_again_when_pyhanko_dates_disagree(
    contract: Path, loopback_pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    # At B-LT pyHanko writes the validation data in a revision of its own, with its own writer.
    late = late_info_clock(monkeypatch, times=1)
    options = {
        "level": "B-LT",
        "tsa_url": loopback_pki.tsa_url,
        "validation_context": validation_context_for([loopback_pki.root_certificate]),
    }
    result = sign_one(contract, "ETAB", loopback_pki.signers["ETAB"], **options)
    assert result.ok, result.error
    assert late == ["/ModDate"]
    info, xmp = modification_dates(contract)
    assert info == xmp


def test_dates_that_never_agree_are_refused(
    contract: Path, loopback_pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    late_info_clock(monkeypatch)
    refused(
        contract,
        "ETAB",
        loopback_pki.signers["ETAB"],
        "dates de modification incohérentes",
        level="B-LT",
        tsa_url=loopback_pki.tsa_url,
        validation_context=validation_context_for([loopback_pki.root_certificate]),
    )


def test_a_signature_larger_than_its_room_is_made_again(
    contract: Path, demo_signers, demo_pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The retry must not reuse the reader of the first attempt, which changed its objects.
    async def too_small(*args: object) -> int:
        return 1000

    monkeypatch.setattr(signing, "_reserved_size", too_small)
    for role in ROLES:
        result = sign_one(contract, role, demo_signers[role])
        assert result.ok, result.error
    report = verify_document(contract, trust_roots=[demo_pki.root_certificate])
    assert report.ok and report.complete, report.problems
    xmp = xmp_properties(PdfReader(contract).trailer["/Root"]["/Metadata"].get_object().get_data())
    assert xmp["{http://www.aiim.org/pdfa/ns/id/}part"] == "2"


def test_demo_pki_subjects_carry_the_parties(demo_pki) -> None:
    from cryptography.hazmat.primitives.serialization import pkcs12

    def subject(path: Path) -> str:
        _, cert, _ = pkcs12.load_key_and_certificates(path.read_bytes(), PASSWORD)
        return cert.subject.rfc4514_string()

    assert f"FINESS-{FINESS}" in subject(demo_pki.establishments[FINESS])
    assert "O=Agence Régionale de Santé Nouvelle-Aquitaine" in subject(demo_pki.ars)
    assert "O=CPAM" in subject(demo_pki.cpam)
    assert b"PRIVATE KEY" not in demo_pki.root_certificate.read_bytes()
    cpams = load_campaign().cpams
    assert sorted(p.name for p in demo_pki.root_certificate.parent.iterdir()) == sorted(
        ["ars.p12", "cpam.p12", f"etab-{FINESS}.p12", "root-ca.pem"]
        + [f"cpam-{key}.p12" for key in cpams]
    )
    assert f"O={cpams['17'].name}" in subject(demo_pki.cpams["17"])


def test_demo_pki_refuses_bad_establishments(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="clé de contrôle"):
        create_demo_pki(tmp_path, [("240000058", "CH de Périgueux")], "secret")
    with pytest.raises(InputError, match="en double"):
        create_demo_pki(tmp_path, [(FINESS, "A"), (FINESS, "B")], "secret")
    assert list(tmp_path.iterdir()) == []


def test_an_unreadable_sidecar_is_reported(contract: Path, demo_signers) -> None:
    sidecar_path(contract).write_text("{pas du json", encoding="utf-8")
    before = contract.read_bytes()
    result = sign_one(contract, "ETAB", demo_signers["ETAB"])
    assert not result.ok
    assert f"{sidecar_path(contract)} : fiche d'émission illisible" in result.error
    assert contract.read_bytes() == before
