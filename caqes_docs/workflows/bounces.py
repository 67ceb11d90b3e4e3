"""Bounces: the delivery status notifications that come back after a send, as registry events.

An SMTP server that accepted a message may still fail to deliver it: the receiving side then
mails a delivery status notification (RFC 3464, « adresse injoignable ») to the envelope
sender, minutes or days later. That mailbox is a Maildir folder (what Postfix, Dovecot or
fetchmail deliver to); :func:`collect_bounces` reads it and records each failed recipient of a
message caqes sent as an event ``courriel non distribué`` on the document the message was
about, its detail ending with the send's key mark, like every mail event.

How, and why so:

- **Maildir ``new/`` → ``cur/``.** ``new/`` holds what no mail reader has seen yet: only it is
  read. Each message examined is then renamed into ``cur/`` with its flags unchanged (``:2,``
  and no ``S``), as a mail reader does when it first lists a message: a human still sees it
  unread, and the next run does not read it again. It is renamed, never rewritten: the bytes
  stay as received and a huge message is never loaded. (The ``mailbox`` module has no listing of
  ``new/`` alone, and moving through ``MaildirMessage.set_subdir`` would re-serialise the whole
  message; ``mailbox.Maildir`` still opens the folder and gives the name's separator.)
- **Idempotent.** A run killed between an event and its rename reads the message again; the
  same notice makes the same detail, found among the journal's ``courriel non distribué``
  events, so it is not recorded twice.
- **Hostile input.** A message over :data:`MAX_BYTES`, one the ``email`` package cannot read,
  one that is not an RFC 3464 report, a report of delays or deliveries only, a report about a
  message caqes did not send: each is skipped with its French reason, none raises. Only a
  recipient with ``Action: failed``, in a report whose attached original headers carry the
  Message-ID of a ``courriel`` event, and who was one of that message's recipients, makes an
  event: a forged notice cannot accuse an address caqes never wrote to, and what the event says
  of the notice is its status code and a cleaned, shortened diagnostic.

The send events are read by :func:`~caqes_docs.workflows.reminders.read_sent`, in the format
:func:`~caqes_docs.workflows.reminders.sent_detail` writes them::

    courriel « SUBJECT » (KIND) envoyé à A, B (PARTY) (message <ID>) [clé KIND:DOCUMENT:ROLE…]
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import email.utils
import mailbox
import os
import re
import unicodedata
from email.message import Message
from email.parser import BytesHeaderParser
from pathlib import Path

from caqes_docs.errors import InputError
from caqes_docs.files import local_time, system_reason
from caqes_docs.parties import ROLES, party
from caqes_docs.registry.store import DocumentRecord, Registry
from caqes_docs.workflows.reminders import MAIL_BOUNCED, MAIL_SENT, mark, read_sent

BOUNCED = MAIL_BOUNCED
MAX_BYTES = 5 * 1024 * 1024
"""A delivery report is a few kilobytes, with the original message at most: larger is refused."""
DIAGNOSTIC_CHARS = 200

TOO_LARGE = f"trop volumineux (plus de {MAX_BYTES // (1024 * 1024)} Mo)"
NOT_A_REPORT = "pas un avis de non-remise"
NO_FAILURE = "aucun destinataire en échec (avis de retard ou de remise)"
NOT_OURS = "pas un courriel de caqes"
ALREADY = "avis déjà enregistré"
NOT_A_FILE = "pas un fichier de courrier"

_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
_ORIGINAL_TYPES = (
    "text/rfc822-headers",
    "message/rfc822",
    "message/global",
    "message/global-headers",
)
# A mail key: KIND:DOCUMENT:ROLE, then a reminder's number or an item (reminders.Due.key).
_KEY_PARTS = re.compile(r"[^:]+:(?P<document>[0-9]+):(?P<role>[A-Z]+)(?::.*)?", re.DOTALL)
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
_DIAGNOSTIC_TYPE = re.compile(r"\s*[A-Za-z][\w-]*\s*;")
_BLANK_LINE = re.compile(rb"\r?\n[ \t]*\r?\n")


# --- the report, parsed ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FailedRecipient:
    """One recipient a delivery report says failed (``Action: failed``)."""

    address: str
    """``Final-Recipient``: where delivery was last tried."""
    original: str | None
    """``Original-Recipient``: the address as the sender gave it, when the report says it."""
    status: str
    """The RFC 3463 code (``5.1.1``), or ``?`` when the report gives none that reads."""
    diagnostic: str
    """``Diagnostic-Code`` without its type, control characters removed, shortened."""

    def addresses(self) -> tuple[str, ...]:
        return tuple(a for a in (self.original, self.address) if a)


@dataclasses.dataclass(frozen=True)
class Bounce:
    """What a delivery status notification (RFC 3464) says."""

    message_id: str | None
    """The notice's own Message-ID."""
    original_message_id: str | None
    """The Message-ID of the message it reports on, from the attached original headers."""
    date: dt.datetime | None
    """When the notice was written (its ``Date``), aware; None when it has no readable date."""
    failed: tuple[FailedRecipient, ...]
    """Only the recipients that failed: delays, deliveries and relays are not failures."""


def parse_bounce(data: bytes) -> Bounce | None:
    """The delivery report ``data`` holds; None when it is not one (RFC 3464).

    Raises :class:`InputError` for a message too large or that the ``email`` package cannot
    read.
    """
    if len(data) > MAX_BYTES:
        raise InputError(f"courriel {TOO_LARGE}")
    try:
        return _parse(email.message_from_bytes(data, policy=email.policy.default))
    # The email package's header parsers answer some hostile inputs with assorted exceptions
    # (IndexError, TypeError…) rather than defects: whatever they raise, the message is bad.
    except Exception as exc:
        raise InputError(f"courriel illisible ({type(exc).__name__})") from exc


def _parse(message: Message) -> Bounce | None:
    if message.get_content_type() != "multipart/report" or not message.is_multipart():
        return None
    report_type = message.get_param("report-type", "")
    if str(email.utils.collapse_rfc2231_value(report_type)).lower() != "delivery-status":
        return None
    parts = list(message.iter_parts())
    status = next((p for p in parts if p.get_content_type() in _STATUS_TYPES), None)
    if status is None:
        return None
    original = next((p for p in parts if p.get_content_type() in _ORIGINAL_TYPES), None)
    original_id = _message_id(_original_headers(original).get("Message-ID")) if original else None
    return Bounce(
        message_id=_message_id(message.get("Message-ID")),
        original_message_id=original_id,
        date=_date(message),
        failed=tuple(
            _recipient(block)
            for block in _blocks(status)
            if str(block.get("Action", "")).strip().lower().startswith("failed")
            and _address(block.get("Final-Recipient"))
        ),
    )


def _blocks(part: Message) -> list[Message]:
    """The header blocks of a delivery-status part: per message, then one per recipient."""
    payload = part.get_payload()
    if isinstance(payload, list):  # the email package splits message/delivery-status itself
        return payload
    raw = part.get_payload(decode=True) or b""
    parser = BytesHeaderParser(policy=email.policy.default)
    return [parser.parsebytes(chunk) for chunk in _BLANK_LINE.split(raw) if chunk.strip()]


def _original_headers(part: Message) -> Message:
    if part.is_multipart():  # message/rfc822, parsed as a message of its own
        return part.get_payload(0)
    raw = part.get_payload(decode=True) or b""
    return BytesHeaderParser(policy=email.policy.default).parsebytes(raw)


def _recipient(block: Message) -> FailedRecipient:
    found = _STATUS.search(str(block.get("Status", "")))
    diagnostic = str(block.get("Diagnostic-Code", ""))
    kind = _DIAGNOSTIC_TYPE.match(diagnostic)  # « smtp; 550 … »: the type says nothing to users
    return FailedRecipient(
        address=_address(block.get("Final-Recipient")) or "",
        original=_address(block.get("Original-Recipient")),
        status=found.group() if found else "?",
        diagnostic=clean(diagnostic[kind.end() :] if kind else diagnostic),
    )


def _address(value: object) -> str | None:
    """The address of ``rfc822; x@y`` (address type, then address)."""
    text = str(value or "")
    address = text.partition(";")[2] if ";" in text else text
    address = address.strip().strip("<>").strip()
    return address if address and not any(c.isspace() for c in address) else None


def _message_id(value: object) -> str | None:
    text = str(value or "").strip()
    found = _MESSAGE_ID.search(text)
    if found:
        return found.group()
    return f"<{text}>" if text and _MESSAGE_ID.fullmatch(f"<{text}>") else None


def _date(message: Message) -> dt.datetime | None:
    header = message.get("Date")
    moment = getattr(header, "datetime", None)
    if not isinstance(moment, dt.datetime):
        return None
    # « -0000 » (no known zone) parses naive: RFC 5322 reads it as UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def clean(text: str, limit: int = DIAGNOSTIC_CHARS) -> str:
    """One line of at most ``limit`` characters, without control or formatting characters
    (escapes, bidirectional overrides) that would disguise what the journal shows."""
    kept = "".join(" " if unicodedata.category(c) in ("Cc", "Cf") else c for c in text)
    line = " ".join(kept.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


# --- the run --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RecordedBounce:
    """A failed recipient recorded as an event ``courriel non distribué``."""

    message: str
    """The notice's file name in the Maildir."""
    address: str
    status: str
    diagnostic: str
    reference: str
    document: str
    """The document's label (« contrat », « avenant n°2 »…)."""
    key: str
    """The key of the send it reports on (``invitation:12:ETAB``)."""
    date: dt.datetime

    def describe(self) -> str:
        return (
            f"{self.reference} {self.document} : courriel à {self.address} non distribué "
            f"({self.status} : {self.diagnostic})"
        )


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A message of ``new/`` that made no event, and why."""

    message: str
    reason: str

    def describe(self) -> str:
        return f"{self.message} : {self.reason}"


@dataclasses.dataclass
class BounceRun:
    examined: int = 0
    """Messages of ``new/`` read in this run."""
    recorded: list[RecordedBounce] = dataclasses.field(default_factory=list)
    skipped: list[Skipped] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class _Send:
    """A successful send of the journal, found by its Message-ID."""

    subject: str
    recipients: tuple[str, ...]
    key: str
    role: str
    document: DocumentRecord

    def recipient(self, failed: FailedRecipient) -> str | None:
        """The address of this send that ``failed`` is about, as it was sent."""
        wanted = {address.lower() for address in failed.addresses()}
        return next((a for a in self.recipients if a.lower() in wanted), None)


def collect_bounces(registry: Registry, maildir: Path) -> BounceRun:
    """Record the failed recipients of the delivery reports in ``maildir``'s ``new/``.

    Every message of ``new/`` is examined once, then moved to ``cur/`` unread; a bad message is
    skipped with its reason. Raises :class:`InputError` when ``maildir`` is not a Maildir that
    can be read, :class:`RegistryError` when the registry refuses a write: that message then
    stays in ``new/`` for the next run.
    """
    colon = _open(maildir)
    sends, recorded = _journal(registry)
    run = BounceRun()
    for entry in _new_messages(maildir / "new"):
        if not entry.is_file(follow_symlinks=False):
            run.skipped.append(Skipped(entry.name, NOT_A_FILE))
            continue
        run.examined += 1
        outcome = _read(Path(entry.path))
        if isinstance(outcome, str):
            run.skipped.append(Skipped(entry.name, outcome))
        else:
            _record(registry, entry.name, outcome, sends, recorded, run)
        problem = _to_cur(maildir, entry.name, colon)
        if problem:
            run.skipped.append(Skipped(entry.name, problem))
    return run


def _open(maildir: Path) -> str:
    """Check that ``maildir`` is a Maildir folder; the separator of its file names' info."""
    try:
        box = mailbox.Maildir(maildir, factory=None, create=False)
    except mailbox.NoSuchMailboxError:
        raise InputError("dossier de courrier introuvable", file=maildir) from None
    if not ((maildir / "new").is_dir() and (maildir / "cur").is_dir()):
        raise InputError(
            "ce n'est pas un dossier de courrier au format Maildir (sous-dossiers new et cur "
            "attendus)",
            file=maildir,
        )
    return box.colon


def _journal(registry: Registry) -> tuple[dict[str, _Send], set[str]]:
    """The sends by Message-ID and the details of the bounces recorded, in one pass."""
    documents = {doc.id: doc for doc in registry.documents(include_superseded=True)}
    sends: dict[str, _Send] = {}
    recorded: set[str] = set()
    for event in registry.events():
        if event.kind == BOUNCED:
            recorded.add(event.detail)
            continue
        sent = read_sent(event.detail) if event.kind == MAIL_SENT else None
        if sent is None or sent.message_id is None:
            continue
        key = _KEY_PARTS.fullmatch(sent.key)
        document = documents.get(int(key["document"])) if key else None
        if key is None or document is None or document.reference != event.reference:
            continue
        sends[sent.message_id] = _Send(
            sent.subject, sent.recipients, sent.key, key["role"], document
        )
    return sends, recorded


def _new_messages(new: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(new) as entries:  # dot files are deliveries in progress (Maildir rule)
            found = [entry for entry in entries if not entry.name.startswith(".")]
    except OSError as exc:
        raise InputError(f"lecture impossible ({system_reason(exc)})", file=new) from None
    # In order of arrival: Maildir names do not sort by time (their microseconds are not padded).
    return sorted(found, key=lambda entry: (_arrival(entry), entry.name))


def _arrival(entry: os.DirEntry[str]) -> int:
    try:
        return entry.stat(follow_symlinks=False).st_mtime_ns
    except OSError:  # gone meanwhile: its reading will say so
        return 0


def _read(path: Path) -> Bounce | str:
    """The delivery report in ``path``, or why it makes no event."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
            # Without a Date, the time of delivery into the folder (kept by the move to cur/).
            delivered = dt.datetime.fromtimestamp(os.fstat(handle.fileno()).st_mtime, dt.UTC)
    except OSError as exc:
        return f"illisible ({system_reason(exc)})"
    if len(data) > MAX_BYTES:
        return TOO_LARGE
    try:
        bounce = parse_bounce(data)
    except InputError as exc:
        return str(exc)
    if bounce is None:
        return NOT_A_REPORT
    if not bounce.failed:
        return NO_FAILURE
    return bounce if bounce.date else dataclasses.replace(bounce, date=delivered)


def _record(
    registry: Registry,
    name: str,
    bounce: Bounce,
    sends: dict[str, _Send],
    recorded: set[str],
    run: BounceRun,
) -> None:
    send = sends.get(bounce.original_message_id or "")
    if send is None:
        run.skipped.append(Skipped(name, NOT_OURS))
        return
    new: list[tuple[str, RecordedBounce]] = []
    for failed in bounce.failed:
        address = send.recipient(failed)
        if address is None:
            run.skipped.append(
                Skipped(name, f"destinataire {clean(failed.address, 100)} absent du courriel")
            )
            continue
        found = RecordedBounce(
            name, address, failed.status, failed.diagnostic, send.document.reference,
            send.document.label, send.key, bounce.date or dt.datetime.now(dt.UTC),
        )  # fmt: skip
        detail = _detail(send, found)
        if detail in recorded:
            run.skipped.append(Skipped(name, ALREADY))
            continue
        recorded.add(detail)
        new.append((detail, found))
    if not new:
        return
    with registry.transaction():
        for detail, _ in new:
            registry.add_event(send.document.contract_id, send.document.id, BOUNCED, detail)
    run.recorded += [found for _, found in new]


def _detail(send: _Send, bounce: RecordedBounce) -> str:
    when = local_time(bounce.date).strftime("%d/%m/%Y à %H:%M")
    fix = party(send.role).of_name if send.role in ROLES else "du destinataire"
    return (
        f"courriel « {send.subject} » à {bounce.address} revenu non distribué le {when} "
        f"({bounce.status} : {bounce.diagnostic or 'sans diagnostic'}) ; corriger l'adresse "
        f"{fix} dans le portail {mark(send.key)}"
    )


def _to_cur(maildir: Path, name: str, colon: str) -> str | None:
    """Move ``new/name`` to ``cur/`` with its flags as they were; why not, if it failed."""
    target = name if colon in name else f"{name}{colon}2,"
    try:
        os.rename(maildir / "new" / name, maildir / "cur" / target)
    except FileNotFoundError:  # a mail reader listed it meanwhile: it is in cur/ already
        return None
    except OSError as exc:
        return f"laissé dans new : déplacement vers cur impossible ({system_reason(exc)})"
    return None
