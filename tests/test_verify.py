"""Verification: per-field report, trust, parties, issued record, and forged changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest_pki import (
    CHANGES,
    FINESS,
    REFERENCE,
    add_annotation,
    add_overlay,
    add_page,
    add_signature_field,
    append_change,
    build_stand_in_contract,
    certify_with_change,
    signed_stand_in,
)

from caqes_docs.errors import VerificationError
from caqes_docs.inputs.campaign import load_campaign
from caqes_docs.issued import IssuedRecord, sidecar_path
from caqes_docs.signatures.binding import IdentitySettings
from caqes_docs.signatures.rendering import visible_differences
from caqes_docs.signatures.signing import sign_documents
from caqes_docs.signatures.verify import verify_document

pytest_plugins = ["conftest_pki"]

ALL = ("ETAB", "CPAM", "ARS")


def contract_with(directory: Path, roles: tuple[str, ...], name: str = "contrat") -> Path:
    return build_stand_in_contract(directory, name, content=signed_stand_in(roles))


def only_problem_mentions(report, text: str) -> None:
    problems = report.problems + [p for s in report.signatures for p in s.problems]
    assert not report.ok
    assert any(text in problem for problem in problems), problems


def test_an_issued_contract_waits_for_three_signatures(contract: Path) -> None:
    report = verify_document(contract)
    assert [s.status for s in report.signatures] == ["en attente"] * 3
    assert [s.field for s in report.signatures] == ["s1_ETAB", "s2_CPAM", "s3_ARS"]
    assert [s.party for s in report.signatures] == ["Établissement", "CPAM", "ARS"]
    assert report.ok and not report.complete
    assert report.issued == "conforme"
    assert (report.finess_ej, report.finess_source) == (FINESS, "contrat.emission.json")
    assert report.reference == REFERENCE
    assert report.pages == 6


def test_a_complete_contract_is_ok_and_trusted(tmp_path: Path, demo_pki) -> None:
    pdf = contract_with(tmp_path, ALL)
    report = verify_document(pdf, trust_roots=[demo_pki.root_certificate])
    assert report.ok and report.complete, report.problems
    etab, cpam, ars = report.signatures
    assert etab.signer == "Directeur" and etab.party_match == "conforme"
    assert cpam.subject.startswith("Common Name: Directeur de la CPAM de la Gironde")
    assert [s.intact for s in report.signatures] == [True] * 3
    assert [s.trust for s in report.signatures] == ["oui"] * 3
    assert etab.modification_level == "remplissage et signature des champs restants"
    assert ars.modification_level == "remplissage et signature des champs restants"
    assert report.trust_checked and not report.lenient_reading
    assert etab.signing_time <= cpam.signing_time <= ars.signing_time
    assert ars.timestamp_time is None


def test_trust_is_not_checked_without_roots_and_refused_with_foreign_ones(
    tmp_path: Path, loopback_pki
) -> None:
    pdf = contract_with(tmp_path, ALL)
    assert [s.trust for s in verify_document(pdf).signatures] == ["non vérifiée"] * 3
    report = verify_document(pdf, trust_roots=[loopback_pki.root_certificate])
    assert [s.trust for s in report.signatures] == ["non"] * 3
    only_problem_mentions(report, "non reconnu")


def test_report_serialises_to_json(tmp_path: Path) -> None:
    report = verify_document(contract_with(tmp_path, ("ETAB",)))
    data = json.loads(report.to_json())
    assert data["ok"] is True
    assert data["signatures"][0]["status"] == "signé"
    assert data["signatures"][0]["signing_time"].startswith("20")
    assert data["signatures"][1]["status"] == "en attente"


def test_signer_must_match_the_party(tmp_path: Path) -> None:
    pdf = contract_with(tmp_path, ALL)
    report = verify_document(pdf, finess_ej="240000059")
    assert report.finess_source == "argument"
    assert report.signatures[0].party_match == "non conforme"
    only_problem_mentions(report, "ne correspond pas à la partie Établissement")

    campaign = load_campaign().model_copy(deep=True)
    identities = IdentitySettings.model_validate(
        {"ARS": {"attribut": "organizationName", "valeur": "ARS Bretagne"}}
    )
    signature = campaign.signature.model_copy(update={"identities": identities})
    campaign = campaign.model_copy(update={"signature": signature})
    report = verify_document(pdf, campaign=campaign)
    assert [s.party_match for s in report.signatures] == ["conforme", "conforme", "non conforme"]
    only_problem_mentions(report, "attendu : organizationName=ARS Bretagne")


def test_a_finess_merely_contained_in_the_subject_does_not_bind(tmp_path: Path) -> None:
    # The establishment's certificate says FINESS-330781196: another FINESS it contains, or
    # the same FINESS in another attribute, binds nobody.
    pdf = contract_with(tmp_path, ("ETAB",))
    assert verify_document(pdf, finess_ej="33078119").signatures[0].party_match == "non conforme"
    campaign = load_campaign()
    identities = IdentitySettings.model_validate(
        {"ETAB": {"attribut": "serialNumber", "valeur": "FINESS-{finess_ej}"}}
    )
    signature = campaign.signature.model_copy(update={"identities": identities})
    campaign = campaign.model_copy(update={"signature": signature})
    report = verify_document(pdf, campaign=campaign)
    assert report.signatures[0].party_match == "non conforme"


def test_finess_falls_back_to_the_pdf_keywords(tmp_path: Path) -> None:
    pdf = contract_with(tmp_path, ("ETAB",))
    sidecar_path(pdf).unlink()
    report = verify_document(pdf)
    assert (report.finess_ej, report.finess_source) == (FINESS, "mots-clés du PDF")
    assert report.issued == "non vérifiable"
    assert report.signatures[0].party_match == "conforme"
    # Nothing proves the file extends what was issued: never "valide".
    only_problem_mentions(report, "rien ne prouve que ce fichier prolonge le document émis")


def test_an_explicit_issued_digest_is_checked(tmp_path: Path) -> None:
    pdf = contract_with(tmp_path, ("ETAB",))
    record = json.loads(sidecar_path(pdf).read_text())
    sidecar_path(pdf).unlink()
    # Without the size, every end of revision is tried.
    assert verify_document(pdf, issued=IssuedRecord.from_digest(record["sha256"])).issued == (
        "conforme"
    )
    other = IssuedRecord.from_digest("0" * 64)
    only_problem_mentions(verify_document(pdf, issued=other), "ne prolonge pas")
    with pytest.raises(VerificationError, match="empreinte d'émission invalide"):
        IssuedRecord.from_digest("abc")


def test_a_file_changed_since_issued_is_reported(contract: Path) -> None:
    data = bytearray(contract.read_bytes())
    position = data.index(b"LibreOffice")
    data[position : position + 11] = b"LibreOffjce"
    contract.write_bytes(bytes(data))
    report = verify_document(contract)
    assert report.issued == "modifié"
    only_problem_mentions(report, "ne prolonge pas la version émise")


# --- content added after a signature ------------------------------------------------------------


@pytest.mark.parametrize(
    "forge", [add_annotation, add_overlay, add_page], ids=["annotation", "surimpression", "page"]
)
def test_content_added_after_signatures_is_caught(tmp_path: Path, forge) -> None:
    pdf = build_stand_in_contract(tmp_path, content=forge(signed_stand_in(("ETAB", "CPAM"))))
    report = verify_document(pdf)
    etab, cpam, _ = report.signatures
    assert etab.intact and cpam.intact
    for signature in (etab, cpam):
        assert signature.modifications_ok is False
        assert signature.modification_level == "autres modifications du document"
    only_problem_mentions(report, "document modifié après la dernière signature")


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_content_added_before_the_first_signature_is_caught(
    tmp_path: Path, demo_signers, change
) -> None:
    issued = build_stand_in_contract(tmp_path, "emis").read_bytes()
    appended = append_change(issued, change)
    within = certify_with_change(issued, change, demo_signers["ETAB"])
    for name, content in (("avant", appended), ("pendant", within)):
        report = verify_document(build_stand_in_contract(tmp_path, name, content=content))
        assert report.issued == "modifié"
        where = "avant la signature s1_ETAB" if name == "pendant" else "depuis son émission"
        only_problem_mentions(report, f"document modifié {where}")
    # The establishment's signature holds: nothing follows it.
    etab = verify_document(tmp_path / "pendant.pdf").signatures[0]
    assert etab.intact and etab.modifications_ok


def test_a_certification_by_another_tool_is_accepted(
    tmp_path: Path, demo_signers, demo_pki
) -> None:
    issued = build_stand_in_contract(tmp_path, "emis").read_bytes()
    certified = certify_with_change(issued, lambda writer: None, demo_signers["ETAB"])
    pdf = build_stand_in_contract(tmp_path, content=certified)
    report = verify_document(pdf)
    assert report.ok and report.issued == "conforme", report.problems
    (result,) = sign_documents(
        [pdf], "CPAM", demo_signers["CPAM"], trust_roots=[demo_pki.root_certificate]
    )
    assert result.ok, result.error


def test_changed_bytes_in_a_signed_range_are_caught(tmp_path: Path) -> None:
    data = bytearray(signed_stand_in(("ETAB", "CPAM")))
    issued_size = json.loads(sidecar_path(contract_with(tmp_path, ())).read_text())["taille"]
    marker = b"/M (D\\072"
    position = data.index(marker, issued_size) + len(marker) + 3
    data[position] = ord("9") if data[position] != ord("9") else ord("8")
    pdf = build_stand_in_contract(tmp_path, content=bytes(data))
    report = verify_document(pdf)
    # The CPAM signed the ETAB revision too: both signatures see the change.
    assert [s.intact for s in report.signatures[:2]] == [False, False]
    only_problem_mentions(report, "altéré")


def test_an_extra_signature_field_is_reported(tmp_path: Path) -> None:
    forged = add_signature_field(signed_stand_in(("ETAB",)), "s4_AUTRE")
    report = verify_document(build_stand_in_contract(tmp_path, content=forged))
    assert report.unexpected_fields == ["s4_AUTRE"]
    only_problem_mentions(report, "champs de signature inattendus : s4_AUTRE")


def test_signatures_out_of_order_are_reported(contract: Path, demo_signers) -> None:
    order = ("CPAM", "ETAB", "ARS")
    (result,) = sign_documents([contract], "CPAM", demo_signers["CPAM"], order=order)
    assert result.ok
    assert verify_document(result.output, order=order).ok
    only_problem_mentions(verify_document(result.output), "ordre de signature non respecté")


def test_an_unreadable_file_is_a_verification_error(tmp_path: Path) -> None:
    pdf = tmp_path / "casse.pdf"
    pdf.write_bytes(b"%PDF-1.7\nceci n'est pas un PDF")
    with pytest.raises(VerificationError, match="PDF illisible"):
        verify_document(pdf)
    with pytest.raises(VerificationError, match="lecture impossible"):
        verify_document(tmp_path / "absent.pdf")


# --- defence in depth: the pages as a reader sees them ---------------------------------------


def test_rendering_sees_what_a_reader_would_outside_the_signature_boxes(contract: Path) -> None:
    issued = contract.read_bytes()
    assert visible_differences(issued, issued, {}) == []
    # A white box over the first lines of page 1 (x 40-340, y 700-740 in points).
    hidden = add_overlay(issued)
    assert visible_differences(issued, hidden, {}) == ["page 1 : contenu visible modifié"]
    assert visible_differences(issued, hidden, {0: [(40, 700, 340, 740)]}) == []
    assert visible_differences(issued, add_page(issued), {}) == ["nombre de pages changé (6 → 7)"]
