"""Commands of the exchange's mail and proofs: ``relances``, ``contact``, ``bordereaux``;
``verify --bordereau``.

``caqes relances`` sends what the registry's state calls for (invitations, reminders,
receipts, refusal notices, completion notices with their bordereau) through the portal's mail
settings, on the portal's data folder; run it from cron or the task queue. ``caqes contact``
shows or changes the parties' addresses of a contract (as the portal's contract page does).
``caqes bordereaux`` seals the bordereaux of complete documents with the ARS key, without the
portal.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from caqes_docs.cli.common import CONTEXT, EXISTING_FILE, REGISTRY_OPTION
from caqes_docs.cli.signing import _signer, key_options
from caqes_docs.cli.web import DATA_OPTION, PRODUCTION_OPTION, _setup
from caqes_docs.files import local_time


@click.command("relances", context_settings=CONTEXT)
@click.option(
    "--dry-run", "essai", is_flag=True,
    help="Ne rien envoyer : lister ce qui serait envoyé, et à qui.",
)  # fmt: skip
@DATA_OPTION
@PRODUCTION_OPTION
def reminders_command(essai: bool, dossier: Path, production: bool) -> None:
    """Envoie les courriels dus : invitations à signer, relances, accusés de réception,
    refus de dépôt et avis d'achèvement (avec le bordereau de signature scellé).

    Chaque envoi et chaque échec est un événement du registre ; relancer la commande
    n'envoie rien deux fois, et un envoi en échec est retenté au passage suivant. Les délais
    des relances sont ceux de la section « relances » de la campagne. Les avis de non-remise
    arrivés dans le dossier CAQES_BOUNCE_MAILDIR sont lus d'abord : un courriel revenu est
    renvoyé dès que l'adresse de la partie a été corrigée.
    """
    _setup(dossier, production)
    from caqes_docs.web.mail import DRY_RUN, FAILED, HELD, NO_ADDRESS, NOT_TRIED, SENT, send_due

    run = send_due(dry_run=essai)
    if run.bounce_failure:
        click.echo(f"avis de non-remise non lus : {run.bounce_failure}", err=True)
    for bounce in run.bounces.recorded if run.bounces else ():
        click.echo(bounce.describe())
    for path in run.bordereaux:
        click.echo(f"bordereau scellé : {path}")
    for failure in run.bordereau_failures:
        click.echo(f"bordereau non scellé : {failure}", err=True)
    for outcome in run.outcomes:
        click.echo(outcome.describe())
    if essai:
        click.echo(f"{run.count(DRY_RUN)} courriel(s) à envoyer (essai : rien n'est envoyé).")
        return
    click.echo(
        f"{run.count(SENT)} envoyé(s), {run.count(FAILED)} en échec, "
        f"{run.count(NOT_TRIED)} non tenté(s), {run.count(NO_ADDRESS)} sans adresse, "
        f"{run.count(HELD)} en attente d'une autre adresse."
    )
    if run.count(FAILED) or run.bordereau_failures or run.bounce_failure:
        sys.exit(1)


@click.command("contact", context_settings=CONTEXT)
@click.argument("reference", metavar="REFERENCE")
@click.option("--etab", metavar="ADRESSE", help='Adresse de l\'établissement ("" : aucune).')
@click.option("--cpam", metavar="ADRESSE", help='Adresse de la CPAM ("" : aucune).')
@click.option("--ars", metavar="ADRESSE", help='Adresse de l\'ARS ("" : aucune).')
@REGISTRY_OPTION
def contact_command(
    reference: str, etab: str | None, cpam: str | None, ars: str | None, registre: Path | None
) -> None:
    """Affiche les adresses électroniques des parties du contrat REFERENCE, ou les change.

    Chaque changement est un événement du registre ; les courriels suivants (caqes relances,
    portail) partent à la nouvelle adresse.
    """
    import getpass

    from caqes_docs.registry.contacts import contacts, set_contacts
    from caqes_docs.registry.store import Registry

    wanted = {
        role: value
        for role, value in (("ETAB", etab), ("CPAM", cpam), ("ARS", ars))
        if value is not None
    }
    with Registry.open(registre, create=False) as registry:
        if wanted:
            made = set_contacts(registry, reference, wanted, f"{getpass.getuser()} (commande)")
            click.echo(f"{len(made)} adresse(s) changée(s).")
        current = contacts(registry, registry.contract(reference))
    for item in current:
        source = (
            f"changée le {local_time(item.change.changed_at):%d/%m/%Y} par {item.change.changed_by}"
            if item.change
            else "donnée par le contrat"
        )
        click.echo(f"{item.party_name} : {item.email or '(aucune adresse)'} — {source}")


@click.command("bordereaux", context_settings=CONTEXT)
@click.argument("references", nargs=-1, metavar="[REFERENCE]...")
@click.option("--trust", "confiance", multiple=True, type=EXISTING_FILE, metavar="FICHIER",
              envvar="CAQES_TRUST_ROOTS", show_envvar=True, required=True,
              help="Certificat racine de confiance (PEM ou DER) ; répétable.")  # fmt: skip
@key_options
@REGISTRY_OPTION
def bordereaux_command(
    references: tuple[str, ...],
    confiance: tuple[Path, ...],
    p12: Path | None,
    password_file: Path | None,
    pkcs11_module: str | None,
    pkcs11_token: str | None,
    pkcs11_key: str | None,
    pin_file: Path | None,
    registre: Path | None,
) -> None:
    """Scelle le bordereau de signature de chaque document signé par toutes les parties
    (ou de ceux des REFERENCEs) qui n'en a pas encore, avec la clé de l'ARS.

    Le bordereau X.bordereau.pdf est écrit à côté de la copie signée X.signe.pdf ; il n'est
    jamais remplacé.
    """
    from caqes_docs.registry.store import Registry
    from caqes_docs.workflows.bordereau import issue_missing

    key = (p12, password_file, pkcs11_module, pkcs11_token, pkcs11_key, pin_file)
    with _signer(*key) as signer, Registry.open(registre, create=False) as registry:
        issued, failures = issue_missing(registry, signer, confiance, references or None)
    for item in issued:
        click.echo(f"{item.document.reference} {item.document.label} : {item.path}")
    for failure in failures:
        click.echo(f"refusé : {failure}", err=True)
    click.echo(f"{len(issued)} bordereau(x) scellé(s), {len(failures)} refusé(s).")
    if failures:
        sys.exit(1)


def verify_bordereaux(fichiers: tuple[Path, ...], confiance: tuple[Path, ...]) -> None:
    """``caqes verify --bordereau``: each file's ARS seal and whether it matches its contract."""
    from caqes_docs.workflows.bordereau import check_bordereau

    bad = 0
    for path in fichiers:
        check = check_bordereau(path, trust_roots=confiance)
        copy = check.contract.name if check.contract else "?"
        click.echo(f"{path.name} (bordereau de {check.reference or '?'}) :")
        click.echo(f"  sceau : {'scellé par l’ARS' if check.sealed else 'NON VALIDE'}")
        if check.missing:
            click.echo(f"  copie signée : {check.missing}")
        else:
            matches = "correspond" if check.matches else "NE CORRESPOND PAS"
            click.echo(f"  copie signée {copy} : {matches}")
        for problem in check.problems:
            click.echo(f"  ! {problem}")
        bad += not check.ok
    if bad:
        sys.exit(1)
