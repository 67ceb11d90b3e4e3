"""The portal through Django's test client: pages, permissions, uploads and security rules.

Real components throughout: contracts issued by LibreOffice, PAdES signatures from a demo
PKI, the SQLite registry the CLI uses, the portal's SQLite database.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import html
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CHU, CLINIC, Portal, stored_files
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import reverse

from caqes_docs.inputs.campaign import load_campaign
from caqes_docs.parties import party
from caqes_docs.registry.lifecycle import status
from caqes_docs.signatures.signing import sign_documents
from caqes_docs.web import mail
from caqes_docs.web.links import create_link
from caqes_docs.web.models import Job, PartyLink, RefusedUpload


def page(token: str) -> str:
    return reverse("portail:partie", args=[token])


def upload(client: Client, token: str, data: bytes, name: str = "signe.pdf"):  # type: ignore[no-untyped-def]
    return client.post(page(token), {"fichier": SimpleUploadedFile(name, data)})


def signed_parties(portal: Portal, name: str) -> list[str]:
    with portal.registry() as registry:
        return [sig.party for sig in registry.signatures(portal.documents[name].id)]


def result(response) -> str:  # type: ignore[no-untyped-def]
    """The upload's verdict as the party reads it."""
    found = re.search(r'id="resultat">(.*?)</div>', text(response))
    return re.sub(r"<[^>]+>", " ", found.group(1)) if found else ""


def text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", html.unescape(response.content.decode()))


def plain(response) -> str:  # type: ignore[no-untyped-def]
    """The page's words as a reader sees them, without the markup."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())))


# --- officers -----------------------------------------------------------------------------------


OFFICER_PAGES = [
    ("get", "portail:tableau", []),
    ("get", "portail:contrat", ["CAQES-X"]),
    ("get", "portail:document", [1, "emis"]),
    ("get", "portail:refus", [1]),
    ("post", "portail:liens", []),
    ("post", "portail:revoquer", [1]),
    ("get", "portail:campagne", []),
    ("get", "portail:tache", [1]),
    ("get", "portail:contresignature", []),
]


@pytest.mark.parametrize(("method", "name", "args"), OFFICER_PAGES)
def test_officer_pages_require_login(portal: Portal, method: str, name: str, args: list) -> None:
    response = getattr(Client(), method)(reverse(name, args=args))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portail:connexion"))


def test_login_records_an_event_and_guessing_is_locked_out(portal: Portal) -> None:
    from caqes_docs.web.bootstrap import create_officer

    create_officer("marie", "mot-de-passe-correct")
    client = Client()
    response = client.post(
        reverse("portail:connexion"), {"username": "marie", "password": "mot-de-passe-correct"}
    )
    assert response.status_code == 302
    assert ("connexion", "connexion de marie au portail (127.0.0.1)") in portal.events()
    other = Client()
    for _ in range(5):
        other.post(reverse("portail:connexion"), {"username": "marie", "password": "faux"})
    locked = other.post(
        reverse("portail:connexion"), {"username": "marie", "password": "mot-de-passe-correct"}
    )
    assert locked.status_code == 429
    assert "Trop de tentatives" in text(locked)
    assert any(kind == "connexion refusée" for kind, _ in portal.events())


def test_dashboard_rows_filters_and_csv(portal: Portal) -> None:
    client = portal.officer()
    response = client.get(reverse("portail:tableau"))
    assert response.status_code == 200
    body = text(response)
    for item in portal.issued.values():
        assert item.contract.reference in body
    assert "Établissement depuis 0 j" in body
    upload(Client(), portal.link(CHU, "ETAB"), portal.issued[CHU].copies["ETAB"])
    waiting_cpam = text(client.get(reverse("portail:tableau"), {"filtre": "CPAM"}))
    assert portal.issued[CHU].contract.reference in waiting_cpam
    assert portal.issued[CLINIC].contract.reference not in waiting_cpam
    assert portal.issued[CHU].contract.reference not in text(
        client.get(reverse("portail:tableau"), {"filtre": "ETAB"})
    )
    exported = client.get(reverse("portail:tableau"), {"format": "csv"})
    assert exported["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig")), delimiter=";"))
    assert {row["reference"]: row["en_attente_de"] for row in rows} == {
        portal.issued[CHU].contract.reference: "CPAM",
        portal.issued[CLINIC].contract.reference: "ETAB",
    }


def test_contract_page_files_verification_and_history(portal: Portal) -> None:
    upload(Client(), portal.link(CHU, "ETAB"), portal.issued[CHU].copies["ETAB"])
    reference = portal.issued[CHU].contract.reference
    client = portal.officer()
    body = text(client.get(reverse("portail:contrat", args=[reference])))
    document = portal.documents[CHU]
    assert document.issued_sha256 in body
    assert "Valide (1/3 signatures)" in body and "intègre" in body and "conforme" in body
    assert "dépôt accepté" in body and "signé par ETAB" in body
    issued = client.get(reverse("portail:document", args=[document.id, "emis"]))
    assert b"".join(issued.streaming_content) == portal.issued[CHU].pdf
    signed = client.get(reverse("portail:document", args=[document.id, "signe"]))
    assert b"".join(signed.streaming_content) == portal.issued[CHU].copies["ETAB"]
    assert client.get(reverse("portail:contrat", args=["CAQES-INCONNU"])).status_code == 404
    assert client.get(reverse("portail:document", args=[9999, "emis"])).status_code == 404
    assert client.get(f"/documents/{document.id}/../../caqes.db").status_code == 404


def test_countersignature_needs_the_permission(portal: Portal) -> None:
    response = portal.officer("sans-droit").get(reverse("portail:contresignature"))
    assert response.status_code == 403


def test_countersignature_signs_and_records_as_the_cli(portal: Portal) -> None:
    for role in ("ETAB", "CPAM"):
        upload(Client(), portal.link(CHU, role), portal.issued[CHU].copies[role])
    client = portal.officer("directeur", countersign=True)
    listing = text(client.get(reverse("portail:contresignature")))
    assert portal.issued[CHU].contract.reference in listing
    assert portal.issued[CLINIC].contract.reference not in listing
    response = client.post(
        reverse("portail:contresignature"),
        {"document": [str(portal.documents[CHU].id), str(portal.documents[CLINIC].id)]},
    )
    job = Job.objects.get()
    assert response["Location"] == reverse("portail:tache", args=[job.id])
    assert job.status == Job.DONE, job.error
    outcomes = {o["document"].split()[0]: o["ok"] for o in job.result["outcomes"]}
    assert outcomes == {
        portal.issued[CHU].contract.reference: True,
        portal.issued[CLINIC].contract.reference: False,
    }
    assert signed_parties(portal, CHU) == ["ETAB", "CPAM", "ARS"]
    with portal.registry() as registry:
        rows = {row.reference: row.waiting_for for row in status(registry).rows}
    assert rows[portal.issued[CHU].contract.reference] is None
    assert any(kind == "contresignature" for kind, _ in portal.events())


def test_campaign_refuses_a_file_that_is_not_a_targeting_file(portal: Portal) -> None:
    response = portal.officer().post(
        reverse("portail:campagne"), {"fichier": SimpleUploadedFile("ciblage.exe", b"MZ")}
    )
    assert response.status_code == 200
    assert "type de fichier non pris en charge" in text(response)
    assert not Job.objects.exists()


# --- links --------------------------------------------------------------------------------------


def test_tokens_are_long_and_stored_hashed(portal: Portal) -> None:
    token = portal.link(CHU, "ETAB")
    secret = token.split(".")[1]
    assert len(secret) >= 43  # 32 random bytes, base64: 256 bits
    link = PartyLink.objects.get()
    assert link.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    stored = " ".join(str(value) for value in PartyLink.objects.values_list().get())
    assert secret not in stored


def test_links_csv_gives_one_working_link_per_party_and_document(portal: Portal) -> None:
    response = portal.officer().post(reverse("portail:liens"))
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert len(rows) == 6
    assert {(row["reference"], row["partie"]) for row in rows} == {
        (item.contract.reference, name)
        for item in portal.issued.values()
        for name in ("Établissement", "CPAM", "ARS")
    }
    for row in rows:
        token = row["lien"].rsplit("/lien/", 1)[1].rstrip("/")
        assert row["reference"] in text(Client().get(page(token)))
    again = portal.officer().post(reverse("portail:liens"))
    assert again.content.decode("utf-8-sig").count("\n") == 1  # header only: none missing


def test_a_link_reaches_its_own_document_and_nothing_else(portal: Portal) -> None:
    token = portal.link(CHU, "ETAB")
    selector, secret = token.split(".")
    client = Client()
    body = text(client.get(page(token)))
    assert portal.issued[CHU].contract.reference in body
    assert portal.issued[CLINIC].contract.reference not in body
    download = client.get(reverse("portail:partie-document", args=[token]))
    assert b"".join(download.streaming_content) == portal.issued[CHU].pdf
    other = portal.link(CLINIC, "ETAB")
    for wrong in (
        f"{selector}.{other.split('.')[1]}",  # another link's secret
        f"{other.split('.')[0]}.{secret}",  # another link's selector
        selector,
        f"{selector}.{secret}x",
    ):
        assert client.get(page(wrong)).status_code == 404
    for path in (
        f"/lien/{token}/{portal.documents[CLINIC].id}.pdf",
        f"/lien/{token}/document.pdf/../../documents/{portal.documents[CLINIC].id}/emis.pdf",
        f"/lien/{token}/../../caqes.db",
        f"/lien/{token}/contrats/{portal.issued[CLINIC].contract.reference}.pdf",
    ):
        assert client.get(path).status_code in (302, 404), path
        assert client.get(path).get("Content-Type") != "application/pdf"
    # The other contract's signed copy, uploaded through this link, changes nothing.
    refused = upload(client, token, portal.issued[CLINIC].copies["ETAB"])
    assert refused.status_code == 422
    assert "ne prolonge pas le contrat" in result(refused)
    assert signed_parties(portal, CLINIC) == []


def test_another_partys_link_cannot_sign_out_of_turn(portal: Portal) -> None:
    cpam = portal.link(CHU, "CPAM")
    refused = upload(Client(), cpam, portal.issued[CHU].copies["ETAB"])
    assert "pas encore votre tour" in text(refused)
    assert signed_parties(portal, CHU) == []
    upload(Client(), portal.link(CHU, "ETAB"), portal.issued[CHU].copies["ETAB"])
    etab_again = upload(Client(), portal.link(CHU, "ETAB"), portal.issued[CHU].copies["CPAM"])
    assert "déjà enregistrée" in text(etab_again)
    assert signed_parties(portal, CHU) == ["ETAB"]


def test_revoked_and_expired_links_are_404(portal: Portal) -> None:
    from django.utils import timezone

    revoked = portal.link(CHU, "ETAB")
    officer = portal.officer()
    link = PartyLink.objects.get()
    officer.post(reverse("portail:revoquer", args=[link.id]))
    assert Client().get(page(revoked)).status_code == 404
    expired = portal.link(CHU, "CPAM")
    PartyLink.objects.filter(party="CPAM").update(expires_at=timezone.now())
    assert Client().get(page(expired)).status_code == 404


@override_settings(CAQES_LINK_FAILURES=3)
def test_link_guessing_is_rate_limited(portal: Portal) -> None:
    token = portal.link(CHU, "ETAB")
    guesser = Client(REMOTE_ADDR="192.0.2.7")
    for attempt in range(3):
        assert guesser.get(page(f"devine.{attempt}")).status_code == 404
    assert guesser.get(page(token)).status_code == 429
    assert Client(REMOTE_ADDR="192.0.2.8").get(page(token)).status_code == 200


def test_party_download_is_a_pdf_attachment_never_sniffed(portal: Portal) -> None:
    token = portal.link(CHU, "ETAB")
    assert "no-store" in Client().get(page(token))["Cache-Control"]
    response = Client().get(reverse("portail:partie-document", args=[token]))
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("attachment;")
    assert any(kind == "téléchargement" for kind, _ in portal.events())


def test_pages_carry_a_content_security_policy(portal: Portal) -> None:
    for response in (
        Client().get(reverse("portail:connexion")),
        Client().get(page(portal.link(CHU, "ETAB"))),
    ):
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        nonce = re.search(r"'nonce-([^']+)'", policy).group(1)  # type: ignore[union-attr]
        assert f'nonce="{nonce}"' in response.content.decode()


def test_forms_need_their_csrf_token(portal: Portal) -> None:
    token = portal.link(CHU, "ETAB")
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(page(token), {"fichier": SimpleUploadedFile("a.pdf", b"%PDF-1.7")})
    assert response.status_code == 403
    officer = portal.officer()
    officer.handler.enforce_csrf_checks = True
    assert officer.post(reverse("portail:liens")).status_code == 403
    assert not PartyLink.objects.exclude(selector=token.split(".")[0]).exists()


# --- uploads ------------------------------------------------------------------------------------


def test_valid_copies_are_recorded_in_turn_and_seen_by_the_cli(portal: Portal) -> None:
    for role in ("ETAB", "CPAM"):
        response = upload(Client(), portal.link(CHU, role), portal.issued[CHU].copies[role])
        assert response.status_code == 200
        assert f"Signature(s) enregistrée(s) : {role}" in result(response)
    assert signed_parties(portal, CHU) == ["ETAB", "CPAM"]
    digest = hashlib.sha256(portal.issued[CHU].copies["CPAM"]).hexdigest()
    assert any(kind == "dépôt" and digest in detail for kind, detail in portal.events())
    assert stored_files(portal, "depots") == []
    cli = subprocess.run(
        [sys.executable, "-m", "caqes_docs", "status", "--registry", str(portal.registry_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert portal.issued[CHU].contract.reference in cli.stdout
    # The CPAM link now offers the copy the CPAM signed, for the ARS to countersign.
    ars = Client().get(reverse("portail:partie-document", args=[portal.link(CHU, "ARS")]))
    assert b"".join(ars.streaming_content) == portal.issued[CHU].copies["CPAM"]


def _flip(data: bytes) -> bytes:
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0x01
    return bytes(flipped)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("tampered", "copie modifiée"),
        ("foreign", "non reconnu par les autorités"),
        ("not_pdf", "n'est pas un PDF"),
        ("renamed_exe", "n'est pas un PDF"),
    ],
)
def test_refused_uploads_change_nothing_and_are_kept_aside(
    portal: Portal, case: str, reason: str
) -> None:
    item = portal.issued[CHU]
    if case == "tampered":
        data = _flip(item.copies["ETAB"])
    elif case == "foreign":
        source = portal.folder / "contrats" / f"{item.contract.reference}.pdf"
        target = portal.folder / "etranger.pdf"
        [signed] = sign_documents([source], "ETAB", portal.keys.stranger, output=target)
        assert signed.ok, signed.error
        data = target.read_bytes()
    elif case == "not_pdf":
        data = b"<html><script>alert(1)</script></html>"
    else:
        data = b"MZ\x90\x00" + bytes(4000)
    before = portal.events()
    response = upload(Client(), portal.link(CHU, "ETAB"), data, name="../../evil.pdf")
    assert response.status_code == 422
    assert "Fichier refusé" in result(response) and reason in result(response), result(response)
    assert signed_parties(portal, CHU) == []
    refused = RefusedUpload.objects.get()
    assert refused.sha256 == hashlib.sha256(data).hexdigest()
    assert refused.original_name == "evil.pdf"
    [aside] = stored_files(portal, "refus")
    assert re.fullmatch(r"[0-9a-f]{32}\.pdf", aside.name) and aside.read_bytes() == data
    new_events = portal.events()[len(before) :]
    assert [kind for kind, _ in new_events if kind.startswith("dépôt")] == ["dépôt refusé"]
    assert refused.sha256 in next(detail for kind, detail in new_events if kind == "dépôt refusé")
    officer = portal.officer()
    kept = officer.get(reverse("portail:refus", args=[refused.id]))
    assert kept["Content-Type"] == "application/pdf" and kept["X-Content-Type-Options"] == "nosniff"
    dashboard = text(officer.get(reverse("portail:tableau"), {"filtre": "refus"}))
    assert item.contract.reference in dashboard and "1 dépôt(s) refusé(s)" in dashboard


@pytest.mark.parametrize(
    ("role", "data_of", "found"),
    [
        # The very PDF the page offers, downloaded and uploaded again unsigned.
        ("ETAB", None, "c'est le PDF à signer tel qu'il a été téléchargé, sans aucune signature"),
        # The CPAM's link receives the copy the establishment signed: nothing of the CPAM's.
        ("CPAM", "ETAB", "il ne contient que la signature déjà enregistrée (Établissement)"),
    ],
)
def test_a_copy_without_the_partys_signature_is_refused_with_what_to_do(
    portal: Portal, role: str, data_of: str | None, found: str
) -> None:
    item = portal.issued[CHU]
    if data_of:
        upload(Client(), portal.link(CHU, data_of), item.copies[data_of])
    before, recorded = portal.events(), signed_parties(portal, CHU)
    token = portal.link(CHU, role)
    data = item.pdf if data_of is None else item.copies[data_of]
    response = upload(Client(), token, data, name="contrat.pdf")
    assert response.status_code == 422
    verdict = result(response)
    assert "Fichier refusé" in verdict and "reçue et vérifiée" not in verdict, verdict
    assert f"aucune nouvelle signature {party(role).of_name}" in verdict and found in verdict
    assert "Signez-le avec votre certificat (Okular, Adobe Acrobat Reader" in verdict
    assert signed_parties(portal, CHU) == recorded
    refused = RefusedUpload.objects.get()
    assert (refused.party, refused.original_name) == (role, "contrat.pdf")
    assert found in refused.reason and refused.sha256 == hashlib.sha256(data).hexdigest()
    [aside] = stored_files(portal, "refus")
    assert aside.read_bytes() == data and stored_files(portal, "depots") == []
    new_events = portal.events()[len(before) :]
    assert [kind for kind, _ in new_events if kind.startswith("dépôt")] == ["dépôt refusé"]
    # The refusal mail goes at once to the establishment; the campaign has no CPAM address,
    # so the CPAM's waits for one.
    if role == "ETAB":
        assert any(kind == "courriel" and "(refus)" in detail for kind, detail in new_events)
    else:
        with portal.registry() as registry:
            due = mail.due_now(registry, document_ids=[portal.documents[CHU].id])
        assert [(d.kind, d.item) for d in due if d.kind == mail.REFUSAL] == [
            (mail.REFUSAL, refused.id)
        ]
    # The same page takes the signed copy next.
    assert 'id="depot"' in response.content.decode()


def test_the_page_after_signing_says_the_signature_is_recorded(portal: Portal) -> None:
    item = portal.issued[CHU]
    waiting = Client().get(page(portal.link(CHU, "CPAM")))
    assert "Signature attendue d'abord : Établissement . Le dépôt sera possible" in plain(waiting)
    assert 'id="depot"' not in text(waiting) and "Votre signature" not in text(waiting)
    accepted = upload(Client(), portal.link(CHU, "ETAB"), item.copies["ETAB"])
    assert accepted.status_code == 200 and "Copie signée reçue et vérifiée" in result(accepted)
    signer = signature_of(portal, "ETAB").signer
    after = plain(Client().get(page(portal.link(CHU, "ETAB"))))
    assert "Votre signature est enregistrée" in after
    assert f"Signé par {signer} le " in after
    assert "Signature attendue maintenant : CPAM ." in after
    assert "votre tour" not in after and "Déposer la copie signée" not in after
    for role in ("CPAM", "ARS"):
        upload(Client(), portal.link(CHU, role), item.copies[role])
    done = Client().get(page(portal.link(CHU, "ETAB")))
    assert "Votre signature est enregistrée" in text(done)
    assert "Document signé par les trois parties" in text(done)
    assert "Télécharger le PDF signé par les trois parties" in text(done)
    final = re.search(r'href="([^"]+)" id="telecharger"', done.content.decode()).group(1)  # type: ignore[union-attr]
    download = Client().get(final)
    assert b"".join(download.streaming_content) == item.copies["ARS"]
    document = portal.documents[CHU]
    # The registry's name: the bordereau the completion mail carries finds it beside it.
    signed = document.issued_path.with_suffix(".signe.pdf").name
    assert f'filename="{signed}"' in download["Content-Disposition"]


def signature_of(portal: Portal, role: str):  # type: ignore[no-untyped-def]
    with portal.registry() as registry:
        signatures = registry.signatures(portal.documents[CHU].id)
    return next(sig for sig in signatures if sig.party == role)


@pytest.mark.parametrize("role", ["ETAB", "CPAM"])
def test_the_page_gives_the_issued_digest_and_the_command_line(portal: Portal, role: str) -> None:
    item = portal.issued[CHU]
    if role == "CPAM":
        upload(Client(), portal.link(CHU, "ETAB"), item.copies["ETAB"])
    token = portal.link(CHU, role)
    response = Client().get(page(token))
    digest = hashlib.sha256(item.pdf).hexdigest()
    assert f"Empreinte du document émis (SHA-256) {digest}" in plain(response)
    assert f"({len(item.pdf)} octets)" in plain(response)
    assert "Signer en ligne de commande" in plain(response)
    document = portal.documents[CHU]
    [command] = re.findall(r'<code id="commande">(.*?)</code>', response.content.decode())
    assert command == (
        f"caqes sign {document.reference}-{document.number}-a-signer.pdf --role {role} "
        f"--p12 VOTRE.p12 --password-file MOT-DE-PASSE.txt --issued {digest}"
        + (" --trust RACINE.pem" if role == "CPAM" else "")
    )
    # The command, run as written on the downloaded file, gives a copy the page accepts.
    download = Client().get(reverse("portail:partie-document", args=[token]))
    work = portal.folder / "partie"
    work.mkdir()
    (work / command.split()[2]).write_bytes(b"".join(download.streaming_content))
    establishment = item.contract.establishment
    key = (
        f"etab-{establishment.finess_ej}"
        if role == "ETAB"
        else f"cpam-{establishment.cpam or load_campaign().cpam_for(establishment.finess_ej)[0]}"
    )
    files = {
        "VOTRE.p12": portal.keys.folder / f"{key}.p12",
        "MOT-DE-PASSE.txt": portal.keys.password_file,
        "RACINE.pem": portal.keys.root,
    }
    argv = [str(files.get(word, word)) for word in command.split()[1:]]
    run = subprocess.run(
        [sys.executable, "-m", "caqes_docs", *argv], cwd=work, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    [signed] = [path for path in work.iterdir() if path.name != command.split()[2]]
    accepted = upload(Client(), token, signed.read_bytes())
    assert f"Signature(s) enregistrée(s) : {role}" in result(accepted)


# --- error pages ------------------------------------------------------------------------------


def assert_french_page(response, status: int, *words: str) -> None:  # type: ignore[no-untyped-def]
    """A French page of the portal, under its Content-Security-Policy: no inline code."""
    body = response.content.decode()
    assert response.status_code == status
    assert '<html lang="fr"' in body and "Not Found" not in body and "Forbidden" not in body
    for word in words:
        assert word in plain(response), (word, plain(response))
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)  # type: ignore[union-attr]
    assert all(f'nonce="{nonce}"' in tag for tag in re.findall(r"<script[^>]*>", body))
    assert " style=" not in body and "<style" not in body


@override_settings(DEBUG=False)
def test_error_pages_are_french_and_say_what_to_do(portal: Portal) -> None:
    token = portal.link(CHU, "ETAB")
    selector = token.split(".")[0]
    for path in (page(f"{selector}.faux"), page("inconnu")):
        assert_french_page(
            Client().get(path), 404, "Lien inconnu, expiré ou remplacé",
            "Utilisez le lien du dernier courriel reçu, ou demandez-en un à l'ARS",
        )  # fmt: skip
    # A link to a document since replaced by a new issue (no longer in the registry).
    gone = dataclasses.replace(portal.documents[CHU], id=portal.documents[CHU].id + 1000)
    stale = create_link(gone, "ETAB", "contact", "test").token
    assert_french_page(
        Client().get(page(stale)), 404, "remplacé par une nouvelle émission", "dernier courriel"
    )
    assert_french_page(Client().get("/nulle-part/"), 404, "Page introuvable", "se connecte")
    assert_french_page(portal.officer().get("/nulle-part/"), 404, "tableau de bord")
    assert_french_page(
        portal.officer("sans-droit").get(reverse("portail:contresignature")), 403, "Accès refusé"
    )
    assert_french_page(Client(HTTP_HOST="intrus.example").get("/"), 400, "Requête invalide")
    strict = Client(enforce_csrf_checks=True)
    csrf = strict.post(page(token), {"fichier": SimpleUploadedFile("a.pdf", b"%PDF-1.7")})
    assert_french_page(csrf, 403, "Formulaire expiré", "Rien n'a été enregistré")


def test_the_server_error_page_stands_alone(portal: Portal) -> None:
    from django.template.loader import get_template
    from django.test import RequestFactory
    from django.views.defaults import server_error

    standalone = get_template("500.html").render()  # no context, no request
    assert '<html lang="fr">' in standalone and "Erreur du serveur" in standalone
    assert "/static/dsfr/dist/dsfr/dsfr.min.css" in standalone
    assert "<script" not in standalone and " style=" not in standalone
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500 and "contactez l'ARS" in response.content.decode()


def test_an_upload_over_the_limit_is_refused_before_it_is_read(portal: Portal) -> None:
    with override_settings(CAQES_UPLOAD_MAX_BYTES=100 * 1024):
        response = upload(Client(), portal.link(CHU, "ETAB"), portal.issued[CHU].copies["ETAB"])
    assert response.status_code == 413
    assert "trop volumineux" in text(response)
    assert stored_files(portal, "depots") == [] and stored_files(portal, "refus") == []
    assert signed_parties(portal, CHU) == []


# --- settings -----------------------------------------------------------------------------------


def test_production_settings_pass_the_deployment_checks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {
        "PATH": "/usr/bin:/bin",
        "CAQES_DATA_DIR": str(tmp_path),
        "CAQES_SECRET_KEY": "k" * 10 + hashlib.sha256(b"test").hexdigest(),
        "CAQES_ALLOWED_HOSTS": "caqes.ars.example",
        "DJANGO_SETTINGS_MODULE": "caqes_docs.web.production",
    }
    check = subprocess.run(
        [sys.executable, "-m", "django", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "no issues" in check.stdout
    flags = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings as s; print("
         "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
         "s.SESSION_COOKIE_SAMESITE, s.CAQES_UPLOAD_MAX_BYTES, s.LANGUAGE_CODE, s.TIME_ZONE)"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert flags.stdout.split() == [
        "True", "True", "True", "Lax", str(50 * 1024 * 1024), "fr-fr", "Europe/Paris",
    ]  # fmt: skip
    del env["CAQES_SECRET_KEY"]
    missing = subprocess.run(
        [sys.executable, "-m", "django", "check"], env=env, capture_output=True, text=True
    )
    assert missing.returncode != 0 and "CAQES_SECRET_KEY" in missing.stderr


def test_officer_accounts_use_djangos_password_hasher(portal: Portal) -> None:
    portal.officer("hachage")
    user = get_user_model().objects.get(username="hachage")
    assert user.password.startswith("pbkdf2_sha256$")
    assert "mot-de-passe-agent" not in user.password


def test_the_demo_gets_an_officer_and_a_link_per_party(portal: Portal) -> None:
    from django.conf import settings

    from caqes_docs.web.bootstrap import prepare_portal_demo

    demo = prepare_portal_demo(portal.folder)
    assert len(demo.links) == 6 and demo.links_csv.read_text().count("/lien/") == 6
    client = Client()
    response = client.post(
        reverse("portail:connexion"), {"username": demo.username, "password": demo.password}
    )
    assert response.status_code == 302
    assert client.get(reverse("portail:contresignature")).status_code == 200
    token = demo.links[0][3].rsplit("/lien/", 1)[1].rstrip("/")
    assert demo.links[0][0] in text(Client().get(page(token)))
    assert str(portal.folder) in str(settings.CAQES_REGISTRY)


def test_csv_exports_do_not_carry_formulas(portal: Portal) -> None:
    from caqes_docs.web.views import _csv

    response = _csv("x.csv", ["nom"], [['=HYPERLINK("http://x")'], ["@SUM(A1)"], ["CHU"]])
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[1:] == [['\'=HYPERLINK("http://x")'], ["'@SUM(A1)"], ["CHU"]]


def test_avenant_and_termination_from_the_contract_page(portal: Portal) -> None:
    reference = portal.issued[CHU].contract.reference
    officer = portal.officer()
    url = reverse("portail:nouveau-document", args=[reference, "resiliation"])
    early = officer.post(url, {"volet": "1", "date_signature": "2023-03-01"}, follow=True)
    assert "Document non émis" in text(early) and "pas encore signé" in text(early)
    for role in ("ETAB", "CPAM", "ARS"):
        upload(Client(), portal.link(CHU, role), portal.issued[CHU].copies[role])
    done = officer.post(url, {"volet": "2", "date_signature": "2023-03-01"}, follow=True)
    assert "émis, date d'effet le 31/12/2023" in text(done), text(done)[-3000:]
    rows = text(officer.get(reverse("portail:tableau"), {"filtre": "ETAB"}))
    assert "résiliation volet 2 (avenant n°1)" in rows
    avenant = officer.post(
        reverse("portail:nouveau-document", args=[reference, "avenant"]),
        {"modifications": SimpleUploadedFile("m.yaml", b"x"), "date_signature": "2023-11-15"},
        follow=True,
    )
    assert "en attente de signature" in text(avenant)
    assert (
        officer.post(
            reverse("portail:nouveau-document", args=["CAQES-INCONNU", "resiliation"]),
            {"volet": "1", "date_signature": "2023-03-01"},
        ).status_code
        == 404
    )


def test_dashboard_excel_export_keeps_text_as_text(portal: Portal) -> None:
    from openpyxl import load_workbook

    upload(Client(), portal.link(CHU, "ETAB"), portal.issued[CHU].copies["ETAB"])
    response = portal.officer().get(reverse("portail:tableau"), {"format": "xlsx"})
    assert response["Content-Type"].endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = {row[0]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    chu = rows[portal.issued[CHU].contract.reference]
    assert chu[7] == "CPAM" and chu[4] is not None and chu[5] is None
    from caqes_docs.web.views import _xlsx

    hostile = load_workbook(io.BytesIO(_xlsx("x.xlsx", ["nom"], [['=HYPERLINK("x")']]).content))
    assert hostile.active["A2"].data_type == "s" and hostile.active["A2"].value.startswith("=")


def test_the_ars_key_may_be_a_pkcs11_token(softhsm_token, tmp_path: Path) -> None:
    from conftest_pki import FINESS as TOKEN_FINESS

    from caqes_docs.errors import CaqesError
    from caqes_docs.web.tasks import ars_signer

    pin = tmp_path / "pin.txt"
    token = {
        "CAQES_ARS_PKCS11_MODULE": str(softhsm_token.module),
        "CAQES_ARS_PKCS11_TOKEN": softhsm_token.label,
        "CAQES_ARS_PKCS11_KEY": softhsm_token.key_label,
        "CAQES_ARS_PIN_FILE": str(pin),
    }
    pin.write_text(softhsm_token.pin + "\n", encoding="utf-8")
    with override_settings(**token), ars_signer() as signer:
        # The certificate on the token (the test token holds an establishment's key), not the
        # PKCS#12 file the settings also name.
        subject = signer.signing_cert.subject.native
        assert subject["organization_identifier"] == f"FINESS-{TOKEN_FINESS}", subject
    pin.write_text("000000\n", encoding="utf-8")
    with (
        override_settings(**token),
        pytest.raises(CaqesError, match="code PIN incorrect"),
        ars_signer(),
    ):
        pass
