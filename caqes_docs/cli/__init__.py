"""The ``caqes`` command line: parses options, calls one library function, reports in French.

The library's errors (:class:`caqes_docs.errors.CaqesError`) become one line per problem on
standard error and exit status 1; the traceback is shown only with ``--verbose``.
"""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from caqes_docs.cli import francais
from caqes_docs.errors import CaqesError
from caqes_docs.generate import generate
from caqes_docs.lint import check_template
from caqes_docs.resources import shipped_dir

francais.install()

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def fail(message: str, status: int = 1) -> None:
    click.echo(f"Erreur : {message}", err=True)
    sys.exit(status)


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's errors into one French line each (traceback with --verbose)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CaqesError as exc:
            if click.get_current_context().find_root().params.get("verbose"):
                traceback.print_exc()
            for line in str(exc).splitlines():
                click.echo(f"Erreur : {line}", err=True)
            sys.exit(1)

    return wrapper


@click.group(context_settings=CONTEXT, subcommand_metavar="COMMANDE [ARGUMENTS]...")
@click.option("--verbose", "-v", is_flag=True, help="Affiche le détail technique des erreurs.")
def main(verbose: bool) -> None:
    """Contrats CAQES : génération, signature et suivi des contrats entre l'ARS,
    la CPAM et les établissements de santé."""


def _print_generation(report: Any, out_dir: Path) -> None:
    for item in report.generated:
        files = [item.rendered.contract, *(path for _, path in item.rendered.annexes)]
        click.echo(f"{item.contract.reference} : {', '.join(p.name for p in files)}")
    for source, exc in report.failed:
        for line in str(exc).splitlines():
            click.echo(f"Refusé : {source.name} : {line}", err=True)
    click.echo(
        f"{len(report.generated)} contrat(s) généré(s) dans {out_dir}, "
        f"{len(report.failed)} refusé(s)."
    )


@main.command("generate", context_settings=CONTEXT)
@click.argument("contrats", nargs=-1, required=True, type=EXISTING_FILE)
@click.option("--campaign", "campagne", type=EXISTING_FILE, help="Fichier de campagne (YAML).")
@click.option(
    "--out", "sortie", type=click.Path(file_okay=False, path_type=Path), default=Path("sortie"),
    show_default=True, help="Dossier où écrire les documents.",
)  # fmt: skip
@reports_errors
def generate_command(contrats: tuple[Path, ...], campagne: Path | None, sortie: Path) -> None:
    """Génère le contrat et les annexes des volets conclus pour chaque CONTRAT.yaml.

    Sans --campaign, la campagne par défaut (ARS Nouvelle-Aquitaine 2022-2024) est utilisée.
    """
    report = generate(contrats, sortie, campaign_file=campagne)
    _print_generation(report, sortie)
    if report.failed:
        sys.exit(1)


@main.command("check-template", context_settings=CONTEXT)
@click.argument("modele", type=EXISTING_FILE)
@reports_errors
def check_template_command(modele: Path) -> None:
    """Vérifie un modèle .docx modifié : syntaxe, variables, ancres de signature.

    Le statut de sortie vaut 1 si un problème est trouvé.
    """
    problems = check_template(modele)
    for problem in problems:
        click.echo(f"{modele.name} : {problem}", err=True)
    if problems:
        click.echo(f"{len(problems)} problème(s) dans {modele}.", err=True)
        sys.exit(1)
    click.echo(f"{modele.name} : aucun problème trouvé.")


@main.command("demo", context_settings=CONTEXT)
@click.option(
    "--out", "sortie", type=click.Path(file_okay=False, path_type=Path), default=Path("demo"),
    show_default=True, help="Dossier où écrire les documents.",
)  # fmt: skip
@reports_errors
def demo_command(sortie: Path) -> None:
    """Produit les contrats des exemples fournis (dossier examples/)."""
    examples = sorted(shipped_dir("examples").glob("*.yaml"))
    report = generate(examples, sortie)
    _print_generation(report, sortie)
    if report.failed:
        sys.exit(1)
