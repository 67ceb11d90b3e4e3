"""Commands that follow a contract after its issue: ``receive``, ``status``, ``amend``,
``terminate``, ``export``. They all work on the registry (``--registry``, else the
environment variable ``CAQES_REGISTRY``, else ``caqes.db`` in the working directory).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from caqes_docs.cli.common import CONTEXT, DIRECTORY, EXISTING_FILE, reports_errors
from caqes_docs.documents.render import date_fr
from caqes_docs.parties import ROLES
from caqes_docs.registry.amendments import VOLET_NAMES
from caqes_docs.registry.lifecycle import (
    REFUSED,
    StatusReport,
    amend,
    export_registry,
    receive,
    status,
    terminate,
)
from caqes_docs.registry.store import DEFAULT_FILE, ENV_VARIABLE, Registry


class FrenchDate(click.ParamType):
    """A date written 2024-12-31 or 31/12/2024."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, dt.date):
            return value
        for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
            try:
                return dt.datetime.strptime(str(value).strip(), pattern).date()
            except ValueError:
                continue
        self.fail(f"« {value} » n'est pas une date (AAAA-MM-JJ ou JJ/MM/AAAA)", param, ctx)


def registry_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--registry",
        "registre",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar=ENV_VARIABLE,
        default=Path(DEFAULT_FILE),
        show_default=True,
        show_envvar=True,
        help="Fichier du registre SQLite.",
    )(command)


SIGNATURE_DATE = click.option(
    "--date-signature",
    "date_signature",
    type=FrenchDate(),
    required=True,
    help="Date de signature prévue (AAAA-MM-JJ ou JJ/MM/AAAA) : elle fixe la date d'effet.",
)
OUT_DIR = click.option(
    "--out",
    "sortie",
    type=DIRECTORY,
    default=None,
    help="Dossier où écrire l'avenant (par défaut : celui du contrat émis).",
)


# --- receive ------------------------------------------------------------------------------------


@click.command("receive", context_settings=CONTEXT)
@click.argument("fichiers", nargs=-1, required=True, type=EXISTING_FILE)
@click.option(
    "--trust",
    "racines",
    multiple=True,
    type=EXISTING_FILE,
    envvar="CAQES_TRUST_ROOTS",
    show_envvar=True,
    help="Certificat racine de confiance (PEM ou DER) ; option répétable.",
)
@registry_option
@reports_errors
def receive_command(fichiers: tuple[Path, ...], racines: tuple[Path, ...], registre: Path) -> None:
    """Enregistre les PDF signés renvoyés par l'établissement, la CPAM ou l'ARS.

    Chaque FICHIER est reconnu par la version émise qu'il prolonge ; ses signatures sont
    vérifiées et les nouvelles enregistrées, la copie la plus complète est gardée à côté du
    PDF émis (X.signe.pdf). Un fichier douteux est refusé sans rien modifier ; le statut de
    sortie vaut alors 1.
    """
    with Registry.open(registre, create=False) as registry:
        outcomes = receive(fichiers, registry, racines)
    for outcome in outcomes:
        what = f"{outcome.reference} {outcome.document} : " if outcome.reference else ""
        line = f"{outcome.path.name} : {what}{outcome.message}"
        if outcome.status == REFUSED:
            click.echo(f"Refusé : {line}", err=True)
        else:
            click.echo(line)
    refused = sum(1 for outcome in outcomes if outcome.status == REFUSED)
    click.echo(f"{len(outcomes) - refused} fichier(s) pris en compte, {refused} refusé(s).")
    if refused:
        sys.exit(1)


# --- status -------------------------------------------------------------------------------------


def _day(moment: str | None) -> str:
    return dt.datetime.fromisoformat(moment).strftime("%d/%m/%Y") if moment else ""


def _mark(signed: str | None) -> str:
    return f"oui {_day(signed)}" if signed else "—"


def _print_table(report: StatusReport) -> None:
    table = Table(title="Suivi des contrats CAQES", show_lines=False)
    for header in ("Référence", "Établissement", "Document", *ROLES, "Dernier événement"):
        table.add_column(header, overflow="fold")
    for row in report.rows:
        when = _day(row.last_event_time)
        event = f"{when} {row.last_event}".strip()
        table.add_row(
            row.reference,
            row.establishment,
            row.document,
            *(_mark(row.signed[party]) for party in ROLES),
            event,
        )
    console = Console()
    if not console.is_terminal:
        # Into a file or a pipe: no wrapping at 80 columns.
        console = Console(width=200)
    console.print(table)
    totals = report.totals
    waiting = ", ".join(f"{party} {totals[f'en_attente_{party}']}" for party in ROLES)
    console.print(
        f"{totals['documents']} document(s) : {totals['complets']} complet(s) ; "
        f"en attente de signature : {waiting}."
    )


def _print_csv(report: StatusReport) -> None:
    writer = csv.writer(sys.stdout, delimiter=";", lineterminator="\n")
    writer.writerow(
        ["reference", "etablissement", "campagne", "document", "statut"]
        + [f"signature_{party}" for party in ROLES]
        + ["en_attente_de", "date_effet", "dernier_evenement", "date_dernier_evenement"]
    )
    for row in report.rows:
        writer.writerow(
            [row.reference, row.establishment, row.campaign, row.document, row.status]
            + [row.signed[party] or "" for party in ROLES]
            + [
                row.waiting_for or "",
                row.effective_date.isoformat() if row.effective_date else "",
                row.last_event,
                row.last_event_time,
            ]
        )


@click.command("status", context_settings=CONTEXT)
@click.option("--campaign", "campagne", help="Nom de la campagne à afficher (toutes sinon).")
@click.option("--json", "format_", flag_value="json", help="Sortie JSON (lignes et totaux).")
@click.option("--csv", "format_", flag_value="csv", help="Sortie CSV séparée par « ; ».")
@registry_option
@reports_errors
def status_command(campagne: str | None, format_: str | None, registre: Path) -> None:
    """Où en est chaque document : contrat, avenants, résiliations, et qui doit signer."""
    with Registry.open(registre, create=False) as registry:
        report = status(registry, campagne)
    if format_ == "json":
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    elif format_ == "csv":
        _print_csv(report)
    else:
        _print_table(report)


# --- amend, terminate ---------------------------------------------------------------------------


@click.command("amend", context_settings=CONTEXT)
@click.argument("reference")
@click.argument("modifications", type=EXISTING_FILE)
@SIGNATURE_DATE
@OUT_DIR
@registry_option
@reports_errors
def amend_command(
    reference: str,
    modifications: Path,
    date_signature: dt.date,
    sortie: Path | None,
    registre: Path,
) -> None:
    """Prépare l'avenant suivant du contrat REFERENCE à partir de MODIFICATIONS.yaml.

    L'avenant entre en vigueur le 1er janvier suivant sa date de signature (article 10) ; la
    version consolidée du contrat ne change qu'une fois l'avenant signé par les trois parties.
    """
    with Registry.open(registre, create=False) as registry:
        issued = amend(registry, reference, modifications, date_signature, out_dir=sortie)
    click.echo(
        f"{issued.document.label} au contrat {reference} : {issued.pdf} "
        f"(entrée en vigueur le {date_fr(issued.effective_date)})"
    )
    for change in issued.changes:
        click.echo(f"  – {change}")


@click.command("terminate", context_settings=CONTEXT)
@click.argument("reference")
@click.option(
    "--volet",
    type=click.Choice(sorted(VOLET_NAMES)),
    required=True,
    help="Volet à résilier : prescriptions (volet 1) ou parcours (volet 2).",
)
@SIGNATURE_DATE
@OUT_DIR
@registry_option
@reports_errors
def terminate_command(
    reference: str, volet: str, date_signature: dt.date, sortie: Path | None, registre: Path
) -> None:
    """Prépare l'avenant de résiliation d'un volet du contrat REFERENCE (article 11).

    La résiliation prend effet le 31 décembre de l'année de signature ; sans autre volet en
    vigueur, le contrat prend fin à cette date.
    """
    with Registry.open(registre, create=False) as registry:
        issued = terminate(registry, reference, VOLET_NAMES[volet], date_signature, out_dir=sortie)
    click.echo(
        f"{issued.document.label} au contrat {reference} : {issued.pdf} "
        f"(effet le {date_fr(issued.effective_date)})"
    )
    if issued.contract_ends:
        click.echo(
            f"Dernier volet en vigueur : le contrat prend fin le {date_fr(issued.effective_date)}."
        )


# --- export -------------------------------------------------------------------------------------


@click.command("export", context_settings=CONTEXT)
@click.option(
    "--out",
    "sortie",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Fichier JSON à écrire (sortie standard sinon).",
)
@registry_option
@reports_errors
def export_command(sortie: Path | None, registre: Path) -> None:
    """Exporte tout le registre en JSON : campagnes, contrats et leurs versions, documents,
    signatures et événements (sauvegarde, tableaux de bord régionaux)."""
    with Registry.open(registre, create=False) as registry:
        data = export_registry(registry, sortie)
    if sortie is None:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        click.echo(f"Registre exporté dans {sortie} ({len(data['contrats'])} contrat(s)).")


COMMANDS = (receive_command, status_command, amend_command, terminate_command, export_command)
