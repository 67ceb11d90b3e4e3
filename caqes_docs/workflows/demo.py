"""``caqes demo``: the whole chain on the bundled examples, as an officer would run it.

The bundled targeting file (with a few deliberate mistakes) goes through the batch; a test
PKI is created; each establishment signs its copy with its own certificate, then the CPAM,
then the ARS countersigns them all with one key; after each round the returned copies are
received into the registry; every copy is finally verified.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from caqes_docs.errors import InputError
from caqes_docs.inputs.campaign import load_campaign
from caqes_docs.inputs.targeting import read_targeting
from caqes_docs.issued import sidecar_path
from caqes_docs.registry.lifecycle import ReceiveOutcome, StatusReport, receive, status
from caqes_docs.registry.store import Registry
from caqes_docs.resources import shipped_dir
from caqes_docs.signatures.pki import DemoPki, create_demo_pki
from caqes_docs.signatures.signing import SignResult, load_p12, sign_documents
from caqes_docs.signatures.verify import VerificationReport, verify_document
from caqes_docs.workflows.batch import BatchReport, run_batch
from caqes_docs.workflows.manifest import read_entry

DEMO_PASSWORD = "demo-caqes"
MARKER = ".caqes-demo"
TARGETING = "ciblage-nouvelle-aquitaine-2022.xlsx"
FINESS_EXTRACT = "finess-extrait.csv"


@dataclass
class DemoReport:
    batch: BatchReport
    signatures: list[SignResult]
    received: list[ReceiveOutcome]
    verified: list[VerificationReport]
    status: StatusReport
    registry: Path


def example_establishments() -> list[tuple[str, str]]:
    """(FINESS juridique, name) of every valid establishment of the bundled targeting file."""
    examples = shipped_dir("examples")
    result = read_targeting(
        examples / TARGETING, load_campaign(), finess_extract=examples / FINESS_EXTRACT
    )
    return [(t.finess_ej, t.contract.establishment.legal_name) for t in result.accepted]


def _fresh(out: Path) -> None:
    """Start from an empty folder; only a previous demo's folder may be emptied."""
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise InputError(
                "le dossier existe et ne vient pas d'une démonstration : choisir un autre --out",
                file=out,
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("Dossier de démonstration de caqes-docs.\n", encoding="utf-8")


def _copies(batch: BatchReport, exchange: Path) -> dict[str, Path]:
    """Each issued PDF, with its record, copied where the parties sign it."""
    exchange.mkdir()
    copies = {}
    for finess in batch.generated:
        entry = read_entry(batch.out_dir / finess)
        assert entry is not None
        issued = batch.out_dir / finess / entry["emission"]["fichier"]
        copy = exchange / issued.name
        shutil.copy2(issued, copy)
        shutil.copy2(sidecar_path(issued), sidecar_path(copy))
        copies[finess] = copy
    return copies


def run_demo(out: Path, step: Callable[[str], None] = lambda message: None) -> DemoReport:
    _fresh(out)
    examples = shipped_dir("examples")
    registry_path = out / "caqes.db"
    step("Émission des contrats du fichier de ciblage d'exemple…")
    batch = run_batch(
        examples / TARGETING,
        out / "contrats",
        finess_extract=[examples / FINESS_EXTRACT],
        registry=registry_path,
    )
    names = [
        (finess, (read_entry(batch.out_dir / finess) or {}).get("raison_sociale", finess))
        for finess in batch.generated
    ]
    pki = create_demo_pki(out / "pki", names, DEMO_PASSWORD)
    copies = _copies(batch, out / "echanges")
    signatures: list[SignResult] = []
    received: list[ReceiveOutcome] = []
    with Registry.open(registry_path) as registry:
        for role in ("ETAB", "CPAM", "ARS"):
            step(f"Signature {role} de {len(copies)} contrat(s), puis réception…")
            signatures += _sign_round(role, copies, pki)
            received += receive(list(copies.values()), registry, [pki.root_certificate])
        report = status(registry)
    step("Vérification des copies signées…")
    verified = [
        verify_document(copy, trust_roots=[pki.root_certificate]) for copy in copies.values()
    ]
    return DemoReport(batch, signatures, received, verified, report, registry_path)


def _sign_round(role: str, copies: dict[str, Path], pki: DemoPki) -> list[SignResult]:
    password = DEMO_PASSWORD.encode()
    if role == "ETAB":
        results = []
        for finess, copy in copies.items():
            own_key = load_p12(pki.establishments[finess], password)
            results += sign_documents([copy], role, own_key)
        return results
    key = pki.cpam if role == "CPAM" else pki.ars
    assert key is not None
    return sign_documents(list(copies.values()), role, load_p12(key, password))
