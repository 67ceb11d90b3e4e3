"""Commands of the signing stage: ``sign``, ``verify``, ``demo-pki``."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from caqes_docs.cli.common import ANY_FILE, CONTEXT, DIRECTORY, EXISTING_FILE, fail
from caqes_docs.cli.runtime import input_errors_are_unreadable
from caqes_docs.errors import InputError
from caqes_docs.parties import ROLES

if TYPE_CHECKING:
    from caqes_docs.signatures.verify import VerificationReport

# The PAdES levels of caqes_docs.signatures.signing.LEVELS, repeated so that ``sign --help``
# does not load pyHanko (a test checks they agree).
LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")
PDF_FILES = click.Path(exists=True, dir_okay=False, path_type=Path)
TRUST_OPTION = click.option(
    "--trust", "confiance", multiple=True, type=EXISTING_FILE, metavar="FICHIER",
    envvar="CAQES_TRUST_ROOTS", show_envvar=True,
    help="Certificat racine de confiance (PEM ou DER) ; répétable.",
)  # fmt: skip
TRUSTED_LIST_OPTION = click.option(
    "--trusted-list", "listes_confiance", multiple=True, type=EXISTING_FILE, metavar="FICHIER",
    help="Liste de confiance européenne (XML ETSI TS 119 612 : liste d'un État ou liste des "
    "listes), lue hors ligne : dit si chaque certificat est qualifié ; répétable.",
)  # fmt: skip
TRUSTED_LIST_SIGNER_OPTION = click.option(
    "--trusted-list-signer", "signataires_listes", multiple=True, type=EXISTING_FILE,
    metavar="FICHIER",
    help="Certificat attendu du signataire des listes de confiance (PEM ou DER) ; sans lui, "
    "la liste des listes doit être signée par la Commission européenne ; répétable.",
)  # fmt: skip
CAMPAIGN_OPTION = click.option(
    "--campaign", "campagne", type=EXISTING_FILE, metavar="FICHIER",
    help="Campagne (ordre des signatures, règles des certificats).",
)  # fmt: skip

# verify --json: the report's fields under French keys, as status --json and export (a test
# checks that every field of the report has one).
REPORT_KEYS = {
    "path": "fichier",
    "ok": "valide",
    "complete": "complet",
    "signatures": "signatures",
    "issued": "document_emis",
    "issued_source": "source_emission",
    "finess_ej": "finess_ej",
    "finess_source": "source_finess",
    "reference": "reference",
    "pages": "pages",
    "trust_checked": "confiance_verifiee",
    "lenient_reading": "lecture_tolerante",
    "document_timestamps": "horodatages_document",
    "unexpected_fields": "champs_inattendus",
    "problems": "problemes",
}
SIGNATURE_KEYS = {
    "field": "champ",
    "role": "role",
    "party": "partie",
    "status": "statut",
    "signer": "signataire",
    "subject": "certificat",
    "signing_time": "date_signature",
    "timestamp_time": "date_horodatage",
    "timestamp_trust": "confiance_horodatage",
    "intact": "integre",
    "trust": "confiance",
    "modification_level": "modifications_apres",
    "modifications_ok": "modifications_permises",
    "certification": "certification",
    "party_match": "certificat_de_la_partie",
    "expected_identity": "identite_attendue",
    "qualification": "qualification",
    "problems": "problemes",
    "time": "date",
}


def trusted_lists_from(lists: tuple[Path, ...], signers: tuple[Path, ...]) -> Any:
    """The trusted lists given with --trusted-list (None without), each signature checked."""
    if not lists:
        return None
    from caqes_docs.signatures.qualified import load_trusted_lists

    return load_trusted_lists(lists, signers)


def _french_keys(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{SIGNATURE_KEYS.get(key, key): value for key, value in item.items()} for item in items]


def verification_json(report: VerificationReport, trust_checked: bool) -> dict[str, Any]:
    """The report as ``verify --json`` prints it (French keys, dates in ISO 8601)."""
    data = {REPORT_KEYS.get(key, key): value for key, value in report.to_dict().items()}
    data["signatures"] = _french_keys(data["signatures"])
    data["horodatages_document"] = _french_keys(data["horodatages_document"])
    data.setdefault("confiance_verifiee", trust_checked)
    return data


def trust_unchecked(report: VerificationReport, trust_checked: bool) -> bool:
    """Signatures present, but nobody said which root certificates to trust."""
    return not trust_checked and any(sig.intact for sig in report.signatures)


def verdict(report: VerificationReport, trust_checked: bool) -> str:
    """« valide » only when trust was checked; intact signatures alone are not enough."""
    if not report.ok:
        return "NON VALIDE"
    if trust_unchecked(report, trust_checked):
        return "intègre, confiance NON VÉRIFIÉE (sans --trust)"
    return "valide"


def describe_verification(report: VerificationReport, trust_checked: bool = True) -> str:
    """A few lines a contract officer can read in 100 columns: the verdict, then per party
    who signed and when, then what was checked, then any problem."""
    import textwrap

    from caqes_docs.files import local_time
    from caqes_docs.signatures.verify import NOT_CHECKED, SIGNED

    signed = sum(sig.status == SIGNED for sig in report.signatures)
    verdict_line = f"{Path(report.path).name} : {verdict(report, trust_checked)}"
    lines = [f"{verdict_line} — {signed}/{len(report.signatures)} signatures"]
    indent = " " * 7

    def add(text: str, first: str = indent) -> None:
        lines.extend(textwrap.wrap(text, 100, initial_indent=first, subsequent_indent=indent))

    for sig in report.signatures:
        if sig.status != SIGNED:
            lines.append(f"  {sig.role:<4} en attente")
            continue
        when = local_time(sig.signing_time).strftime("%d/%m/%Y %H:%M") if sig.signing_time else "?"
        stamp = ", horodatée" if sig.timestamp_time else ""
        add(f"{sig.signer}, le {when}{stamp}", f"  {sig.role:<4} ")
        integrity = "intègre" if sig.intact else "ALTÉRÉE"
        add(f"{integrity} ; confiance : {sig.trust} ; certificat : {sig.party_match}")
        add(f"modifications après : {sig.modification_level}")
        if sig.qualification and sig.qualification != NOT_CHECKED:
            add(f"qualification : {sig.qualification}")
        for problem in sig.problems:
            add(f"! {problem}")
    lines.append(f"  document émis : {report.issued}")
    for problem in report.problems:
        lines.extend(textwrap.wrap(f"! {problem}", 100, initial_indent="  ",
                                   subsequent_indent="    "))  # fmt: skip
    return "\n".join(lines)


def _secret(path: Path | None, prompt: str) -> str | None:
    """A password or PIN: from a file (first line), else asked on a terminal, else none."""
    if path is not None:
        # Read, not stat: a pipe (``--password-file <(pass show …)``) has no size.
        try:
            lines = path.read_bytes().decode("utf-8").splitlines()
        except UnicodeDecodeError:
            raise InputError(
                "ce fichier n'est pas du texte UTF-8 : y écrire le mot de passe ou le code PIN "
                "seul sur la première ligne, enregistré en UTF-8",
                file=path,
            ) from None
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
    from caqes_docs.signatures.signing import load_p12, open_pkcs11

    if p12 and module:
        fail("choisir --p12 ou --pkcs11-module, pas les deux")
    if p12:
        password = _secret(password_file, "Mot de passe du fichier PKCS#12")
        yield load_p12(p12, password.encode("utf-8") if password else None)
        return
    if not (module and token and key):
        fail("clé de signature : --p12 FICHIER, ou --pkcs11-module, --pkcs11-token et --pkcs11-key")
    pin = _secret(pin_file, "Code PIN du jeton") or ""
    with open_pkcs11(module, token, key, pin) as signer:
        yield signer


_KEY_OPTIONS = (
    click.option(
        "--p12", type=EXISTING_FILE, metavar="FICHIER", help="Certificat et clé (PKCS#12)."
    ),
    click.option(
        "--password-file", type=EXISTING_FILE, metavar="FICHIER",
        help="Fichier du mot de passe PKCS#12 (première ligne, UTF-8).",
    ),
    click.option(
        "--pkcs11-module", metavar="BIBLIOTHÈQUE",
        help="Bibliothèque PKCS#11 de la carte ou du HSM.",
    ),
    click.option("--pkcs11-token", metavar="NOM", help="Nom (label) du jeton PKCS#11."),
    click.option("--pkcs11-key", metavar="NOM", help="Nom (label) de la clé sur le jeton."),
    click.option(
        "--pin-file", type=EXISTING_FILE, metavar="FICHIER", help="Fichier du code PIN du jeton."
    ),
)  # fmt: skip


def key_options(command: Any) -> Any:
    """The options of a signing key, as :func:`_signer` takes them (PKCS#12 or PKCS#11)."""
    for option in reversed(_KEY_OPTIONS):
        command = option(command)
    return command


@click.command("sign", context_settings=CONTEXT)
@click.argument("fichiers", nargs=-1, required=True, type=PDF_FILES, metavar="FICHIER...")
@click.option("--role", required=True, type=click.Choice(ROLES), help="Partie qui signe.")
@key_options
@click.option(
    "--level", "niveau", type=click.Choice(LEVELS), default="B-B", show_default=True,
    help="Niveau PAdES : B-T horodate (--tsa), B-LT ajoute la révocation, B-LTA l'archive.",
)  # fmt: skip
@click.option("--tsa", metavar="URL", help="Adresse du service d'horodatage (RFC 3161).")
@click.option(
    "--issued", "empreinte", metavar="SHA256",
    help="Empreinte du document émis (page du lien du portail), sans fiche .emission.json.",
)  # fmt: skip
@TRUST_OPTION
@CAMPAIGN_OPTION
@TRUSTED_LIST_OPTION
@TRUSTED_LIST_SIGNER_OPTION
@click.option(
    "-o", "--output", "sortie", type=ANY_FILE, metavar="FICHIER",
    help="PDF signé à écrire (un seul FICHIER) ; par défaut X.signe-<partie>.pdf à côté de X.pdf.",
)  # fmt: skip
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
    empreinte: str | None,
    confiance: tuple[Path, ...],
    campagne: Path | None,
    sortie: Path | None,
    listes_confiance: tuple[Path, ...] = (),
    signataires_listes: tuple[Path, ...] = (),
) -> None:
    """Signe le champ de la partie --role dans chaque FICHIER PDF.

    L'ordre est établissement, CPAM, ARS (ou celui de la campagne). Un fichier signé hors
    ordre, déjà signé pour ce rôle, modifié depuis son émission ou dont une signature
    antérieure n'est plus valide est refusé et laissé intact. Statut : 0 si tout est signé,
    1 s'il y a un refus, 2 si un fichier donné est illisible.
    """
    input_errors_are_unreadable()
    from caqes_docs.inputs.campaign import load_campaign
    from caqes_docs.issued import IssuedRecord
    from caqes_docs.signatures.signing import sign_documents, validation_context_for

    if empreinte and len(fichiers) > 1:
        fail("--issued désigne le document émis d'un seul FICHIER")
    issued = IssuedRecord.from_digest(empreinte) if empreinte else None
    campaign = load_campaign(campagne)
    lists = trusted_lists_from(listes_confiance, signataires_listes)
    context = validation_context_for(list(confiance)) if niveau in ("B-LT", "B-LTA") else None
    with _signer(p12, password_file, pkcs11_module, pkcs11_token, pkcs11_key, pin_file) as signer:
        results = sign_documents(
            fichiers, role, signer, level=niveau, tsa_url=tsa, output=sortie,
            validation_context=context, trust_roots=confiance, campaign=campaign,
            trusted_lists=lists, issued=issued,
        )  # fmt: skip
    for result in results:
        if result.ok:
            written = result.output.name if result.output else result.path.name
            click.echo(
                f"{result.path.name} : signé ({role}, {result.signer}, {result.level}) → {written}"
            )
        else:
            click.echo(f"Refusé : {result.error}", err=True)
    failed = sum(not result.ok for result in results)
    click.echo(f"{len(results) - failed} fichier(s) signé(s), {failed} refusé(s).")
    if failed:
        sys.exit(1)


@click.command("verify", context_settings=CONTEXT)
@click.argument("fichiers", nargs=-1, required=True, type=PDF_FILES, metavar="FICHIER...")
@TRUST_OPTION
@click.option(
    "--no-trust-check", "sans_confiance", is_flag=True,
    help="Sans --trust : accepter de ne vérifier que l'intégrité (statut 0 si elle est bonne).",
)  # fmt: skip
@click.option("--issued", "empreinte", metavar="SHA256", help="Empreinte du document émis.")
@click.option(
    "--manifest", type=EXISTING_FILE, metavar="FICHIER",
    help="manifest.json d'une campagne (caqes batch).",
)  # fmt: skip
@CAMPAIGN_OPTION
@TRUSTED_LIST_OPTION
@TRUSTED_LIST_SIGNER_OPTION
@click.option(
    "--registry", "registre", type=EXISTING_FILE, metavar="FICHIER",
    help="Registre des contrats : retrouve la version émise d'un fichier reçu sans sa fiche.",
)  # fmt: skip
@click.option("--json", "en_json", is_flag=True, help="Rapport au format JSON (clés en français).")
@click.option(
    "--bordereau", "bordereau", is_flag=True,
    help="Chaque FICHIER est un bordereau de signature : vérifier son sceau ARS et qu'il "
    "correspond à la copie signée à côté de lui.",
)  # fmt: skip
def verify_command(
    fichiers: tuple[Path, ...],
    confiance: tuple[Path, ...],
    sans_confiance: bool,
    empreinte: str | None,
    manifest: Path | None,
    campagne: Path | None,
    en_json: bool,
    registre: Path | None = None,
    bordereau: bool = False,
    listes_confiance: tuple[Path, ...] = (),
    signataires_listes: tuple[Path, ...] = (),
) -> None:
    """Vérifie les signatures de chaque FICHIER PDF.

    Pour chacun des trois champs : signé ou en attente, signataire, date, intégrité,
    confiance, modifications après la signature, correspondance du certificat avec la partie,
    et identité avec le document émis. Sans --trust, la confiance dans les certificats n'est
    pas vérifiée : le statut vaut alors 1, sauf avec --no-trust-check. Avec --trusted-list,
    chaque certificat est dit qualifié (signature ou cachet) ou non à la date de signature ;
    la campagne peut l'exiger par partie. Statut 0 seulement si tout est valide.
    """
    input_errors_are_unreadable()
    import json

    from caqes_docs.inputs.campaign import load_campaign
    from caqes_docs.issued import IssuedRecord
    from caqes_docs.signatures.verify import verify_document
    from caqes_docs.workflows.manifest import issued_from_manifest

    if bordereau:
        from caqes_docs.cli.mail import verify_bordereaux

        verify_bordereaux(fichiers, confiance)
        return
    if sum(map(bool, (empreinte, manifest, registre))) > 1:
        fail("choisir --issued, --manifest ou --registry, un seul")
    from caqes_docs.errors import CaqesError
    from caqes_docs.registry.lifecycle import verify_with_registry
    from caqes_docs.registry.store import Registry

    campaign = load_campaign(campagne)
    lists = trusted_lists_from(listes_confiance, signataires_listes)
    reports, unreadable = [], 0
    with contextlib.ExitStack() as stack:
        registry = stack.enter_context(Registry.open(registre, create=False)) if registre else None
        for path in fichiers:
            # One unreadable or forged file is reported; the others are still verified.
            try:
                if registry is not None:
                    reports.append(verify_with_registry(path, registry, confiance, lists))
                    continue
                issued = IssuedRecord.from_digest(empreinte) if empreinte else None
                if manifest:
                    issued = issued_from_manifest(manifest, path)
                reports.append(
                    verify_document(
                        path, trust_roots=confiance, issued=issued, campaign=campaign,
                        trusted_lists=lists,
                    )
                )  # fmt: skip
            except CaqesError as exc:
                click.echo(f"Erreur : {exc}", err=True)
                unreadable += 1
    trusted = bool(confiance)
    if en_json:
        data = [verification_json(report, trusted) for report in reports]
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        for report in reports:
            click.echo(describe_verification(report, trusted))
    unchecked = any(trust_unchecked(report, trusted) for report in reports)
    if unchecked and not en_json:
        click.echo(
            "Attention : confiance non vérifiée ; donner le certificat racine avec --trust "
            "(ou --no-trust-check pour ne vérifier que l'intégrité).",
            err=True,
        )
    if unreadable:
        sys.exit(2)
    if not all(report.ok for report in reports) or (unchecked and not sans_confiance):
        sys.exit(1)


@click.command("demo-pki", context_settings=CONTEXT)
@click.argument("dossier", type=DIRECTORY, metavar="DOSSIER")
@click.option(
    "--etablissement", "etablissements", multiple=True, metavar="FINESS[:NOM]",
    help="Établissement à doter d'un certificat ; par défaut ceux des exemples.",
)  # fmt: skip
def demo_pki_command(dossier: Path, etablissements: tuple[str, ...]) -> None:
    """Crée une infrastructure de test : une AC racine et un certificat PKCS#12 par partie.

    Sans --etablissement : un certificat pour chaque établissement des exemples fournis
    (fichier de ciblage et contrats YAML). Le mot de passe des fichiers .p12 est écrit dans
    DOSSIER/mot-de-passe.txt. Ces certificats ne servent qu'aux essais.
    """
    from caqes_docs.workflows.demo import create_example_pki

    pairs = [item.partition(":")[::2] for item in etablissements]
    named = [(finess, name or f"Établissement {finess}") for finess, name in pairs]
    pki, password_file = create_example_pki(dossier, named or None)
    click.echo(f"AC racine : {pki.root_certificate}")
    for finess, path in pki.establishments.items():
        click.echo(f"Établissement {finess} : {path}")
    click.echo(f"CPAM : {pki.cpam}\nARS : {pki.ars}")
    click.echo(f"Mot de passe : {password_file}")
