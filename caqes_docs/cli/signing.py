"""Commands of the signing stage: ``sign``, ``verify``, ``demo-pki``."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from caqes_docs.cli.common import CONTEXT, DIRECTORY, EXISTING_FILE, fail, reports_errors
from caqes_docs.inputs.campaign import load_campaign
from caqes_docs.issued import IssuedRecord
from caqes_docs.parties import ROLES
from caqes_docs.signatures.pki import create_demo_pki
from caqes_docs.signatures.signing import (
    LEVELS,
    load_p12,
    open_pkcs11,
    sign_documents,
    validation_context_for,
)
from caqes_docs.signatures.verify import SIGNED, VerificationReport, verify_document
from caqes_docs.workflows.manifest import issued_from_manifest

PDF_FILES = click.Path(exists=True, dir_okay=False, path_type=Path)


def describe_verification(report: VerificationReport) -> str:
    """A few lines a contract officer can read: the verdict, then one line per party."""
    signed = sum(sig.status == SIGNED for sig in report.signatures)
    verdict = "valide" if report.ok else "NON VALIDE"
    lines = [f"{Path(report.path).name} : {verdict} ({signed}/3 signatures)"]
    for sig in report.signatures:
        if sig.status != SIGNED:
            lines.append(f"  {sig.role:<4} en attente")
            continue
        when = sig.signing_time.strftime("%d/%m/%Y %H:%M") if sig.signing_time else "?"
        stamp = " horodaté" if sig.timestamp_time else ""
        facts = [
            "intègre" if sig.intact else "ALTÉRÉE",
            f"confiance {sig.trust}",
            f"certificat {sig.party_match}",
            f"modifications après : {sig.modification_level}",
        ]
        lines.append(f"  {sig.role:<4} {sig.signer}, le {when}{stamp} — {', '.join(facts)}")
        lines += [f"       ! {problem}" for problem in sig.problems]
    lines.append(f"  document émis : {report.issued}")
    lines += [f"  ! {problem}" for problem in report.problems]
    return "\n".join(lines)


def _secret(path: Path | None, prompt: str) -> str | None:
    """A password or PIN: from a file (first line), else asked on a terminal, else none."""
    if path is not None:
        # Read, not stat: a pipe (``--password-file <(pass show …)``) has no size.
        lines = path.read_text(encoding="utf-8").splitlines()
        return lines[0] if lines else ""
    if sys.stdin.isatty():
        return click.prompt(prompt, hide_input=True, default="", show_default=False)
    return None


@contextlib.contextmanager
def _signer(
    p12: Path | None,
    password_file: Path | None,
    module: str | None,
    token: str | None,
    key: str | None,
    pin_file: Path | None,
) -> Iterator[object]:
    if p12 and module:
        fail("choisir --p12 ou --pkcs11-module, pas les deux", 2)
    if p12:
        password = _secret(password_file, "Mot de passe du fichier PKCS#12")
        yield load_p12(p12, password.encode("utf-8") if password else None)
        return
    if not (module and token and key):
        fail(
            "clé de signature : --p12 FICHIER, ou --pkcs11-module, --pkcs11-token et --pkcs11-key",
            2,
        )
    pin = _secret(pin_file, "Code PIN du jeton") or ""
    with open_pkcs11(module, token, key, pin) as signer:
        yield signer


@click.command("sign", context_settings=CONTEXT)
@click.argument("fichiers", nargs=-1, required=True, type=PDF_FILES)
@click.option("--role", required=True, type=click.Choice(ROLES), help="Partie qui signe.")
@click.option("--p12", type=EXISTING_FILE, help="Certificat et clé au format PKCS#12.")
@click.option("--password-file", type=EXISTING_FILE, help="Fichier du mot de passe PKCS#12.")
@click.option("--pkcs11-module", help="Bibliothèque PKCS#11 de la carte ou du HSM.")
@click.option("--pkcs11-token", help="Nom (label) du jeton PKCS#11.")
@click.option("--pkcs11-key", help="Nom (label) de la clé sur le jeton.")
@click.option("--pin-file", type=EXISTING_FILE, help="Fichier du code PIN du jeton.")
@click.option(
    "--level", "niveau", type=click.Choice(LEVELS), default="B-B", show_default=True,
    help="Niveau PAdES : B-T horodate (--tsa), B-LT ajoute la révocation, B-LTA l'archive.",
)  # fmt: skip
@click.option("--tsa", help="Adresse du service d'horodatage (RFC 3161).")
@click.option(
    "--trust", "confiance", multiple=True, type=EXISTING_FILE,
    help="Certificat racine de confiance (B-LT, B-LTA).",
)  # fmt: skip
@click.option("--campaign", "campagne", type=EXISTING_FILE, help="Campagne (ordre de signature).")
@click.option("-o", "--output", "sortie", type=click.Path(dir_okay=False, path_type=Path))
@reports_errors
def sign_command(
    fichiers: tuple[Path, ...],
    role: str,
    p12: Path | None,
    password_file: Path | None,
    pkcs11_module: str | None,
    pkcs11_token: str | None,
    pkcs11_key: str | None,
    pin_file: Path | None,
    niveau: str,
    tsa: str | None,
    confiance: tuple[Path, ...],
    campagne: Path | None,
    sortie: Path | None,
) -> None:
    """Signe le champ de la partie --role dans chaque FICHIER PDF.

    L'ordre est établissement, CPAM, ARS (ou celui de la campagne). Un fichier signé hors
    ordre, déjà signé pour ce rôle, modifié depuis son émission ou dont une signature
    antérieure n'est plus valide est refusé et laissé intact.
    """
    order = load_campaign(campagne).signature.order
    context = validation_context_for(list(confiance)) if niveau in ("B-LT", "B-LTA") else None
    with _signer(p12, password_file, pkcs11_module, pkcs11_token, pkcs11_key, pin_file) as signer:
        results = sign_documents(
            fichiers, role, signer, level=niveau, tsa_url=tsa, output=sortie, order=order,
            validation_context=context,
        )  # fmt: skip
    for result in results:
        if result.ok:
            click.echo(f"{result.path.name} : signé ({role}, {result.signer}, {result.level})")
        else:
            click.echo(f"Refusé : {result.error}", err=True)
    failed = sum(not result.ok for result in results)
    click.echo(f"{len(results) - failed} fichier(s) signé(s), {failed} refusé(s).")
    if failed:
        sys.exit(1)


@click.command("verify", context_settings=CONTEXT)
@click.argument("fichiers", nargs=-1, required=True, type=PDF_FILES)
@click.option(
    "--trust", "confiance", multiple=True, type=EXISTING_FILE,
    help="Certificat racine de confiance (PEM ou DER) ; répétable.",
)  # fmt: skip
@click.option("--issued", "empreinte", help="Empreinte SHA-256 du document émis.")
@click.option("--manifest", type=EXISTING_FILE, help="manifest.json d'une campagne (caqes batch).")
@click.option(
    "--campaign", "campagne", type=EXISTING_FILE, help="Campagne (règles des certificats)."
)
@click.option("--json", "en_json", is_flag=True, help="Rapport au format JSON.")
@reports_errors
def verify_command(
    fichiers: tuple[Path, ...],
    confiance: tuple[Path, ...],
    empreinte: str | None,
    manifest: Path | None,
    campagne: Path | None,
    en_json: bool,
) -> None:
    """Vérifie les signatures de chaque FICHIER PDF.

    Pour chacun des trois champs : signé ou en attente, signataire, date, intégrité,
    confiance, modifications après la signature, correspondance du certificat avec la partie,
    et identité avec le document émis. Statut 0 seulement si tout est valide.
    """
    if empreinte and manifest:
        fail("choisir --issued ou --manifest, pas les deux", 2)
    settings = load_campaign(campagne).signature
    reports = []
    for path in fichiers:
        issued = IssuedRecord.from_digest(empreinte) if empreinte else None
        if manifest:
            issued = issued_from_manifest(manifest, path)
        reports.append(
            verify_document(
                path, trust_roots=confiance, issued=issued, rules=settings.certificates,
                order=tuple(settings.order),
            )
        )  # fmt: skip
    if en_json:
        click.echo("[" + ",\n".join(report.to_json() for report in reports) + "]")
    else:
        for report in reports:
            click.echo(describe_verification(report))
    if not all(report.ok for report in reports):
        sys.exit(1)


@click.command("demo-pki", context_settings=CONTEXT)
@click.argument("dossier", type=DIRECTORY)
@click.option(
    "--etablissement", "etablissements", multiple=True, metavar="FINESS[:NOM]",
    help="Établissement à doter d'un certificat ; par défaut ceux des exemples.",
)  # fmt: skip
@reports_errors
def demo_pki_command(dossier: Path, etablissements: tuple[str, ...]) -> None:
    """Crée une infrastructure de test : une AC racine et un certificat PKCS#12 par partie.

    Le mot de passe des fichiers .p12 est écrit dans DOSSIER/mot-de-passe.txt. Ces
    certificats ne servent qu'aux essais.
    """
    from caqes_docs.workflows.demo import DEMO_PASSWORD, example_establishments

    pairs = [item.partition(":")[::2] for item in etablissements]
    pairs = [(finess, name or f"Établissement {finess}") for finess, name in pairs]
    pki = create_demo_pki(dossier, pairs or example_establishments(), DEMO_PASSWORD)
    (dossier / "mot-de-passe.txt").write_text(DEMO_PASSWORD + "\n", encoding="utf-8")
    click.echo(f"AC racine : {pki.root_certificate}")
    for finess, path in pki.establishments.items():
        click.echo(f"Établissement {finess} : {path}")
    click.echo(f"CPAM : {pki.cpam}\nARS : {pki.ars}")
    click.echo(f"Mot de passe : {dossier / 'mot-de-passe.txt'}")


COMMANDS = (sign_command, verify_command, demo_pki_command)
