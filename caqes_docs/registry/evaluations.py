"""The annual evaluations in the registry: one version per change of inputs, with history.

Each contract has, per evaluated year, numbered versions of its evaluation: the digest of what
the computation used (the rows, the settings, the themes' shares, the modulation, the contract
version), the amounts, the evaluation's data as JSON, and the documents issued for it (the
report, the notification letter with its issued digest). Running the evaluation again with the
same inputs finds the same digest and changes nothing; changed inputs make a new version and
the previous one is marked « remplacée ». A version whose letter has been signed is never
superseded: the workflow refuses the change instead.

The table is created by the registry's migrations (:data:`caqes_docs.registry.store.MIGRATIONS`);
this module uses the registry's own query helpers, inside its transactions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from caqes_docs.documents.amounts import euros, plain
from caqes_docs.issued import IssuedRecord
from caqes_docs.registry.store import Registry, now_iso

EVENT_KIND = "évaluation"


class EvaluationStatus(StrEnum):
    ISSUED = "notification émise"
    SIGNED = "notification signée"
    SUPERSEDED = "remplacée"


@dataclass(frozen=True)
class EvaluationRecord:
    id: int
    contract_id: int
    reference: str
    finess_ej: str
    establishment: str
    campaign: str
    year: int
    number: int
    digest: str
    data: dict[str, Any]
    national: Decimal
    regional: Decimal
    total: Decimal
    status: str
    report_path: Path | None
    letter_path: Path | None
    letter_sha256: str | None
    letter_size: int | None
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "finess_ej": self.finess_ej,
            "etablissement": self.establishment,
            "campagne": self.campaign,
            "annee": self.year,
            "version": self.number,
            "statut": self.status,
            "national": plain(self.national),
            "regional": plain(self.regional),
            "total": plain(self.total),
            "rapport": str(self.report_path) if self.report_path else None,
            "notification": str(self.letter_path) if self.letter_path else None,
            "notification_sha256": self.letter_sha256,
            "enregistree_le": self.created_at,
        }


_SELECT = (
    "SELECT e.*, c.reference, c.finess_ej, c.establishment, p.name AS campaign "
    "FROM evaluations e JOIN contracts c ON c.id = e.contract_id "
    "JOIN campaigns p ON p.id = c.campaign_id"
)


def _record(row: Any) -> EvaluationRecord:
    return EvaluationRecord(
        id=int(row["id"]),
        contract_id=int(row["contract_id"]),
        reference=row["reference"],
        finess_ej=row["finess_ej"],
        establishment=row["establishment"],
        campaign=row["campaign"],
        year=int(row["year"]),
        number=int(row["number"]),
        digest=row["digest"],
        data=json.loads(row["data"]),
        national=Decimal(row["national"]),
        regional=Decimal(row["regional"]),
        total=Decimal(row["total"]),
        status=row["status"],
        report_path=Path(row["report_path"]) if row["report_path"] else None,
        letter_path=Path(row["letter_path"]) if row["letter_path"] else None,
        letter_sha256=row["letter_sha256"],
        letter_size=row["letter_size"],
        created_at=row["created_at"],
    )


def _select(registry: Registry, where: str, params: tuple[Any, ...]) -> list[EvaluationRecord]:
    # The registry's own helpers (this module belongs to the registry package): same error
    # translation, same connection, inside its transactions.
    rows = registry._query(
        f"{_SELECT} WHERE {where} ORDER BY c.reference, e.year, e.number", params
    )
    return [_record(row) for row in rows]


def live_evaluation(registry: Registry, contract_id: int, year: int) -> EvaluationRecord | None:
    """The current (not superseded) evaluation of a contract for ``year``."""
    found = _select(
        registry,
        "e.contract_id = ? AND e.year = ? AND e.status != ?",
        (contract_id, year, EvaluationStatus.SUPERSEDED),
    )
    return found[0] if found else None


def evaluations(
    registry: Registry,
    *,
    year: int | None = None,
    campaign: str | None = None,
    include_superseded: bool = False,
) -> list[EvaluationRecord]:
    clauses, params = [], []
    if year is not None:
        clauses.append("e.year = ?")
        params.append(year)
    if campaign is not None:
        clauses.append("p.name = ?")
        params.append(campaign)
    if not include_superseded:
        clauses.append("e.status != ?")
        params.append(EvaluationStatus.SUPERSEDED)
    return _select(registry, " AND ".join(clauses) or "1", tuple(params))


@dataclass(frozen=True)
class NewEvaluation:
    """What one run computed and issued for one contract and year."""

    contract_id: int
    year: int
    digest: str
    data: dict[str, Any]
    national: Decimal
    regional: Decimal
    total: Decimal
    report: Path
    letter: Path
    letter_record: IssuedRecord


class SignedLetterError(Exception):
    """Raised inside the transaction: the live evaluation's letter is signed."""

    def __init__(self, live: EvaluationRecord) -> None:
        self.live = live
        super().__init__(live.reference)


def _write(registry: Registry, sql: str, params: tuple[Any, ...]) -> int:
    return registry._write(sql, params)


def record_evaluation(registry: Registry, new: NewEvaluation) -> EvaluationRecord:
    """Record ``new``: a new version, or new documents for the same digest.

    A different digest supersedes the live version (refused if its letter is signed); the same
    digest only updates the documents (they were issued again, e.g. after being deleted).
    """
    with registry.transaction():
        live = live_evaluation(registry, new.contract_id, new.year)
        if live is not None and live.digest == new.digest:
            _write(
                registry,
                "UPDATE evaluations SET report_path = ?, letter_path = ?, letter_sha256 = ?, "
                "letter_size = ?, status = ? WHERE id = ?",
                (*_documents(new), EvaluationStatus.ISSUED, live.id),
            )
            registry.add_event(
                new.contract_id,
                None,
                EVENT_KIND,
                f"évaluation {new.year} n°{live.number} : documents émis à nouveau "
                f"({new.letter.name})",
            )
            return _by_id(registry, live.id)
        if live is not None:
            if live.status == EvaluationStatus.SIGNED:
                raise SignedLetterError(live)
            _write(
                registry,
                "UPDATE evaluations SET status = ? WHERE id = ?",
                (EvaluationStatus.SUPERSEDED, live.id),
            )
        number = (live.number if live else _last_number(registry, new)) + 1
        evaluation_id = _write(
            registry,
            "INSERT INTO evaluations (contract_id, year, number, digest, data, national, "
            "regional, total, status, report_path, letter_path, letter_sha256, letter_size, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                new.contract_id,
                new.year,
                number,
                new.digest,
                json.dumps(new.data, ensure_ascii=False, sort_keys=True),
                plain(new.national),
                plain(new.regional),
                plain(new.total),
                EvaluationStatus.ISSUED,
                *_documents(new),
                now_iso(),
            ),
        )
        replaced = f", remplace la version n°{live.number}" if live else ""
        registry.add_event(
            new.contract_id,
            None,
            EVENT_KIND,
            f"évaluation {new.year} n°{number} : intéressement de {euros(new.total)} "
            f"notifié par {new.letter.name}{replaced}",
        )
        return _by_id(registry, evaluation_id)


def _documents(new: NewEvaluation) -> tuple[str, str, str, int | None]:
    return (
        str(new.report.resolve()),
        str(new.letter.resolve()),
        new.letter_record.sha256,
        new.letter_record.size,
    )


def _last_number(registry: Registry, new: NewEvaluation) -> int:
    rows = registry._query(
        "SELECT coalesce(max(number), 0) FROM evaluations WHERE contract_id = ? AND year = ?",
        (new.contract_id, new.year),
    )
    return int(rows[0][0])


def _by_id(registry: Registry, evaluation_id: int) -> EvaluationRecord:
    return _select(registry, "e.id = ?", (evaluation_id,))[0]


def mark_signed(registry: Registry, evaluation: EvaluationRecord) -> None:
    """Note that the letter of ``evaluation`` was found signed (once)."""
    if evaluation.status == EvaluationStatus.SIGNED:
        return
    with registry.transaction():
        _write(
            registry,
            "UPDATE evaluations SET status = ? WHERE id = ?",
            (EvaluationStatus.SIGNED, evaluation.id),
        )
        registry.add_event(
            evaluation.contract_id,
            None,
            EVENT_KIND,
            f"évaluation {evaluation.year} n°{evaluation.number} : notification signée "
            f"({evaluation.letter_path.name if evaluation.letter_path else ''})",
        )


def export_evaluations(registry: Registry) -> list[dict[str, Any]]:
    """Every evaluation version (history included), for ``caqes export``."""
    return [
        {**record.to_dict(), "donnees": record.data}
        for record in evaluations(registry, include_superseded=True)
    ]
