"""The SQLite registry: schema, registration, concurrent writers, a writer killed midway.

The PDFs here are stand-in bytes: the registry only hashes them. Real signable PDFs and real
signatures are in test_lifecycle.py.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from caqes_docs.errors import RegistryError
from caqes_docs.inputs.campaign import load_campaign
from caqes_docs.inputs.contract_file import load_contract
from caqes_docs.inputs.models import Contract
from caqes_docs.issued import IssuedRecord
from caqes_docs.registry.store import (
    CONTRACT,
    SCHEMA_VERSION,
    SUPERSEDED,
    Registry,
    Signature,
    registry_path,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "chu-fictif-bordeaux.yaml"


def _contract(index: int) -> Contract:
    base = load_contract(EXAMPLE, load_campaign())
    return base.model_copy(update={"reference": f"CAQES-TEST-{index:05d}"})


def _issue(directory: Path, name: str, content: bytes) -> tuple[Path, IssuedRecord]:
    """A stand-in issued PDF and its emission record."""
    pdf = directory / f"{name}.pdf"
    pdf.write_bytes(content)
    record = IssuedRecord(
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        reference=name,
        finess_ej="330990011",
        file_name=pdf.name,
        issued_at="2023-01-02T10:00:00+01:00",
    )
    return pdf, record


def _register(registry: Registry, directory: Path, index: int, tag: str = "") -> None:
    contract = _contract(index)
    pdf, record = _issue(directory, contract.reference, f"%PDF-1.7 contrat {index} {tag}".encode())
    registry.register_issued(contract, CONTRACT, pdf, record, "Campagne de test")


def _count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


# --- opening ------------------------------------------------------------------------------------


def test_new_registry_is_migrated_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "caqes.db"
    with Registry.open(path) as registry:
        assert registry.schema_version() == SCHEMA_VERSION
        assert registry._query("PRAGMA journal_mode")[0][0] == "wal"
        assert registry._query("PRAGMA foreign_keys")[0][0] == 1
        assert registry._query("PRAGMA busy_timeout")[0][0] >= 5000
        assert registry.integrity_problems() == []
    # Opening again migrates nothing and keeps the data.
    with Registry.open(path) as registry:
        _register(registry, tmp_path, 1)
    with Registry.open(path) as registry:
        assert [c.reference for c in registry.contracts()] == ["CAQES-TEST-00001"]


def test_registry_path_from_argument_environment_or_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CAQES_REGISTRY", raising=False)
    assert registry_path() == Path("caqes.db")
    monkeypatch.setenv("CAQES_REGISTRY", str(tmp_path / "ailleurs.db"))
    assert registry_path() == tmp_path / "ailleurs.db"
    assert registry_path(tmp_path / "donne.db") == tmp_path / "donne.db"
    monkeypatch.chdir(tmp_path)
    with Registry.open() as registry:
        assert registry.path == tmp_path / "ailleurs.db"
    assert (tmp_path / "ailleurs.db").exists()


def test_bad_registry_files_are_refused_in_french(tmp_path: Path) -> None:
    garbage = tmp_path / "pas-une-base.db"
    garbage.write_bytes(b"ceci n'est pas une base SQLite" * 100)
    with pytest.raises(RegistryError, match="n'est pas un registre SQLite"):
        Registry.open(garbage)
    with pytest.raises(RegistryError, match="c'est un dossier"):
        Registry.open(tmp_path)
    with pytest.raises(RegistryError, match="registre introuvable"):
        Registry.open(tmp_path / "absent.db", create=False)
    assert not (tmp_path / "absent.db").exists()
    with pytest.raises(RegistryError, match="n'existe pas"):
        Registry.open(tmp_path / "absent" / "caqes.db")

    newer = tmp_path / "futur.db"
    Registry.open(newer).close()
    with sqlite3.connect(newer) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RegistryError, match="plus récent que ce programme"):
        Registry.open(newer)


def test_an_empty_file_is_not_turned_into_a_registry(tmp_path: Path) -> None:
    empty = tmp_path / "caqes.db"
    empty.touch()
    with pytest.raises(RegistryError, match="fichier vide, ce n'est pas un registre caqes"):
        Registry.open(empty)
    assert empty.stat().st_size == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["caqes.db"]


def test_a_foreign_sqlite_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    foreign = tmp_path / "clients.db"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE clients (nom TEXT)")
        connection.execute("PRAGMA user_version = 3")
    before = foreign.read_bytes()
    with pytest.raises(RegistryError, match="n'est pas un registre caqes"):
        Registry.open(foreign)
    assert foreign.read_bytes() == before


def test_a_damaged_registry_is_one_french_line(tmp_path: Path) -> None:
    path = tmp_path / "caqes.db"
    with Registry.open(path) as registry:
        for index in range(40):
            _register(registry, tmp_path, index)
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(path.read_bytes())
    # Overwrite a b-tree page past the schema page: the structure no longer adds up.
    data[3 * page_size : 4 * page_size] = b"\xff" * page_size
    path.write_bytes(bytes(data))
    with pytest.raises(
        RegistryError, match=rf"^{re.escape(str(path))} : registre endommagé"
    ) as caught:
        Registry.open(path).contracts()
    assert "\n" not in str(caught.value)


def test_a_damaged_json_value_names_the_registry(tmp_path: Path) -> None:
    path = tmp_path / "caqes.db"
    with Registry.open(path) as registry:
        _register(registry, tmp_path, 1)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE contract_versions SET data = '{pas du json'")
    with Registry.open(path) as registry, pytest.raises(RegistryError) as caught:
        registry.contracts()
    assert str(caught.value) == (
        f"{path} : registre endommagé, valeur illisible (version 1) ; restaurer une sauvegarde"
    )


# --- registration ---------------------------------------------------------------------------------


def test_registering_the_same_digest_again_changes_nothing(tmp_path: Path) -> None:
    contract = _contract(1)
    pdf, record = _issue(tmp_path, contract.reference, b"%PDF-1.7 une fois")
    with Registry.open(tmp_path / "caqes.db") as registry:
        first = registry.register_issued(contract, CONTRACT, pdf, record, load_campaign())
        again = registry.register_issued(contract, CONTRACT, pdf, record, load_campaign())
        assert again == first
        assert first.label == "contrat" and first.number == 0
        record_back = registry.contract(contract.reference)
        assert record_back.current_version.number == 1
        assert record_back.current_version.contract() == contract
        assert record_back.campaign_model() == load_campaign()
        assert [e.kind for e in registry.events(contract_id=record_back.id)] == ["émission"]
    for table, rows in (("documents", 1), ("contract_versions", 1), ("events", 1)):
        assert _count(tmp_path / "caqes.db", table) == rows


def test_reissue_supersedes_an_unsigned_contract_but_not_a_signed_one(tmp_path: Path) -> None:
    contract = _contract(1)
    with Registry.open(tmp_path / "caqes.db") as registry:
        pdf, record = _issue(tmp_path, "premier", b"%PDF-1.7 premier")
        first = registry.register_issued(contract, CONTRACT, pdf, record, "C")
        renamed = contract.model_copy(
            update={
                "establishment": contract.establishment.model_copy(
                    update={"legal_name": "CHU renommé"}
                )
            }
        )
        pdf, record = _issue(tmp_path, "second", b"%PDF-1.7 second")
        second = registry.register_issued(renamed, CONTRACT, pdf, record, "C")
        assert second.id != first.id
        all_documents = registry.documents(include_superseded=True)
        assert [d.status for d in all_documents] == [SUPERSEDED, "émis"]
        assert [d.id for d in registry.documents()] == [second.id]
        current = registry.contract(contract.reference)
        assert current.establishment == "CHU renommé"
        assert current.current_version.number == 1
        assert current.current_version.document_id == second.id

        with registry.transaction():
            registry.add_signatures(second, [Signature("ETAB", "Directeur")], pdf, pdf.name)
        pdf, record = _issue(tmp_path, "troisieme", b"%PDF-1.7 troisieme")
        with pytest.raises(RegistryError, match="déjà signé ou modifié par avenant"):
            registry.register_issued(contract, CONTRACT, pdf, record, "C")
        with pytest.raises(RegistryError, match="autre campagne"):
            registry.register_issued(contract, CONTRACT, pdf, record, "Autre campagne")


def test_record_that_does_not_match_its_file_is_refused(tmp_path: Path) -> None:
    contract = _contract(1)
    pdf, record = _issue(tmp_path, contract.reference, b"%PDF-1.7 original")
    pdf.write_bytes(b"%PDF-1.7 modifie!")
    with Registry.open(tmp_path / "caqes.db") as registry:
        with pytest.raises(RegistryError, match="ne correspond pas à sa fiche d'émission"):
            registry.register_issued(contract, CONTRACT, pdf, record, "C")
        assert registry.contracts() == []


def test_a_failed_registration_leaves_nothing_behind(tmp_path: Path) -> None:
    """The campaign row inserted before the failure is rolled back with the rest."""
    contract = _contract(1)
    with Registry.open(tmp_path / "caqes.db") as registry:
        pdf, record = _issue(tmp_path, "a", b"%PDF-1.7 a")
        registry.register_issued(contract, CONTRACT, pdf, record, "C")
        other = contract.model_copy(
            update={
                "establishment": contract.establishment.model_copy(
                    update={"finess_ej": "240000059"}
                )
            }
        )
        pdf, record = _issue(tmp_path, "b", b"%PDF-1.7 b")
        with pytest.raises(RegistryError, match="déjà enregistré pour le FINESS juridique"):
            registry.register_issued(other, CONTRACT, pdf, record, "Nouvelle campagne")
        assert registry.campaigns() == ["C"]


# --- concurrency and crashes ---------------------------------------------------------------------

WRITES_PER_PROCESS = 60


def _writer(path: str, directory: str, offset: int, barrier: Any) -> None:
    barrier.wait()
    with Registry.open(path) as registry:
        for index in range(offset, offset + WRITES_PER_PROCESS):
            _register(registry, Path(directory), index)
            with registry.transaction():
                for number in range(5):
                    registry.add_event(None, None, "test", f"processus {offset} écriture {number}")


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "caqes.db"  # created by the two processes racing to migrate it
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    processes = [
        context.Process(target=_writer, args=(str(path), str(tmp_path), offset, barrier))
        for offset in (0, 10_000)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0
    with Registry.open(path) as registry:
        references = {c.reference for c in registry.contracts()}
        assert len(references) == 2 * WRITES_PER_PROCESS
        assert registry.integrity_problems() == []
        for contract in registry.contracts():
            assert contract.current_version.number == 1
    assert _count(path, "documents") == 2 * WRITES_PER_PROCESS
    assert _count(path, "events") == 2 * WRITES_PER_PROCESS * 6


CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_registry import _register
    from caqes_docs.registry.store import Registry

    registry = Registry.open({path!r})
    if {mode!r} == "open-transaction":
        with registry.transaction():
            for number in range(2000):
                registry.add_event(None, None, "test", f"jamais validé {{number}}")
            print("dans la transaction", flush=True)
            time.sleep(120)
    else:
        for index in range(100_000):
            _register(registry, Path({directory!r}), index, "enfant")
            print(index, flush=True)
    """
)


def _child(path: Path, directory: Path, mode: str) -> subprocess.Popen[str]:
    script = CHILD.format(
        tests=str(Path(__file__).parent), path=str(path), directory=str(directory), mode=mode
    )
    return subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )


def _kill(process: subprocess.Popen[str]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
    assert process.returncode == -signal.SIGKILL


def test_killed_inside_a_transaction_leaves_the_previous_state(tmp_path: Path) -> None:
    path = tmp_path / "caqes.db"
    with Registry.open(path) as registry:
        _register(registry, tmp_path, 1)
    process = _child(path, tmp_path, "open-transaction")
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "dans la transaction"
    _kill(process)

    with Registry.open(path) as registry:
        assert registry.integrity_problems() == []
        assert [e.kind for e in registry.events()] == ["émission"]
        # The lock died with the process: the next command writes at once.
        _register(registry, tmp_path, 2)
        assert len(registry.contracts()) == 2


def test_killed_between_registrations_every_contract_is_whole(tmp_path: Path) -> None:
    path = tmp_path / "caqes.db"
    Registry.open(path).close()
    process = _child(path, tmp_path, "loop")
    assert process.stdout is not None
    for _ in range(15):
        process.stdout.readline()
    _kill(process)

    with Registry.open(path) as registry:
        assert registry.integrity_problems() == []
        contracts = registry.contracts()
        assert len(contracts) >= 15
        for contract in contracts:
            (document,) = registry.documents(contract.id)
            assert contract.current_version.document_id == document.id
            assert [e.kind for e in registry.events(contract_id=contract.id)] == ["émission"]
        _register(registry, tmp_path, 999_999)
    assert _count(path, "documents") == _count(path, "contracts") == len(contracts) + 1


def test_events_of_no_contract_are_exported(tmp_path: Path) -> None:
    with Registry.open(tmp_path / "caqes.db") as registry:
        _register(registry, tmp_path, 1)
        with registry.transaction():
            registry.add_event(None, None, "connexion", "agent dupont")
        export = registry.export_data()
    assert [(e["type"], e["detail"]) for e in export["evenements"]] == [
        ("connexion", "agent dupont")
    ]
    assert all(e["type"] != "connexion" for e in export["contrats"][0]["evenements"])
