"""The contract lifecycle with real documents: LibreOffice PDFs, PAdES signatures, SQLite.

Two example contracts (CHU of Bordeaux, both volets; clinic of Bayonne, volet 1 only) are
issued once per module and signed in order ETAB → CPAM → ARS with a demo PKI; each test
copies the issued PDFs into its own folder and registry.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pdfplumber
import pytest
from click.testing import CliRunner
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, Signer
from pypdf import PdfWriter

from caqes_docs.cli import main
from caqes_docs.documents.render import render_contract
from caqes_docs.errors import InputError, RegistryError
from caqes_docs.inputs.campaign import load_campaign
from caqes_docs.inputs.contract_file import load_contract
from caqes_docs.inputs.models import Contract
from caqes_docs.issued import IssuedRecord, load_issued_record, sidecar_path, write_issued_record
from caqes_docs.parties import ROLES, party
from caqes_docs.pdf.assemble import contract_metadata
from caqes_docs.pdf.signable import SignableJob, make_signable
from caqes_docs.registry.amendments import (
    amendment_effective_date,
    plan_amendment,
    termination_effective_date,
)
from caqes_docs.registry.lifecycle import (
    RECORDED,
    REFUSED,
    UNCHANGED,
    amend,
    receive,
    signed_copy_path,
    status,
    terminate,
    verify_with_registry,
)
from caqes_docs.registry.store import CONTRACT, SIGNED, Registry
from caqes_docs.signatures.pki import create_demo_pki
from caqes_docs.signatures.signing import load_p12, sign_documents
from caqes_docs.signatures.verify import PENDING, verify_document

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
AMENDMENT_EXAMPLE = EXAMPLES / "avenants" / "avenant-exemple.yaml"
CHU, CLINIC = "chu-fictif-bordeaux", "clinique-fictive-bayonne"
PASSWORD = b"caqes-cycle-de-vie"


# --- module fixtures: a PKI, two issued contracts and their signed copies ------------------------


@dataclass(frozen=True)
class Keys:
    root: Path
    signers: dict[str, dict[str, Signer]]  # FINESS EJ -> role -> signer
    stranger: Signer  # an establishment key certified by another root


@dataclass(frozen=True)
class Issued:
    contract: Contract
    pdf: bytes
    record: IssuedRecord
    copies: dict[str, bytes]  # the copy each party returns, after signing


def sign_chain(pdf: Path, signers: dict[str, Signer], root: Path) -> dict[str, Path]:
    """Each party signs the previous party's copy; its sidecar comes along."""
    copies, source = {}, pdf
    for role in ROLES:
        target = pdf.with_name(f"{pdf.stem}-{role}.pdf")
        [result] = sign_documents([source], role, signers[role], output=target, trust_roots=[root])
        assert result.ok, result.error
        copies[role] = source = target
    return copies


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    campaign = load_campaign()
    finess = [load_contract(EXAMPLES / f"{n}.yaml", campaign).establishment for n in (CHU, CLINIC)]
    work = tmp_path_factory.mktemp("pki")
    pki = create_demo_pki(work, [(e.finess_ej, e.legal_name) for e in finess], PASSWORD)
    assert pki.cpam is not None and pki.ars is not None
    ars = load_p12(pki.ars, PASSWORD)
    # Each contract's own CPAM signs it: the one it names, else its département's.
    cpams = {e.finess_ej: e.cpam or campaign.cpam_for(e.finess_ej)[0] for e in finess}
    signers = {
        ej: {
            "ETAB": load_p12(path, PASSWORD),
            "CPAM": load_p12(pki.cpams[cpams[ej]], PASSWORD),
            "ARS": ars,
        }
        for ej, path in pki.establishments.items()
    }
    other = create_demo_pki(work / "autre", [(finess[0].finess_ej, "Imposteur")], PASSWORD)
    stranger = load_p12(other.establishments[finess[0].finess_ej], PASSWORD)
    return Keys(pki.root_certificate, signers, stranger)


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> dict[str, Issued]:
    work = tmp_path_factory.mktemp("emis")
    campaign = load_campaign()
    contracts = {name: load_contract(EXAMPLES / f"{name}.yaml", campaign) for name in (CHU, CLINIC)}
    jobs = []
    for contract in contracts.values():
        rendered = render_contract(contract, work)
        est = contract.establishment
        jobs.append(
            SignableJob(
                contract=rendered.contract,
                output=work / f"{contract.reference}.pdf",
                metadata=contract_metadata(contract.reference, est.finess_ej, "Contrat CAQES"),
                reference=contract.reference,
                finess_ej=est.finess_ej,
                annexes=[(path, f"Annexe {volet}") for volet, path in rendered.annexes],
            )
        )
    results = make_signable(jobs, workers=1)
    assert all(result.ok for result in results), [result.error for result in results]
    out: dict[str, Issued] = {}
    for (name, contract), job in zip(contracts.items(), jobs, strict=True):
        copies = sign_chain(job.output, keys.signers[contract.establishment.finess_ej], keys.root)
        out[name] = Issued(
            contract,
            job.output.read_bytes(),
            load_issued_record(job.output),
            {role: path.read_bytes() for role, path in copies.items()},
        )
    return out


# --- per test: a folder with the issued PDFs and a registry that knows them ----------------------


@dataclass
class World:
    folder: Path
    registry: Registry
    keys: Keys
    issued: dict[str, Issued]
    pdfs: dict[str, Path] = field(default_factory=dict)

    @property
    def db(self) -> Path:
        return self.folder / "caqes.db"

    def returned(self, name: str, role: str, data: bytes | None = None) -> Path:
        """The copy a party sends back, saved in the officer's inbox."""
        inbox = self.folder / "courrier"
        inbox.mkdir(exist_ok=True)
        path = inbox / f"{name}-retour-{role}.pdf"
        path.write_bytes(self.issued[name].copies[role] if data is None else data)
        return path

    def receive(self, *paths: Path) -> list:
        return receive(paths, self.registry, [self.keys.root])

    def signers(self, name: str) -> dict[str, Signer]:
        return self.keys.signers[self.issued[name].contract.establishment.finess_ej]

    @contextlib.contextmanager
    def closed(self) -> Iterator[None]:
        self.registry.close()
        try:
            yield
        finally:
            self.registry = Registry.open(self.db)


@pytest.fixture
def world(tmp_path: Path, keys: Keys, issued: dict[str, Issued]) -> Iterator[World]:
    registry = Registry.open(tmp_path / "caqes.db")
    world = World(tmp_path, registry, keys, issued)
    campaign = load_campaign()
    for name, item in issued.items():
        pdf = tmp_path / "contrats" / f"{item.contract.reference}.pdf"
        pdf.parent.mkdir(exist_ok=True)
        pdf.write_bytes(item.pdf)
        write_issued_record(pdf, item.record)
        registry.register_issued(item.contract, CONTRACT, pdf, item.record, campaign)
        world.pdfs[name] = pdf
    yield world
    world.registry.close()


def snapshot(db: Path) -> tuple[str, list[str]]:
    """The registry file's bytes (digest) and its logical content."""
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    with contextlib.closing(sqlite3.connect(db)) as connection:
        return digest, list(connection.iterdump())


def document_of(world: World, name: str, number: int = 0):  # type: ignore[no-untyped-def]
    reference = world.issued[name].contract.reference
    contract = world.registry.contract(reference)
    return next(d for d in world.registry.documents(contract.id) if d.number == number)


# --- dates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signature", "effect"),
    [
        (dt.date(2023, 12, 31), dt.date(2024, 1, 1)),
        (dt.date(2024, 1, 1), dt.date(2025, 1, 1)),
        (dt.date(2024, 2, 29), dt.date(2025, 1, 1)),
    ],
)
def test_an_avenant_is_in_force_on_1_january_following_its_signature(
    signature: dt.date, effect: dt.date
) -> None:
    assert amendment_effective_date(signature) == effect


@pytest.mark.parametrize(
    ("signature", "effect"),
    [
        (dt.date(2024, 1, 1), dt.date(2024, 12, 31)),
        (dt.date(2024, 12, 31), dt.date(2024, 12, 31)),
        (dt.date(2023, 12, 31), dt.date(2023, 12, 31)),
    ],
)
def test_a_termination_takes_effect_on_31_december_of_its_year(
    signature: dt.date, effect: dt.date
) -> None:
    assert termination_effective_date(signature) == effect


# --- receiving -----------------------------------------------------------------------------------


def test_a_copy_received_without_its_record_is_proved_through_the_registry(world: World) -> None:
    # The mail case: the clinic's copy, signed by its own CPAM (Bayonne), with no record.
    mailed = world.returned(CLINIC, "CPAM")
    assert not sidecar_path(mailed).exists()
    alone = verify_document(mailed, trust_roots=[world.keys.root])
    assert not alone.ok and alone.issued == "non vérifiable"
    assert any("rien ne prouve" in problem for problem in alone.problems)
    report = verify_with_registry(mailed, world.registry, [world.keys.root])
    assert report.ok and report.issued == "conforme", report.all_problems()
    assert report.signatures[1].expected_identity == "organizationName=CPAM de Bayonne"
    # An unknown file is verified as it is: never valid without a record.
    stranger = world.folder / "inconnu.pdf"
    stranger.write_bytes(_foreign_pdf())
    assert not verify_with_registry(stranger, world.registry, [world.keys.root]).ok


def test_receiving_the_copies_in_signing_order(world: World) -> None:
    document = document_of(world, CHU)
    for role in ROLES:
        [outcome] = world.receive(world.returned(CHU, role))
        assert outcome.status == RECORDED, outcome.message
        assert outcome.new_parties == (role,)
        assert outcome.complete is (role == "ARS")
        stored = signed_copy_path(world.pdfs[CHU])
        assert stored.name == f"{world.issued[CHU].contract.reference}.signe.pdf"
        assert stored.read_bytes() == world.issued[CHU].copies[role]
    document = document_of(world, CHU)
    assert document.status == SIGNED
    signatures = world.registry.signatures(document.id)
    assert [s.party for s in signatures] == list(ROLES)
    assert signatures[1].signer == "Directeur de la CPAM de la Gironde"
    events = world.registry.events(document_id=document.id)
    assert [e.kind for e in events] == ["émission", "signature", "signature", "signature", "signé"]
    assert events[-1].detail == "contrat signé par les trois parties"


def test_receiving_the_copies_out_of_order(world: World) -> None:
    stored = signed_copy_path(world.pdfs[CHU])
    [first] = world.receive(world.returned(CHU, "CPAM"))
    assert first.status == RECORDED and first.new_parties == ("ETAB", "CPAM")
    assert "en attente : ARS" in first.message

    # The establishment's own copy arrives late: it is older, so nothing changes.
    with world.closed():
        before = snapshot(world.db)
        with Registry.open(world.db) as registry:
            [late] = receive([world.returned(CHU, "ETAB")], registry, [world.keys.root])
        assert snapshot(world.db) == before
    assert late.status == REFUSED
    assert "moins de signatures (ETAB) que celles déjà enregistrées (ETAB, CPAM)" in late.message
    assert stored.read_bytes() == world.issued[CHU].copies["CPAM"]

    [last, again] = world.receive(world.returned(CHU, "ARS"), world.returned(CHU, "ARS"))
    assert last.status == RECORDED and last.new_parties == ("ARS",) and last.complete
    assert again.status == UNCHANGED and again.message == "aucune signature nouvelle"
    assert stored.read_bytes() == world.issued[CHU].copies["ARS"]

    # The ARS's copy alone carries every signature.
    [whole] = world.receive(world.returned(CLINIC, "ARS"))
    assert whole.new_parties == ROLES and whole.complete
    assert document_of(world, CLINIC).status == SIGNED


def _flip_inside_a_stream(data: bytes, start: int) -> bytes:
    position = data.index(b"stream", start) + 40
    return data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1 :]


def _foreign_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _signed_by(signer: Signer, source: Path, role: str = "ETAB") -> bytes:
    """``source`` signed by pyHanko directly: caqes' own ``sign`` refuses a wrong party."""
    writer = IncrementalPdfFileWriter(io.BytesIO(source.read_bytes()))
    metadata = PdfSignatureMetadata(field_name=party(role).field, subfilter=SigSeedSubFilter.PADES)
    out = io.BytesIO()
    PdfSigner(metadata, signer).sign_pdf(writer, existing_fields_only=True, output=out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("issued-changed", "la version émise a été modifiée"),
        ("signature-broken", "s1_ETAB (Établissement) : le contenu signé a été altéré"),
        ("untrusted", "non reconnu"),
        ("wrong-party", "ne correspond pas à la partie Établissement"),
        ("foreign", "document inconnu du registre"),
        ("not-a-pdf", "n'est pas un PDF lisible"),
    ],
)
def test_a_doubtful_file_is_refused_and_the_registry_is_unchanged(
    world: World, case: str, expected: str
) -> None:
    [ok] = world.receive(world.returned(CHU, "ETAB"))
    assert ok.status == RECORDED
    etab_copy = world.issued[CHU].copies["ETAB"]
    issued_size = len(world.issued[CHU].pdf)
    if case == "issued-changed":
        data = _flip_inside_a_stream(etab_copy, 1000)
    elif case == "signature-broken":
        data = _flip_inside_a_stream(etab_copy, issued_size)
    elif case == "untrusted":
        data = _signed_by(world.keys.stranger, world.pdfs[CHU])
    elif case == "wrong-party":
        clinic_key = world.signers(CLINIC)["ETAB"]
        data = _signed_by(clinic_key, world.pdfs[CHU])
    elif case == "foreign":
        data = _foreign_pdf()
    else:
        data = b"Bonjour, voici le contrat signe.\n" * 50
    path = world.returned(CHU, "douteux", data)

    with world.closed():
        before = snapshot(world.db)
        stored_before = signed_copy_path(world.pdfs[CHU]).read_bytes()
        with Registry.open(world.db) as registry:
            [outcome] = receive([path], registry, [world.keys.root])
        assert snapshot(world.db) == before
        assert signed_copy_path(world.pdfs[CHU]).read_bytes() == stored_before
    assert outcome.status == REFUSED
    assert expected in outcome.message, outcome.message
    assert "\n" not in outcome.message


def test_receive_needs_a_trust_root(world: World) -> None:
    with pytest.raises(InputError, match="certificat racine de confiance"):
        receive([world.returned(CHU, "ETAB")], world.registry, [])


# --- changes files, without LibreOffice ----------------------------------------------------------


def _changes(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "modifications.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def chu() -> Contract:
    return load_contract(EXAMPLES / f"{CHU}.yaml", load_campaign())


def test_each_change_is_checked_against_the_contract_and_located(
    tmp_path: Path, chu: Contract
) -> None:
    path = _changes(
        tmp_path,
        "modifications:\n"
        "  - retenir: [DLR]\n"
        "  - ne_plus_retenir: [MIPA]\n"
        "  - ne_plus_cibler: {indicateur: NAT_5, sites: ['330990029']}\n"
        "  - cibler: {indicateur: NAT_4, sites: ['330990086']}\n"
        "  - retirer_site: '330990029'\n"
        "  - date_fin: 2027-12-31\n"
        "  - resilier: 1\n",
    )
    with pytest.raises(InputError) as caught:
        plan_amendment(chu, path, dt.date(2023, 6, 1), campaign=load_campaign())
    lines = str(caught.value).splitlines()
    assert lines == [
        f"{path} : ligne 3, modifications[1].ne_plus_retenir[0] : indicateur régional non "
        "retenu par le contrat (valeur « MIPA »)",
        f"{path} : ligne 4, modifications[2].ne_plus_cibler.sites[0] : site non ciblé au titre "
        "de NAT_5 (valeur « 330990029 »)",
        f"{path} : ligne 5, modifications[3].cibler.sites[0] : ce site n'est pas un site de "
        "l'établissement (l'ajouter d'abord : ajouter_site) (valeur « 330990086 »)",
        f"{path} : ligne 6, modifications[4].retirer_site : site encore ciblé au titre de "
        "NAT_1, NAT_2, NAT_6 (le retirer d'abord : ne_plus_cibler) (valeur « 330990029 »)",
        f"{path} : ligne 7, modifications[5].date_fin : le contrat dure au plus 5 ans (décret "
        "n° 2021-1231, art. D. 162-14) : entré en vigueur le 1er juillet 2022, il prend fin au "
        "plus tard le 30 juin 2027 (valeur « 2027-12-31 »)",
        f"{path} : ligne 8, modifications[6] : type de modification inconnu (attendu : cibler, "
        "ne_plus_cibler, retenir, ne_plus_retenir, ajouter_site, retirer_site, representant, "
        "raison_sociale, adresse, date_fin, ajouter_volet, ajouter_theme, retirer_theme, "
        "ajouter_action) (valeur « resilier »)",
    ]


def test_changes_apply_in_order_and_consolidate_the_action_plan(
    tmp_path: Path, chu: Contract
) -> None:
    amendment = plan_amendment(
        chu, AMENDMENT_EXAMPLE, dt.date(2023, 12, 31), campaign=load_campaign()
    )
    assert amendment.effective_date == dt.date(2024, 1, 1)
    assert amendment.changes[:2] == (
        "Le site FINESS 330990078 (Hôpital fictif de Bègles) est ajouté au contrat.",
        "Le site FINESS 330990029 (Hôpital Pellegrin (fictif)) est ciblé au titre de "
        "l’indicateur national NAT_4 Pansements.",
    )
    assert "L’indicateur régional DLR Douleur est retenu (OUI)." in amendment.changes
    assert amendment.changes[-2:] == (
        "Le représentant légal de l’établissement est désormais Monsieur Paul MARTIN, "
        "Directeur général.",
        "La date de fin du contrat est portée au 31 décembre 2025.",
    )
    new = amendment.contract
    assert new.volet1 is not None and chu.volet1 is not None
    assert new.volet1.national["NAT_4"] == ["330990029", "330990078"]
    assert new.volet1.national["NAT_1"] == ["330990029"]
    assert "ATB" not in new.volet1.regional and "DLR" in new.volet1.regional
    assert new.end_date == dt.date(2025, 12, 31)
    assert new.effective_date == chu.effective_date
    plan = {(row.indicator, row.site) for row in new.action_plan}
    assert ("NAT_4", "330990078") in plan and ("DLR", None) in plan  # campaign defaults
    assert ("NAT_1", "330990045") not in plan and ("ATB", None) not in plan
    assert [(a.volet, a.new) for a in amendment.annexes] == [(1, False)]
    assert chu.volet1.national["NAT_1"] == ["330990029", "330990045"]  # untouched


def test_adding_a_volet_joins_its_annex(tmp_path: Path) -> None:
    clinic = load_contract(EXAMPLES / f"{CLINIC}.yaml", load_campaign())
    path = _changes(
        tmp_path,
        "modifications:\n"
        "  - ajouter_volet: {volet: 2, themes: [CHIR_AMBU]}\n"
        "  - ajouter_action:\n"
        "      volet: 2\n"
        "      indicateur: CHIR_AMBU\n"
        "      axe: Virage ambulatoire\n"
        "      action: Ouvrir une unité de chirurgie ambulatoire\n",
    )
    amendment = plan_amendment(clinic, path, dt.date(2023, 6, 1), campaign=load_campaign())
    assert amendment.changes == (
        "Le volet 2 « Pertinence des parcours et des séjours » est ajouté au contrat.",
        "Le thème CHIR_AMBU « Développement de la chirurgie ambulatoire » est retenu au titre "
        "du volet 2.",
        "Une action est ajoutée au plan d’actions de l’annexe 2 pour CHIR_AMBU « Développement "
        "de la chirurgie ambulatoire » : « Ouvrir une unité de chirurgie ambulatoire ».",
    )
    assert [(a.volet, a.new) for a in amendment.annexes] == [(2, True)]
    rows = [row for row in amendment.contract.action_plan if row.volet == 2]
    assert rows[0].action == "Ouvrir une unité de chirurgie ambulatoire"
    assert amendment.effective_date == dt.date(2024, 1, 1)


def test_an_avenant_must_take_effect_before_the_contract_ends(
    tmp_path: Path, chu: Contract
) -> None:
    path = _changes(tmp_path, "modifications:\n  - retenir: DLR\n")
    with pytest.raises(InputError, match="après la fin du contrat"):
        plan_amendment(chu, path, dt.date(2024, 3, 1))
    with pytest.raises(InputError, match="a pris fin le 31 décembre 2024"):
        plan_amendment(chu, path, dt.date(2025, 1, 2))
    # Extending the contract in the same avenant makes it possible.
    path = _changes(tmp_path, "modifications:\n  - retenir: DLR\n  - date_fin: 2025-12-31\n")
    assert plan_amendment(chu, path, dt.date(2024, 3, 1)).effective_date == dt.date(2025, 1, 1)
    # Emptying volet 1 is a termination, not an avenant.
    assert chu.volet1 is not None
    lines = ["modifications:", f"  - ne_plus_retenir: {chu.volet1.regional}"]
    lines += [f"  - ne_plus_cibler: {{indicateur: {code}, sites: {sites}}}"
              for code, sites in chu.volet1.national.items()]  # fmt: skip
    with pytest.raises(InputError, match="caqes terminate --volet prescriptions"):
        plan_amendment(chu, _changes(tmp_path, "\n".join(lines)), dt.date(2023, 3, 1))


# --- avenants and résiliations, through LibreOffice and signatures -------------------------------


def _sign_and_receive(world: World, name: str, pdf: Path, *roles: str) -> list:
    copies = sign_chain(pdf, world.signers(name), world.keys.root)
    return world.receive(*(copies[role] for role in roles))


def _pdf_text(path: Path) -> str:
    with pdfplumber.open(path) as pdf:
        return re.sub(r"\s+", " ", " ".join(page.extract_text() or "" for page in pdf.pages))


def test_avenants_are_numbered_and_become_current_once_signed(world: World) -> None:
    reference = world.issued[CHU].contract.reference
    with pytest.raises(RegistryError, match="pas encore signé par les trois parties"):
        amend(world.registry, reference, AMENDMENT_EXAMPLE, dt.date(2023, 12, 31))
    world.receive(world.returned(CHU, "ARS"))
    # Left by an interrupted run, unknown to the registry: replaced.
    world.pdfs[CHU].with_name(f"{reference}-avenant-1.pdf").write_bytes(b"%PDF-1.7 orphelin")

    first = amend(world.registry, reference, AMENDMENT_EXAMPLE, dt.date(2023, 12, 31))
    assert first.document.label == "avenant n°1"
    assert first.effective_date == first.document.effective_date == dt.date(2024, 1, 1)
    assert first.pdf == world.pdfs[CHU].with_name(f"{reference}-avenant-1.pdf")
    assert [path.name for path in first.sources] == [
        f"{reference}-avenant-1.docx",
        f"{reference}-avenant-1-annexe1.docx",
    ]
    report = verify_document(first.pdf)  # its sidecar is beside it
    assert report.ok and [s.status for s in report.signatures] == [PENDING] * 3
    text = _pdf_text(first.pdf)
    assert "AVENANT N° 1 AU CONTRAT" in text
    assert "Le site FINESS 330990078 (Hôpital fictif de Bègles) est ajouté au contrat." in text
    assert "soit le 1er janvier 2024 pour une signature au cours de l’année 2023" in text
    assert "L’annexe 1 du contrat (plan d’actions du volet pertinence des prescriptions) est " \
        "remplacée par l’annexe 1 jointe au présent avenant." in text  # fmt: skip
    assert "ANNEXE 1 — VOLET PERTINENCE DES PRESCRIPTIONS" in text
    assert world.registry.contract(reference).current_version.number == 1

    with pytest.raises(RegistryError, match="avenant n°1 est encore en attente de signature"):
        terminate(world.registry, reference, 2, dt.date(2024, 6, 1))

    copies = sign_chain(first.pdf, world.signers(CHU), world.keys.root)
    [partial] = world.receive(copies["CPAM"])
    assert partial.status == RECORDED and not partial.complete
    assert world.registry.contract(reference).current_version.number == 1
    [whole] = world.receive(copies["ARS"])
    assert whole.complete and "version consolidée n°2" in whole.message
    # Signed today, years after the planned date: the effect date written no longer follows.
    assert "attention : dernière signature le" in whole.message
    assert world.registry.events(document_id=first.document.id)[-1].kind == "attention"
    current = world.registry.contract(reference).current_version
    assert current.number == 2 and current.effective_date == dt.date(2024, 1, 1)
    consolidated = current.contract()
    assert consolidated.end_date == dt.date(2025, 12, 31)
    assert consolidated.establishment.representative.name == "Monsieur Paul MARTIN"

    second_changes = _changes(world.folder, "modifications:\n  - retirer_theme: DUREE_SEJ\n")
    second = amend(world.registry, reference, second_changes, dt.date(2024, 1, 1))
    assert second.document.number == 2
    assert second.effective_date == dt.date(2025, 1, 1)
    assert [p.name for p in second.sources][1:] == [f"{reference}-avenant-2-annexe2.docx"]
    _sign_and_receive(world, CHU, second.pdf, "ARS")
    assert world.registry.contract(reference).current_version.number == 3

    ending = terminate(world.registry, reference, 2, dt.date(2024, 6, 30))
    assert ending.document.label == "résiliation volet 2 (avenant n°3)"
    assert ending.effective_date == dt.date(2024, 12, 31) and not ending.contract_ends
    text = _pdf_text(ending.pdf)
    assert "la résiliation prend effet au 31 décembre de l’année en cours, soit le " \
        "31 décembre 2024" in text  # fmt: skip
    assert "Les autres volets du contrat demeurent en vigueur" in text
    _sign_and_receive(world, CHU, ending.pdf, "ARS")
    current = world.registry.contract(reference).current_version
    assert current.number == 4 and current.contract().volet2 is None
    assert all(row.volet == 1 for row in current.contract().action_plan)

    with pytest.raises(InputError, match=r"n'est pas en vigueur .*\(volets en vigueur : 1\)"):
        terminate(world.registry, reference, 2, dt.date(2024, 7, 1))

    rows = [row for row in status(world.registry).rows if row.reference == reference]
    assert [row.document for row in rows] == [
        "contrat",
        "avenant n°1",
        "avenant n°2",
        "résiliation volet 2 (avenant n°3)",
    ]
    assert all(row.waiting_for is None for row in rows)


def test_terminating_the_last_volet_ends_the_contract(world: World) -> None:
    reference = world.issued[CLINIC].contract.reference
    world.receive(world.returned(CLINIC, "ARS"))
    with world.closed():
        before = snapshot(world.db)
        with Registry.open(world.db) as registry, pytest.raises(InputError) as caught:
            terminate(registry, reference, 2, dt.date(2024, 3, 15))
        assert snapshot(world.db) == before
    assert "ce volet n'est pas en vigueur" in str(caught.value)
    assert "(volets en vigueur : 1)" in str(caught.value)

    ending = terminate(world.registry, reference, 1, dt.date(2024, 3, 15))
    assert ending.contract_ends and ending.effective_date == dt.date(2024, 12, 31)
    assert ending.document.label == "résiliation volet 1 (avenant n°1)"
    text = _pdf_text(ending.pdf)
    assert "Avenant de résiliation du volet 1 « Pertinence des prescriptions »" in text
    assert "Ce volet étant le dernier volet en vigueur du contrat, le contrat prend fin le " \
        "31 décembre 2024." in text  # fmt: skip
    assert "Date d’effet de la résiliation : 31 décembre 2024" in text
    assert (
        "Dernier volet en vigueur : le contrat prend fin le 31 décembre 2024."
        in (ending.changes[0])
    )

    _sign_and_receive(world, CLINIC, ending.pdf, "ETAB", "CPAM", "ARS")
    current = world.registry.contract(reference).current_version
    assert current.number == 2
    assert current.contract().end_date == dt.date(2024, 12, 31)
    assert current.contract().volet1 is not None  # on record until it ends
    with pytest.raises(RegistryError, match="son dernier volet est résilié"):
        terminate(world.registry, reference, 1, dt.date(2024, 6, 1))
    with pytest.raises(RegistryError, match="il prend fin le 31 décembre 2024"):
        amend(world.registry, reference, AMENDMENT_EXAMPLE, dt.date(2024, 6, 1))


# --- the command line ----------------------------------------------------------------------------


def run(command: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [command, *args], prog_name="caqes")
    return result.exit_code, result.stdout, result.stderr


def test_cli_receive_status_and_export(world: World) -> None:
    db = str(world.db)
    root = str(world.keys.root)
    code, out, err = run(
        "receive", str(world.returned(CHU, "CPAM")), str(world.returned(CHU, "ETAB")),
        "--trust", root, "--registry", db,
    )  # fmt: skip
    assert code == 1
    assert "signature(s) enregistrée(s) : ETAB, CPAM ; en attente : ARS" in out
    assert "1 fichier(s) pris en compte, 1 refusé(s)." in out
    [refused] = err.splitlines()
    assert refused.startswith(f"Refusé : {CHU}-retour-ETAB.pdf : ")

    code, out, _ = run("status", "--json", "--registry", db)
    assert code == 0
    data = json.loads(out)
    assert data["totaux"] == {
        "documents": 2,
        "complets": 0,
        "en_attente_ETAB": 1,
        "en_attente_CPAM": 0,
        "en_attente_ARS": 1,
    }
    chu_row = next(r for r in data["documents"] if r["etablissement"].startswith("Centre"))
    assert chu_row["signatures"]["CPAM"] and chu_row["signatures"]["ARS"] is None
    assert chu_row["dernier_evenement"].startswith("contrat signé par CPAM")

    code, out, _ = run("status", "--csv", "--campaign", "CAQES Nouvelle-Aquitaine 2022-2024",
                       "--registry", db)  # fmt: skip
    assert code == 0 and out.startswith("\ufeff")  # UTF-8 with BOM, for Excel
    header, *lines = out.removeprefix("\ufeff").splitlines()
    assert header.split(";")[:4] == ["reference", "etablissement", "campagne", "document"]
    assert len(lines) == 2

    code, out, _ = run("status", "--registry", db)
    assert code == 0
    assert "Suivi des contrats CAQES" in out
    assert "2 document(s) : 0 complet(s) ; en attente de signature : ETAB 1, CPAM 0, ARS 1." in out

    code, _, err = run("status", "--campaign", "Inconnue", "--registry", db)
    assert code == 1 and "campagne inconnue du registre" in err

    export = world.folder / "sauvegarde" / "registre.json"
    code, out, _ = run("export", "--out", str(export), "--registry", db)
    assert code == 0 and "2 contrat(s)" in out
    data = json.loads(export.read_text(encoding="utf-8"))
    assert [c["reference"] for c in data["contrats"]] == sorted(
        item.contract.reference for item in world.issued.values()
    )
    chu_export = next(c for c in data["contrats"] if c["reference"].endswith("330990011"))
    assert chu_export["versions"][0]["contrat"]["etablissement"]["finess_ej"] == "330990011"
    assert [s["partie"] for s in chu_export["documents"][0]["signatures"]] == ["ETAB", "CPAM"]
    assert [e["type"] for e in chu_export["evenements"]] == ["émission", "signature", "signature"]
    assert data["campagnes"][0]["configuration"]["code_region"] == "NA"


def test_cli_errors_are_one_french_line_each(world: World, tmp_path: Path) -> None:
    db = str(world.db)
    world.receive(world.returned(CHU, "ARS"))
    reference = world.issued[CHU].contract.reference
    changes = _changes(tmp_path, "modifications:\n  - retenir: [ATB]\n  - cibler: NAT_1\n")
    code, _, err = run("amend", reference, str(changes), "--date-signature", "15/11/2023",
                       "--registry", db)  # fmt: skip
    assert code == 1 and "Traceback" not in err
    assert err.splitlines() == [
        f"Erreur : {changes} : ligne 2, modifications[0].retenir[0] : indicateur régional déjà "
        "retenu (valeur « ATB »)",
        f"Erreur : {changes} : ligne 3, modifications[1].cibler : ensemble de champs attendu "
        "(valeur « NAT_1 »)",
    ]
    code, _, err = run("terminate", reference, "--volet", "parcours", "--date-signature",
                       "2023-13-01", "--registry", db)  # fmt: skip
    assert code == 2 and "« 2023-13-01 » n'est pas une date (AAAA-MM-JJ ou JJ/MM/AAAA)" in err
    code, _, err = run("amend", "CAQES-INCONNU", str(changes), "--date-signature", "2023-11-15",
                       "--registry", db)  # fmt: skip
    assert code == 1 and "contrat « CAQES-INCONNU » inconnu du registre" in err
    code, _, err = run("status", "--registry", str(tmp_path / "absent.db"))
    assert code == 1 and "registre introuvable" in err
