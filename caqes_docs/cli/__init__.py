"""The ``caqes`` command line: parses options, calls one library function, reports in French.

The library's errors (:class:`caqes_docs.errors.CaqesError`) become one line per problem on
standard error and exit status 1 (see :mod:`caqes_docs.cli.common`); the traceback is shown
only with ``--verbose``. Each submodule holds the commands of one stage of the data flow.
"""

from __future__ import annotations

import click

from caqes_docs.cli import batch, generation, lifecycle, signing
from caqes_docs.cli.common import CONTEXT


@click.group(context_settings=CONTEXT, subcommand_metavar="COMMANDE [ARGUMENTS]...")
@click.option("--verbose", "-v", is_flag=True, help="Affiche le détail technique des erreurs.")
def main(verbose: bool) -> None:
    """Contrats CAQES : génération, signature et suivi des contrats entre l'ARS,
    la CPAM et les établissements de santé."""


for command in (*generation.COMMANDS, *batch.COMMANDS, *signing.COMMANDS, *lifecycle.COMMANDS):
    main.add_command(command)

from caqes_docs.cli import web  # noqa: E402 - the exchange portal's commands (serve, web)

for command in web.COMMANDS:
    main.add_command(command)
