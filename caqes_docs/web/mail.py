"""The portal's mail: invitations, reminders, receipts, refusals and completion notices.

What is due comes from the registry (:func:`caqes_docs.workflows.reminders.due_mail`) and, for
refused uploads, from the portal's own rows; each message is rendered from an editable French
template of ``templates/mail/`` and sent through Django's mail framework (SMTP, or files in
the data folder by default: see the settings). A message that needs a link carries a fresh
access link of ITS party only (:func:`caqes_docs.web.links.create_link`). The links of the
party's earlier messages stay valid while it is to sign (a party often follows the first mail),
unless they went to another address: an address changed by an officer takes the old address's
links with it; the completion notice's link replaces them all. The links officers made
themselves (the CSV) are theirs to revoke.

Every send is a registry event (``courriel``, its Message-ID and key at the end); every failure
too (``courriel en échec``: refusal, 4xx, 5xx, connection refused), and a failed message stays
due: the next run tries it again. A message that came back undelivered later (a delivery
report in the Maildir of ``CAQES_BOUNCE_MAILDIR``, read first by each run:
:mod:`caqes_docs.workflows.bounces`) is due again too, but never goes back to the address it
came back from: it waits until an officer changes the party's address. Before the completion
notices, each complete document gets its bordereau de signature, sealed with the ARS key of the
settings, and the notice carries it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import smtplib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.utils import make_msgid, parseaddr
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from caqes_docs.errors import CaqesError
from caqes_docs.parties import party
from caqes_docs.registry.contacts import ContactBook
from caqes_docs.registry.store import AMENDMENT, CONTRACT, DocumentRecord, Registry
from caqes_docs.web.exchange import open_registry, trust_roots
from caqes_docs.web.links import create_link, revoke
from caqes_docs.web.models import PartyLink, RefusedUpload
from caqes_docs.workflows import reminders
from caqes_docs.workflows.bounces import BounceRun, collect_bounces
from caqes_docs.workflows.reminders import (
    COMPLETION,
    INVITATION,
    MAIL_FAILED,
    MAIL_SENT,
    RECEIPT,
    REFUSAL,
    REMINDER,
    Due,
    mark,
)

logger = logging.getLogger(__name__)

SENT = "envoyé"
FAILED = "échec"
NO_ADDRESS = "sans adresse"
NOT_TRIED = "non tenté"
HELD = "en attente d'une autre adresse"
DRY_RUN = "à envoyer"
TEMPLATES = {
    INVITATION: "mail/invitation.txt",
    REMINDER: "mail/relance.txt",
    RECEIPT: "mail/accuse.txt",
    REFUSAL: "mail/refus.txt",
    COMPLETION: "mail/achevement.txt",
}
LINK_KINDS = (INVITATION, REMINDER, REFUSAL, COMPLETION)
LINKS_BY = "courriel"


@dataclass(frozen=True)
class Outcome:
    """What became of one due message in a run."""

    due: Due
    status: str
    recipients: tuple[str, ...] = ()
    subject: str = ""
    reason: str = ""
    unreachable: bool = False
    """The server could not be reached: the run stops, the rest stays due."""

    def describe(self) -> str:
        to = f" à {', '.join(self.recipients)}" if self.recipients else ""
        why = f"\n    {self.reason}" if self.reason else ""
        # What and to whom, then what became of it, then why: lines that fit 100 columns.
        return f"{self.due.describe()}\n    {self.status}{to}{why}"


@dataclass
class MailRun:
    outcomes: list[Outcome] = field(default_factory=list)
    bordereaux: list[Path] = field(default_factory=list)
    bordereau_failures: list[str] = field(default_factory=list)
    bounces: BounceRun | None = None
    """What the delivery reports of the bounce Maildir said, when the settings name one."""
    bounce_failure: str | None = None

    def count(self, status: str) -> int:
        return sum(outcome.status == status for outcome in self.outcomes)


# --- what is due --------------------------------------------------------------------------------


def due_now(
    registry: Registry,
    now: dt.datetime | None = None,
    document_ids: Iterable[int] | None = None,
    journal: reminders.Journal | None = None,
    book: ContactBook | None = None,
) -> list[Due]:
    """The registry's due mail plus the refusal notices of refused uploads not sent yet.

    An invitation sent to an address that is no longer the party's is due again: the new
    contact gets the link, and the old one's link is revoked by the new one.
    """
    wanted = set(document_ids) if document_ids is not None else None
    journal = journal or reminders.mail_journal(registry)
    book = book or ContactBook.load(registry)
    sent = journal.sent

    def readdressed(invitation: Due) -> bool:
        to, before = recipients(invitation, book), journal.recipients.get(invitation.key)
        return bool(to) and before is not None and set(before) != set(to)

    due = [
        item
        for item in reminders.due_mail(registry, now, sent, readdressed)
        if wanted is None or item.document.id in wanted
    ]
    refusals = RefusedUpload.objects.order_by("id")
    if wanted is not None:
        refusals = refusals.filter(document_id__in=wanted)
    documents = {document.id: document for document in registry.documents()} if refusals else {}
    for refused in refusals:
        document = documents.get(refused.document_id)
        if document is None:  # superseded since: nothing to retry on it
            continue
        contract = registry.contract(document.reference)
        item = Due(
            REFUSAL, document, contract, refused.party, item=refused.id,
            order=contract.signing_order(),
        )  # fmt: skip
        if item.key not in sent:
            due.append(item)
    return due


def recipients(due: Due, book: ContactBook) -> tuple[str, ...]:
    """The addresses of the message's party: its contact, or the ARS officers of the settings."""
    if due.role == "ARS" and settings.CAQES_MAIL_ARS:
        return tuple(settings.CAQES_MAIL_ARS)
    email = book.email(due.contract, due.role)
    return (email,) if email else ()


# --- rendering ----------------------------------------------------------------------------------


def _public(path: str) -> str:
    return settings.CAQES_PUBLIC_URL + path


def render(due: Due, registry: Registry, link_url: str | None) -> tuple[str, str]:
    """The subject and body of ``due`` from its template (first line « Objet : … »)."""
    signatures = registry.signatures(due.document.id)
    entries = {
        sig.party: {
            "partie": party(sig.party).name,
            "signataire": sig.signer,
            "date": _local(sig.signing_time or sig.recorded_at),
        }
        for sig in signatures
    }
    context = {
        "reference": due.document.reference,
        "document": due.document.label,
        "designation": designation(due.document),
        "contrat": contract_name(due.document.reference),
        "etablissement": due.contract.establishment,
        "partie": due.party_name,
        "role": due.role,
        "lien": link_url,
        "contresignature": _public(reverse("portail:contresignature")),
        "depuis": due.since.strftime("%d/%m/%Y") if due.since else "",
        "numero": due.number,
        "signatures": list(entries.values()),
        "signature": entries.get(due.role),
        "attendues": [party(role).name for role in due.order if role not in entries],
        "refus": _refusal(due),
        "bordereau": due.document.bordereau_path.name,
    }
    text = render_to_string(TEMPLATES[due.kind], context).strip()
    first, _, body = text.partition("\n")
    subject = " ".join(first.removeprefix("Objet :").split())
    return subject, body.strip() + "\n"


def contract_name(reference: str) -> str:
    """« contrat CAQES-NA-2022-… », « contrat CAQES X » when the reference does not say it."""
    return (
        f"contrat {reference}"
        if reference.upper().startswith("CAQES")
        else (f"contrat CAQES {reference}")
    )


def designation(document: DocumentRecord) -> str:
    """How a message names the document: « le contrat X », « l'avenant n°2 au contrat X »,
    « l'avenant n°3 de résiliation du volet 1 du contrat X »."""
    name = contract_name(document.reference)
    if document.kind == CONTRACT:
        return f"le {name}"
    if document.kind == AMENDMENT:
        return f"l'avenant n°{document.number} au {name}"
    return f"l'avenant n°{document.number} de résiliation du volet {document.volet} du {name}"


def _local(moment: str | None) -> str:
    if not moment:
        return "?"
    return dt.datetime.fromisoformat(moment).astimezone().strftime("%d/%m/%Y à %H:%M")


def _refusal(due: Due) -> RefusedUpload | None:
    if due.kind != REFUSAL or due.item is None:
        return None
    return RefusedUpload.objects.filter(id=due.item).first()


# --- sending ------------------------------------------------------------------------------------


def send_due(
    *,
    now: dt.datetime | None = None,
    dry_run: bool = False,
    document_ids: Iterable[int] | None = None,
    bordereaux: bool = True,
) -> MailRun:
    """Send what is due (or, ``dry_run``, only list it); one registry event per attempt.

    ``bordereaux``: seal the missing bordereaux first (LibreOffice, a few seconds each), so
    that completion notices can carry them; without, those notices wait for a run that does.
    """
    run = MailRun()
    if dry_run:
        with open_registry() as registry:
            journal, book = reminders.mail_journal(registry), ContactBook.load(registry)
            due = due_now(registry, now, document_ids, journal, book)
            held = journal.undelivered
            run.outcomes = [
                _held(item, book, held) or Outcome(item, DRY_RUN, recipients(item, book))
                for item in due
            ]
        return run
    with _one_run_at_a_time(wait=document_ids is None) as running, open_registry() as registry:
        if not running:  # another run is sending: it, or the next one, sends this too
            return run
        if document_ids is None:
            _read_bounces(registry, run)
        if bordereaux:
            _seal_missing(registry, run, document_ids)
        journal, book = reminders.mail_journal(registry), ContactBook.load(registry)
        due = due_now(registry, now, document_ids, journal, book)
        connection = get_connection()
        held = journal.undelivered
        try:
            for index, item in enumerate(due):
                outcome = _held(item, book, held) or _send_one(registry, item, book, connection)
                run.outcomes.append(outcome)
                if outcome.unreachable:
                    run.outcomes += [Outcome(rest, NOT_TRIED) for rest in due[index + 1 :]]
                    break
        finally:
            connection.close()
    return run


@contextlib.contextmanager
def _one_run_at_a_time(*, wait: bool) -> Iterator[bool]:
    """An exclusive lock on the data folder's mail runs, so that no message goes twice.

    ``caqes relances`` waits for it; the sends after an upload do not (yields False).
    """
    path = Path(settings.CAQES_FILES) / "courriels.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_bounces(registry: Registry, run: MailRun) -> None:
    if not settings.CAQES_BOUNCE_MAILDIR:
        return
    try:
        run.bounces = collect_bounces(registry, Path(settings.CAQES_BOUNCE_MAILDIR))
    except CaqesError as exc:  # the sends go on: a bad mailbox must not stop the invitations
        run.bounce_failure = str(exc)


def _held(due: Due, book: ContactBook, undelivered: dict[str, set[str]]) -> Outcome | None:
    """Not sent: the message came back undelivered from one of its addresses already."""
    to = recipients(due, book)
    back = sorted(undelivered.get(due.key, set()) & set(to))
    if not back:
        return None
    settled = due.role == "ARS" and settings.CAQES_MAIL_ARS
    where = "dans les réglages du portail" if settled else "sur la page du contrat"
    return Outcome(
        due,
        HELD,
        to,
        reason=f"revenu non distribué de {', '.join(back)} : corriger l'adresse {where}",
    )


def _send_one(registry: Registry, due: Due, book: ContactBook, connection: object) -> Outcome:
    to = recipients(due, book)
    if not to:
        return Outcome(due, NO_ADDRESS)
    if due.kind == COMPLETION and not due.document.bordereau_path.is_file():
        return Outcome(due, NOT_TRIED, to, reason="bordereau de signature pas encore scellé")
    link = _Link.make(due, to) if due.kind in LINK_KINDS else None
    subject, body = render(due, registry, link.url if link else None)
    message_id = make_msgid(domain=_domain(settings.DEFAULT_FROM_EMAIL))
    message = EmailMessage(
        subject, body, settings.DEFAULT_FROM_EMAIL, list(to), connection=connection,
        headers={"Message-ID": message_id},
    )  # fmt: skip
    if due.kind == COMPLETION:
        path = due.document.bordereau_path
        message.attach(path.name, path.read_bytes(), "application/pdf")
    reason, unreachable = _deliver(message)
    if reason is not None:
        if link is not None:
            link.undo()
        return _failed(registry, due, to, subject, reason, unreachable=unreachable)
    # The Message-ID names the send in the delivery reports that may come back.
    _record(registry, due, MAIL_SENT, reminders.sent_detail(due, subject, to, message_id))
    return Outcome(due, SENT, to, subject)


@dataclass(frozen=True)
class _Link:
    """A new link of the party for a message, and the party's links it revoked."""

    id: int
    url: str
    revoked: tuple[int, ...]

    @classmethod
    def make(cls, due: Due, to: tuple[str, ...]) -> _Link:
        contact = ", ".join(to)
        earlier = PartyLink.objects.filter(
            document_id=due.document.id, party=due.role, revoked_at__isnull=True,
            created_by=LINKS_BY,
        )  # fmt: skip
        if due.kind != COMPLETION:  # once complete, the completion's link is the one to keep
            earlier = earlier.exclude(contact=contact)
        revoked = tuple(earlier.values_list("id", flat=True))
        earlier.update(revoked_at=timezone.now())
        new = create_link(due.document, due.role, contact, LINKS_BY, revoke_earlier=False)
        return cls(new.link.id, new.url, revoked)

    def undo(self) -> None:
        """The message was not delivered: the party still holds its earlier links only."""
        revoke(self.id)
        PartyLink.objects.filter(id__in=self.revoked).update(revoked_at=None)


def _deliver(message: EmailMessage) -> tuple[str | None, bool]:
    """Send; None when delivered to the server, else why not and whether it is unreachable."""
    try:
        message.send()
    except (smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected) as exc:
        return _unreachable(exc), True
    except smtplib.SMTPResponseException as exc:  # 4xx, 5xx on MAIL, DATA…
        return (
            f"refusé par le serveur de messagerie ({exc.smtp_code} {_text(exc.smtp_error)})",
            False,
        )
    except smtplib.SMTPRecipientsRefused as exc:  # 4xx, 5xx on every RCPT
        codes = ", ".join(f"{code} {_text(text)}" for code, text in exc.recipients.values())
        return f"destinataire refusé ({codes})", False
    except smtplib.SMTPException as exc:
        return f"envoi impossible (erreur du protocole de messagerie : {type(exc).__name__})", False
    except OSError as exc:  # connection refused, name unknown, timeout
        return _unreachable(exc), True
    return None, False


def _domain(sender: str) -> str | None:
    """The sender's domain, for Message-IDs (the machine's name when there is none)."""
    domain = parseaddr(sender)[1].rpartition("@")[2]
    return domain or None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _unreachable(exc: Exception) -> str:
    return f"serveur de messagerie injoignable ({type(exc).__name__} : {exc})"


def _failed(
    registry: Registry,
    due: Due,
    to: tuple[str, ...],
    subject: str,
    why: str,
    *,
    unreachable: bool = False,
) -> Outcome:
    _event(
        registry,
        due,
        MAIL_FAILED,
        f"courriel « {subject} » à {', '.join(to)} non remis : {why} ; nouvel essai au "
        "prochain passage",
    )
    return Outcome(due, FAILED, to, subject, why, unreachable)


def _event(registry: Registry, due: Due, kind: str, detail: str) -> None:
    _record(registry, due, kind, f"{detail} {mark(due.key)}")


def _record(registry: Registry, due: Due, kind: str, detail: str) -> None:
    with registry.transaction():
        registry.add_event(due.document.contract_id, due.document.id, kind, detail)


# --- bordereaux -----------------------------------------------------------------------------


def _seal_missing(registry: Registry, run: MailRun, document_ids: Iterable[int] | None) -> None:
    from caqes_docs.workflows.bordereau import issue_bordereaux, missing_bordereaux

    wanted = set(document_ids) if document_ids is not None else None
    missing = [
        document
        for document in missing_bordereaux(registry)
        if wanted is None or document.id in wanted
    ]
    if not missing:
        return
    from caqes_docs.web.tasks import ars_signer

    try:
        with ars_signer() as signer:
            outcomes = issue_bordereaux(registry, missing, signer, trust_roots())
    except CaqesError as exc:
        run.bordereau_failures.append(f"clé ARS inutilisable : {exc}")
        return
    for document, outcome in zip(missing, outcomes, strict=True):
        if isinstance(outcome, CaqesError):
            run.bordereau_failures.append(f"{document.reference} {document.label} : {outcome}")
        else:
            run.bordereaux.append(outcome.path)


def after_upload(document_id: int, *, bordereaux: bool = False) -> MailRun | None:
    """Send at once what an upload made due (receipt, refusal, next invitation)."""
    return notify([document_id], bordereaux=bordereaux)


def notify(document_ids: Iterable[int], *, bordereaux: bool) -> MailRun | None:
    """Send what is due on these documents now; never raises.

    A mail problem must not turn an accepted upload or a countersignature into an error:
    it is logged, and what was not sent stays due for ``caqes relances``.
    """
    try:
        return send_due(document_ids=list(document_ids), bordereaux=bordereaux)
    except Exception:  # logged; the next run sends what is due
        logger.exception("courriels des documents %s", document_ids)
        return None
