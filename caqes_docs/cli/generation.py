"""Commands that produce documents: ``generate``, ``check-template``, ``demo``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from caqes_docs.cli.common import CONTEXT, DIRECTORY, EXISTING_FILE, reports_errors
from caqes_docs.generate import generate
from caqes_docs.lint import check_template
from caqes_docs.resources import shipped_dir


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


@click.command("generate", context_settings=CONTEXT)
@click.argument("contrats", nargs=-1, required=True, type=EXISTING_FILE)
@click.option("--campaign", "campagne", type=EXISTING_FILE, help="Fichier de campagne (YAML).")
@click.option(
    "--out", "sortie", type=DIRECTORY, default=Path("sortie"),
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


@click.command("check-template", context_settings=CONTEXT)
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


@click.command("demo", context_settings=CONTEXT)
@click.option(
    "--out", "sortie", type=DIRECTORY, default=Path("demo"),
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
