"""The command line, through click's test runner: French output, one line per error."""

from __future__ import annotations

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
    from caqes_docs.render import TemplateSet

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
