"""The contract registry: one SQLite file that knows where every contract stands.

What it holds: campaigns; contracts (one per reference) with their consolidated versions
(the full :class:`~caqes_docs.inputs.models.Contract` as JSON by alias); the documents issued for
them (the contract, avenants, avenants de résiliation) with the digest and size of the issued
PDF; the signatures received on each document; and a journal of events in French.

How it stays whole: WAL journal, a busy timeout so that concurrent commands wait for each
other instead of failing, foreign keys on, and every write inside one ``BEGIN IMMEDIATE``
transaction — a command killed midway leaves the previous state. The schema is migrated by
numbered steps recorded in ``PRAGMA user_version``.

The file is ``caqes.db`` in the working directory unless a path is given or the environment
variable ``CAQES_REGISTRY`` names another.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from caqes_docs.errors import RegistryError, VerificationError
from caqes_docs.files import system_reason
from caqes_docs.issued import IssuedRecord
from caqes_docs.parties import ROLES

if TYPE_CHECKING:
    from caqes_docs.inputs.campaign import Campaign
    from caqes_docs.inputs.models import Contract

DEFAULT_FILE = "caqes.db"
ENV_VARIABLE = "CAQES_REGISTRY"
BUSY_TIMEOUT_MS = 30_000

CONTRACT = "contrat"
AMENDMENT = "avenant"
TERMINATION = "resiliation"
KINDS = (CONTRACT, AMENDMENT, TERMINATION)


class DocumentStatus(StrEnum):
    """Where a document stands in the registry."""

    ISSUED = "émis"
    SIGNING = "en signature"
    SIGNED = "signé"
    SUPERSEDED = "remplacé"


ISSUED, SIGNING, SIGNED, SUPERSEDED = DocumentStatus

# One entry per schema version; each is a list of statements run in one transaction.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE campaigns (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            data TEXT,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE contracts (
            id INTEGER PRIMARY KEY,
            reference TEXT NOT NULL UNIQUE,
            finess_ej TEXT NOT NULL,
            establishment TEXT NOT NULL,
            campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
            current_version_id INTEGER REFERENCES contract_versions(id),
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE documents (
            id INTEGER PRIMARY KEY,
            contract_id INTEGER NOT NULL REFERENCES contracts(id),
            kind TEXT NOT NULL CHECK (kind IN ('contrat', 'avenant', 'resiliation')),
            number INTEGER NOT NULL CHECK (number >= 0),
            volet INTEGER CHECK (volet IN (1, 2)),
            issued_path TEXT NOT NULL,
            issued_sha256 TEXT NOT NULL UNIQUE,
            issued_size INTEGER NOT NULL CHECK (issued_size > 0),
            issued_at TEXT NOT NULL,
            signed_path TEXT,
            signature_date TEXT,
            effective_date TEXT,
            status TEXT NOT NULL,
            changes TEXT NOT NULL DEFAULT '[]',
            proposed_version TEXT,
            based_on_version INTEGER,
            created_at TEXT NOT NULL
        )""",
        # A reissued contract supersedes the unsigned one; only one live document per number.
        """CREATE UNIQUE INDEX documents_live_number ON documents(contract_id, number)
            WHERE status != 'remplacé'""",
        "CREATE INDEX documents_size ON documents(issued_size)",
        """CREATE TABLE contract_versions (
            id INTEGER PRIMARY KEY,
            contract_id INTEGER NOT NULL REFERENCES contracts(id),
            number INTEGER NOT NULL CHECK (number >= 1),
            data TEXT NOT NULL,
            effective_date TEXT NOT NULL,
            document_id INTEGER NOT NULL REFERENCES documents(id),
            created_at TEXT NOT NULL,
            UNIQUE (contract_id, number)
        )""",
        """CREATE TABLE signatures (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id),
            party TEXT NOT NULL CHECK (party IN ('ETAB', 'CPAM', 'ARS')),
            signer TEXT NOT NULL,
            subject TEXT,
            signing_time TEXT,
            source_file TEXT,
            recorded_at TEXT NOT NULL,
            UNIQUE (document_id, party)
        )""",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            time TEXT NOT NULL,
            contract_id INTEGER REFERENCES contracts(id),
            document_id INTEGER REFERENCES documents(id),
            kind TEXT NOT NULL,
            detail TEXT NOT NULL
        )""",
        "CREATE INDEX events_contract ON events(contract_id, id)",
        "CREATE INDEX events_document ON events(document_id, id)",
    ),
    # The annual evaluations (caqes_docs/registry/evaluations.py): one version per change of
    # inputs, the live one per contract and year not superseded.
    (
        """CREATE TABLE evaluations (
            id INTEGER PRIMARY KEY,
            contract_id INTEGER NOT NULL REFERENCES contracts(id),
            year INTEGER NOT NULL,
            number INTEGER NOT NULL CHECK (number >= 1),
            digest TEXT NOT NULL,
            data TEXT NOT NULL,
            national TEXT NOT NULL,
            regional TEXT NOT NULL,
            total TEXT NOT NULL,
            status TEXT NOT NULL,
            report_path TEXT,
            letter_path TEXT,
            letter_sha256 TEXT,
            letter_size INTEGER,
            created_at TEXT NOT NULL,
            UNIQUE (contract_id, year, number)
        )""",
        """CREATE UNIQUE INDEX evaluations_live ON evaluations(contract_id, year)
            WHERE status != 'remplacée'""",
    ),
    # The parties' e-mail contacts as officers changed them (caqes_docs/registry/contacts.py):
    # one row per change, the latest per contract and party wins; NULL: no address.
    (
        """CREATE TABLE contacts (
            id INTEGER PRIMARY KEY,
            contract_id INTEGER NOT NULL REFERENCES contracts(id),
            party TEXT NOT NULL CHECK (party IN ('ETAB', 'CPAM', 'ARS')),
            email TEXT,
            changed_at TEXT NOT NULL,
            changed_by TEXT NOT NULL
        )""",
        "CREATE INDEX contacts_contract ON contacts(contract_id, party, id)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
# What tells a caqes registry from any other SQLite file: the tables of the first schema.
REGISTRY_TABLES = frozenset({"campaigns", "contracts", "documents", "signatures", "events"})
_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table'"


def now_iso() -> str:
    """The current local time, ISO 8601 with its offset, to the second."""
    return dt.datetime.now().astimezone().replace(microsecond=0).isoformat()


def registry_path(path: str | os.PathLike[str] | None = None) -> Path:
    """``path``, else ``$CAQES_REGISTRY``, else ``caqes.db`` in the working directory."""
    if path is not None and str(path):
        return Path(path)
    return Path(os.environ.get(ENV_VARIABLE) or DEFAULT_FILE)


def contract_json(contract: Contract) -> str:
    """The contract as stored: JSON by alias (the keys of the YAML files)."""
    return json.dumps(contract.model_dump(mode="json", by_alias=True), ensure_ascii=False)


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


# --- records read back --------------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """A signature to record, as verification reported it."""

    party: str
    signer: str
    subject: str | None = None
    signing_time: str | None = None


@dataclass(frozen=True)
class SignatureRecord:
    party: str
    signer: str
    subject: str | None
    signing_time: str | None
    source_file: str | None
    recorded_at: str


@dataclass(frozen=True)
class DocumentRecord:
    id: int
    contract_id: int
    reference: str
    kind: str
    number: int
    volet: int | None
    issued_path: Path
    issued_sha256: str
    issued_size: int
    issued_at: str
    signed_path: Path | None
    signature_date: dt.date | None
    effective_date: dt.date | None
    status: str
    changes: tuple[str, ...]
    based_on_version: int | None

    @property
    def label(self) -> str:
        """« contrat », « avenant n°2 », « résiliation volet 1 (avenant n°3) »."""
        return _label(self.kind, self.number, self.volet)

    @property
    def bordereau_path(self) -> Path:
        """``X.bordereau.pdf`` beside the issued ``X.pdf``: the proof of signature, once the
        document is complete (caqes_docs/workflows/bordereau.py)."""
        return self.issued_path.with_name(f"{self.issued_path.stem}.bordereau.pdf")


@dataclass(frozen=True)
class VersionRecord:
    number: int
    effective_date: dt.date
    document_id: int
    created_at: str
    data: dict[str, Any]

    def contract(self) -> Contract:
        from pydantic import ValidationError

        from caqes_docs.inputs.models import Contract

        try:
            return Contract.model_validate(self.data)
        except ValidationError as exc:
            raise RegistryError(
                f"version consolidée n°{self.number} illisible dans le registre (restaurer une "
                "sauvegarde, ou la réécrire par un avenant)"
            ) from exc


@dataclass(frozen=True)
class ContractRecord:
    id: int
    reference: str
    finess_ej: str
    establishment: str
    campaign: str
    campaign_data: dict[str, Any] | None
    current_version: VersionRecord

    def campaign_model(self) -> Campaign | None:
        """The campaign's configuration when it was registered with it."""
        if self.campaign_data is None:
            return None
        from pydantic import ValidationError

        from caqes_docs.inputs.campaign import Campaign

        try:
            return Campaign.model_validate(self.campaign_data)
        except ValidationError as exc:
            raise RegistryError(
                f"configuration de la campagne « {self.campaign} » illisible dans le registre ; "
                "l'enregistrer de nouveau en émettant avec --campaign"
            ) from exc

    def signing_order(self) -> tuple[str, ...]:
        """The parties in the order its campaign has them sign."""
        # Read from the stored configuration: validating the whole campaign (pydantic) would
        # cost ``caqes status`` more than everything else it does.
        settings = (self.campaign_data or {}).get("signature") or {}
        order = settings.get("ordre") if isinstance(settings, dict) else None
        if isinstance(order, list) and sorted(order) == sorted(ROLES):
            return tuple(order)
        return ROLES


@dataclass(frozen=True)
class ContactChange:
    """An officer's change of a party's e-mail contact (None: the address was removed)."""

    contract_id: int
    party: str
    email: str | None
    changed_at: str
    changed_by: str


@dataclass(frozen=True)
class EventRecord:
    time: str
    reference: str | None
    document: str | None
    kind: str
    detail: str


@dataclass(frozen=True)
class DocumentTerms:
    """What an avenant or a résiliation adds to its registration."""

    number: int
    signature_date: dt.date
    effective_date: dt.date
    based_on_version: int
    volet: int | None = None
    changes: Sequence[str] = field(default_factory=tuple)


# --- the registry -------------------------------------------------------------------------------


class Registry:
    """An open registry file; use :meth:`open` and close it (or use ``with``)."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._conn = connection
        self.path = path

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, create: bool = True) -> Registry:
        """Open (creating unless ``create`` is false, and migrating) the registry at ``path``."""
        target = registry_path(path)
        if target.is_dir():
            raise RegistryError(f"{target} : c'est un dossier, pas un fichier de registre")
        if not create and not target.exists():
            raise RegistryError(
                f"{target} : registre introuvable (il est créé à la première émission de "
                f"contrats ; sinon préciser --registry ou {ENV_VARIABLE})"
            )
        if not target.parent.is_dir():
            raise RegistryError(f"{target} : le dossier {target.parent} n'existe pas")
        if not target.exists():
            cls._create(target)
        registry = cls._connect(target)
        try:
            registry._check_identity()
            registry._configure()
            registry._migrate()
        except BaseException:
            registry.close()
            raise
        return registry

    @classmethod
    def _connect(cls, target: Path) -> Registry:
        try:
            connection = sqlite3.connect(
                target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
            )
        except sqlite3.Error as exc:
            raise RegistryError(f"{target} : ouverture du registre impossible") from exc
        return cls(connection, target)

    @classmethod
    def _create(cls, target: Path) -> None:
        """Create a registry at ``target`` whole, or let a concurrent creation win.

        It is built beside, then linked into place: ``target`` never exists half made, so an
        empty file there is never one being created, and is refused as not a registry.
        """
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".nouveau", dir=target.parent)
        os.close(fd)
        staging = Path(name)
        try:
            with contextlib.closing(cls._connect(staging)) as registry:
                registry._configure()
                registry._migrate()
            with contextlib.suppress(FileExistsError):
                os.link(staging, target)
        except OSError as exc:
            raise RegistryError(
                f"{target} : création du registre impossible ({system_reason(exc)})"
            ) from exc
        finally:
            for leftover in (staging, *(Path(f"{staging}{end}") for end in ("-wal", "-shm"))):
                leftover.unlink(missing_ok=True)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- set-up ------------------------------------------------------------------------------

    def _check_identity(self) -> None:
        """Refuse a file that is not a sound caqes registry, before anything is written to it.

        An empty or foreign file would otherwise silently become a new, empty registry.
        """
        if self.path.stat().st_size == 0:
            raise RegistryError(
                f"{self.path} : fichier vide, ce n'est pas un registre caqes ; préciser le bon "
                "fichier (--registry), ou supprimer celui-ci pour en créer un nouveau"
            )
        with self._errors("lecture"):
            tables = {row[0] for row in self._conn.execute(_TABLES)}
            if self.schema_version() == 0 or not REGISTRY_TABLES.issubset(tables):
                raise RegistryError(
                    f"{self.path} : cette base SQLite n'est pas un registre caqes ; préciser le "
                    "bon fichier (--registry)"
                )
            damage = [row[0] for row in self._conn.execute("PRAGMA quick_check") if row[0] != "ok"]
        if damage:
            raise RegistryError(
                f"{self.path} : registre endommagé (contrôle d'intégrité SQLite : {damage[0]}) ; "
                "restaurer une sauvegarde"
            )

    def _configure(self) -> None:
        with self._errors("ouverture"):
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            # Switching a new file to WAL needs it alone: SQLite answers "locked" at once,
            # without its busy handler, when another process opens it at the same moment.
            deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
            while True:
                try:
                    self._conn.execute("PRAGMA journal_mode = WAL")
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)

    def _migrate(self) -> None:
        if self.schema_version() == SCHEMA_VERSION:
            return
        with self.transaction():
            # Another process may have migrated while this one waited for the lock.
            version = self.schema_version()
            if version > SCHEMA_VERSION:
                raise RegistryError(
                    f"{self.path} : registre au format {version}, plus récent que ce programme "
                    f"(format {SCHEMA_VERSION}) ; mettre caqes-docs à jour"
                )
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number]:
                    self._conn.execute(statement)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def schema_version(self) -> int:
        with self._errors("lecture"):
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            text = str(exc)
            if "not a database" in text:
                raise RegistryError(
                    f"{self.path} : ce fichier n'est pas un registre SQLite"
                ) from None
            if "malformed" in text or "corrupt" in text:
                raise RegistryError(
                    f"{self.path} : registre endommagé (fichier SQLite corrompu) ; restaurer une "
                    "sauvegarde"
                ) from None
            if "locked" in text or "busy" in text:
                raise RegistryError(
                    f"{self.path} : registre occupé par une autre commande depuis plus de "
                    f"{BUSY_TIMEOUT_MS // 1000} s ; réessayer"
                ) from None
            if "readonly" in text or "unable to open" in text:
                raise RegistryError(
                    f"{self.path} : {action} du registre impossible (fichier ou dossier en "
                    "lecture seule ?)"
                ) from exc
            # SQLite's own words are English: they stay in the cause, shown by --verbose.
            raise RegistryError(f"{self.path} : {action} du registre impossible") from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction, taken at once (``BEGIN IMMEDIATE``); rolled back on error."""
        if self._conn.in_transaction:
            raise RegistryError("transaction du registre déjà ouverte")
        with self._errors("écriture"):
            self._conn.execute("BEGIN IMMEDIATE")
        try:
            with self._errors("écriture"):
                yield
                self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def _require_transaction(self) -> None:
        if not self._conn.in_transaction:
            raise RegistryError("écriture du registre hors transaction")

    def _query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[sqlite3.Row]:
        with self._errors("lecture"):
            cursor = self._conn.execute(sql, params)
            cursor.row_factory = sqlite3.Row
            return cursor.fetchall()

    def _write(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> int:
        self._require_transaction()
        return int(self._conn.execute(sql, params).lastrowid or 0)

    # -- registration ------------------------------------------------------------------------

    def register_issued(
        self,
        contract: Contract,
        kind: str,
        pdf_path: str | os.PathLike[str],
        issued_record: IssuedRecord,
        campaign: Campaign | str,
        *,
        terms: DocumentTerms | None = None,
    ) -> DocumentRecord:
        """Record an issued signable PDF; the same digest again returns the same document.

        ``issued_record`` is the ``X.emission.json`` record (``sha256``, ``taille``…). For a
        ``contrat``, ``contract`` is the contract itself and becomes version 1; reissuing an
        unsigned contract supersedes the earlier PDF. For an ``avenant`` or a ``resiliation``,
        ``contract`` is the consolidated contract that becomes current once the document is
        signed by the three parties, and ``terms`` is required.
        """
        if kind not in KINDS:
            raise RegistryError(f"type de document inconnu : « {kind} » ({', '.join(KINDS)})")
        if (terms is None) != (kind == CONTRACT):
            raise RegistryError(f"{kind} : conditions de l'avenant manquantes ou superflues")
        digest, size = _issued_digest(Path(pdf_path), issued_record)
        campaign_name = campaign if isinstance(campaign, str) else campaign.name
        with self.transaction():
            existing = self._documents("d.issued_sha256 = ?", (digest,))
            if existing:
                return existing[0]
            campaign_id = self._campaign_id(campaign)
            if kind == CONTRACT:
                document_id = self._register_contract(
                    contract, campaign_id, campaign_name, pdf_path, digest, size, issued_record
                )
            else:
                assert terms is not None
                document_id = self._register_amendment(
                    contract, kind, terms, pdf_path, digest, size, issued_record
                )
        return self._documents("d.id = ?", (document_id,))[0]

    def _campaign_id(self, campaign: Campaign | str) -> int:
        name = campaign if isinstance(campaign, str) else campaign.name
        data = (
            json.dumps(campaign.model_dump(mode="json", by_alias=True), ensure_ascii=False)
            if not isinstance(campaign, str)
            else None
        )
        rows = self._query("SELECT id, data FROM campaigns WHERE name = ?", (name,))
        if not rows:
            return self._write(
                "INSERT INTO campaigns (name, data, created_at) VALUES (?, ?, ?)",
                (name, data, now_iso()),
            )
        if data is not None and rows[0]["data"] != data:
            # The latest configuration wins: an ARS completes CPAM addresses during a campaign.
            self._write("UPDATE campaigns SET data = ? WHERE id = ?", (data, rows[0]["id"]))
        return int(rows[0]["id"])

    def _register_contract(
        self,
        contract: Contract,
        campaign_id: int,
        campaign_name: str,
        pdf_path: str | os.PathLike[str],
        digest: str,
        size: int,
        record: IssuedRecord,
    ) -> int:
        est = contract.establishment
        rows = self._query("SELECT * FROM contracts WHERE reference = ?", (contract.reference,))
        if rows:
            contract_id = int(rows[0]["id"])
            self._check_same_contract(rows[0], contract, campaign_id, campaign_name)
            previous = self._replaceable_contract_document(contract_id, contract.reference)
        else:
            contract_id = self._write(
                "INSERT INTO contracts (reference, finess_ej, establishment, campaign_id, "
                "created_at) VALUES (?, ?, ?, ?, ?)",
                (contract.reference, est.finess_ej, est.legal_name, campaign_id, now_iso()),
            )
            previous = None
        if previous is not None:
            self._write("UPDATE documents SET status = ? WHERE id = ?", (SUPERSEDED, previous))
        document_id = self._insert_document(
            contract_id,
            CONTRACT,
            0,
            None,
            pdf_path,
            digest,
            size,
            record,
            effective_date=contract.effective_date,
        )
        if previous is None:
            self._insert_version(contract_id, contract, contract.effective_date, document_id)
            self.add_event(
                contract_id, document_id, "émission", f"contrat émis ({Path(pdf_path).name})"
            )
        else:
            self._write(
                "UPDATE contract_versions SET data = ?, effective_date = ?, document_id = ? "
                "WHERE contract_id = ? AND number = 1",
                (
                    contract_json(contract),
                    contract.effective_date.isoformat(),
                    document_id,
                    contract_id,
                ),
            )
            self._write(
                "UPDATE contracts SET establishment = ? WHERE id = ?", (est.legal_name, contract_id)
            )
            self.add_event(
                contract_id,
                document_id,
                "émission",
                f"contrat émis à nouveau ({Path(pdf_path).name}), "
                "remplace l'émission précédente non signée",
            )
        return document_id

    def _check_same_contract(
        self, row: sqlite3.Row, contract: Contract, campaign_id: int, campaign_name: str
    ) -> None:
        if row["finess_ej"] != contract.establishment.finess_ej:
            raise RegistryError(
                f"contrat {contract.reference} : déjà enregistré pour le FINESS juridique "
                f"{row['finess_ej']}, pas {contract.establishment.finess_ej}"
            )
        if int(row["campaign_id"]) != campaign_id:
            raise RegistryError(
                f"contrat {contract.reference} : déjà enregistré dans une autre campagne "
                f"que « {campaign_name} »"
            )

    def _replaceable_contract_document(self, contract_id: int, reference: str) -> int:
        """The live contract document, provided nothing was signed or amended yet."""
        live = self._query(
            "SELECT id, kind FROM documents WHERE contract_id = ? AND status != ?",
            (contract_id, SUPERSEDED),
        )
        signed = self._query(
            "SELECT count(*) FROM signatures s JOIN documents d ON d.id = s.document_id "
            "WHERE d.contract_id = ? AND d.status != ?",
            (contract_id, SUPERSEDED),
        )[0][0]
        if signed or any(row["kind"] != CONTRACT for row in live):
            raise RegistryError(
                f"contrat {reference} : déjà signé ou modifié par avenant ; une nouvelle "
                "émission du contrat n'est plus possible (passer par un avenant)"
            )
        return int(next(row["id"] for row in live if row["kind"] == CONTRACT))

    def _register_amendment(
        self,
        contract: Contract,
        kind: str,
        terms: DocumentTerms,
        pdf_path: str | os.PathLike[str],
        digest: str,
        size: int,
        record: IssuedRecord,
    ) -> int:
        current = self.contract(contract.reference)
        if current.current_version.number != terms.based_on_version:
            raise RegistryError(
                f"contrat {contract.reference} : la version consolidée a changé "
                f"(n°{current.current_version.number}) depuis la préparation du document "
                f"(n°{terms.based_on_version}) ; le préparer à nouveau"
            )
        problem = self.amendment_problem(current, _label(kind, terms.number, terms.volet))
        if problem:
            raise RegistryError(problem)
        document_id = self._insert_document(
            current.id,
            kind,
            terms.number,
            terms.volet,
            pdf_path,
            digest,
            size,
            record,
            signature_date=terms.signature_date,
            effective_date=terms.effective_date,
            changes=terms.changes,
            proposed=contract,
            based_on=terms.based_on_version,
        )
        label = self._documents("d.id = ?", (document_id,))[0].label
        self.add_event(
            current.id,
            document_id,
            "émission",
            f"{label} émis ({Path(pdf_path).name}), date d'effet prévue le "
            f"{terms.effective_date.strftime('%d/%m/%Y')}",
        )
        return document_id

    def _insert_document(
        self,
        contract_id: int,
        kind: str,
        number: int,
        volet: int | None,
        pdf_path: str | os.PathLike[str],
        digest: str,
        size: int,
        record: IssuedRecord,
        *,
        signature_date: dt.date | None = None,
        effective_date: dt.date | None = None,
        changes: Sequence[str] = (),
        proposed: Contract | None = None,
        based_on: int | None = None,
    ) -> int:
        return self._write(
            "INSERT INTO documents (contract_id, kind, number, volet, issued_path, "
            "issued_sha256, issued_size, issued_at, signature_date, effective_date, status, "
            "changes, proposed_version, based_on_version, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                contract_id,
                kind,
                number,
                volet,
                str(Path(pdf_path).resolve()),
                digest,
                size,
                record.issued_at or now_iso(),
                signature_date.isoformat() if signature_date else None,
                effective_date.isoformat() if effective_date else None,
                ISSUED,
                json.dumps(list(changes), ensure_ascii=False),
                contract_json(proposed) if proposed is not None else None,
                based_on,
                now_iso(),
            ),
        )

    def _insert_version(
        self, contract_id: int, contract: Contract, effective: dt.date, document_id: int
    ) -> int:
        number = self._query(
            "SELECT coalesce(max(number), 0) + 1 FROM contract_versions WHERE contract_id = ?",
            (contract_id,),
        )[0][0]
        version_id = self._write(
            "INSERT INTO contract_versions (contract_id, number, data, effective_date, "
            "document_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                contract_id,
                number,
                contract_json(contract),
                effective.isoformat(),
                document_id,
                now_iso(),
            ),
        )
        self._write(
            "UPDATE contracts SET current_version_id = ? WHERE id = ?", (version_id, contract_id)
        )
        return int(number)

    # -- writes used by the lifecycle (inside :meth:`transaction`) ---------------------------

    def add_event(
        self, contract_id: int | None, document_id: int | None, kind: str, detail: str
    ) -> None:
        self._write(
            "INSERT INTO events (time, contract_id, document_id, kind, detail) "
            "VALUES (?, ?, ?, ?, ?)",
            (now_iso(), contract_id, document_id, kind, detail),
        )

    def add_contact_change(
        self, contract_id: int, role: str, email: str | None, changed_by: str
    ) -> ContactChange:
        change = ContactChange(contract_id, role, email, now_iso(), changed_by)
        self._write(
            "INSERT INTO contacts (contract_id, party, email, changed_at, changed_by) "
            "VALUES (?, ?, ?, ?, ?)",
            (contract_id, role, email, change.changed_at, changed_by),
        )
        return change

    def add_signatures(
        self,
        document: DocumentRecord,
        signatures: Sequence[Signature],
        signed_path: Path,
        source_file: str,
    ) -> None:
        """Record new signatures and the most complete signed copy of ``document``."""
        for signature in signatures:
            self._write(
                "INSERT INTO signatures (document_id, party, signer, subject, signing_time, "
                "source_file, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    document.id,
                    signature.party,
                    signature.signer,
                    signature.subject,
                    signature.signing_time,
                    source_file,
                    now_iso(),
                ),
            )
            self.add_event(
                document.contract_id,
                document.id,
                "signature",
                f"{document.label} signé par {signature.party} ({signature.signer})",
            )
        self._write(
            "UPDATE documents SET signed_path = ?, status = ? WHERE id = ?",
            (str(signed_path.resolve()), SIGNING, document.id),
        )

    def complete(self, document: DocumentRecord) -> int | None:
        """Mark ``document`` signed by all; an avenant's version becomes current.

        Returns the number of the new consolidated version, if any.
        """
        self._write("UPDATE documents SET status = ? WHERE id = ?", (SIGNED, document.id))
        if document.kind == CONTRACT:
            self.add_event(
                document.contract_id, document.id, "signé", "contrat signé par les trois parties"
            )
            return None
        from caqes_docs.inputs.models import Contract

        contract = Contract.model_validate(self._proposed_version(document.id))
        assert document.effective_date is not None
        number = self._insert_version(
            document.contract_id, contract, document.effective_date, document.id
        )
        self.add_event(
            document.contract_id,
            document.id,
            "signé",
            f"{document.label} signé par les trois parties ; version consolidée n°{number} "
            f"(effet le {document.effective_date.strftime('%d/%m/%Y')})",
        )
        return number

    # -- reads -------------------------------------------------------------------------------

    def contract(self, reference: str) -> ContractRecord:
        found = self._contract_records("WHERE c.reference = ?", (reference,))
        if not found:
            raise RegistryError(f"contrat « {reference} » inconnu du registre {self.path}")
        return found[0]

    def contracts(self, campaign: str | None = None) -> list[ContractRecord]:
        where, params = ("WHERE p.name = ?", (campaign,)) if campaign else ("", ())
        return self._contract_records(where, params)

    def _contract_records(self, where: str, params: Sequence[Any]) -> list[ContractRecord]:
        # One query, and each campaign's configuration decoded once, not once per contract.
        rows = self._query(
            "SELECT c.id, c.reference, c.finess_ej, c.establishment, p.name AS campaign, "
            "p.data AS campaign_data, v.number, v.effective_date, v.document_id, v.created_at, "
            "v.data FROM contracts c JOIN campaigns p ON p.id = c.campaign_id "
            f"LEFT JOIN contract_versions v ON v.id = c.current_version_id {where} "
            "ORDER BY c.reference",
            params,
        )
        campaigns: dict[str, Any] = {}
        records = []
        for row in rows:
            if row["number"] is None:
                raise RegistryError(f"contrat {row['reference']} : aucune version consolidée")
            if row["campaign"] not in campaigns:
                campaigns[row["campaign"]] = _loads(
                    row["campaign_data"], self.path, f"campagne {row['campaign']}"
                )
            records.append(
                ContractRecord(
                    id=int(row["id"]),
                    reference=row["reference"],
                    finess_ej=row["finess_ej"],
                    establishment=row["establishment"],
                    campaign=row["campaign"],
                    campaign_data=campaigns[row["campaign"]],
                    current_version=_version(row, self.path),
                )
            )
        return records

    def campaigns(self) -> list[str]:
        return [row["name"] for row in self._query("SELECT name FROM campaigns ORDER BY name")]

    def versions(self, contract_id: int) -> list[VersionRecord]:
        rows = self._query(
            "SELECT * FROM contract_versions WHERE contract_id = ? ORDER BY number",
            (contract_id,),
        )
        return [_version(row, self.path) for row in rows]

    def documents(
        self, contract_id: int | None = None, *, include_superseded: bool = False
    ) -> list[DocumentRecord]:
        clauses, params = [], []
        if contract_id is not None:
            clauses.append("d.contract_id = ?")
            params.append(contract_id)
        if not include_superseded:
            clauses.append("d.status != ?")
            params.append(SUPERSEDED)
        return self._documents(" AND ".join(clauses) or "1", tuple(params))

    def amendment_problem(self, contract: ContractRecord, what: str) -> str | None:
        """Why ``contract`` cannot take ``what`` (an avenant, a résiliation) now, or None.

        The rules, stated once: the contract has not ended by the résiliation of its last
        volet, its initial version is signed by the three parties, and no other document of it
        still awaits signatures.
        """
        documents = self.documents(contract.id)
        version = contract.current_version
        made_by = next(doc for doc in documents if doc.id == version.document_id)
        # A résiliation that leaves its volet on record is the one of the last volet: the end.
        if made_by.kind == TERMINATION and version.data.get(f"volet{made_by.volet}") is not None:
            from caqes_docs.documents.render import date_fr  # docxtpl: only on this path

            end = date_fr(version.contract().end_date)
            return (
                f"contrat {contract.reference} : son dernier volet est résilié "
                f"({made_by.label}), il prend fin le {end} ; {what} impossible"
            )
        order = contract.signing_order()
        initial = next(doc for doc in documents if doc.kind == CONTRACT)
        if initial.status != SIGNED:
            waiting = missing_parties([sig.party for sig in self.signatures(initial.id)], order)
            return (
                f"contrat {contract.reference} : pas encore signé par les trois parties "
                f"(en attente : {', '.join(waiting)}) ; {what} impossible"
            )
        pending = self.pending_documents(contract.id)
        if pending:
            waiting = missing_parties([sig.party for sig in self.signatures(pending[0].id)], order)
            return (
                f"contrat {contract.reference} : {pending[0].label} est encore en attente de "
                f"signature ({', '.join(waiting)}) ; {what} impossible avant sa signature complète"
            )
        return None

    def issued_record(self, document: DocumentRecord) -> IssuedRecord:
        """The issued record of ``document`` as the registry holds it: what every returned
        copy must extend, when the copy comes without its ``.emission.json``."""
        [row] = self._query("SELECT finess_ej FROM contracts WHERE id = ?", (document.contract_id,))
        return IssuedRecord(
            sha256=document.issued_sha256,
            size=document.issued_size,
            source=f"registre, {document.label} {document.reference}",
            reference=document.reference,
            finess_ej=row["finess_ej"],
        )

    def pending_documents(self, contract_id: int) -> list[DocumentRecord]:
        """Documents of the contract issued but not yet signed by the three parties."""
        return self._documents(
            "d.contract_id = ? AND d.status IN (?, ?)", (contract_id, ISSUED, SIGNING)
        )

    def _documents(self, where: str, params: Sequence[Any]) -> list[DocumentRecord]:
        rows = self._query(
            "SELECT d.*, c.reference FROM documents d JOIN contracts c ON c.id = d.contract_id "
            f"WHERE {where} ORDER BY c.reference, d.number, d.id",
            params,
        )
        return [_document(row, self.path) for row in rows]

    def document_extended_by(self, data: bytes) -> DocumentRecord | None:
        """The document whose issued PDF ``data`` starts with, byte for byte."""
        sizes = self._query(
            "SELECT DISTINCT issued_size FROM documents WHERE issued_size <= ?", (len(data),)
        )
        for (size,) in sizes:
            digest = hashlib.sha256(data[:size]).hexdigest()
            found = self._documents("d.issued_sha256 = ?", (digest,))
            if found:
                return found[0]
        return None

    def signatures(self, document_id: int) -> list[SignatureRecord]:
        rows = self._query(
            "SELECT * FROM signatures WHERE document_id = ? ORDER BY id", (document_id,)
        )
        return [
            SignatureRecord(
                row["party"],
                row["signer"],
                row["subject"],
                row["signing_time"],
                row["source_file"],
                row["recorded_at"],
            )
            for row in rows
        ]

    def contact_changes(self, contract_id: int | None = None) -> list[ContactChange]:
        """The contacts' changes, oldest first (of one contract, or of all)."""
        rows = self._query(
            "SELECT contract_id, party, email, changed_at, changed_by FROM contacts "
            "WHERE ? IS NULL OR contract_id = ? ORDER BY id",
            (contract_id, contract_id),
        )
        return [ContactChange(*row) for row in rows]

    def events(
        self, contract_id: int | None = None, document_id: int | None = None
    ) -> list[EventRecord]:
        clauses, params = [], []
        if contract_id is not None:
            clauses.append("e.contract_id = ?")
            params.append(contract_id)
        if document_id is not None:
            clauses.append("e.document_id = ?")
            params.append(document_id)
        rows = self._query(
            "SELECT e.time, e.kind AS event_kind, e.detail, c.reference, "
            "d.kind AS document_kind, d.number, d.volet FROM events e "
            "LEFT JOIN contracts c ON c.id = e.contract_id "
            "LEFT JOIN documents d ON d.id = e.document_id "
            f"WHERE {' AND '.join(clauses) or '1'} ORDER BY e.id",
            tuple(params),
        )
        return [
            EventRecord(
                time=row["time"],
                reference=row["reference"],
                document=(
                    _label(row["document_kind"], row["number"], row["volet"])
                    if row["document_kind"]
                    else None
                ),
                kind=row["event_kind"],
                detail=row["detail"],
            )
            for row in rows
        ]

    def export_data(self) -> dict[str, Any]:
        """Everything the registry holds, as plain data with French keys."""
        return {
            "format": "caqes-registre",
            "version_schema": self.schema_version(),
            "campagnes": [
                {
                    "nom": row["name"],
                    "configuration": _loads(row["data"], self.path, f"campagne {row['name']}"),
                    "enregistree_le": row["created_at"],
                }
                for row in self._query("SELECT * FROM campaigns ORDER BY name")
            ],
            "contrats": [self._export_contract(contract) for contract in self.contracts()],
            # What concerns no contract: the portal's logins, the campaign batches…
            "evenements": [
                {"date": event.time, "type": event.kind, "detail": event.detail}
                for event in self.events()
                if event.reference is None
            ],
        }

    def _export_contract(self, contract: ContractRecord) -> dict[str, Any]:
        return {
            "reference": contract.reference,
            "finess_ej": contract.finess_ej,
            "etablissement": contract.establishment,
            "campagne": contract.campaign,
            "version_courante": contract.current_version.number,
            "versions": [
                {
                    "numero": version.number,
                    "date_effet": version.effective_date.isoformat(),
                    "document_id": version.document_id,
                    "enregistree_le": version.created_at,
                    "contrat": version.data,
                }
                for version in self.versions(contract.id)
            ],
            "documents": [
                self._export_document(document)
                for document in self.documents(contract.id, include_superseded=True)
            ],
            "contacts_modifies": [
                {
                    "partie": change.party,
                    "courriel": change.email,
                    "modifie_le": change.changed_at,
                    "par": change.changed_by,
                }
                for change in self.contact_changes(contract.id)
            ],
            "evenements": [
                {
                    "date": event.time,
                    "document": event.document,
                    "type": event.kind,
                    "detail": event.detail,
                }
                for event in self.events(contract_id=contract.id)
            ],
        }

    def _export_document(self, document: DocumentRecord) -> dict[str, Any]:
        return {
            "id": document.id,
            "document": document.label,
            "type": document.kind,
            "numero": document.number,
            "volet": document.volet,
            "statut": document.status,
            "fichier_emis": str(document.issued_path),
            "sha256": document.issued_sha256,
            "taille": document.issued_size,
            "emis_le": document.issued_at,
            "fichier_signe": str(document.signed_path) if document.signed_path else None,
            "bordereau": (
                str(document.bordereau_path) if document.bordereau_path.is_file() else None
            ),
            "date_signature_prevue": (
                document.signature_date.isoformat() if document.signature_date else None
            ),
            "date_effet": document.effective_date.isoformat() if document.effective_date else None,
            "modifications": list(document.changes),
            "version_proposee": self._proposed_version(document.id),
            "signatures": [
                {
                    "partie": sig.party,
                    "signataire": sig.signer,
                    "sujet": sig.subject,
                    "date_signature": sig.signing_time,
                    "fichier": sig.source_file,
                    "enregistree_le": sig.recorded_at,
                }
                for sig in self.signatures(document.id)
            ],
        }

    def _proposed_version(self, document_id: int) -> dict[str, Any] | None:
        """The consolidated contract an avenant makes current once signed by all."""
        row = self._query("SELECT proposed_version FROM documents WHERE id = ?", (document_id,))
        return _loads(row[0][0], self.path, f"document {document_id}") if row else None

    def integrity_problems(self) -> list[str]:
        """``PRAGMA integrity_check`` and ``foreign_key_check``; empty when all is well."""
        problems = [row[0] for row in self._query("PRAGMA integrity_check") if row[0] != "ok"]
        problems += [
            f"clé étrangère rompue : {row[0]} ligne {row[1]}"
            for row in self._query("PRAGMA foreign_key_check")
        ]
        return problems


def _issued_digest(pdf: Path, record: IssuedRecord) -> tuple[str, int]:
    """The record's digest and size, checked against the file it describes."""
    try:
        record.check_file(pdf)
    except VerificationError as exc:
        raise RegistryError(str(exc)) from None
    return record.sha256, record.size or 0


def _label(kind: str, number: int, volet: int | None) -> str:
    if kind == CONTRACT:
        return "contrat"
    if kind == AMENDMENT:
        return f"avenant n°{number}"
    return f"résiliation volet {volet} (avenant n°{number})"


def _loads(text: str | None, registry: Path, what: str) -> Any:
    """A JSON value of the registry; a damaged one is one French line, not a traceback."""
    if not text:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        raise RegistryError(
            f"{registry} : registre endommagé, valeur illisible ({what}) ; restaurer une sauvegarde"
        ) from None


def _document(row: sqlite3.Row, registry: Path) -> DocumentRecord:
    return DocumentRecord(
        id=int(row["id"]),
        contract_id=int(row["contract_id"]),
        reference=row["reference"],
        kind=row["kind"],
        number=int(row["number"]),
        volet=row["volet"],
        issued_path=Path(row["issued_path"]),
        issued_sha256=row["issued_sha256"],
        issued_size=int(row["issued_size"]),
        issued_at=row["issued_at"],
        signed_path=Path(row["signed_path"]) if row["signed_path"] else None,
        signature_date=_date(row["signature_date"]),
        effective_date=_date(row["effective_date"]),
        status=row["status"],
        changes=tuple(_loads(row["changes"], registry, f"document {row['id']}") or ()),
        based_on_version=row["based_on_version"],
    )


def _version(row: sqlite3.Row, registry: Path) -> VersionRecord:
    return VersionRecord(
        number=int(row["number"]),
        effective_date=dt.date.fromisoformat(row["effective_date"]),
        document_id=int(row["document_id"]),
        created_at=row["created_at"],
        data=_loads(row["data"], registry, f"version {row['number']}") or {},
    )


def missing_parties(signed: Sequence[str], order: Sequence[str] = ROLES) -> list[str]:
    """The parties of ``order`` that have not signed, in signing order."""
    return [party for party in order if party not in signed]
