"""What mail is due, read from the registry alone: invitations, reminders, receipts, completions.

Every message the exchange sends is a consequence of the registry's state, and every message
sent is an event of the registry (kind ``courriel``, its key at the end of the detail). So the
mail due at a given moment is what the state calls for minus what the journal says was sent:

- an **invitation** to the party whose turn it is (the first one of the signing order that
  has not signed), once per document and party;
- **reminders** to that party, as the campaign's ``relances`` section says: the first one
  ``premier_delai_jours`` after it became awaited (or after its invitation, if later), then
  every ``intervalle_jours``, at most ``nombre_max``;
- a **receipt** to each party whose signature was recorded;
- a **completion** notice to each of the parties once the document is signed by all.

A second run at the same moment finds nothing due: the first one's sends are in the journal.
A failed send (event ``courriel en échec``) is not a send: the next run tries again. Nor is a
send that came back undelivered (event ``courriel non distribué``, :mod:`.bounces`): it is due
again, and :attr:`Journal.undelivered` names the addresses it must not go back to. The clock
is a parameter, so that tests and ``--dry-run`` can ask « what would be due on that day ».
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from caqes_docs.inputs.campaign import ReminderSettings
from caqes_docs.parties import ROLES, party
from caqes_docs.registry.store import (
    ISSUED,
    SIGNED,
    SIGNING,
    ContractRecord,
    DocumentRecord,
    Registry,
    missing_parties,
)

MAIL_SENT = "courriel"
MAIL_FAILED = "courriel en échec"
MAIL_BOUNCED = "courriel non distribué"

INVITATION = "invitation"
REMINDER = "relance"
RECEIPT = "accusé de réception"
COMPLETION = "achèvement"
REFUSAL = "refus"
KINDS = (INVITATION, REMINDER, RECEIPT, COMPLETION, REFUSAL)

_KEY = re.compile(r"\[clé ([^\]]+)\]\s*$")
_BOUNCED_TO = re.compile(r" à (\S+) revenu non distribué ")
_SENT = re.compile(
    r"courriel « (?P<subject>.*) » \([^()]*\) envoyé à (?P<to>[^\s,]+(?:, [^\s,]+)*) "
    r"\([^()]*\)(?: \(message (?P<id><[^<>\s]+>)\))? \[clé (?P<key>[^\]]+)\]\s*",
    re.DOTALL,
)


@dataclass(frozen=True)
class Due:
    """One message due: its kind, its document and the party it goes to."""

    kind: str
    document: DocumentRecord
    contract: ContractRecord
    role: str
    number: int = 0
    """The reminder's number (1, 2, …); 0 for the other kinds."""
    since: dt.datetime | None = None
    """Since when the party is awaited (invitations and reminders)."""
    item: int | None = None
    """What the message is about beyond the document (a refused upload's ID)."""
    order: tuple[str, ...] = ROLES
    """The document's signing order (its campaign's)."""

    @property
    def key(self) -> str:
        """What the journal records, so that the message is sent once."""
        key = f"{self.kind}:{self.document.id}:{self.role}"
        if self.kind == REMINDER:
            key += f":{self.number}"
        if self.item is not None:
            key += f":{self.item}"
        return key

    @property
    def party_name(self) -> str:
        return party(self.role).name

    def describe(self) -> str:
        """One French line for ``caqes relances --dry-run``."""
        what = f"relance n°{self.number}" if self.kind == REMINDER else self.kind
        since = f" (attendu depuis le {self.since:%d/%m/%Y})" if self.since else ""
        return (
            f"{self.document.reference} {self.document.label} : {what} → {self.party_name}{since}"
        )


def mark(key: str) -> str:
    """The end of a mail event's detail that names its key."""
    return f"[clé {key}]"


@dataclass(frozen=True)
class SentMail:
    """What the journal says of one successful send (event ``courriel``)."""

    subject: str
    recipients: tuple[str, ...]
    message_id: str | None
    """Its Message-ID, which delivery reports name (None in events older than it)."""
    key: str


def sent_detail(due: Due, subject: str, recipients: tuple[str, ...], message_id: str) -> str:
    """The detail of a send's event, which :func:`read_sent` reads back."""
    return (
        f"courriel « {subject} » ({due.kind}) envoyé à {', '.join(recipients)} "
        f"({due.party_name}) (message {message_id}) {mark(due.key)}"
    )


def read_sent(detail: str) -> SentMail | None:
    found = _SENT.fullmatch(detail)
    if found is None:
        return None
    return SentMail(found["subject"], tuple(found["to"].split(", ")), found["id"], found["key"])


_MACHINE_PARTS = re.compile(r" \(message <[^<>]*>\)| \[clé [^\]]*\]\s*$")


def readable(detail: str) -> str:
    """An event's detail as officers read it: without the Message-ID and key kept for the
    machine."""
    return _MACHINE_PARTS.sub("", detail)


@dataclass
class Journal:
    """What the registry's mail events say, per message key."""

    sent: dict[str, list[dt.datetime]] = field(default_factory=lambda: defaultdict(list))
    """Times of each successful send; a send that came back undelivered is not one."""
    undelivered: dict[str, set[str]] = field(default_factory=dict)
    """The addresses the key's last send came back undelivered from."""
    failures: dict[str, str] = field(default_factory=dict)
    """The detail of the key's last failure (refusal, bounce) not followed by a send."""
    recipients: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """The addresses of the key's last successful send."""


def mail_journal(registry: Registry) -> Journal:
    journal = Journal()
    for event in registry.events():
        if event.kind not in (MAIL_SENT, MAIL_FAILED, MAIL_BOUNCED):
            continue
        found = _KEY.search(event.detail)
        if not found:
            continue
        key = found.group(1)
        if event.kind == MAIL_SENT:
            journal.sent[key].append(dt.datetime.fromisoformat(event.time))
            sent = read_sent(event.detail)
            if sent is not None:
                journal.recipients[key] = sent.recipients
            journal.undelivered.pop(key, None)
            journal.failures.pop(key, None)
            continue
        journal.failures[key] = event.detail
        if event.kind == MAIL_BOUNCED:
            _undo_send(journal, key, _BOUNCED_TO.search(event.detail))
    return journal


def _undo_send(journal: Journal, key: str, address: re.Match[str] | None) -> None:
    sent = journal.sent.get(key)
    if sent and key not in journal.undelivered:  # one bounce undoes its send once
        sent.pop()
        if not sent:
            del journal.sent[key]
    journal.undelivered.setdefault(key, set()).update([address.group(1)] if address else [])


def mail_problems(
    registry: Registry, now: dt.datetime | None = None, journal: Journal | None = None
) -> dict[int, str]:
    """Document ID → the last failure of a message it still has due (for the dashboard)."""
    journal = journal or mail_journal(registry)
    problems: dict[int, str] = {}
    for due in due_mail(registry, now, journal.sent):
        if due.key in journal.failures:
            problems[due.document.id] = journal.failures[due.key]
    return problems


def due_mail(
    registry: Registry,
    now: dt.datetime | None = None,
    sent: dict[str, list[dt.datetime]] | None = None,
    readdressed: Callable[[Due], bool] | None = None,
) -> list[Due]:
    """Everything the registry's state calls for at ``now`` (aware) that was not sent yet.

    ``sent``: the journal's sends (:attr:`Journal.sent`), when the caller has read them already.
    ``readdressed``: whether the awaited party's invitation went to addresses that are no longer
    its own (its contact changed since): the invitation is then due again.
    """
    now = now or dt.datetime.now().astimezone()
    sent = sent if sent is not None else mail_journal(registry).sent
    contracts = {contract.id: contract for contract in registry.contracts()}
    settings: dict[str, tuple[tuple[str, ...], ReminderSettings | None]] = {}
    due: list[Due] = []
    for document in registry.documents():
        contract = contracts[document.contract_id]
        if contract.campaign not in settings:  # one campaign validation each, not a contract
            campaign = contract.campaign_model()
            reminders = campaign.reminders if campaign is not None else None
            settings[contract.campaign] = (contract.signing_order(), reminders)
        order, reminders = settings[contract.campaign]
        due += _document_due(registry, document, contract, order, reminders, sent, now, readdressed)
    return due


def _document_due(
    registry: Registry,
    document: DocumentRecord,
    contract: ContractRecord,
    order: tuple[str, ...],
    reminders: ReminderSettings | None,
    sent: dict[str, list[dt.datetime]],
    now: dt.datetime,
    readdressed: Callable[[Due], bool] | None = None,
) -> list[Due]:
    signatures = registry.signatures(document.id)
    due = [
        item
        for item in (Due(RECEIPT, document, contract, sig.party, order=order) for sig in signatures)
        if item.key not in sent
    ]
    if document.status == SIGNED:
        due += [
            item
            for item in (Due(COMPLETION, document, contract, role, order=order) for role in order)
            if item.key not in sent
        ]
        return due
    if document.status not in (ISSUED, SIGNING):
        return due
    waiting = missing_parties([sig.party for sig in signatures], order)
    if not waiting:
        return due
    role = waiting[0]
    since = dt.datetime.fromisoformat(
        max((sig.recorded_at for sig in signatures), default=document.issued_at)
    )
    invitation = Due(INVITATION, document, contract, role, since=since, order=order)
    if invitation.key not in sent or (readdressed is not None and readdressed(invitation)):
        return [*due, invitation]
    reminder = next_reminder(invitation, reminders, sent, now)
    return [*due, reminder] if reminder is not None else due


def next_reminder(
    invitation: Due,
    reminders: ReminderSettings | None,
    sent: dict[str, list[dt.datetime]],
    now: dt.datetime,
) -> Due | None:
    """The reminder due at ``now`` after ``invitation`` was sent, if any."""
    if reminders is None or invitation.since is None:
        return None

    def reminder(number: int) -> Due:
        document, contract, role = invitation.document, invitation.contract, invitation.role
        return Due(
            REMINDER,
            document,
            contract,
            role,
            number,
            since=invitation.since,
            order=invitation.order,
        )

    done = 0
    while reminder(done + 1).key in sent:
        done += 1
    if done >= reminders.max_reminders:
        return None
    # From when the party became awaited, or from its invitation when that came later.
    base = max(invitation.since, min(sent[invitation.key]))
    when = base + dt.timedelta(days=reminders.first_delay_days + done * reminders.interval_days)
    if done:  # runs missed for weeks send one reminder, not all of them at once
        last = max(sent[reminder(done).key])
        when = max(when, last + dt.timedelta(days=reminders.interval_days))
    return reminder(done + 1) if now >= when else None


def last_reminders(registry: Registry, journal: Journal | None = None) -> dict[int, dt.datetime]:
    """Document ID → time of its last reminder sent (for the dashboard)."""
    last: dict[int, dt.datetime] = {}
    for key, times in (journal or mail_journal(registry)).sent.items():
        kind, _, rest = key.partition(":")
        if kind != REMINDER:
            continue
        document_id = int(rest.split(":", 1)[0])
        last[document_id] = max(max(times), last.get(document_id, max(times)))
    return last
