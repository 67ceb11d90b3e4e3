"""``caqes demo``: the whole chain on the bundled examples, as an officer would run it.

The bundled targeting file (with a few deliberate mistakes) goes through the batch; a test
PKI is created; each establishment signs its copy with its own certificate, then the CPAM,
then the ARS countersigns them all with one key; after each round the returned copies are
received into the registry; every copy is finally verified. The year 2023 is then evaluated
from the example results, and the ARS signs the notification letters.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from caqes_docs.errors import InputError
from caqes_docs.files import write_text
from caqes_docs.inputs.campaign import load_campaign
from caqes_docs.inputs.contract_file import load_contract
from caqes_docs.inputs.targeting import read_targeting
from caqes_docs.issued import read_issued_record, sidecar_path
from caqes_docs.registry.lifecycle import ReceiveOutcome, StatusReport, receive, status
from caqes_docs.registry.store import Registry
from caqes_docs.resources import shipped_dir
from caqes_docs.signatures.pki import DemoPki, create_demo_pki
from caqes_docs.signatures.signing import SignResult, load_p12, sign_documents
from caqes_docs.signatures.verify import VerificationReport, verify_document
from caqes_docs.workflows.batch import BatchReport, run_batch
from caqes_docs.workflows.bordereau import IssuedBordereau, issue_missing
from caqes_docs.workflows.evaluation import EvaluationReport, evaluate
from caqes_docs.workflows.manifest import read_entry

DEMO_PASSWORD = "demo-caqes"
MARKER = ".caqes-demo"
TARGETING = "ciblage-nouvelle-aquitaine-2022.xlsx"
FINESS_EXTRACT = "finess-extrait.csv"
RESULTS = "resultats-2023.xlsx"


@dataclass
class DemoReport:
    batch: BatchReport
    signatures: list[SignResult]
    received: list[ReceiveOutcome]
    verified: list[VerificationReport]
    status: StatusReport
    registry: Path
    bordereaux: list[IssuedBordereau]
    bordereau_failures: list[str]
    evaluation: EvaluationReport
    letters: list[SignResult]


def example_establishments() -> list[tuple[str, str]]:
    """(FINESS juridique, name) of every establishment of the bundled examples: the valid
    ones of the targeting file, then those of the contract files (``examples/*.yaml``, the
    ones the README's ``generate`` and ``amend`` examples use), each once."""
    examples = shipped_dir("examples")
    campaign = load_campaign()
    result = read_targeting(
        examples / TARGETING, campaign, finess_extract=examples / FINESS_EXTRACT
    )
    found = {t.finess_ej: t.contract.establishment.legal_name for t in result.accepted}
    for path in sorted(examples.glob("*.yaml")):
        establishment = load_contract(path, campaign).establishment
        found.setdefault(establishment.finess_ej, establishment.legal_name)
    return list(found.items())


def create_example_pki(
    folder: Path, establishments: Sequence[tuple[str, str]] | None = None
) -> tuple[DemoPki, Path]:
    """A test PKI in ``folder`` for ``establishments`` (by default :func:`example_establishments`)
    and the file holding the password of its ``.p12`` files."""
    pki = create_demo_pki(folder, establishments or example_establishments(), DEMO_PASSWORD)
    password_file = folder / "mot-de-passe.txt"
    write_text(password_file, DEMO_PASSWORD + "\n")
    return pki, password_file


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
    # Every example establishment gets its key, so that the portal's round and the README's
    # examples (an avenant to a YAML example) can be signed too.
    pki, _ = create_example_pki(out / "pki")
    copies = _copies(batch, out / "echanges")
    signatures: list[SignResult] = []
    received: list[ReceiveOutcome] = []
    assert pki.ars is not None
    ars = load_p12(pki.ars, DEMO_PASSWORD.encode())
    with Registry.open(registry_path) as registry:
        for role in ("ETAB", "CPAM", "ARS"):
            step(f"Signature {role} de {len(copies)} contrat(s), puis réception…")
            signatures += _sign_round(role, copies, pki, registry)
            received += receive(list(copies.values()), registry, [pki.root_certificate])
        step("Bordereaux de signature des contrats complets, scellés par l'ARS…")
        bordereaux, bordereau_failures = issue_missing(registry, ars, [pki.root_certificate])
        report = status(registry)
    step("Vérification des copies signées…")
    verified = [
        verify_document(copy, trust_roots=[pki.root_certificate]) for copy in copies.values()
    ]
    step("Évaluation 2023, puis signature des notifications d'intéressement par l'ARS…")
    evaluation = evaluate(
        examples / RESULTS, 2023, out_dir=out / "evaluation-2023", registry=registry_path
    )
    letters = sign_documents(
        [record.letter_path for record in evaluation.notified if record.letter_path],
        "ARS",
        ars,
        trust_roots=[pki.root_certificate],
    )
    return DemoReport(
        batch,
        signatures,
        received,
        verified,
        report,
        registry_path,
        bordereaux,
        bordereau_failures,
        evaluation,
        letters,
    )


def _sign_round(
    role: str, copies: dict[str, Path], pki: DemoPki, registry: Registry
) -> list[SignResult]:
    # Each party signs its own working copy in place (the issued PDFs stay in contrats/),
    # with its own certificate: the establishment's, the CPAM of the contract, the ARS.
    password = DEMO_PASSWORD.encode()
    signers: dict[Path, object] = {}
    results = []
    for finess, copy in copies.items():
        key = _party_key(role, finess, copy, pki, registry)
        if key not in signers:
            signers[key] = load_p12(key, password)
        results += sign_documents(
            [copy], role, signers[key], output=copy, trust_roots=[pki.root_certificate]
        )  # type: ignore[arg-type]
    return results


def _party_key(role: str, finess: str, copy: Path, pki: DemoPki, registry: Registry) -> Path:
    if role == "ETAB":
        return pki.establishments[finess]
    if role == "ARS":
        assert pki.ars is not None
        return pki.ars
    # The CPAM the contract names (the file's reference leads to it), else its département's.
    campaign = load_campaign()
    record = read_issued_record(copy)
    named = None
    if record is not None and record.reference:
        named = registry.contract(record.reference).current_version.contract().cpam.name
    keys = [key for key, cpam in campaign.cpams.items() if cpam.name == named]
    return pki.cpams[keys[0] if keys else campaign.cpam_for(finess)[0]]
