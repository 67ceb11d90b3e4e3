"""Delivery reports read from a real Maildir into a real SQLite registry.

The reports are built with the email package in the shapes Postfix (text/rfc822-headers) and
Exim (message/rfc822) give them, and delivered into ``new/`` as a delivery agent does; the
sends are recorded as the portal records them (``courriel`` events with ``(message <ID>)``).
"""

from __future__ import annotations

import datetime as dt
import email.policy
import mailbox
import os
from collections.abc import Iterator
from email.message import EmailMessage, Message, MIMEPart
from pathlib import Path

import pytest
from test_reminders import _register

from caqes_docs.errors import CaqesError
from caqes_docs.inputs.campaign import load_campaign
from caqes_docs.registry.store import DocumentRecord, Registry
from caqes_docs.workflows.bounces import (
    ALREADY,
    BOUNCED,
    NO_FAILURE,
    NOT_A_REPORT,
    NOT_OURS,
    TOO_LARGE,
    clean,
    collect_bounces,
    parse_bounce,
)
from caqes_docs.workflows.reminders import _KEY, MAIL_SENT, mark

POLICY = email.policy.default
ETAB_ID = "<176477052001.4242.1@caqes.ars.example>"
CPAM_ID = "<176477052002.4242.2@caqes.ars.example>"
ETAB_TO = "direction@chu-fictif.example"
CPAM_TO = ("caqes@cpam-33.example", "directeur@cpam-33.example")
SUBJECT = "Contrat CAQES-X : à signer"
USER_UNKNOWN = "550 5.1.1 <{0}>: Recipient address rejected: User unknown in local recipient table"
NOTICE_DATE = "Thu,  3 Dec 2026 14:02:00 +0100 (CET)"


# --- what the portal sent -----------------------------------------------------------------------


def _send(
    registry: Registry, document: DocumentRecord, kind: str, role: str, to: tuple[str, ...],
    message_id: str, party_name: str,
) -> str:  # fmt: skip
    """Record a successful send as web/mail.py does; its key."""
    key = f"{kind}:{document.id}:{role}"
    detail = (
        f"courriel « {SUBJECT} » ({kind}) envoyé à {', '.join(to)} ({party_name}) "
        f"(message {message_id}) {mark(key)}"
    )
    with registry.transaction():
        registry.add_event(document.contract_id, document.id, MAIL_SENT, detail)
    return key


def _original(message_id: str, to: tuple[str, ...]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "caqes@ars.example"
    message["To"] = ", ".join(to)
    message["Subject"] = SUBJECT
    message["Date"] = "Thu, 03 Dec 2026 14:01:57 +0100"
    message["Message-ID"] = message_id
    message.set_content("Bonjour,\n\nle contrat est à signer : https://caqes.ars.example/l/…\n")
    return message


# --- what comes back ------------------------------------------------------------------------


def _block(*fields: tuple[str, str]) -> Message:
    block = Message()
    for name, value in fields:
        block[name] = value
    return block


def _failure(address: str, action: str = "failed", status: str = "5.1.1") -> Message:
    """A per-recipient block as Postfix writes it."""
    return _block(
        ("Final-Recipient", f"rfc822; {address}"),
        ("Original-Recipient", f"rfc822;{address}"),
        ("Action", action),
        ("Status", status),
        ("Remote-MTA", "dns; mx.destinataire.example"),
        ("Diagnostic-Code", f"smtp; {USER_UNKNOWN.format(address)}"),
    )


def _report(
    original_part: MIMEPart, recipients: list[Message], *, notice_id: str, human: str
) -> bytes:
    report = EmailMessage()
    report["Return-Path"] = "<>"
    report["Delivered-To"] = "caqes@ars.example"
    report["From"] = "MAILER-DAEMON@mx.ars.example (Mail Delivery System)"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["To"] = "caqes@ars.example"
    report["Auto-Submitted"] = "auto-replied"
    report["MIME-Version"] = "1.0"
    report["Content-Type"] = "multipart/report; report-type=delivery-status"
    report["Message-Id"] = notice_id
    report["Date"] = NOTICE_DATE
    text = MIMEPart()
    text.set_content(human)
    text["Content-Description"] = "Notification"
    status = MIMEPart()
    status["Content-Description"] = "Delivery report"
    status["Content-Type"] = "message/delivery-status"
    per_message = _block(
        ("Reporting-MTA", "dns; mx.ars.example"),
        ("X-Postfix-Queue-ID", "3F1A2B"),
        ("X-Postfix-Sender", "rfc822; caqes@ars.example"),
        ("Arrival-Date", "Thu,  3 Dec 2026 14:01:58 +0100 (CET)"),
    )
    status.set_payload([per_message, *recipients])
    report.set_payload([text, status, original_part])
    return report.as_bytes(policy=POLICY)


def postfix(
    original: EmailMessage, recipients: list[Message], notice: str = "1", padding: int = 0
) -> bytes:
    """Postfix's report: the original message's headers only (text/rfc822-headers);
    ``padding`` lines of text make it as large as wanted."""
    headers = MIMEPart()
    headers["Content-Description"] = "Undelivered Message Headers"
    headers["Content-Type"] = "text/rfc822-headers"
    raw_headers = original.as_bytes(policy=POLICY).partition(b"\n\n")[0] + b"\n"
    headers.set_payload(raw_headers.decode("ascii"))  # as sent: « Subject: =?utf-8?q?…?= »
    return _report(
        headers, recipients, notice_id=f"<20261203130200.{notice}@mx.ars.example>",
        human="This is the mail system at host mx.ars.example.\n\nI'm sorry to have to inform "
        "you that your message could not\nbe delivered to one or more recipients.\n"
        + ("x" * 70 + "\n") * padding,
    )  # fmt: skip


def exim(original: EmailMessage, address: str) -> bytes:
    """Exim's report: the whole original message attached (message/rfc822)."""
    attached = MIMEPart()
    attached.set_content(original)
    recipient = _block(
        ("Action", "failed"),
        ("Final-Recipient", f"rfc822;{address}"),
        ("Status", "5.0.0"),
        ("Remote-MTA", "dns; mx.cpam-33.example"),
        ("Diagnostic-Code", f"smtp; 550 5.1.1 <{address}>: Recipient address rejected"),
    )
    return _report(
        attached, [recipient], notice_id="<E1vQx2a-000123-AB@mx.ars.example>",
        human="Ce message a été créé automatiquement par le logiciel de distribution.\n\n"
        f"L'adresse suivante a échoué :\n\n  {address}\n",
    )  # fmt: skip


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[tuple[Registry, DocumentRecord]]:
    registry, document = _register(tmp_path, load_campaign())
    yield registry, document
    registry.close()


@pytest.fixture
def box(tmp_path: Path) -> mailbox.Maildir:
    return mailbox.Maildir(tmp_path / "retours", create=True)


def _deliver(box: mailbox.Maildir, data: bytes) -> str:
    return box.add(mailbox.MaildirMessage(data))


def _bounces(registry: Registry) -> list[str]:
    return [event.detail for event in registry.events() if event.kind == BOUNCED]


# --- the parser ---------------------------------------------------------------------------------


def test_parse_bounce_reads_postfix_s_report() -> None:
    data = postfix(_original(ETAB_ID, (ETAB_TO,)), [_failure(ETAB_TO)])
    bounce = parse_bounce(data)
    assert bounce is not None
    assert bounce.message_id == "<20261203130200.1@mx.ars.example>"
    assert bounce.original_message_id == ETAB_ID
    assert bounce.date == dt.datetime(2026, 12, 3, 14, 2, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    [failed] = bounce.failed
    assert (failed.address, failed.original, failed.status) == (ETAB_TO, ETAB_TO, "5.1.1")
    # The type « smtp; » dropped, the folded line joined.
    assert failed.diagnostic == USER_UNKNOWN.format(ETAB_TO)


def test_parse_bounce_reads_exim_s_report_with_the_whole_message() -> None:
    bounce = parse_bounce(exim(_original(CPAM_ID, CPAM_TO), CPAM_TO[1]))
    assert bounce is not None
    assert bounce.original_message_id == CPAM_ID
    assert [(f.address, f.original, f.status) for f in bounce.failed] == [
        (CPAM_TO[1], None, "5.0.0")
    ]


def test_only_failed_recipients_are_failures() -> None:
    original = _original(CPAM_ID, CPAM_TO)
    report = postfix(
        original,
        [_failure(CPAM_TO[0], "delayed", "4.4.1"), _failure(CPAM_TO[1], "delivered", "2.0.0")],
    )
    bounce = parse_bounce(report)
    assert bounce is not None and bounce.original_message_id == CPAM_ID
    assert bounce.failed == ()
    assert parse_bounce(original.as_bytes()) is None
    assert parse_bounce(os.urandom(4096)) is None


def test_a_diagnostic_is_one_short_line_without_control_characters() -> None:
    hostile = "550\tUser\x1b[31m unknown \u202egnp.exe\u202c\r\n" + "x" * 1000
    shown = clean(hostile)
    assert len(shown) == 200 and shown.endswith("…")
    assert shown.startswith("550 User [31m unknown gnp.exe x")
    assert not any(c in shown for c in "\t\r\n\x1b\u202e\u202c")


# --- a run over the Maildir -----------------------------------------------------------------


def test_each_failed_recipient_of_a_send_becomes_one_event_and_the_rest_is_skipped(
    registry: tuple[Registry, DocumentRecord], box: mailbox.Maildir, tmp_path: Path
) -> None:
    reg, document = registry
    etab_key = _send(reg, document, "invitation", "ETAB", (ETAB_TO,), ETAB_ID, "Établissement")
    cpam_key = _send(reg, document, "relance", "CPAM", CPAM_TO, CPAM_ID, "CPAM")
    etab, cpam = _original(ETAB_ID, (ETAB_TO,)), _original(CPAM_ID, CPAM_TO)
    # A report that would be recorded, but for its size (another address, so no duplicate).
    _send(reg, document, "accusé de réception", "ARS", ("agents@ars.example",), "<h@x>", "ARS")

    def padded(lines: int) -> bytes:
        to = "agents@ars.example"
        return postfix(_original("<h@x>", (to,)), [_failure(to)], "h", padding=lines)

    huge = padded(100_000)
    assert len(huge) > 5 * 1024 * 1024 and parse_bounce(padded(10)) is not None
    keys = {
        "postfix": _deliver(box, postfix(etab, [_failure(ETAB_TO)])),
        "exim": _deliver(box, exim(cpam, CPAM_TO[1])),
        "delayed": _deliver(box, postfix(etab, [_failure(ETAB_TO, "delayed", "4.4.1")], "d")),
        "ordinary": _deliver(box, etab.as_bytes()),
        "huge": _deliver(box, huge),
        "garbage": _deliver(box, b"\x00\xff\xfe" + os.urandom(2048)),
        "unknown": _deliver(
            box, postfix(_original("<autre@ailleurs.example>", (ETAB_TO,)), [_failure(ETAB_TO)])
        ),
        "forged": _deliver(box, postfix(etab, [_failure("tiers@ailleurs.example")], "f")),
    }
    name = {key: label for label, key in keys.items()}

    run = collect_bounces(reg, tmp_path / "retours")

    assert run.examined == len(keys)
    assert sorted((name[r.message], r.address, r.status, r.key) for r in run.recorded) == [
        ("exim", CPAM_TO[1], "5.0.0", cpam_key),
        ("postfix", ETAB_TO, "5.1.1", etab_key),
    ]
    assert {r.reference for r in run.recorded} == {document.reference}
    assert {r.document for r in run.recorded} == {"contrat"}
    assert {name[s.message]: s.reason for s in run.skipped} == {
        "delayed": NO_FAILURE,
        "ordinary": NOT_A_REPORT,
        "huge": TOO_LARGE,
        "garbage": NOT_A_REPORT,
        "unknown": NOT_OURS,
        "forged": "destinataire tiers@ailleurs.example absent du courriel",
    }
    events = [e for e in reg.events(document_id=document.id) if e.kind == BOUNCED]
    assert [e.detail for e in events] == [
        f"courriel « {SUBJECT} » à {ETAB_TO} revenu non distribué le 03/12/2026 à 14:02 "
        f"(5.1.1 : {USER_UNKNOWN.format(ETAB_TO)}) ; corriger l'adresse de l'établissement "
        f"dans le portail {mark(etab_key)}",
        f"courriel « {SUBJECT} » à {CPAM_TO[1]} revenu non distribué le 03/12/2026 à 14:02 "
        f"(5.0.0 : 550 5.1.1 <{CPAM_TO[1]}>: Recipient address rejected) ; corriger l'adresse "
        f"de la CPAM dans le portail {mark(cpam_key)}",
    ]
    assert [_KEY.search(e.detail).group(1) for e in events] == [etab_key, cpam_key]
    assert {(e.reference, e.document) for e in events} == {(document.reference, "contrat")}

    # Every message moved to cur/, still unread for the human who opens the folder.
    assert os.listdir(tmp_path / "retours" / "new") == []
    for key in keys.values():
        message = box.get_message(key)
        assert (message.get_subdir(), message.get_flags()) == ("cur", "")

    again = collect_bounces(reg, tmp_path / "retours")
    assert (again.examined, again.recorded, again.skipped) == (0, [], [])
    assert len(_bounces(reg)) == 2


def test_a_report_read_again_makes_no_second_event(
    registry: tuple[Registry, DocumentRecord], box: mailbox.Maildir, tmp_path: Path
) -> None:
    reg, document = registry
    _send(reg, document, "invitation", "ETAB", (ETAB_TO,), ETAB_ID, "Établissement")
    key = _deliver(box, postfix(_original(ETAB_ID, (ETAB_TO,)), [_failure(ETAB_TO)]))
    assert len(collect_bounces(reg, tmp_path / "retours").recorded) == 1
    # A run killed after its event, before the move: the report is still in new/.
    folder = tmp_path / "retours"
    [moved] = os.listdir(folder / "cur")
    os.rename(folder / "cur" / moved, folder / "new" / key)

    run = collect_bounces(reg, folder)

    assert (run.examined, run.recorded) == (1, [])
    assert [s.reason for s in run.skipped] == [ALREADY]
    assert len(_bounces(reg)) == 1


def test_a_folder_that_is_not_a_maildir_is_one_french_line(
    registry: tuple[Registry, DocumentRecord], tmp_path: Path
) -> None:
    reg, _ = registry
    missing = tmp_path / "absent"
    with pytest.raises(CaqesError, match=f"^{missing} : dossier de courrier introuvable$"):
        collect_bounces(reg, missing)
    plain = tmp_path / "dossier"
    plain.mkdir()
    with pytest.raises(CaqesError, match=f"^{plain} : ce n'est pas un dossier de courrier"):
        collect_bounces(reg, plain)
