"""What every command of the CLI shares: French help settings, parameter types, options.

Errors are reported in one place, by the root group (:mod:`caqes_docs.cli.runtime`): a
command lets the library's exceptions through. Command modules import the library inside
their functions, so that ``caqes --help`` and ``caqes COMMANDE --help`` load only click.
"""

from __future__ import annotations

from pathlib import Path

import click

from caqes_docs.cli.french import use_french
from caqes_docs.cli.runtime import UNREADABLE_STATUS

use_french()  # before the parameter types below: click.Path translates its name when built

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
DIRECTORY = click.Path(file_okay=False, path_type=Path)
ANY_FILE = click.Path(dir_okay=False, path_type=Path)

REGISTRY_OPTION = click.option(
    "--registry", "registre", type=ANY_FILE, metavar="FICHIER",
    help="Registre des contrats (par défaut $CAQES_REGISTRY, sinon caqes.db).",
)  # fmt: skip


def fail(message: str, status: int = UNREADABLE_STATUS) -> None:
    """Stop the command: a usage problem the library cannot see (two exclusive options)."""
    click.echo(f"Erreur : {message}", err=True)
    raise click.exceptions.Exit(status)
