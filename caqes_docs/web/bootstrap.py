"""Starting the portal outside a web server: settings, database, accounts, demo data.

Used by ``caqes serve`` / ``caqes web`` (:mod:`caqes_docs.cli.web`) and by the demo. Each
function configures Django on first use, for the data folder given or ``CAQES_DATA_DIR``.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

DEV_SETTINGS = "caqes_docs.web.settings"
# Where ``make demo`` prepares the portal, and what ``caqes serve`` serves by default from the
# repository root: a campaign of its own, to be issued and signed through the portal.
DEMO_DATA_DIR = Path("demo") / "en-ligne"
FINESS_EXTRACT_FILE = "finess-extrait.csv"
"""The data folder's own FINESS extract, which the portal's batch uses (settings)."""
# What the portal needs of a PKI: the root that verifies uploads, the ARS key it countersigns with.
_PORTAL_PKI = ("root-ca.pem", "ars.p12")
PRODUCTION_SETTINGS = "caqes_docs.web.production"


def configure(data_dir: str | Path | None = None, settings_module: str | None = None) -> None:
    """Point Django at the settings and the data folder, then set it up (once)."""
    import django
    from django.conf import settings

    if data_dir is not None:
        os.environ["CAQES_DATA_DIR"] = str(Path(data_dir).resolve())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module or DEV_SETTINGS)
    if not settings.configured or not _apps_ready():
        django.setup()


def _apps_ready() -> bool:
    from django.apps import apps

    return apps.ready


def manage(argv: list[str]) -> None:
    """Django's management command line, on the configured settings."""
    from django.core.management import execute_from_command_line

    execute_from_command_line(argv)


def prepare_database() -> None:
    """Create or migrate the portal's database and its cache table (idempotent)."""
    from django.conf import settings
    from django.core.management import call_command

    for folder in ("tmp", "depots", "refus", "ciblages"):
        (Path(settings.CAQES_FILES) / folder).mkdir(parents=True, exist_ok=True)
    call_command("migrate", interactive=False, verbosity=0)
    call_command("createcachetable", verbosity=0)


def create_officer(username: str, password: str | None = None, *, countersign: bool = False) -> str:
    """Create (or reset the password of) an officer account; returns the password."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    password = password or secrets.token_urlsafe(12)
    user, _ = get_user_model().objects.get_or_create(username=username)
    user.set_password(password)  # Django's default hasher
    user.is_active = True
    user.save()
    if countersign:
        user.user_permissions.add(
            Permission.objects.get(codename="countersign", content_type__app_label="portail")
        )
    return password


def _write_demo_campaign(target: Path) -> None:
    """The bundled campaign with contacts for the demo's CPAMs and ARS (unroutable ``.invalid``
    addresses: the demo's mail only ever lands in its folder), so that its mails reach every
    party. The bundled campaign itself carries no address: each ARS gives its own."""
    if target.exists():
        return
    import yaml

    from caqes_docs.files import write_text
    from caqes_docs.inputs.campaign import DEFAULT_CAMPAIGN
    from caqes_docs.resources import data_file

    campaign = yaml.safe_load(data_file(DEFAULT_CAMPAIGN).read_text(encoding="utf-8"))
    campaign["ars"]["email"] = "agents-caqes@ars.demo.invalid"
    for code, cpam in campaign["cpam"].items():
        cpam["email"] = f"caqes@cpam-{code}.demo.invalid"
    write_text(target, yaml.safe_dump(campaign, allow_unicode=True, sort_keys=False))


def _copy_demo_finess_extract(target: Path) -> None:
    """The examples' FINESS extract, so that the portal completes and checks the example
    targeting file as ``caqes demo`` does."""
    from caqes_docs.resources import shipped_dir
    from caqes_docs.workflows.demo import FINESS_EXTRACT

    if not target.exists():
        shutil.copy2(shipped_dir("examples") / FINESS_EXTRACT, target)


@dataclass
class PortalDemo:
    """What :func:`prepare_portal_demo` made: the officer's login and the parties' links."""

    username: str
    password: str
    links_csv: Path
    links: list[tuple[str, str, str, str]] = field(default_factory=list)
    """(reference, document, party, URL)."""


def prepare_portal_demo(
    data_dir: str | Path,
    *,
    username: str = "agent",
    public_url: str | None = None,
    pki_from: Path | None = None,
) -> PortalDemo:
    """The portal's demo data in ``data_dir`` (the demo's folder, holding ``caqes.db``).

    An officer account allowed to countersign, with a fresh password; a link per party for
    every document still awaiting signatures, written to ``portail/liens-demo.csv``; the ARS
    key's password file beside the demo PKI when missing.
    """
    if public_url:
        os.environ["CAQES_PUBLIC_URL"] = public_url
    if pki_from is not None:
        (Path(data_dir) / "pki").mkdir(parents=True, exist_ok=True)
        for name in _PORTAL_PKI:
            if not (Path(data_dir) / "pki" / name).exists():
                shutil.copy2(pki_from / name, Path(data_dir) / "pki" / name)
    _write_demo_campaign(Path(data_dir) / "campagne.yaml")
    _copy_demo_finess_extract(Path(data_dir) / FINESS_EXTRACT_FILE)
    configure(data_dir)
    prepare_database()
    from django.conf import settings

    from caqes_docs.web import exchange, links
    from caqes_docs.workflows.demo import DEMO_PASSWORD

    password_file = Path(settings.CAQES_ARS_PASSWORD_FILE)
    if Path(settings.CAQES_ARS_P12).is_file() and not password_file.exists():
        password_file.write_text(DEMO_PASSWORD + "\n", encoding="utf-8")
    password = create_officer(username, countersign=True)
    with exchange.open_registry() as registry:
        made = links.create_links(registry, None, "démonstration", renew=True)
        labels = {doc.id: doc.label for doc in registry.documents()}
    rows = [
        (new.link.reference, labels[new.link.document_id], new.link.party, new.url) for new in made
    ]
    target = Path(settings.CAQES_FILES) / "liens-demo.csv"
    target.write_text(
        "reference;document;partie;lien\n" + "".join(";".join(row) + "\n" for row in rows),
        encoding="utf-8",
    )
    return PortalDemo(username, password, target, rows)
