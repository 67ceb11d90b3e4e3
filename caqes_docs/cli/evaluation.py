"""The annual evaluation: ``caqes evaluate RESULTATS --annee 2023``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from caqes_docs.cli.common import CONTEXT, DIRECTORY, EXISTING_FILE, REGISTRY_OPTION
from caqes_docs.cli.runtime import input_errors_are_unreadable

if TYPE_CHECKING:
    from rich.table import Table

    from caqes_docs.workflows.evaluation import EvaluationReport


def _table(report: EvaluationReport) -> Table:
    from rich.table import Table

    from caqes_docs.documents.amounts import euros

    table = Table(title=f"Intéressements {report.year}", show_header=True)
    for header in ("FINESS EJ", "Établissement", "Total notifié", "Version", "Cette fois"):
        table.add_column(header, overflow="fold")
    done = {outcome.finess_ej: outcome for outcome in report.outcomes}
    for record in report.notified:
        outcome = done.get(record.finess_ej)
        table.add_row(
            record.finess_ej,
            record.establishment,
            euros(record.total),
            f"n°{record.number} ({record.status})",
            outcome.status if outcome else "—",
        )
    return table


@click.command("evaluate", context_settings=CONTEXT)
@click.argument("resultats", type=EXISTING_FILE, metavar="RESULTATS")
@click.option(
    "--annee", type=click.IntRange(2000, 2100), required=True, metavar="ANNEE",
    help="Année évaluée, ex. 2023.",
)  # fmt: skip
@click.option(
    "--campaign", "campagne", type=EXISTING_FILE, metavar="FICHIER",
    help="Fichier de campagne (YAML) avec sa section interessement.",
)  # fmt: skip
@click.option(
    "--out", "sortie", type=DIRECTORY, default=None, metavar="DOSSIER",
    help="Dossier de sortie (par défaut : evaluation-ANNEE).",
)  # fmt: skip
@click.option(
    "--modulation", type=EXISTING_FILE, metavar="FICHIER",
    help="Modulations du directeur général (finess_ej, taux, motif), si le classeur n'a pas "
    "de feuille modulation.",
)  # fmt: skip
@REGISTRY_OPTION
def evaluate_command(
    resultats: Path,
    annee: int,
    campagne: Path | None,
    sortie: Path | None,
    modulation: Path | None,
    registre: Path | None,
) -> None:
    """Évalue l'ANNEE à partir du fichier de RESULTATS et calcule l'intéressement.

    RESULTATS : classeur (XLSX, ODS, XLS ; feuille resultats, et modulation s'il y a lieu)
    ou CSV. Pour chaque établissement sous contrat cette année-là : le rapport d'évaluation
    et la lettre de notification à signer par l'ARS (PDF/A). Aussi : interessements-ANNEE.csv
    et .xlsx, evaluation-ANNEE.json, rejets-evaluation-ANNEE.csv et une synthèse en
    graphiques. Relancer avec les mêmes fichiers ne change rien ; une notification signée
    n'est jamais remplacée. Statut : 0 sans refus, 1 s'il y a des refus, 2 si un fichier est
    illisible.
    """
    input_errors_are_unreadable()
    from rich.console import Console

    from caqes_docs.workflows.evaluation import BLOCKED, FAILED, evaluate

    report = evaluate(
        resultats, annee, campaign_file=campagne, out_dir=sortie,
        modulation_file=modulation, registry=registre,
    )  # fmt: skip
    for refusal in report.refusals:
        click.echo(f"Refusé : {refusal}", err=True)
    for outcome in report.outcomes:
        if outcome.status in (BLOCKED, FAILED):
            click.echo(f"{outcome.status.capitalize()} : {outcome.finess_ej} : {outcome.message}")
    console = Console()
    if not console.is_terminal:
        console = Console(width=100)  # into a file or a pipe: no wrapping at 80 columns
    console.print(_table(report))
    for path in report.files.values():
        click.echo(f"Écrit : {path}")
    if report.problems:
        sys.exit(1)
