"""The command line, through click's test runner: French output, one line per error."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from caqes_docs.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), prog_name="caqes")
    return result.exit_code, result.stdout, result.stderr


def test_help_is_french() -> None:
    code, out, _ = run("--help")
    assert code == 0
    assert "Utilisation : caqes" in out and "Commandes" in out
    code, out, _ = run("generate", "--help")
    assert "Affiche cette aide et quitte." in out
    assert "Show this message" not in out


def test_generate_writes_contract_and_annexes(tmp_path: Path) -> None:
    code, out, _ = run(
        "generate",
        str(EXAMPLES / "clinique-fictive-bayonne.yaml"),
        "--out",
        str(tmp_path),
        "--no-pdf",
    )
    assert code == 0, out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "CAQES-NA-2022-640990016-annexe1.docx",
        "CAQES-NA-2022-640990016.docx",
    ]
    assert "1 contrat(s) généré(s)" in out


def test_bad_contract_is_one_line_per_problem_and_others_go_on(tmp_path: Path) -> None:
    data = yaml.safe_load((EXAMPLES / "clinique-fictive-bayonne.yaml").read_text("utf-8"))
    data["etablissement"]["finess_ej"] = "640990017"
    bad = tmp_path / "mauvais.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    out_dir = tmp_path / "out"
    code, _, err = run(
        "generate", str(bad), str(EXAMPLES / "ch-fictif-limoges.yaml"),
        "--out", str(out_dir), "--no-pdf",
    )  # fmt: skip
    assert code == 1
    assert "Traceback" not in err
    [line] = [line for line in err.splitlines() if line]
    assert line.startswith("Refusé : mauvais.yaml :")
    assert "etablissement.finess_ej" in line and "640990017" in line and "clé" in line
    assert (out_dir / "CAQES-NA-2022-870990017.docx").exists()


def test_check_template_exit_status(tmp_path: Path) -> None:
    from caqes_docs.documents.render import TemplateSet

    code, out, _ = run("check-template", str(TemplateSet.shipped().contract))
    assert code == 0 and "aucun problème" in out
    bogus = tmp_path / "contrat.docx"
    bogus.write_bytes(b"pas un docx")
    code, _, err = run("check-template", str(bogus))
    assert code == 1 and err.startswith("Erreur : ") and "Traceback" not in err


def test_missing_file_is_a_usage_error() -> None:
    code, _, err = run("generate", "nexiste-pas.yaml")
    assert code == 2
    assert "introuvable" in err


def test_generate_sign_verify_through_the_cli(tmp_path: Path) -> None:
    """The officer's path by hand: issue, create test certificates, sign in order, verify."""
    out, pki = tmp_path / "out", tmp_path / "pki"
    registry = str(tmp_path / "caqes.db")
    source = str(EXAMPLES / "clinique-fictive-bayonne.yaml")
    code, stdout, _ = run("generate", source, "--out", str(out), "--registry", registry)
    assert code == 0, stdout
    pdf = out / "CAQES-NA-2022-640990016.pdf"
    assert pdf.exists() and (out / "CAQES-NA-2022-640990016.emission.json").exists()
    assert f"CAQES-NA-2022-640990016 : PDF à signer : {pdf}" in stdout
    assert "fiche d'émission : CAQES-NA-2022-640990016.emission.json" in stdout

    code, stdout, _ = run("demo-pki", str(pki), "--etablissement", "640990016:Clinique")
    assert code == 0, stdout
    password = str(pki / "mot-de-passe.txt")

    def sign(role: str, p12: str, source: Path = pdf) -> tuple[int, str, str]:
        return run("sign", str(source), "--role", role, "--p12", str(pki / p12),
                   "--password-file", password, "--trust", str(pki / "root-ca.pem"))  # fmt: skip

    # Each signature goes to a new file beside its input (X.signe-<partie>.pdf): the issued
    # PDF is never overwritten. The clinic's CPAM is the Bayonne one.
    issued_bytes = pdf.read_bytes()
    code, _, err = sign("CPAM", "cpam-64-bayonne.p12")
    assert code == 1 and "hors ordre" in err and "Établissement" in err
    assert sign("ETAB", "etab-640990016.p12")[0] == 0
    assert pdf.read_bytes() == issued_bytes
    pdf = out / "CAQES-NA-2022-640990016.signe-etab.pdf"
    code, _, err = sign("ETAB", "etab-640990016.p12", pdf)
    assert code == 1 and "déjà" in err
    code, _, err = sign("CPAM", "cpam.p12", pdf)
    assert code == 1 and "CPAM de Bayonne" in err  # the Gironde CPAM is not this contract's

    code, stdout, _ = run("verify", str(pdf), "--trust", str(pki / "root-ca.pem"))
    assert code == 0, stdout
    assert "valide — 1/3 signatures" in stdout and "CPAM en attente" in stdout

    # Without --trust, intact signatures are not « valide »: status 1, unless --no-trust-check.
    code, stdout, err = run("verify", str(pdf))
    assert code == 1 and "valide" not in stdout.replace("NON VALIDE", "")
    assert "confiance NON VÉRIFIÉE" in stdout and "--trust" in err
    code, stdout, _ = run("verify", str(pdf), "--no-trust-check")
    assert code == 0 and "confiance NON VÉRIFIÉE" in stdout

    # A copy downloaded from the portal comes without its .emission.json: the party gives the
    # issued document's digest the link's page shows.
    downloaded = tmp_path / "telechargement" / "a-signer.pdf"
    downloaded.parent.mkdir()
    downloaded.write_bytes(pdf.read_bytes())
    issued = json.loads((out / "CAQES-NA-2022-640990016.emission.json").read_text())["sha256"]
    code, _, err = sign("CPAM", "cpam-64-bayonne.p12", downloaded)
    assert code == 1 and "aucune trace de l'émission" in err
    code, _, err = run("sign", str(downloaded), "--role", "CPAM", "--p12",
                       str(pki / "cpam-64-bayonne.p12"), "--password-file", password, "--trust",
                       str(pki / "root-ca.pem"), "--issued", "0" * 64)  # fmt: skip
    assert code == 1 and "émis" in err
    code, stdout, err = run("sign", str(downloaded), "--role", "CPAM", "--p12",
                            str(pki / "cpam-64-bayonne.p12"), "--password-file", password,
                            "--trust", str(pki / "root-ca.pem"), "--issued", issued)  # fmt: skip
    assert code == 0, err
    assert "a-signer.pdf : signé (CPAM" in stdout

    assert sign("CPAM", "cpam-64-bayonne.p12", pdf)[0] == 0
    assert sign("ARS", "ars.p12", out / "CAQES-NA-2022-640990016.signe-cpam.pdf")[0] == 0
    pdf = out / "CAQES-NA-2022-640990016.signe-ars.pdf"
    code, stdout, _ = run("verify", str(pdf), "--trust", str(pki / "root-ca.pem"), "--json")
    assert code == 0
    [report] = json.loads(stdout)
    assert report["complet"] and [s["statut"] for s in report["signatures"]] == ["signé"] * 3
    assert report["confiance_verifiee"] and report["signatures"][0]["confiance"] == "oui"

    # A file whose issued revision was altered is reported, with exit status 1.
    tampered = tmp_path / "altere.pdf"
    data = bytearray(pdf.read_bytes())
    data[2000] ^= 0x01
    tampered.write_bytes(bytes(data))
    issued = json.loads((out / "CAQES-NA-2022-640990016.emission.json").read_text())
    code, stdout, _ = run(
        "verify", str(tampered), "--trust", str(pki / "root-ca.pem"), "--issued", issued["sha256"]
    )
    assert code == 1 and "NON VALIDE" in stdout


def test_demo_runs_the_whole_chain(tmp_path: Path) -> None:
    code, stdout, err = run("demo", "--out", str(tmp_path / "demo"))
    assert code == 0, err
    assert "11 contrat(s) émis, 4 refusé(s)" in stdout
    assert "11/11 contrat(s) vérifiés avec trois signatures valides" in stdout
    assert "11/11 document(s) complet(s)" in stdout
    rejects = (tmp_path / "demo" / "contrats" / "rejets.csv").read_text(encoding="utf-8-sig")
    header = "ligne;finess_ej;raison_sociale;finess_et;colonne;valeur;erreur"
    assert rejects.splitlines()[0] == header


def test_verify_json_keys_are_french() -> None:
    """Every field of the verification report has its French key in ``verify --json``."""
    import dataclasses

    from caqes_docs.cli.signing import REPORT_KEYS, SIGNATURE_KEYS
    from caqes_docs.signatures.verify import SignatureReport, TimestampReport, VerificationReport

    for kind, keys in (
        (VerificationReport, REPORT_KEYS),
        (SignatureReport, SIGNATURE_KEYS),
        (TimestampReport, SIGNATURE_KEYS),
    ):
        missing = {field.name for field in dataclasses.fields(kind)} - set(keys)
        assert not missing, f"{kind.__name__} : clé française à ajouter pour {sorted(missing)}"


def test_every_help_is_french() -> None:
    """No English metavar or click message in any command's help (subcommands included)."""
    import re

    from caqes_docs.cli import COMMANDS

    english = re.compile(r"\b(TEXT|INTEGER|FLOAT|PATH|FILE|DIRECTORY|COMMAND|ARGS|Usage|Show)\b")
    paths = [[name] for name in COMMANDS] + [["web", "createuser"], ["web", "manage"]]
    for path in paths:
        code, out, _ = run(*path, "--help")
        assert code == 0, path
        assert not english.search(out), (path, english.search(out))
