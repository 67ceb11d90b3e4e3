"""Django for the portal's tests, without pytest-django.

Django is set up once per session on a temporary data folder (its portal database migrated
there); tasks run in huey's immediate mode unless a test starts a consumer. Each test gets a
fresh folder with two really issued contracts (LibreOffice, PDF/A, three signature fields),
a fresh registry that knows them, and its portal rows rolled back afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="caqes-web-"))
os.environ["CAQES_DATA_DIR"] = str(_SESSION_DIR)
os.environ["CAQES_TASKS_IMMEDIATE"] = "1"
os.environ["DJANGO_SETTINGS_MODULE"] = "caqes_docs.web.settings"

from caqes_docs.web import bootstrap  # noqa: E402

bootstrap.configure()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import transaction  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from pyhanko.sign.signers import Signer  # noqa: E402

from caqes_docs.inputs.campaign import load_campaign  # noqa: E402
from caqes_docs.inputs.contract_file import load_contract  # noqa: E402
from caqes_docs.inputs.models import Contract  # noqa: E402
from caqes_docs.issued import load_issued_record, sidecar_path  # noqa: E402
from caqes_docs.parties import ROLES  # noqa: E402
from caqes_docs.registry.store import CONTRACT, DocumentRecord, Registry  # noqa: E402
from caqes_docs.signatures.pki import create_demo_pki  # noqa: E402
from caqes_docs.signatures.signing import load_p12, sign_documents  # noqa: E402
from caqes_docs.workflows.generate import generate  # noqa: E402

setup_test_environment()
bootstrap.prepare_database()

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CHU, CLINIC = "chu-fictif-bordeaux", "clinique-fictive-bayonne"
PASSWORD = "caqes-portail"


@dataclass(frozen=True)
class Issued:
    contract: Contract
    pdf: bytes
    sidecar: bytes
    copies: dict[str, bytes]  # the copy after each role signed, in order


@dataclass(frozen=True)
class Keys:
    folder: Path
    root: Path
    ars: Path
    password_file: Path
    signers: dict[str, dict[str, Signer]]  # FINESS EJ -> role -> signer
    stranger: Signer  # the CHU's FINESS, certified by another root


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    campaign = load_campaign()
    establishments = [
        load_contract(EXAMPLES / f"{name}.yaml", campaign).establishment for name in (CHU, CLINIC)
    ]
    folder = tmp_path_factory.mktemp("pki")
    pki = create_demo_pki(folder, [(e.finess_ej, e.legal_name) for e in establishments], PASSWORD)
    assert pki.ars is not None
    password = PASSWORD.encode()
    ars = load_p12(pki.ars, password)
    # Each contract's own CPAM signs it: the one it names, else its département's.
    cpams = {e.finess_ej: e.cpam or campaign.cpam_for(e.finess_ej)[0] for e in establishments}
    signers = {
        finess: {
            "ETAB": load_p12(path, password),
            "CPAM": load_p12(pki.cpams[cpams[finess]], password),
            "ARS": ars,
        }
        for finess, path in pki.establishments.items()
    }
    other = create_demo_pki(
        folder / "autre", [(establishments[0].finess_ej, "Imposteur")], PASSWORD
    )
    password_file = folder / "mot-de-passe.txt"
    password_file.write_text(PASSWORD + "\n", encoding="utf-8")
    return Keys(
        folder,
        pki.root_certificate,
        pki.ars,
        password_file,
        signers,
        load_p12(other.establishments[establishments[0].finess_ej], password),
    )


@pytest.fixture(scope="session")
def issued(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> dict[str, Issued]:
    """The two example contracts issued by the real generator, and their signed copies."""
    work = tmp_path_factory.mktemp("emis")
    report = generate(
        [EXAMPLES / f"{name}.yaml" for name in (CHU, CLINIC)],
        work,
        registry=work / "emission.db",
    )
    assert not report.failed, report.failed
    out = {}
    for name, item in zip((CHU, CLINIC), report.generated, strict=True):
        assert item.pdf is not None
        copies, source = {}, item.pdf
        for role in ROLES:
            target = work / f"{item.pdf.stem}-{role}.pdf"
            signer = keys.signers[item.contract.establishment.finess_ej][role]
            [result] = sign_documents(
                [source], role, signer, output=target, trust_roots=[keys.root]
            )
            assert result.ok, result.error
            copies[role] = target.read_bytes()
            source = target
        out[name] = Issued(
            item.contract, item.pdf.read_bytes(), sidecar_path(item.pdf).read_bytes(), copies
        )
    return out


@dataclass
class Portal:
    folder: Path
    keys: Keys
    issued: dict[str, Issued]
    documents: dict[str, DocumentRecord] = field(default_factory=dict)
    client: Client = field(default_factory=Client)

    @property
    def registry_path(self) -> Path:
        return self.folder / "caqes.db"

    def registry(self) -> Registry:
        return Registry.open(self.registry_path)

    def officer(self, username: str = "agent", *, countersign: bool = False) -> Client:
        """A client logged in as an officer."""
        bootstrap.create_officer(username, "mot-de-passe-agent", countersign=countersign)
        client = Client()
        client.force_login(get_user_model().objects.get(username=username))
        return client

    def link(self, name: str, role: str) -> str:
        """A fresh access link's token for ``role`` on contract ``name``."""
        from caqes_docs.web.links import create_link

        return create_link(self.documents[name], role, "contact", "test").token

    def events(self) -> list[tuple[str, str]]:
        with self.registry() as registry:
            return [(event.kind, event.detail) for event in registry.events()]


@pytest.fixture
def portal(tmp_path: Path, keys: Keys, issued: dict[str, Issued]) -> Iterator[Portal]:
    portal = Portal(tmp_path, keys, issued)
    campaign = load_campaign()
    contracts = tmp_path / "contrats"
    contracts.mkdir()
    with portal.registry() as registry:
        for name, item in issued.items():
            pdf = contracts / f"{item.contract.reference}.pdf"
            pdf.write_bytes(item.pdf)
            sidecar_path(pdf).write_bytes(item.sidecar)
            portal.documents[name] = registry.register_issued(
                item.contract, CONTRACT, pdf, load_issued_record(pdf), campaign
            )
    overrides = override_settings(
        CAQES_REGISTRY=portal.registry_path,
        CAQES_FILES=tmp_path / "portail",
        CAQES_CONTRACTS_DIR=contracts,
        CAQES_TRUST_ROOTS=[str(keys.root)],
        CAQES_ARS_P12=str(keys.ars),
        CAQES_ARS_PASSWORD_FILE=str(keys.password_file),
    )
    with overrides, transaction.atomic():
        cache.clear()
        yield portal
        transaction.set_rollback(True)


def stored_files(portal: Portal, folder: str) -> list[Path]:
    path = Path(settings.CAQES_FILES) / folder
    return sorted(path.iterdir()) if path.is_dir() else []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)
