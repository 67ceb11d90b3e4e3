"""The ``caqes`` command line: parses options, calls one library function, reports in French.

Each submodule holds the commands of one stage of the data flow; a command's module is
imported only when the command runs or shows its help (:class:`~caqes_docs.cli.runtime.CaqesGroup`),
and imports the library inside its functions. Every error is reported in one place
(:func:`~caqes_docs.cli.runtime.reported_errors`): one French line, the traceback only with
``--verbose``.
"""

from __future__ import annotations

import click

from caqes_docs.cli.common import CONTEXT  # first: it puts click in French
from caqes_docs.cli.runtime import CaqesGroup, quiet_libraries

# Command name -> "module:attribute"; one line per command.
COMMANDS = {
    "generate": "caqes_docs.cli.generation:generate_command",
    "check-template": "caqes_docs.cli.generation:check_template_command",
    "demo": "caqes_docs.cli.generation:demo_command",
    "batch": "caqes_docs.cli.batch:batch_command",
    "sign": "caqes_docs.cli.signing:sign_command",
    "verify": "caqes_docs.cli.signing:verify_command",
    "demo-pki": "caqes_docs.cli.signing:demo_pki_command",
    "receive": "caqes_docs.cli.lifecycle:receive_command",
    "status": "caqes_docs.cli.lifecycle:status_command",
    "amend": "caqes_docs.cli.lifecycle:amend_command",
    "terminate": "caqes_docs.cli.lifecycle:terminate_command",
    "export": "caqes_docs.cli.lifecycle:export_command",
    "serve": "caqes_docs.cli.web:serve_command",  # the exchange portal
    "web": "caqes_docs.cli.web:web_group",
    "evaluate": "caqes_docs.cli.evaluation:evaluate_command",  # the annual evaluation
    "relances": "caqes_docs.cli.mail:reminders_command",  # the portal's mail
    "contact": "caqes_docs.cli.mail:contact_command",
    "bordereaux": "caqes_docs.cli.mail:bordereaux_command",  # proofs of signature
}


@click.group(
    cls=CaqesGroup, lazy_commands=COMMANDS, context_settings=CONTEXT,
    subcommand_metavar="COMMANDE [ARGUMENTS]...",
)  # fmt: skip
@click.option("--verbose", "-v", is_flag=True, help="Affiche le détail technique des erreurs.")
def main(verbose: bool) -> None:
    """Contrats CAQES : génération, signature et suivi des contrats entre l'ARS,
    la CPAM et les établissements de santé."""
    quiet_libraries(verbose)
