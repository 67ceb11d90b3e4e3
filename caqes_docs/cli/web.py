"""Commands of the exchange portal: ``serve`` and ``web`` (``createuser``, ``manage``).

``caqes serve`` runs the portal with gunicorn (never Django's development server) and the
task queue's consumer beside it, on the data folder ``--data`` (default: ``CAQES_DATA_DIR``,
else ``demo`` — the folder ``make demo`` writes).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import click

from caqes_docs.cli.common import CONTEXT, DIRECTORY, EXISTING_FILE
from caqes_docs.web.bootstrap import DEMO_DATA_DIR

DATA_OPTION = click.option(
    "--data",
    "dossier",
    type=DIRECTORY,
    envvar="CAQES_DATA_DIR",
    default=DEMO_DATA_DIR,
    show_default=True,
    show_envvar=True,
    help="Dossier des données (registre caqes.db, base du portail, fichiers).",
)
PRODUCTION_OPTION = click.option(
    "--production",
    is_flag=True,
    help="Réglages de production (HTTPS derrière un mandataire inverse ; voir le README).",
)


def _setup(dossier: Path, production: bool) -> dict[str, str]:
    """Configure Django for ``dossier``; the environment the child processes need."""
    from caqes_docs.web import bootstrap

    dossier.mkdir(parents=True, exist_ok=True)
    settings_module = bootstrap.PRODUCTION_SETTINGS if production else bootstrap.DEV_SETTINGS
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    bootstrap.configure(dossier, settings_module)
    bootstrap.prepare_database()
    return {**os.environ, "CAQES_DATA_DIR": str(dossier.resolve())}


@click.command("serve", context_settings=CONTEXT)
@click.option(
    "--host", default="127.0.0.1", show_default=True, metavar="ADRESSE", help="Adresse d'écoute."
)
@click.option(
    "--port", default=8000, show_default=True, type=int, metavar="PORT", help="Port d'écoute."
)
@click.option(
    "--workers", default=2, show_default=True, type=int, metavar="NOMBRE",
    help="Processus gunicorn.",
)  # fmt: skip
@DATA_OPTION
@PRODUCTION_OPTION
def serve_command(host: str, port: int, workers: int, dossier: Path, production: bool) -> None:
    """Lance le portail d'échange (gunicorn) et sa file de tâches (huey).

    Ctrl+C arrête les deux. Les agents se connectent sur http://HOST:PORT/ ; les parties
    suivent leur lien personnel.
    """
    if not production:  # the mails' links point to this server (production: the proxy's)
        os.environ.setdefault("CAQES_PUBLIC_URL", f"http://{host}:{port}")
    env = _setup(dossier, production)
    consumer = subprocess.Popen(
        [sys.executable, "-m", "django", "run_huey", "--workers", "1"], env=env
    )
    click.echo(f"Portail : http://{host}:{port}/ (données : {dossier.resolve()})")
    command = [
        sys.executable, "-m", "gunicorn", "caqes_docs.web.wsgi:application",
        "--bind", f"{host}:{port}", "--workers", str(workers), "--timeout", "300",
        "--access-logfile", "-", "--no-control-socket",
    ]  # fmt: skip
    server = subprocess.Popen(command, env=env)
    # A service manager stops the portal with SIGTERM: pass it on to both children.
    signal.signal(signal.SIGTERM, lambda signum, frame: server.terminate())
    try:
        server.wait()
    except KeyboardInterrupt:  # Ctrl+C reached gunicorn too; let it finish its requests
        server.wait()
    finally:
        for child in (server, consumer):
            child.terminate()
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()


@click.group("web", context_settings=CONTEXT, subcommand_metavar="COMMANDE [ARGUMENTS]...")
def web_group() -> None:
    """Administration du portail d'échange : comptes des agents, commandes Django."""


@web_group.command("createuser", context_settings=CONTEXT)
@click.argument("identifiant")
@click.option(
    "--contresignature", is_flag=True, help="Autorise la contresignature ARS depuis le portail."
)
@click.option(
    "--password-file", type=EXISTING_FILE, help="Fichier du mot de passe (sinon : tiré au sort)."
)
@DATA_OPTION
@PRODUCTION_OPTION
def createuser_command(
    identifiant: str,
    contresignature: bool,
    password_file: Path | None,
    dossier: Path,
    production: bool,
) -> None:
    """Crée le compte d'agent IDENTIFIANT (ou change son mot de passe), affiche le mot de passe."""
    _setup(dossier, production)
    from caqes_docs.web.bootstrap import create_officer

    given = None
    if password_file is not None:
        lines = password_file.read_text(encoding="utf-8").splitlines()
        given = lines[0] if lines else None
    password = create_officer(identifiant, given, countersign=contresignature)
    click.echo(f"Compte « {identifiant} » prêt.")
    if given is None:
        click.echo(f"Mot de passe : {password}")


@web_group.command(
    "manage",
    context_settings={**CONTEXT, "ignore_unknown_options": True, "help_option_names": []},
)
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
@DATA_OPTION
@PRODUCTION_OPTION
def manage_command(arguments: tuple[str, ...], dossier: Path, production: bool) -> None:
    """Commande d'administration Django (migrate, check --deploy, createsuperuser…)."""
    from caqes_docs.web import bootstrap

    _setup(dossier, production)
    bootstrap.manage(["caqes web manage", *arguments])


COMMANDS = (serve_command, web_group)
