"""The campaign command: ``batch``, with a progress bar on a terminal and a summary table."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from caqes_docs.cli.common import CONTEXT, DIRECTORY, EXISTING_FILE, reports_errors
from caqes_docs.errors import InputError
from caqes_docs.workflows.batch import BatchReport, run_batch

TARGETING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@contextlib.contextmanager
def progress_bar(console: Console) -> Iterator[object]:
    """A callback for run_batch that drives a progress bar; silent when not on a terminal."""
    if not console.is_terminal:
        yield None
        return
    columns = (
        TextColumn("Contrats"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
    )  # fmt: skip
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("contrats", total=None)

        def on_progress(event: str, value: str) -> None:
            if event == "total":
                bar.update(task, total=int(value))
            else:
                bar.advance(task)

        yield on_progress


def summary_table(report: BatchReport) -> Table:
    table = Table(title="Bilan de la campagne", show_header=True)
    table.add_column("Établissements")
    table.add_column("Nombre", justify="right")
    table.add_row("générés", str(len(report.generated)))
    table.add_row("à jour (non régénérés)", str(len(report.up_to_date)))
    table.add_row("refusés (voir rejets.csv)", str(len(report.refused)))
    if report.failed:
        table.add_row("en échec", str(len(report.failed)))
    return table


@click.command("batch", context_settings=CONTEXT)
@click.argument("ciblage", type=TARGETING_FILE)
@click.option("--campaign", "campagne", type=EXISTING_FILE, help="Fichier de campagne (YAML).")
@click.option(
    "--finess", "extraits", multiple=True, type=EXISTING_FILE,
    help="Extrait public du fichier FINESS (noms et adresses manquants) ; répétable.",
)  # fmt: skip
@click.option(
    "--plan-actions", "plan_actions", type=EXISTING_FILE,
    help="Lignes de plan d'actions (CSV), pour un ciblage au format CSV.",
)  # fmt: skip
@click.option(
    "--out", "sortie", type=DIRECTORY, default=Path("campagne"), show_default=True,
    help="Dossier de sortie : un sous-dossier par établissement.",
)  # fmt: skip
@click.option("--jobs", "travaux", type=click.IntRange(1, 64), help="Processus en parallèle.")
@click.option(
    "--registry", "registre", type=click.Path(dir_okay=False, path_type=Path),
    help="Registre des contrats (par défaut caqes.db ou $CAQES_REGISTRY).",
)  # fmt: skip
@reports_errors
def batch_command(
    ciblage: Path,
    campagne: Path | None,
    extraits: tuple[Path, ...],
    plan_actions: Path | None,
    sortie: Path,
    travaux: int | None,
    registre: Path | None,
) -> None:
    """Émet le contrat de chaque établissement du fichier de CIBLAGE (XLSX ou CSV).

    Chaque établissement valide reçoit son dossier SORTIE/<finess_ej>/ (sources DOCX et un
    PDF à signer) ; les refus sont listés dans SORTIE/rejets.csv avec leur ligne, leur
    colonne, la valeur et la règle. Statut : 0 sans refus, 1 s'il y a des refus, 2 si le
    fichier est illisible.
    """
    console = Console(stderr=False)
    try:
        with progress_bar(console) as on_progress:
            report = run_batch(
                ciblage, sortie, campaign_file=campagne, finess_extract=extraits,
                action_plan=plan_actions, workers=travaux, registry=registre,
                on_progress=on_progress,  # type: ignore[arg-type]
            )  # fmt: skip
    except InputError as exc:
        for line in str(exc).splitlines():
            click.echo(f"Erreur : {line}", err=True)
        sys.exit(2)
    for refused in report.refused:
        for problem in refused.problems:
            click.echo(f"Refusé : {refused.finess_ej} : {problem}", err=True)
    for finess, error in report.failed:
        click.echo(f"Échec : {finess} : {error}", err=True)
    for warning in report.warnings:
        click.echo(f"Attention : {warning}", err=True)
    if report.up_to_date and not (report.generated or report.failed):
        click.echo("Rien à régénérer : tous les dossiers sont à jour.")
    console.print(summary_table(report))
    click.echo(f"Manifeste : {report.manifest}\nRejets : {report.rejects}")
    if report.refused or report.failed:
        sys.exit(1)


COMMANDS = (batch_command,)
