"""Commands that follow a contract after its issue: ``receive``, ``status``, ``amend``,
``terminate``, ``export``. They all work on the registry (``--registry``, else the
environment variable ``CAQES_REGISTRY``, else ``caqes.db`` in the working directory).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from caqes_docs.cli.common import ANY_FILE, CONTEXT, DIRECTORY, EXISTING_FILE, REGISTRY_OPTION
from caqes_docs.cli.signing import (
    TRUSTED_LIST_OPTION,
    TRUSTED_LIST_SIGNER_OPTION,
    trusted_lists_from,
)
from caqes_docs.parties import ROLES

if TYPE_CHECKING:
    from caqes_docs.registry.lifecycle import StatusReport

# The volets of caqes_docs.registry.amendments.VOLET_NAMES, repeated so that the help does
# not load the amendments' machinery (a test checks they agree).
VOLET_NAMES = {"prescriptions": 1, "parcours": 2}


class FrenchDate(click.ParamType):
    """A date written 2024-12-31 or 31/12/2024."""

    name = "date"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, dt.date):
            return value
        for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
            try:
                return dt.datetime.strptime(str(value).strip(), pattern).date()
            except ValueError:
                continue
        self.fail(f"« {value} » n'est pas une date (AAAA-MM-JJ ou JJ/MM/AAAA)", param, ctx)


SIGNATURE_DATE = click.option(
    "--date-signature", "date_signature", type=FrenchDate(), required=True,
    help="Date de signature prévue (AAAA-MM-JJ ou JJ/MM/AAAA) : elle fixe la date d'effet.",
)  # fmt: skip
OUT_DIR = click.option(
    "--out", "sortie", type=DIRECTORY, default=None, metavar="DOSSIER",
    help="Dossier où écrire l'avenant (par défaut : celui du contrat émis).",
)  # fmt: skip


# --- receive ------------------------------------------------------------------------------------


@click.command("receive", context_settings=CONTEXT)
@click.argument("fichiers", nargs=-1, required=True, type=EXISTING_FILE, metavar="FICHIER...")
@click.option(
    "--trust", "racines", multiple=True, type=EXISTING_FILE, metavar="FICHIER",
    envvar="CAQES_TRUST_ROOTS", show_envvar=True,
    help="Certificat racine de confiance (PEM ou DER) ; option répétable.",
)  # fmt: skip
@TRUSTED_LIST_OPTION
@TRUSTED_LIST_SIGNER_OPTION
@REGISTRY_OPTION
def receive_command(
    fichiers: tuple[Path, ...],
    racines: tuple[Path, ...],
    registre: Path | None,
    listes_confiance: tuple[Path, ...] = (),
    signataires_listes: tuple[Path, ...] = (),
) -> None:
    """Enregistre les PDF signés renvoyés par l'établissement, la CPAM ou l'ARS.

    Chaque FICHIER est reconnu par la version émise qu'il prolonge ; ses signatures sont
    vérifiées et les nouvelles enregistrées, la copie la plus complète est gardée à côté du
    PDF émis (X.signe.pdf). Un fichier douteux est refusé sans rien modifier ; le statut de
    sortie vaut alors 1. Avec --trusted-list, la qualification de chaque signature est dite
    (et exigée pour les parties que la campagne désigne).
    """
    from caqes_docs.registry.lifecycle import REFUSED, receive
    from caqes_docs.registry.store import Registry

    lists = trusted_lists_from(listes_confiance, signataires_listes)
    with Registry.open(registre, create=False) as registry:
        outcomes = receive(fichiers, registry, racines, lists)
    for outcome in outcomes:
        what = f"{outcome.reference} {outcome.document} : " if outcome.reference else ""
        line = f"{outcome.path.name} : {what}{outcome.message}"
        if outcome.status == REFUSED:
            click.echo(f"Refusé : {line}", err=True)
        else:
            click.echo(line)
        for role, qualification in outcome.qualifications:
            click.echo(f"  {role:<4} {qualification}")
    refused = sum(1 for outcome in outcomes if outcome.status == REFUSED)
    click.echo(f"{len(outcomes) - refused} fichier(s) pris en compte, {refused} refusé(s).")
    if refused:
        sys.exit(1)


# --- status -------------------------------------------------------------------------------------

STATUS_COLUMNS = (
    "reference", "etablissement", "campagne", "document", "statut",
    *(f"signature_{party}" for party in ROLES),
    "en_attente_de", "date_effet", "dernier_evenement", "date_dernier_evenement",
)  # fmt: skip


def _moment(text: str | None) -> dt.datetime | None:
    from caqes_docs.files import local_time

    return local_time(text) if text else None


def _day(text: str | None) -> str:
    moment = _moment(text)
    return moment.strftime("%d/%m/%Y") if moment else "—"


def status_table(report: StatusReport, width: int) -> str:
    """The status as a plain-text table that fits ``width`` columns, words never cut.

    One row per document: its contract's reference, the document, each party's signing date
    and who must sign next; the establishment's name on the line below, indented.
    """
    import textwrap

    headers = ["Contrat", "Document", *ROLES, "Attendu"]
    rows = [
        [
            row.reference,
            row.document,
            *(_day(row.signed[p]) for p in ROLES),
            row.waiting_for or "complet",
        ]
        for row in report.rows
    ]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    # The document's label is the one column that wraps (at spaces) when space is short.
    others = sum(widths) - widths[1] + 2 * (len(widths) - 1)
    widths[1] = max(len("Document"), min(widths[1], width - others))
    lines = ["Suivi des contrats CAQES (dates de signature de chaque partie)", ""]

    def add(cells: list[str]) -> None:
        wrapped = [
            textwrap.wrap(c, w, break_long_words=False) or [""]
            for c, w in zip(cells, widths, strict=True)
        ]
        for depth in range(max(len(parts) for parts in wrapped)):
            parts = [p[depth] if depth < len(p) else "" for p in wrapped]
            lines.append(
                "  ".join(f"{t:<{w}}" for t, w in zip(parts, widths, strict=True)).rstrip()
            )

    add(headers)
    lines.append("  ".join("-" * w for w in widths))
    for row, cells in zip(report.rows, rows, strict=True):
        add(cells)
        indent = "    "
        lines += textwrap.wrap(row.establishment, width, initial_indent=indent,
                               subsequent_indent=indent, break_long_words=False)  # fmt: skip
    totals = report.totals
    waiting = ", ".join(f"{party} {totals[f'en_attente_{party}']}" for party in ROLES)
    lines += [
        "",
        f"{totals['documents']} document(s) : {totals['complets']} complet(s) ; "
        f"en attente de signature : {waiting}.",
        "Détail (statut, date d'effet, dernier événement) : caqes status --csv ou --json.",
    ]
    if report.evaluations:  # caqes evaluate: the live evaluation of each contract and year
        from caqes_docs.documents.amounts import euros

        lines += ["", "Évaluations annuelles (intéressement notifié)"]
        lines += [
            f"{e.reference}  {e.year}  n°{e.number}  {euros(e.total):>14}  {e.status}"
            for e in report.evaluations
        ]
    return "\n".join(lines)


def _status_rows(report: StatusReport) -> list[list[object]]:
    return [
        [row.reference, row.establishment, row.campaign, row.document, row.status]
        + [_moment(row.signed[party]) for party in ROLES]
        + [row.waiting_for, row.effective_date, row.last_event, _moment(row.last_event_time)]
        for row in report.rows
    ]


@click.command("status", context_settings=CONTEXT)
@click.option(
    "--campaign", "campagne", metavar="NOM", help="Nom de la campagne à afficher (toutes sinon)."
)
@click.option("--json", "format_", flag_value="json", help="Sortie JSON (lignes et totaux).")
@click.option(
    "--csv", "format_", flag_value="csv",
    help="Sortie CSV pour un tableur (« ; », UTF-8, dates JJ/MM/AAAA HH:MM).",
)  # fmt: skip
@REGISTRY_OPTION
def status_command(campagne: str | None, format_: str | None, registre: Path | None) -> None:
    """Où en est chaque document : contrat, avenants, résiliations, et qui doit signer."""
    from caqes_docs.registry.lifecycle import status
    from caqes_docs.registry.store import Registry

    with Registry.open(registre, create=False) as registry:
        report = status(registry, campagne)
    if format_ == "json":
        import json

        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    elif format_ == "csv":
        from caqes_docs.files import csv_text

        click.echo(csv_text(STATUS_COLUMNS, _status_rows(report)), nl=False)
    else:
        import shutil

        # The terminal's width ($COLUMNS first); 100 into a file or a pipe.
        width = shutil.get_terminal_size((100, 24)).columns
        click.echo(status_table(report, max(width, 60)))


# --- amend, terminate ---------------------------------------------------------------------------


@click.command("amend", context_settings=CONTEXT)
@click.argument("reference", metavar="REFERENCE")
@click.argument("modifications", type=EXISTING_FILE, metavar="MODIFICATIONS.yaml")
@SIGNATURE_DATE
@OUT_DIR
@REGISTRY_OPTION
def amend_command(
    reference: str,
    modifications: Path,
    date_signature: dt.date,
    sortie: Path | None,
    registre: Path | None,
) -> None:
    """Prépare l'avenant suivant du contrat REFERENCE à partir de MODIFICATIONS.yaml.

    L'avenant entre en vigueur le 1er janvier suivant sa date de signature (article 10) ; la
    version consolidée du contrat ne change qu'une fois l'avenant signé par les trois parties.
    """
    from caqes_docs.documents.render import date_fr
    from caqes_docs.registry.lifecycle import amend
    from caqes_docs.registry.store import Registry

    with Registry.open(registre, create=False) as registry:
        issued = amend(registry, reference, modifications, date_signature, out_dir=sortie)
    click.echo(
        f"{issued.document.label} au contrat {reference} : {issued.pdf} "
        f"(entrée en vigueur le {date_fr(issued.effective_date)})"
    )
    for change in issued.changes:
        click.echo(f"  – {change}")


@click.command("terminate", context_settings=CONTEXT)
@click.argument("reference", metavar="REFERENCE")
@click.option(
    "--volet", type=click.Choice(sorted(VOLET_NAMES)), required=True, metavar="VOLET",
    help="Volet à résilier : prescriptions (volet 1) ou parcours (volet 2).",
)  # fmt: skip
@SIGNATURE_DATE
@OUT_DIR
@REGISTRY_OPTION
def terminate_command(
    reference: str, volet: str, date_signature: dt.date, sortie: Path | None, registre: Path | None
) -> None:
    """Prépare l'avenant de résiliation d'un volet du contrat REFERENCE (article 11).

    La résiliation prend effet le 31 décembre de l'année de signature ; sans autre volet en
    vigueur, le contrat prend fin à cette date.
    """
    from caqes_docs.documents.render import date_fr
    from caqes_docs.registry.lifecycle import terminate
    from caqes_docs.registry.store import Registry

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
    "--out", "sortie", type=ANY_FILE, default=None, metavar="FICHIER",
    help="Fichier JSON à écrire (sortie standard sinon).",
)  # fmt: skip
@REGISTRY_OPTION
def export_command(sortie: Path | None, registre: Path | None) -> None:
    """Exporte tout le registre en JSON : campagnes, contrats et leurs versions, documents,
    signatures et événements (sauvegarde, tableaux de bord régionaux)."""
    from caqes_docs.registry.lifecycle import export_registry
    from caqes_docs.registry.store import Registry

    with Registry.open(registre, create=False) as registry:
        data = export_registry(registry, sortie)
    if sortie is None:
        import json

        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        click.echo(f"Registre exporté dans {sortie} ({len(data['contrats'])} contrat(s)).")
