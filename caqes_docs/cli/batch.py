"""The campaign command: ``batch``, with a progress bar on a terminal and a summary table."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from caqes_docs.cli.common import CONTEXT, DIRECTORY, EXISTING_FILE, REGISTRY_OPTION
from caqes_docs.cli.runtime import input_errors_are_unreadable

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from caqes_docs.workflows.batch import BatchReport


@contextlib.contextmanager
def progress_bar(console: Console) -> Iterator[object]:
    """A callback for run_batch that drives a progress bar; silent when not on a terminal."""
    if not console.is_terminal:
        yield None
        return
    from rich import progress

    columns = (
        progress.TextColumn("Contrats"), progress.BarColumn(), progress.MofNCompleteColumn(),
        progress.TimeElapsedColumn(),
    )  # fmt: skip
    with progress.Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("contrats", total=None)

        def on_progress(event: str, value: str) -> None:
            if event == "total":
                bar.update(task, total=int(value))
            else:
                bar.advance(task)

        yield on_progress


def summary_table(report: BatchReport) -> Table:
    from rich.table import Table

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
@click.argument("ciblage", type=EXISTING_FILE, metavar="CIBLAGE")
@click.option(
    "--campaign", "campagne", type=EXISTING_FILE, metavar="FICHIER",
    help="Fichier de campagne (YAML).",
)  # fmt: skip
@click.option(
    "--finess", "extraits", multiple=True, type=EXISTING_FILE, metavar="FICHIER",
    help="Extrait public du fichier FINESS (noms et adresses manquants) ; répétable.",
)  # fmt: skip
@click.option(
    "--plan-actions", "plan_actions", type=EXISTING_FILE, metavar="FICHIER",
    help="Lignes de plan d'actions (CSV), pour un ciblage au format CSV.",
)  # fmt: skip
@click.option(
    "--out", "sortie", type=DIRECTORY, default=Path("campagne"), show_default=True,
    metavar="SORTIE", help="Dossier de sortie : un sous-dossier par établissement.",
)  # fmt: skip
@click.option(
    "--jobs", "travaux", type=click.IntRange(1, 64), metavar="NOMBRE",
    help="Processus LibreOffice en parallèle (par défaut : selon les cœurs).",
)  # fmt: skip
@REGISTRY_OPTION
def batch_command(
    ciblage: Path,
    campagne: Path | None,
    extraits: tuple[Path, ...],
    plan_actions: Path | None,
    sortie: Path,
    travaux: int | None,
    registre: Path | None,
) -> None:
    """Émet le contrat de chaque établissement du fichier de CIBLAGE (XLSX, ODS, XLS ou CSV).

    Chaque établissement valide reçoit son dossier SORTIE/<finess_ej>/ (sources DOCX et un
    PDF à signer) ; les refus sont listés dans SORTIE/rejets.csv avec leur ligne, leur
    colonne, la valeur et la règle. Statut : 0 sans refus, 1 s'il y a des refus, 2 si le
    fichier est illisible.
    """
    input_errors_are_unreadable()
    # LibreOffice first: it loads while Python imports the rest and reads the targeting file.
    from caqes_docs.pdf.convert import started_pool

    with started_pool(travaux) as pool:
        from rich.console import Console

        from caqes_docs.workflows.batch import run_batch

        console = Console(stderr=False)
        with progress_bar(console) as on_progress:
            report = run_batch(
                ciblage, sortie, campaign_file=campagne, finess_extract=extraits,
                action_plan=plan_actions, workers=travaux, registry=registre,
                on_progress=on_progress, pool=pool,  # type: ignore[arg-type]
            )  # fmt: skip
    for warning in report.warnings:
        click.echo(f"Attention : {warning}", err=True)
    for refused in report.refused:
        for problem in refused.problems:
            click.echo(f"Refusé : {refused.finess_ej} : {problem}", err=True)
    for finess, error in report.failed:
        click.echo(f"Erreur : {finess} : {error}", err=True)
    if report.up_to_date and not (report.generated or report.failed):
        click.echo("Rien à régénérer : tous les dossiers sont à jour.")
    console.print(summary_table(report))
    click.echo(f"Manifeste : {report.manifest}\nRejets : {report.rejects}")
    if report.refused or report.failed:
        sys.exit(1)
