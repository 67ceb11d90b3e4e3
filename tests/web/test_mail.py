"""The portal's mail against a real SMTP server on 127.0.0.1 (aiosmtpd).

One example contract is really issued (LibreOffice) and signed in order with the demo PKI; its
parties have e-mail contacts. Each party follows the link of ITS mail and uploads its signed
copy through the portal; every message goes through SMTP to the test server, which can also
refuse (4xx, 5xx) or be absent (connection refused).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import mailbox
import os
import re
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from conftest import CHU, EXAMPLES, Keys
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import reverse

from caqes_docs.inputs.campaign import load_campaign
from caqes_docs.inputs.models import Contract
from caqes_docs.issued import load_issued_record, sidecar_path
from caqes_docs.parties import ROLES
from caqes_docs.registry.store import CONTRACT, DocumentRecord, Registry
from caqes_docs.signatures.signing import sign_documents
from caqes_docs.web import bootstrap, links
from caqes_docs.web.mail import (
    FAILED,
    HELD,
    NO_ADDRESS,
    SENT,
    after_upload,
    due_now,
    send_due,
)
from caqes_docs.web.models import Job
from caqes_docs.workflows.bordereau import check_bordereau
from caqes_docs.workflows.generate import generate
from caqes_docs.workflows.reminders import INVITATION, MAIL_FAILED, REMINDER

ADDRESSES = {
    "ETAB": "direction@chu-fictif.fr",
    "CPAM": "contrats@cpam-gironde.fr",
    "ARS": "caqes@ars-na.fr",
}
LINK = re.compile(r"http://\S+/lien/([^/\s]+)/")


# --- the SMTP server --------------------------------------------------------------------------


@dataclass
class Mailbox:
    """What the test server received, and how it answers (None: accept)."""

    messages: list[EmailMessage] = field(default_factory=list)
    rcpt_reply: str | None = None
    data_reply: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if self.data_reply:
            return self.data_reply
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def take(self) -> list[EmailMessage]:
        taken, self.messages = self.messages, []
        return taken


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


# --- one contract, issued and signed in order ---------------------------------------------------


@dataclass(frozen=True)
class Issued:
    contract: Contract
    pdf: bytes
    sidecar: bytes
    copies: dict[str, bytes]


@pytest.fixture(scope="module")
def chu(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Issued:
    work = tmp_path_factory.mktemp("courriels")
    report = generate([EXAMPLES / f"{CHU}.yaml"], work, registry=work / "emission.db")
    [item] = report.generated
    assert item.pdf is not None
    copies, source = {}, item.pdf
    for role in ROLES:
        target = work / f"{item.pdf.stem}-{role}.pdf"
        signer = keys.signers[item.contract.establishment.finess_ej][role]
        [result] = sign_documents([source], role, signer, output=target, trust_roots=[keys.root])
        assert result.ok, result.error
        copies[role] = target.read_bytes()
        source = target
    contract = item.contract.model_copy(
        update={
            "establishment": item.contract.establishment.model_copy(
                update={"email": ADDRESSES["ETAB"]}
            ),
            "cpam": item.contract.cpam.model_copy(update={"email": ADDRESSES["CPAM"]}),
        }
    )
    return Issued(contract, item.pdf.read_bytes(), sidecar_path(item.pdf).read_bytes(), copies)


@dataclass
class Exchange:
    folder: Path
    document: DocumentRecord
    copies: dict[str, bytes]
    client: Client = field(default_factory=Client)
    officer_client: Client | None = None

    @property
    def registry_path(self) -> Path:
        return self.folder / "caqes.db"

    def upload(self, token: str, data: bytes, name: str = "signe.pdf") -> int:
        page = reverse("portail:partie", args=[token])
        return self.client.post(page, {"fichier": SimpleUploadedFile(name, data)}).status_code

    def officer(self) -> Client:
        """A client logged in as an officer who may countersign (one account, one session)."""
        if self.officer_client is None:
            bootstrap.create_officer("directeur", "mot-de-passe-agent", countersign=True)
            self.officer_client = Client()
            self.officer_client.force_login(get_user_model().objects.get(username="directeur"))
        return self.officer_client

    def set_contacts(
        self, etab: str, cpam: str = ADDRESSES["CPAM"], reference: str | None = None
    ) -> HttpResponse:
        """The officer's form of the contract page: the parties' addresses."""
        return self.officer().post(
            reverse("portail:contacts", args=[reference or self.document.reference]),
            {"etab": etab, "cpam": cpam, "ars": ""},
        )

    def events(self, kind: str) -> list[str]:
        with Registry.open(self.registry_path) as registry:
            return [event.detail for event in registry.events() if event.kind == kind]

    def age_events(self, days: int) -> None:
        """Move the journal ``days`` into the past: the simulated clock's days go by."""
        moved = (("events", "time"), ("documents", "issued_at"), ("signatures", "recorded_at"))
        with sqlite3.connect(self.registry_path) as db:
            for table, column in moved:
                for row_id, time in db.execute(f"SELECT id, {column} FROM {table}").fetchall():
                    earlier = dt.datetime.fromisoformat(time) - dt.timedelta(days=days)
                    update = f"UPDATE {table} SET {column} = ? WHERE id = ?"
                    db.execute(update, (earlier.isoformat(), row_id))


@pytest.fixture
def exchange(
    tmp_path: Path, keys: Keys, chu: Issued, smtp: tuple[Mailbox, int]
) -> Iterator[Exchange]:
    contracts = tmp_path / "contrats"
    contracts.mkdir()
    pdf = contracts / f"{chu.contract.reference}.pdf"
    pdf.write_bytes(chu.pdf)
    sidecar_path(pdf).write_bytes(chu.sidecar)
    with Registry.open(tmp_path / "caqes.db") as registry:
        document = registry.register_issued(
            chu.contract, CONTRACT, pdf, load_issued_record(pdf), load_campaign()
        )
    overrides = override_settings(
        CAQES_REGISTRY=tmp_path / "caqes.db",
        CAQES_FILES=tmp_path / "portail",
        CAQES_CONTRACTS_DIR=contracts,
        CAQES_TRUST_ROOTS=[str(keys.root)],
        CAQES_ARS_P12=str(keys.ars),
        CAQES_ARS_PASSWORD_FILE=str(keys.password_file),
        CAQES_MAIL_ARS=[ADDRESSES["ARS"]],
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=smtp[1],
        EMAIL_USE_TLS=False,
        EMAIL_USE_SSL=False,
        EMAIL_TIMEOUT=10,
        DEFAULT_FROM_EMAIL="caqes@ars-na.fr",
    )
    with overrides, transaction.atomic():
        yield Exchange(tmp_path, document, chu.copies)
        transaction.set_rollback(True)


def _body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def _token(message: EmailMessage) -> str:
    [token] = LINK.findall(_body(message))
    return token


def _signed_through_the_mails(exchange: Exchange, box: Mailbox, roles: tuple[str, ...]) -> None:
    """Each party of ``roles`` signs from the link of its invitation, in order."""
    for role in roles:
        send_due()
        invitation = next(m for m in box.take() if "à signer" in str(m["Subject"]))
        assert exchange.upload(_token(invitation), exchange.copies[role]) == 200


def _summary(messages: list[EmailMessage]) -> list[tuple[str, str]]:
    return [(str(message["To"]), str(message["Subject"])) for message in messages]


# --- the sequence of one contract ---------------------------------------------------------------


def test_one_contract_signed_in_order_through_the_mails_alone(
    exchange: Exchange, smtp: tuple[Mailbox, int]
) -> None:
    box, _ = smtp
    run = send_due()
    [invitation] = box.take()
    assert invitation["To"] == ADDRESSES["ETAB"]
    assert "à signer par l'établissement" in invitation["Subject"]
    assert run.count(SENT) == 1

    sequence = [("ETAB", "CPAM"), ("CPAM", "ARS"), ("ARS", None)]
    signing_tokens = []
    for role, next_role in sequence:
        token = _token(invitation)
        signing_tokens.append(token)
        link = links.find_link(token)
        assert link is not None and link.party == role  # its own link, nothing else
        assert exchange.upload(token, exchange.copies[role]) == 200
        send_due(bordereaux=next_role is None)
        messages = box.take()
        receipt = next(m for m in messages if "votre signature est enregistrée" in m["Subject"])
        assert receipt["To"] == ADDRESSES[role]
        assert LINK.findall(_body(receipt)) == []  # a receipt carries no link
        if next_role is not None:
            [invitation] = [m for m in messages if "à signer" in m["Subject"]]
            assert invitation["To"] == ADDRESSES[next_role]
            assert len(messages) == 2
    completions = [m for m in messages if "signé par toutes les parties" in m["Subject"]]
    assert sorted(m["To"] for m in completions) == sorted(ADDRESSES.values())
    for message in completions:
        # Each party gets its own link to the final signed PDF, and the sealed bordereau.
        link = links.find_link(_token(message))
        role = next(r for r, address in ADDRESSES.items() if address == message["To"])
        assert link is not None and link.party == role
        [attachment] = list(message.iter_attachments())
        assert attachment.get_filename().endswith(".bordereau.pdf")
        assert attachment.get_content().startswith(b"%PDF-")
        page = exchange.client.get(reverse("portail:partie-document", args=[_token(message)]))
        assert page.status_code == 200
        # The party's page offers the bordereau too.
        offered = exchange.client.get(reverse("portail:partie", args=[_token(message)]))
        assert 'id="bordereau"' in offered.content.decode()
        proof = exchange.client.get(reverse("portail:partie-bordereau", args=[_token(message)]))
        assert b"".join(proof.streaming_content) == attachment.get_content()
    # The signing is over: the invitations' links gave way to the completion's.
    assert [links.find_link(token) for token in signing_tokens] == [None, None, None]
    # Nothing is sent twice.
    assert send_due().outcomes == []
    assert box.take() == []
    # One contract costs 9 mails when every party signs on its first invitation.
    assert len(exchange.events("courriel")) == 9


def test_a_refused_upload_gets_its_reason_and_a_link_the_used_one_still_works(
    exchange: Exchange, smtp: tuple[Mailbox, int]
) -> None:
    box, _ = smtp
    send_due()
    token = _token(box.take()[0])
    assert exchange.upload(token, b"ceci n'est pas un PDF", "contrat.pdf") == 422
    send_due()
    [refusal] = box.take()
    assert refusal["To"] == ADDRESSES["ETAB"]
    assert "n'a pas été accepté" in refusal["Subject"]
    body = _body(refusal)
    assert "ce fichier n'est pas un PDF" in body and "« contrat.pdf »" in body
    fresh = links.find_link(_token(refusal))
    assert fresh is not None and fresh.party == "ETAB"
    # The link the party used still works: it may reload its page and upload again.
    still = links.find_link(token)
    assert still is not None and still.party == "ETAB"
    send_due()
    assert box.take() == []


def test_the_portal_countersignature_sends_the_completion_with_the_bordereau(
    exchange: Exchange, smtp: tuple[Mailbox, int]
) -> None:
    box, _ = smtp
    _signed_through_the_mails(exchange, box, ROLES[:2])
    officer = exchange.officer()
    response = officer.post(
        reverse("portail:contresignature"), {"document": [str(exchange.document.id)]}
    )
    assert response.status_code == 302
    messages = box.take()  # sent by the countersignature job itself, no run needed
    completions = [m for m in messages if "signé par toutes les parties" in str(m["Subject"])]
    assert sorted(m["To"] for m in completions) == sorted(ADDRESSES.values())
    assert exchange.document.bordereau_path.is_file()
    assert len(exchange.events("bordereau")) == 1
    # Offered on the contract page to the officers.
    page = officer.get(reverse("portail:contrat", args=[exchange.document.reference]))
    href = reverse("portail:document", args=[exchange.document.id, "bordereau"])
    assert href in page.content.decode()
    download = officer.get(href)
    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    assert b"".join(download.streaming_content) == exchange.document.bordereau_path.read_bytes()
    # Downloaded into one folder under the names the portal gives, the bordereau and the
    # signed copy it describes are found by caqes verify --bordereau.
    folder = exchange.folder / "telechargements"
    folder.mkdir()
    for which in ("signe", "bordereau"):
        response = officer.get(reverse("portail:document", args=[exchange.document.id, which]))
        name = re.search(r'filename="([^"]+)"', response["Content-Disposition"]).group(1)
        (folder / name).write_bytes(b"".join(response.streaming_content))
    [bordereau] = folder.glob("*.bordereau.pdf")
    check = check_bordereau(bordereau, trust_roots=[settings.CAQES_TRUST_ROOTS[0]])
    assert check.ok and check.matches, check.problems


def test_sends_after_an_upload_skip_while_a_run_is_sending(
    exchange: Exchange, smtp: tuple[Mailbox, int]
) -> None:
    box, _ = smtp
    lock = Path(settings.CAQES_FILES) / "courriels.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a run of caqes relances in another process
        assert after_upload(exchange.document.id).outcomes == []  # type: ignore[union-attr]
        fcntl.flock(held, fcntl.LOCK_UN)
    assert box.take() == []
    assert send_due().count(SENT) == 1


# --- reminders across a simulated clock -------------------------------------------------------


def test_reminders_go_to_the_late_party_only_and_once(
    exchange: Exchange, smtp: tuple[Mailbox, int]
) -> None:
    box, _ = smtp
    send_due()
    etab_token = _token(box.take()[0])
    exchange.upload(etab_token, exchange.copies["ETAB"])
    send_due()
    box.take()  # receipt (ETAB) and invitation (CPAM)
    exchange.age_events(6)
    assert send_due().outcomes == []  # six days: nothing due yet
    exchange.age_events(2)
    run = send_due()
    [reminder] = box.take()
    assert reminder["To"] == ADDRESSES["CPAM"]
    assert str(reminder["Subject"]).strip().startswith("Relance n°1")
    assert [(o.due.kind, o.due.role, o.status) for o in run.outcomes] == [(REMINDER, "CPAM", SENT)]
    # The officers' dashboard shows the last reminder, on the page and in the CSV export.
    officer = exchange.officer()
    page = officer.get(reverse("portail:tableau")).content.decode()
    assert "relancé le" in page
    export = officer.get(reverse("portail:tableau"), {"format": "csv"}).content.decode("utf-8-sig")
    header, row = export.splitlines()[:2]
    columns = dict(zip(header.split(";"), row.split(";"), strict=True))
    assert columns["derniere_relance"] and columns["courriel_non_remis"] == ""
    assert send_due().outcomes == []  # the second run sends nothing
    assert box.take() == []
    # Reminder n°2 one interval later, and the dry run lists it without sending.
    exchange.age_events(7)
    listed = send_due(dry_run=True)
    assert [(o.due.kind, o.due.number) for o in listed.outcomes] == [(REMINDER, 2)]
    assert box.take() == []


# --- a failing server -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "reply", "expected"),
    [
        ("rcpt", "451 4.3.0 Réessayez plus tard", "451"),
        ("rcpt", "550 5.1.1 Boîte inconnue", "550"),
        ("data", "554 5.6.0 Message refusé", "554"),
    ],
    ids=["rcpt-4xx", "rcpt-5xx", "data-5xx"],
)
def test_a_refusing_server_leaves_the_send_pending(
    exchange: Exchange, smtp: tuple[Mailbox, int], where: str, reply: str, expected: str
) -> None:
    box, _ = smtp
    setattr(box, f"{where}_reply", reply)
    run = send_due()
    [outcome] = run.outcomes
    assert outcome.status == FAILED and expected in outcome.reason
    [failure] = exchange.events(MAIL_FAILED)
    assert expected in failure and "nouvel essai" in failure
    with Registry.open(exchange.registry_path) as registry:
        [still] = due_now(registry)
    assert still.kind == INVITATION
    setattr(box, f"{where}_reply", None)
    assert send_due().count(SENT) == 1
    assert [m["To"] for m in box.take()] == [ADDRESSES["ETAB"]]


def test_connection_refused_stops_the_run_and_the_next_run_sends(
    exchange: Exchange, smtp: tuple[Mailbox, int]
) -> None:
    box, _ = smtp
    with Registry.open(exchange.registry_path) as registry:
        assert len(due_now(registry)) == 1
    with override_settings(EMAIL_PORT=_free_port()):
        run = send_due()
    [outcome] = run.outcomes
    assert outcome.status == FAILED and "injoignable" in outcome.reason
    assert len(exchange.events(MAIL_FAILED)) == 1
    assert exchange.events("courriel") == []
    assert send_due().count(SENT) == 1
    assert len(box.take()) == 1


def test_reminders_leave_the_earlier_links_working(
    exchange: Exchange, smtp: tuple[Mailbox, int]
) -> None:
    box, _ = smtp
    send_due()
    token = _token(box.take()[0])
    exchange.age_events(8)
    box.data_reply = "452 4.2.2 Boîte pleine"
    [outcome] = send_due().outcomes
    assert (outcome.due.kind, outcome.status) == (REMINDER, FAILED)
    link = links.find_link(token)
    assert link is not None and link.party == "ETAB"  # the party still holds a working link
    box.data_reply = None
    [outcome] = send_due().outcomes
    assert (outcome.due.kind, outcome.status) == (REMINDER, SENT)
    assert links.find_link(_token(box.take()[0])) is not None
    assert links.find_link(token) is not None  # the invitation's link still works too


# --- contacts changed by an officer -------------------------------------------------------------


def test_an_officer_fixes_a_refused_address_and_the_invitation_goes_to_the_new_one(
    exchange: Exchange, smtp: tuple[Mailbox, int]
) -> None:
    box, _ = smtp
    box.rcpt_reply = "550 5.1.1 Destinataire inconnu"
    [outcome] = send_due().outcomes
    assert outcome.status == FAILED and outcome.recipients == (ADDRESSES["ETAB"],)
    box.rcpt_reply = None
    reference = exchange.document.reference
    page = reverse("portail:contrat", args=[reference])
    officer = exchange.officer()
    shown = officer.get(page).content.decode()
    assert ADDRESSES["ETAB"] in shown and "contrat (fichier de ciblage ou campagne)" in shown

    bad = exchange.set_contacts("secretariat@chu-fictif")
    assert bad.status_code == 400
    assert "adresse électronique mal formée" in bad.content.decode()
    assert exchange.events("contact modifié") == [] and box.take() == []

    fixed = exchange.set_contacts(" secretariat@chu-fictif.fr ")
    assert fixed.status_code == 302
    banner = officer.get(fixed["Location"]).content.decode()
    assert "1 courriel(s) envoyé(s) aussitôt" in banner
    # Only the establishment's address changed: one event naming the old and the new one.
    assert exchange.events("contact modifié") == [
        f"adresse électronique de l'établissement {ADDRESSES['ETAB']} → "
        "secretariat@chu-fictif.fr, par directeur"
    ]
    [invitation] = box.take()  # sent at once, to the new address only
    assert invitation["To"] == "secretariat@chu-fictif.fr"
    assert "à signer par l'établissement" in invitation["Subject"]
    assert send_due().outcomes == []
    later = officer.get(page).content.decode()
    assert "changée le" in later and "par directeur" in later
    with Registry.open(exchange.registry_path) as registry:
        [contract] = registry.export_data()["contrats"]
    assert [(c["partie"], c["courriel"], c["par"]) for c in contract["contacts_modifies"]] == [
        ("ETAB", "secretariat@chu-fictif.fr", "directeur")
    ]


def test_a_removed_address_leaves_the_message_waiting_for_one(
    exchange: Exchange, smtp: tuple[Mailbox, int]
) -> None:
    box, _ = smtp
    exchange.set_contacts("")
    assert box.take() == []
    [outcome] = send_due().outcomes
    assert outcome.status == NO_ADDRESS
    assert exchange.events("contact modifié") == [
        f"adresse électronique de l'établissement supprimée (était {ADDRESSES['ETAB']}), "
        "par directeur"
    ]
    unknown = exchange.set_contacts("", reference="CAQES-INCONNU")
    assert unknown.status_code == 404


# --- a message accepted by the server that comes back undelivered --------------------------------


def _bounce(maildir: Path, original: EmailMessage, address: str) -> None:
    """The delivery report a receiving MTA mails back (RFC 3464, as Postfix writes it)."""
    headers = "".join(
        f"{name}: {value}\n" for name, value in original.items() if name.lower() != "content-type"
    )
    report = f"""\
From: MAILER-DAEMON@mx.chu-fictif.fr (Mail Delivery System)
To: {original["From"]}
Subject: Undelivered Mail Returned to Sender
Date: Thu, 03 Dec 2026 14:02:00 +0100
Message-Id: <20261203130200.4F1@mx.chu-fictif.fr>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not be delivered.

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.chu-fictif.fr
Arrival-Date: Thu,  3 Dec 2026 14:01:58 +0100 (CET)

Final-Recipient: rfc822; {address}
Original-Recipient: rfc822;{address}
Action: failed
Status: 5.1.1
Remote-MTA: dns; boites.chu-fictif.fr
Diagnostic-Code: smtp; 550 5.1.1 <{address}>: Recipient address rejected: User
    unknown in virtual mailbox table

--B1
Content-Type: text/rfc822-headers

{headers}
--B1--
"""
    mailbox.Maildir(maildir, create=True).add(report.encode())


def test_a_bounced_invitation_waits_for_a_new_address_then_goes_to_it(
    exchange: Exchange, smtp: tuple[Mailbox, int], tmp_path: Path
) -> None:
    box, _ = smtp
    maildir = tmp_path / "retours"
    with override_settings(CAQES_BOUNCE_MAILDIR=str(maildir)):
        assert send_due().count(SENT) == 1  # the server accepts it
        [invitation] = box.take()
        _bounce(maildir, invitation, ADDRESSES["ETAB"])  # …the establishment's server does not

        run = send_due()
        assert run.bounces is not None and [b.address for b in run.bounces.recorded] == [
            ADDRESSES["ETAB"]
        ]
        [held] = run.outcomes
        assert (held.due.kind, held.status) == (INVITATION, HELD)
        assert f"revenu non distribué de {ADDRESSES['ETAB']}" in held.reason
        assert box.take() == []
        [event] = exchange.events("courriel non distribué")
        assert "5.1.1" in event and event.endswith(f"[clé invitation:{exchange.document.id}:ETAB]")
        # The dashboard flags the document, until its mail goes through.
        officer = exchange.officer()
        flagged = officer.get(reverse("portail:tableau"), {"filtre": "courriel"})
        assert "courriel non remis" in flagged.content.decode()
        assert exchange.document.reference in flagged.content.decode()

        assert send_due().outcomes[0].status == HELD  # still nothing to the same address
        exchange.set_contacts("secretariat@chu-fictif.fr")
        [again] = box.take()
        assert again["To"] == "secretariat@chu-fictif.fr"
        assert again["Message-ID"] != invitation["Message-ID"]
        assert send_due().outcomes == []
        cleared = officer.get(reverse("portail:tableau"), {"filtre": "courriel"})
        assert exchange.document.reference not in cleared.content.decode()


# --- the command an officer or cron runs --------------------------------------------------------


def _relances(data: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "caqes_docs", "relances", "--data", str(data), *args],
        capture_output=True, text=True, check=False,
        env={**os.environ, "CAQES_MAIL_ARS": ADDRESSES["ARS"], "COLUMNS": "100", **env},
    )  # fmt: skip


def _mail_files(data: Path) -> list[EmailMessage]:
    """The messages Django's file backend wrote (one file per message, oldest first)."""
    files = sorted((data / "courriels").glob("*.eml"), key=lambda path: path.stat().st_mtime_ns)
    return [message_from_bytes(path.read_bytes(), policy=policy.default) for path in files]


def test_caqes_relances_reads_the_bounces_and_waits_for_a_corrected_address(
    tmp_path: Path, chu: Issued
) -> None:
    data = tmp_path / "donnees"
    contracts = data / "contrats"
    contracts.mkdir(parents=True)
    pdf = contracts / f"{chu.contract.reference}.pdf"
    pdf.write_bytes(chu.pdf)
    sidecar_path(pdf).write_bytes(chu.sidecar)
    with Registry.open(data / "caqes.db") as registry:
        registry.register_issued(
            chu.contract, CONTRACT, pdf, load_issued_record(pdf), load_campaign()
        )
    maildir = tmp_path / "retours"
    mailbox.Maildir(maildir, create=True)

    planned = _relances(data, "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert "invitation → Établissement (attendu depuis le" in planned.stdout
    assert planned.stdout.rstrip().endswith("1 courriel(s) à envoyer (essai : rien n'est envoyé).")
    assert not (data / "courriels").exists()

    first = _relances(data, CAQES_BOUNCE_MAILDIR=str(maildir))
    assert first.returncode == 0, first.stderr
    [invitation] = _mail_files(data)
    assert invitation["To"] == ADDRESSES["ETAB"]
    _bounce(maildir, invitation, ADDRESSES["ETAB"])

    second = _relances(data, CAQES_BOUNCE_MAILDIR=str(maildir))
    assert second.returncode == 0, second.stderr
    lines = second.stdout.splitlines()
    assert lines[0] == (
        f"{chu.contract.reference} contrat : courriel à {ADDRESSES['ETAB']} non distribué "
        f"(5.1.1 : 550 5.1.1 <{ADDRESSES['ETAB']}>: Recipient address rejected: User unknown in "
        "virtual mailbox table)"
    )
    assert lines[1].startswith(f"{chu.contract.reference} contrat : invitation → Établissement")
    assert lines[2].startswith(f"    en attente d'une autre adresse à {ADDRESSES['ETAB']}")
    assert all(len(line) <= 100 for line in lines[1:])
    assert lines[-1] == (
        "0 envoyé(s), 0 en échec, 0 non tenté(s), 0 sans adresse, 1 en attente d'une autre adresse."
    )
    assert len(_mail_files(data)) == 1

    subprocess.run(
        [sys.executable, "-m", "caqes_docs", "contact", chu.contract.reference,
         "--etab", "secretariat@chu-fictif.fr", "--registry", str(data / "caqes.db")],
        check=True, capture_output=True,
    )  # fmt: skip
    third = _relances(data, CAQES_BOUNCE_MAILDIR=str(maildir))
    assert third.returncode == 0, third.stderr
    assert third.stdout.rstrip().endswith(
        "1 envoyé(s), 0 en échec, 0 non tenté(s), 0 sans adresse, 0 en attente d'une autre adresse."
    )
    assert [m["To"] for m in _mail_files(data)] == [ADDRESSES["ETAB"], "secretariat@chu-fictif.fr"]

    broken = _relances(data, CAQES_BOUNCE_MAILDIR=str(tmp_path / "absent"))
    assert broken.returncode == 1
    assert broken.stderr.startswith("avis de non-remise non lus : ")


def test_a_new_address_gets_the_invitation_again_and_the_old_link_dies(
    exchange: Exchange, smtp: tuple[Mailbox, int]
) -> None:
    box, _ = smtp
    send_due()
    [first] = box.take()
    old_token = _token(first)
    exchange.set_contacts("nouvelle-direction@chu-fictif.fr")
    [again] = box.take()  # at once, from the portal
    assert again["To"] == "nouvelle-direction@chu-fictif.fr"
    assert "à signer par l'établissement" in again["Subject"]
    assert links.find_link(old_token) is None  # the former director's link is revoked
    new_link = links.find_link(_token(again))
    assert new_link is not None and new_link.party == "ETAB"
    assert send_due().outcomes == []  # once
    # The CPAM's address changes too, but the CPAM is not awaited yet: nothing goes to it.
    exchange.set_contacts("nouvelle-direction@chu-fictif.fr", "caqes@cpam-gironde.fr")
    assert box.take() == []


def test_a_document_under_countersignature_is_not_offered_twice(
    exchange: Exchange, smtp: tuple[Mailbox, int]
) -> None:
    box, _ = smtp
    _signed_through_the_mails(exchange, box, ROLES[:2])
    officer = exchange.officer()
    page = officer.get(reverse("portail:contresignature")).content.decode()
    assert f'name="document" value="{exchange.document.id}"' in page
    Job.objects.create(  # a countersignature queued by another officer, not run yet
        kind=Job.COUNTERSIGN, label="Contresignature ARS de 1 document(s)", created_by="paul",
        arguments={"documents": [exchange.document.id]},
    )  # fmt: skip
    page = officer.get(reverse("portail:contresignature")).content.decode()
    assert f'name="document" value="{exchange.document.id}"' not in page
    assert "Contresignature en cours" in page and exchange.document.reference in page
    jobs = Job.objects.count()
    officer.post(reverse("portail:contresignature"), {"document": [str(exchange.document.id)]})
    assert Job.objects.count() == jobs  # nothing queued twice
