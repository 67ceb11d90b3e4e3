"""Commands that produce documents: ``generate``, ``check-template``, ``demo``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from caqes_docs.cli.common import CONTEXT, DIRECTORY, EXISTING_FILE, REGISTRY_OPTION

if TYPE_CHECKING:
    from caqes_docs.workflows.generate import GenerationReport


def _print_generation(report: GenerationReport, out_dir: Path) -> None:
    """Per contract: the PDF to sign (its path), its issued record, its sources."""
    import shutil
    import textwrap

    from caqes_docs.issued import sidecar_path

    width = max(shutil.get_terminal_size((100, 24)).columns, 60)
    for item in report.generated:
        if item.pdf is None:
            click.echo(f"{item.contract.reference} : sources DOCX seulement (--no-pdf)")
        else:
            click.echo(f"{item.contract.reference} : PDF à signer : {item.pdf}")
            click.echo(f"    fiche d'émission : {sidecar_path(item.pdf).name}")
        sources = [item.rendered.contract, *(path for _, path in item.rendered.annexes)]
        text = f"    sources : {', '.join(p.name for p in sources)}"
        # File names are never cut: lines break only after a comma.
        click.echo(textwrap.fill(text, width, subsequent_indent=" " * 14,
                                 break_long_words=False, break_on_hyphens=False))  # fmt: skip
    for source, exc in report.failed:
        for line in str(exc).splitlines():
            click.echo(f"Refusé : {source.name} : {line}", err=True)
    click.echo(
        f"{len(report.generated)} contrat(s) généré(s) dans {out_dir}, "
        f"{len(report.failed)} refusé(s)."
    )


@click.command("generate", context_settings=CONTEXT)
@click.argument("contrats", nargs=-1, required=True, type=EXISTING_FILE, metavar="CONTRAT.yaml...")
@click.option(
    "--campaign", "campagne", type=EXISTING_FILE, metavar="FICHIER",
    help="Fichier de campagne (YAML).",
)  # fmt: skip
@click.option(
    "--out", "sortie", type=DIRECTORY, default=Path("sortie"), metavar="DOSSIER",
    show_default=True, help="Dossier où écrire les documents.",
)  # fmt: skip
@click.option("--no-pdf", "sans_pdf", is_flag=True, help="Seulement les sources DOCX.")
@REGISTRY_OPTION
def generate_command(
    contrats: tuple[Path, ...],
    campagne: Path | None,
    sortie: Path,
    sans_pdf: bool,
    registre: Path | None,
) -> None:
    """Génère le contrat et les annexes des volets conclus pour chaque CONTRAT.yaml.

    Écrit les sources DOCX, le PDF/A à signer (sauf --no-pdf) avec sa fiche d'émission
    (fichier .emission.json), et inscrit le contrat au registre. Sans --campaign, la campagne
    par défaut (ARS Nouvelle-Aquitaine 2022-2024) est utilisée.
    """
    from caqes_docs.workflows.generate import generate

    report = generate(contrats, sortie, campaign_file=campagne, pdf=not sans_pdf, registry=registre)
    _print_generation(report, sortie)
    if report.failed:
        sys.exit(1)


@click.command("check-template", context_settings=CONTEXT)
@click.argument("modele", type=EXISTING_FILE, metavar="MODELE.docx")
def check_template_command(modele: Path) -> None:
    """Vérifie un modèle .docx modifié : syntaxe, variables, ancres de signature.

    Le statut de sortie vaut 1 si un problème est trouvé.
    """
    from caqes_docs.documents.lint import check_template

    problems = check_template(modele)
    for problem in problems:
        click.echo(f"{modele.name} : {problem}", err=True)
    if problems:
        click.echo(f"{len(problems)} problème(s) dans {modele}.", err=True)
        sys.exit(1)
    click.echo(f"{modele.name} : aucun problème trouvé.")


@click.command("demo", context_settings=CONTEXT)
@click.option(
    "--out", "sortie", type=DIRECTORY, default=Path("demo"), metavar="DOSSIER",
    show_default=True, help="Dossier de la démonstration (recréé à chaque fois).",
)  # fmt: skip
def demo_command(sortie: Path) -> None:
    """Toute la chaîne sur les exemples fournis : émission, signatures, réception, vérification.

    Le fichier de ciblage d'exemple contient des erreurs volontaires : elles sont signalées
    comme refus, et la démonstration se poursuit avec les autres établissements. Prépare aussi
    le portail de démonstration (DOSSIER/en-ligne : compte agent, certificats de test).
    """
    from caqes_docs.web.bootstrap import DEMO_DATA_DIR, prepare_portal_demo
    from caqes_docs.workflows.demo import run_demo

    report = run_demo(sortie, step=click.echo)
    batch = report.batch
    for refused in batch.refused:
        click.echo(f"Refusé (volontaire) : {refused.finess_ej} : {refused.problems[0]}")
    signed = sum(result.ok for result in report.signatures)
    valid = sum(item.ok and item.complete for item in report.verified)
    totals = report.status.totals
    click.echo(
        f"\nBilan :\n  {len(batch.generated)} contrat(s) émis, {len(batch.refused)} refusé(s) "
        f"(voir {batch.rejects})\n  {signed} signature(s) ; {valid}/{len(report.verified)} "
        f"contrat(s) vérifiés avec trois signatures valides\n  registre {report.registry} : "
        f"{totals['complets']}/{totals['documents']} document(s) complet(s)"
    )
    click.echo(f"  {len(report.bordereaux)} bordereau(x) de signature scellé(s) par l'ARS")
    evaluation = report.evaluation
    click.echo(
        f"  évaluation 2023 : {len(evaluation.notified)} notification(s) dans "
        f"{evaluation.out_dir}, {sum(r.ok for r in report.letters)} signée(s) par l'ARS"
    )
    exchange = sortie / "en-ligne"
    portal = prepare_portal_demo(exchange, pki_from=sortie / "pki")
    default = exchange.resolve() == DEMO_DATA_DIR.resolve()
    serve = "caqes serve" if default else f"caqes serve --data {exchange}"
    click.echo(
        f"\nPortail de démonstration (campagne à émettre et à faire signer en ligne) :\n"
        f"  {serve}    puis http://127.0.0.1:8000/\n"
        f"  identifiant {portal.username}, mot de passe {portal.password}\n"
        f"  certificats de test des parties : {sortie / 'pki'} (mot de passe dans "
        f"{sortie / 'pki' / 'mot-de-passe.txt'})"
    )
    problems = [r.error for r in report.signatures + report.letters if not r.ok]
    problems += [o.message for o in report.received if not o.ok] + report.bordereau_failures
    problems += [f"{Path(v.path).name} : {p}" for v in report.verified for p in v.problems]
    for problem in problems:
        click.echo(f"Erreur : {problem}", err=True)
    if problems or valid != len(report.verified):
        sys.exit(1)
