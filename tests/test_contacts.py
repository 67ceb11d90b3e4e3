"""The parties' e-mail contacts: officers' changes, their events, an older registry upgraded.

Real SQLite registries; the PDFs are stand-in bytes (the registry only hashes them).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from caqes_docs.errors import InputError, InvalidData, RegistryError
from caqes_docs.inputs.campaign import load_campaign
from caqes_docs.inputs.contract_file import load_contract
from caqes_docs.issued import IssuedRecord
from caqes_docs.registry.contacts import CONTACT_CHANGED, ContactBook, contacts, set_contacts
from caqes_docs.registry.store import CONTRACT, MIGRATIONS, SCHEMA_VERSION, Registry

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "chu-fictif-bordeaux.yaml"


def _registry(path: Path, email: str | None = "direction@chu-fictif.fr") -> Registry:
    contract = load_contract(EXAMPLE, load_campaign())
    contract = contract.model_copy(
        update={"establishment": contract.establishment.model_copy(update={"email": email})}
    )
    pdf = path.parent / f"{contract.reference}.pdf"
    pdf.write_bytes(b"%PDF-1.7 contrat")
    record = IssuedRecord(
        sha256=hashlib.sha256(pdf.read_bytes()).hexdigest(), size=pdf.stat().st_size,
        reference=contract.reference, finess_ej=contract.establishment.finess_ej,
        file_name=pdf.name, issued_at="2023-01-02T10:00:00+01:00",
    )  # fmt: skip
    registry = Registry.open(path)
    registry.register_issued(contract, CONTRACT, pdf, record, load_campaign())
    return registry


def _emails(registry: Registry) -> dict[str, str | None]:
    [contract] = registry.contracts()
    return {item.role: item.email for item in contacts(registry, contract)}


def test_a_change_wins_over_the_contract_and_is_an_event(tmp_path: Path) -> None:
    with _registry(tmp_path / "caqes.db") as registry:
        [contract] = registry.contracts()
        before = _emails(registry)
        assert before["ETAB"] == "direction@chu-fictif.fr"
        made = set_contacts(
            registry, contract.reference,
            {"ETAB": " secretariat@chu-fictif.fr ", "CPAM": before["CPAM"]}, "marie",
        )  # fmt: skip
        assert [(c.party, c.email, c.changed_by) for c in made] == [
            ("ETAB", "secretariat@chu-fictif.fr", "marie")
        ]
        assert _emails(registry)["ETAB"] == "secretariat@chu-fictif.fr"
        assert ContactBook.load(registry).email(contract, "ETAB") == "secretariat@chu-fictif.fr"
        assert (
            set_contacts(registry, contract.reference, {"ETAB": "secretariat@chu-fictif.fr"}, "x")
            == []
        )
        set_contacts(registry, contract.reference, {"ETAB": ""}, "paul")
        assert _emails(registry)["ETAB"] is None
        details = [e.detail for e in registry.events() if e.kind == CONTACT_CHANGED]
    assert details == [
        "adresse électronique de l'établissement direction@chu-fictif.fr → "
        "secretariat@chu-fictif.fr, par marie",
        "adresse électronique de l'établissement supprimée (était secretariat@chu-fictif.fr), "
        "par paul",
    ]


def test_bad_addresses_are_all_named_and_nothing_is_written(tmp_path: Path) -> None:
    with _registry(tmp_path / "caqes.db", email=None) as registry:
        [contract] = registry.contracts()
        with pytest.raises(InvalidData) as raised:
            set_contacts(
                registry, contract.reference,
                {"ETAB": "a@b.fr, c@d.fr", "CPAM": "contrats@cpam", "ARS": "ok@ars.fr"}, "marie",
            )  # fmt: skip
        assert [(p.place, p.value) for p in raised.value.problems] == [
            ("courriel de l'établissement", "a@b.fr, c@d.fr"),
            ("courriel de la CPAM", "contrats@cpam"),
        ]
        assert "une seule adresse" in str(raised.value)
        with pytest.raises(InputError, match="partie inconnue"):
            set_contacts(registry, contract.reference, {"DGOS": "a@b.fr"}, "marie")
        with pytest.raises(RegistryError, match="inconnu du registre"):
            set_contacts(registry, "CAQES-INCONNU", {"ETAB": "a@b.fr"}, "marie")
        assert registry.contact_changes() == []
        assert _emails(registry)["ARS"] is None  # the valid one was not written either


def test_a_registry_of_the_previous_format_is_upgraded_and_keeps_its_contacts(
    tmp_path: Path,
) -> None:
    path = tmp_path / "caqes.db"
    _registry(path).close()
    with sqlite3.connect(path) as db:  # back to the format before the contacts table
        db.execute("DROP TABLE contacts")
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) - 1}")
    with Registry.open(path, create=False) as registry:
        assert registry.schema_version() == SCHEMA_VERSION
        [contract] = registry.contracts()
        assert _emails(registry)["ETAB"] == "direction@chu-fictif.fr"
        set_contacts(registry, contract.reference, {"CPAM": "contrats@cpam-gironde.fr"}, "marie")
        [exported] = registry.export_data()["contrats"]
    assert exported["contacts_modifies"][0]["courriel"] == "contrats@cpam-gironde.fr"


def _caqes(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "caqes_docs", *map(str, args)],
        capture_output=True, text=True, check=False, env={**os.environ, "COLUMNS": "100"},
    )  # fmt: skip


def test_the_command_line_shows_and_changes_the_contacts(tmp_path: Path) -> None:
    path = tmp_path / "caqes.db"
    with _registry(path) as registry:
        [contract] = registry.contracts()
    shown = _caqes("contact", contract.reference, "--registry", path)
    assert shown.returncode == 0, shown.stderr
    assert "Établissement : direction@chu-fictif.fr — donnée par le contrat" in shown.stdout
    refused = _caqes("contact", contract.reference, "--etab", "chu.fr", "--registry", path)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith("Erreur : courriel de l'établissement : adresse électronique")
    changed = _caqes("contact", contract.reference, "--etab", "dg@chu.fr", "--registry", path)
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.startswith("1 adresse(s) changée(s).")
    assert "Établissement : dg@chu.fr — changée le" in changed.stdout
    assert all(len(line) <= 100 for line in changed.stdout.splitlines())
