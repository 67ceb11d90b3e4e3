"""What mail is due, from a real SQLite registry across a simulated clock.

The documents are registered with stand-in PDF bytes (the registry only checks their digest);
sends are recorded as the portal records them: one ``courriel`` event per message, its key at
the end. Nothing here needs LibreOffice or a mail server: tests/web/test_mail.py sends.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from pathlib import Path

import pytest

from caqes_docs.inputs.campaign import Campaign, ReminderSettings, load_campaign
from caqes_docs.inputs.contract_file import load_contract
from caqes_docs.issued import IssuedRecord
from caqes_docs.registry.store import CONTRACT, DocumentRecord, Registry, Signature
from caqes_docs.workflows.reminders import (
    COMPLETION,
    INVITATION,
    MAIL_FAILED,
    MAIL_SENT,
    RECEIPT,
    REMINDER,
    Due,
    due_mail,
    last_reminders,
    mark,
)

ROOT = Path(__file__).resolve().parent.parent
DAY = dt.timedelta(days=1)


def _register(tmp_path: Path, campaign: Campaign) -> tuple[Registry, DocumentRecord]:
    contract = load_contract(ROOT / "examples" / "chu-fictif-bordeaux.yaml", campaign)
    pdf = tmp_path / f"{contract.reference}.pdf"
    pdf.write_bytes(b"%PDF-1.7 stand-in\n%%EOF\n")
    data = pdf.read_bytes()
    record = IssuedRecord(hashlib.sha256(data).hexdigest(), len(data), reference=contract.reference)
    registry = Registry.open(tmp_path / "caqes.db")
    document = registry.register_issued(contract, CONTRACT, pdf, record, campaign)
    return registry, document


@pytest.fixture
def registry(tmp_path: Path) -> tuple[Registry, DocumentRecord]:
    registry, document = _register(tmp_path, load_campaign())
    yield registry, document
    registry.close()


def _send(registry: Registry, due: Due, now: dt.datetime) -> None:
    """What the portal records after a successful send, dated by the simulated clock."""
    with registry.transaction():
        registry.add_event(
            due.document.contract_id, due.document.id, MAIL_SENT, f"courriel {mark(due.key)}"
        )
    with sqlite3.connect(registry.path) as db:
        db.execute("UPDATE events SET time = ? WHERE id = (SELECT max(id) FROM events)",
                   (now.isoformat(),))  # fmt: skip


def _send_all(registry: Registry, now: dt.datetime) -> list[Due]:
    due = due_mail(registry, now)
    for item in due:
        _send(registry, item, now)
    return due


def _sign(registry: Registry, document: DocumentRecord, role: str) -> None:
    with registry.transaction():
        registry.add_signatures(
            document, [Signature(role, f"Signataire {role}")], document.issued_path, "copie.pdf"
        )
        if role == "ARS":
            registry.complete(document)


def _kinds(due: list[Due]) -> list[tuple[str, str, int]]:
    return [(item.kind, item.role, item.number) for item in due]


def test_the_first_party_is_invited_once(registry: tuple[Registry, DocumentRecord]) -> None:
    reg, _ = registry
    now = dt.datetime.now().astimezone()
    assert _kinds(_send_all(reg, now)) == [(INVITATION, "ETAB", 0)]
    assert due_mail(reg, now) == []  # the second run finds nothing


def test_reminders_follow_the_campaign_schedule_and_stop_at_the_maximum(
    registry: tuple[Registry, DocumentRecord],
) -> None:
    """Default campaign: after 7 days, then every 7 days, at most 3."""
    reg, _ = registry
    start = dt.datetime.now().astimezone()
    _send_all(reg, start)
    assert due_mail(reg, start + 7 * DAY - dt.timedelta(minutes=1)) == []
    seen = []
    for day in range(1, 60):
        for item in _send_all(reg, start + day * DAY + dt.timedelta(minutes=1)):
            seen.append((day, item.kind, item.role, item.number))
    assert seen == [(7, REMINDER, "ETAB", 1), (14, REMINDER, "ETAB", 2), (21, REMINDER, "ETAB", 3)]
    assert set(last_reminders(reg)) == {registry[1].id}


def test_runs_missed_for_weeks_send_one_reminder_not_all(
    registry: tuple[Registry, DocumentRecord],
) -> None:
    reg, _ = registry
    start = dt.datetime.now().astimezone()
    _send_all(reg, start)
    late = start + 40 * DAY
    assert _kinds(_send_all(reg, late)) == [(REMINDER, "ETAB", 1)]
    assert due_mail(reg, late) == []


def test_a_failed_send_stays_due(registry: tuple[Registry, DocumentRecord]) -> None:
    reg, document = registry
    now = dt.datetime.now().astimezone()
    [invitation] = due_mail(reg, now)
    with reg.transaction():
        reg.add_event(
            document.contract_id, document.id, MAIL_FAILED, f"non remis {mark(invitation.key)}"
        )
    assert due_mail(reg, now) == [invitation]


def test_each_signature_moves_the_invitation_on_and_is_acknowledged(
    registry: tuple[Registry, DocumentRecord],
) -> None:
    reg, document = registry
    now = dt.datetime.now().astimezone()
    _send_all(reg, now)
    _sign(reg, document, "ETAB")
    assert _kinds(_send_all(reg, now)) == [(RECEIPT, "ETAB", 0), (INVITATION, "CPAM", 0)]
    # The CPAM is awaited since the ETAB signature: no reminder before 7 days from then.
    assert due_mail(reg, now + 6 * DAY) == []
    assert _kinds(due_mail(reg, now + 7 * DAY + dt.timedelta(minutes=5))) == [(REMINDER, "CPAM", 1)]
    _sign(reg, document, "CPAM")
    _sign(reg, document, "ARS")
    later = now + 8 * DAY
    assert _kinds(_send_all(reg, later)) == [
        (RECEIPT, "CPAM", 0),
        (RECEIPT, "ARS", 0),
        (COMPLETION, "ETAB", 0),
        (COMPLETION, "CPAM", 0),
        (COMPLETION, "ARS", 0),
    ]
    assert due_mail(reg, later + 30 * DAY) == []  # complete: no reminder ever


def test_the_campaign_sets_delay_interval_and_count(tmp_path: Path) -> None:
    settings = ReminderSettings(premier_delai_jours=3, intervalle_jours=2, nombre_max=1)
    campaign = load_campaign().model_copy(update={"reminders": settings})
    reg, _ = _register(tmp_path, campaign)
    with reg:
        start = dt.datetime.now().astimezone()
        _send_all(reg, start)
        assert due_mail(reg, start + 2 * DAY) == []
        assert _kinds(_send_all(reg, start + 3 * DAY + dt.timedelta(minutes=1))) == [
            (REMINDER, "ETAB", 1)
        ]
        assert due_mail(reg, start + 30 * DAY) == []


def test_the_reminder_section_is_validated() -> None:
    with pytest.raises(ValueError, match="premier_delai_jours"):
        ReminderSettings(premier_delai_jours=0)
    defaults = load_campaign().reminders
    assert (defaults.first_delay_days, defaults.interval_days, defaults.max_reminders) == (7, 7, 3)
