"""Benchmark: ``caqes relances`` on a national-size registry (1,130 contracts).

A registry of N contracts (the example CHU contract under N references, stand-in PDF bytes:
the registry only checks digests) is put in the states of a campaign in progress, a quarter
each: awaiting the establishment, the CPAM, the ARS, and complete. The mails of the past are
in the journal, dated by a simulated clock (invitations 10 days ago, receipts, completions),
as the portal records them. Then, on the portal's settings (Django's file backend, in a
temporary data folder):

1. ``due_mail`` alone (the library: what is due, from the registry) — median of runs;
2. ``send_due(dry_run=True)`` — what ``caqes relances --dry-run`` does;
3. ``send_due()`` — the real run: one fresh access link, one message file and one registry
   event per reminder (three quarters of the contracts are late by 10 days: reminder n°1);
4. ``send_due()`` again — idempotence: nothing to send, the cost of finding that out;
5. ``--bounces`` of those messages come back undelivered (delivery reports in a Maildir): the
   run that reads them, records them and holds the messages back.

The completion notices are already in the journal, so no bordereau is sealed here (that is
LibreOffice's and the signature's time, see bench_sign.py). 2 shared cores: orders of
magnitude, medians.

Usage: .venv/bin/python bench/bench_reminders.py [--count 1130] [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def build(folder: Path, count: int) -> Path:
    from caqes_docs.inputs.campaign import load_campaign
    from caqes_docs.inputs.contract_file import load_contract
    from caqes_docs.issued import IssuedRecord
    from caqes_docs.registry.store import CONTRACT, Registry, Signature
    from caqes_docs.workflows.reminders import (
        COMPLETION,
        INVITATION,
        MAIL_SENT,
        RECEIPT,
        Due,
        mark,
    )

    campaign = load_campaign()
    example = load_contract(ROOT / "examples" / "chu-fictif-bordeaux.yaml", campaign)
    example = example.model_copy(
        update={
            "establishment": example.establishment.model_copy(update={"email": "etab@example.fr"}),
            "cpam": example.cpam.model_copy(update={"email": "cpam@example.fr"}),
        }
    )
    path = folder / "caqes.db"
    order = ("ETAB", "CPAM", "ARS")
    with Registry.open(path) as registry:
        for index in range(count):
            contract = example.model_copy(update={"reference": f"CAQES-BENCH-{index:05d}"})
            pdf = folder / "contrats" / f"{contract.reference}.pdf"
            pdf.parent.mkdir(exist_ok=True)
            data = f"%PDF-1.7 stand-in {index}\n%%EOF\n".encode()
            pdf.write_bytes(data)
            record = IssuedRecord(hashlib.sha256(data).hexdigest(), len(data))
            document = registry.register_issued(contract, CONTRACT, pdf, record, campaign)
            contract_record = registry.contract(contract.reference)
            signed = order[: index % 4]
            with registry.transaction():
                for role in signed:
                    registry.add_signatures(document, [Signature(role, f"Signataire {role}")],
                                            pdf, "copie.pdf")  # fmt: skip
                if len(signed) == 3:
                    registry.complete(document)
                sent = [Due(RECEIPT, document, contract_record, role) for role in signed]
                if len(signed) == 3:
                    sent += [Due(COMPLETION, document, contract_record, role) for role in order]
                else:
                    sent.append(Due(INVITATION, document, contract_record, order[len(signed)]))
                for due in sent:
                    registry.add_event(document.contract_id, document.id, MAIL_SENT,
                                       f"courriel {mark(due.key)}")  # fmt: skip
    ten_days_ago = (dt.datetime.now().astimezone() - dt.timedelta(days=10)).isoformat()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE events SET time = ?", (ten_days_ago,))
        db.execute("UPDATE documents SET issued_at = ?", (ten_days_ago,))
        db.execute("UPDATE signatures SET recorded_at = ?", (ten_days_ago,))
    return path


def timed(function, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1130)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--bounces", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="caqes-bench-relances-") as work:
        folder = Path(work)
        start = time.perf_counter()
        registry_path = build(folder, args.count)
        print(f"registre de {args.count} contrats construit en {time.perf_counter() - start:.1f} s")

        os.environ["CAQES_DATA_DIR"] = str(folder)
        os.environ.pop("CAQES_SMTP_HOST", None)
        from caqes_docs.web import bootstrap

        bootstrap.configure(folder)
        bootstrap.prepare_database()
        from django.conf import settings

        settings.CAQES_MAIL_ARS = ["ars@example.fr"]
        from caqes_docs.registry.store import Registry
        from caqes_docs.web.mail import SENT, send_due
        from caqes_docs.workflows.reminders import due_mail

        def library() -> object:
            with Registry.open(registry_path) as registry:
                return due_mail(registry)

        seconds, due = timed(library, args.repeat)
        print(f"due_mail (bibliothèque) : {seconds * 1000:.0f} ms, {len(due)} courriel(s) dus "
              f"(médiane de {args.repeat})")  # fmt: skip
        seconds, run = timed(lambda: send_due(dry_run=True), args.repeat)
        print(f"send_due --dry-run : {seconds * 1000:.0f} ms (médiane de {args.repeat})")
        start = time.perf_counter()
        run = send_due()
        elapsed = time.perf_counter() - start
        sent = run.count(SENT)
        files = len(list(Path(settings.EMAIL_FILE_PATH).iterdir()))
        print(f"send_due (envoi réel, fichiers) : {elapsed:.1f} s pour {sent} courriel(s) "
              f"({elapsed / max(sent, 1) * 1000:.1f} ms par courriel), {files} fichier(s) écrits, "
              f"{len(run.outcomes) - sent} sans adresse ou non envoyé(s)")  # fmt: skip
        seconds, again = timed(send_due, args.repeat)
        print(f"send_due une deuxième fois : {seconds * 1000:.0f} ms, "
              f"{len(again.outcomes)} courriel(s) (médiane de {args.repeat})")  # fmt: skip
        bounces(folder, settings, send_due, args.bounces)
    return 0


def bounces(folder: Path, settings: Any, send_due: Callable[[], Any], count: int) -> None:
    """5. ``count`` of the messages sent come back undelivered: the run that reads them."""
    import mailbox

    maildir = folder / "retours"
    box = mailbox.Maildir(maildir, create=True)
    for path in sorted(Path(settings.EMAIL_FILE_PATH).iterdir())[:count]:
        sent = mailbox.Message(path.read_bytes())
        address = sent["To"]
        box.add(
            "From: MAILER-DAEMON@mx.example.fr\nSubject: Undelivered Mail\n"
            "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; "
            'boundary="B"\n\n--B\nContent-Type: message/delivery-status\n\n'
            f"Reporting-MTA: dns; mx.example.fr\n\nFinal-Recipient: rfc822; {address}\n"
            "Action: failed\nStatus: 5.1.1\n\n--B\nContent-Type: text/rfc822-headers\n\n"
            f"Message-ID: {sent['Message-ID']}\nTo: {address}\n\n--B--\n"
        )
    settings.CAQES_BOUNCE_MAILDIR = str(maildir)
    start = time.perf_counter()
    run = send_due()
    elapsed = time.perf_counter() - start
    recorded = len(run.bounces.recorded) if run.bounces else 0
    print(f"send_due avec {count} avis de non-remise : {elapsed * 1000:.0f} ms, "
          f"{recorded} enregistré(s), {len(run.outcomes)} courriel(s) retenu(s)")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
