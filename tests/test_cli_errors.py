"""Every failure is one French line: the root group reports whatever a command raises.

Each case is one an officer met: an unreadable password file, an output where nothing can be
written, a spreadsheet that is not one, an unexpected error in a library. The traceback is
shown only with --verbose.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from caqes_docs.cli import main
from caqes_docs.cli.runtime import describe
from caqes_docs.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ENGLISH = ("Traceback", "Error:", "Errno", "No such file", "Permission denied", "Input should")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), prog_name="caqes")
    return result.exit_code, result.stdout, result.stderr


def one_french_line(err: str) -> str:
    [line] = [line for line in err.splitlines() if line]
    assert line.startswith("Erreur : "), line
    assert not any(word in line for word in ENGLISH), line
    return line


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from caqes_docs.registry.store import Registry

    path = tmp_path_factory.mktemp("registre") / "caqes.db"
    with Registry.open(path):
        pass
    return path


def test_password_file_not_in_utf8(tmp_path: Path) -> None:
    password = tmp_path / "mdp.txt"
    password.write_bytes("mot de passe\n".encode("utf-16"))
    pdf = tmp_path / "contrat.pdf"
    pdf.write_bytes(b"%PDF-1.7\n")
    code, _, err = run("sign", str(pdf), "--role", "ETAB", "--p12", str(password),
                       "--password-file", str(password))  # fmt: skip
    assert code == 2
    line = one_french_line(err)
    assert str(password) in line and "UTF-8" in line


def test_export_where_nothing_can_be_written(registry: Path) -> None:
    code, _, err = run("export", "--out", "/proc/x.json", "--registry", str(registry))
    assert code == 2
    line = one_french_line(err)
    assert line.startswith("Erreur : /proc/x.json : ") and "vérifier le chemin" in line


@pytest.mark.parametrize("suffix", [".ods", ".xls", ".xlsx"])
def test_batch_on_a_broken_spreadsheet(tmp_path: Path, suffix: str) -> None:
    """A file named like a workbook but not one: unreadable, status 2, nothing written."""
    broken = tmp_path / f"ciblage{suffix}"
    broken.write_bytes(b"PK\x03\x04 pas vraiment un classeur" + bytes(200))
    out = tmp_path / "sortie"
    code, _, err = run("batch", str(broken), "--out", str(out),
                       "--registry", str(tmp_path / "caqes.db"))  # fmt: skip
    assert code == 2
    assert broken.name in one_french_line(err)
    assert not out.exists()


@pytest.mark.parametrize("suffix", [".ods", ".xls"])
def test_batch_reads_the_formats_officers_save(tmp_path: Path, suffix: str) -> None:
    """The bundled targeting file, saved by LibreOffice as .ods or .xls: refusals, no error."""
    source = EXAMPLES / f"ciblage-nouvelle-aquitaine-2022{suffix}"
    code, _, err = run("batch", str(source), "--out", str(tmp_path / "sortie"), "--jobs", "1",
                       "--registry", str(tmp_path / "caqes.db"),
                       "--finess", str(EXAMPLES / "finess-extrait.csv"))  # fmt: skip
    assert code == 1, err  # the example's deliberate mistakes
    assert "Traceback" not in err and "Erreur : " not in err
    assert err.count("Refusé : ") >= 4


def test_verbose_adds_the_traceback(tmp_path: Path) -> None:
    password = tmp_path / "mdp.txt"
    password.write_bytes(b"\xff\xfe\xfd")
    args = ["sign", str(password), "--role", "ETAB", "--p12", str(password),
            "--password-file", str(password)]  # fmt: skip
    assert "Traceback" not in run(*args)[2]
    code, _, err = run("--verbose", *args)
    assert code == 2 and "Traceback" in err and err.rstrip().splitlines()[-1].startswith("Erreur")


def test_an_unexpected_error_is_one_french_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import caqes_docs.documents.lint as lint

    def broken(path: Path) -> list[str]:
        raise KeyError("something internal")

    monkeypatch.setattr(lint, "check_template", broken)
    model = str(ROOT / "templates" / "contrat.docx")
    code, _, err = run("check-template", model)
    assert code == 1
    line = one_french_line(err)
    assert "erreur inattendue" in line and "--verbose" in line and "contrat.docx" in line
    assert "something internal" not in line


def test_library_errors_are_described_without_their_english() -> None:
    """Exceptions of pyHanko, pydantic, zipfile…: French, naming the files, status 2."""
    import zipfile

    from pydantic import BaseModel, ValidationError
    from pyhanko.pdf_utils.misc import PdfReadError
    from pyhanko.sign.general import SigningError

    class Model(BaseModel):
        n: int

    with pytest.raises(ValidationError) as invalid:
        Model.model_validate({"n": "x"})
    for exc in (
        PdfReadError("Illegal PDF header"),
        SigningError("Author signature forbids all changes"),
        zipfile.BadZipFile("File is not a zip file"),
        invalid.value,
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    ):
        [line], status = describe(exc, ["contrat.pdf"])
        assert status == 2 and "« contrat.pdf »" in line, line
        assert str(exc) not in line and "invalid" not in line and "forbids" not in line
    [line], status = describe(InputError("règle", file="a.yaml", value="v"), [])
    assert (line, status) == ("Erreur : a.yaml : règle (valeur « v »)", 1)


def test_pydantic_rules_without_a_translation_are_not_english() -> None:
    from pydantic import BaseModel, Field

    from caqes_docs.errors import InvalidData
    from caqes_docs.inputs.validation import validate

    class Model(BaseModel):
        taux: int = Field(gt=0)
        code: str = Field(pattern=r"^\d+$")
        quand: str = Field(max_length=2)

    with pytest.raises(InvalidData) as refused:
        validate(Model, {"taux": 0, "code": "x", "quand": "long"}, "f.yaml")
    lines = str(refused.value).splitlines()
    assert lines[0] == "f.yaml : taux : nombre supérieur à 0 attendu (valeur « 0 »)"
    assert "format attendu" in lines[1] and "2 caractères au plus" in lines[2]
    assert not any(word in str(refused.value) for word in ("should", "Input", "String"))


def test_click_messages_are_french_with_any_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    code, _, err = run("verify", "--trust")
    assert code == 2 and "Erreur : L'option '--trust' attend une valeur." in err
    code, _, err = run("verify")
    assert code == 2 and "Utilisation : caqes verify" in err and "Argument manquant" in err
    assert "Usage" not in err and "Missing" not in err
    code, _, err = run("status", "--nope")
    assert "Option inconnue" in err and "No such option" not in err
    code, _, err = run("batch", str(ROOT / "absent.xlsx"))
    assert code == 2 and "introuvable" in err and "does not exist" not in err


def test_no_trace_of_a_half_written_file(registry: Path, tmp_path: Path) -> None:
    """An export that cannot be written names the file asked for and leaves nothing behind."""
    folder = tmp_path / "sauvegardes"
    folder.mkdir()
    (folder / "2024").write_text("un fichier, pas un dossier", encoding="utf-8")
    target = folder / "2024" / "registre.json"
    code, _, err = run("export", "--out", str(target), "--registry", str(registry))
    assert code == 2 and one_french_line(err).startswith(f"Erreur : {target} : ")
    assert [p.name for p in folder.iterdir()] == ["2024"]
