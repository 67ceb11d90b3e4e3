"""What officers read: every CSV the toolkit writes, and ``caqes status`` in 100 columns.

Every CSV goes through ``caqes_docs.files.csv_text``: UTF-8 with BOM, ``;``, French local
dates, formulas neutralised. The files are read back as a spreadsheet would read them.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from caqes_docs.cli import main
from caqes_docs.files import csv_cell, csv_text, write_csv

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FORMULAS = ["=1+1", "+33 5 56", "-2", "@SUM(A1)", "\tx", "\rx"]
SIGNED_AT = "2023-07-01T09:30:00+00:00"  # 11:30 in Paris (summer time)


def read_back(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))


def test_cells_as_a_french_spreadsheet_reads_them() -> None:
    assert [csv_cell(value) for value in FORMULAS] == ["'" + value for value in FORMULAS]
    assert csv_cell(dt.datetime(2024, 1, 15, 23, 30, tzinfo=dt.UTC)) == "16/01/2024 00:30"
    assert csv_cell(dt.datetime(2024, 7, 1, 8, 0)) == "01/07/2024 08:00"  # naive: local
    assert csv_cell(dt.date(2024, 12, 31)) == "31/12/2024"
    assert [csv_cell(v) for v in (None, True, False, -3, 1.5)] == ["", "oui", "non", "-3", "1,5"]
    assert csv_cell("CH d'Arès ; site 2") == "CH d'Arès ; site 2"


def test_csv_text_and_write_csv(tmp_path: Path) -> None:
    text = csv_text(["a", "b"], [["=cmd|' /C calc'!A0", "x;y"], [None, "ligne\nsuivante"]])
    assert "\r\n" in text and read_back(text) == [
        ["a", "b"], ["'=cmd|' /C calc'!A0", "x;y"], ["", "ligne\nsuivante"],
    ]  # fmt: skip
    target = tmp_path / "sortie" / "t.csv"
    assert write_csv(target, ["a"], iter([["1"], ["2"]])) == 2
    assert target.read_bytes().startswith(b"\xef\xbb\xbfa\r\n1\r\n")


def make_registry(folder: Path, names: list[str]) -> Path:
    """Contracts registered through the registry's API, stand-in PDFs; the first one signed
    by the establishment at SIGNED_AT."""
    from caqes_docs.inputs.campaign import load_campaign
    from caqes_docs.inputs.contract_file import load_contract
    from caqes_docs.issued import IssuedRecord
    from caqes_docs.registry.store import CONTRACT, Registry, Signature

    campaign = load_campaign()
    base = load_contract(EXAMPLES / "chu-fictif-bordeaux.yaml", campaign)
    path = folder / "caqes.db"
    with Registry.open(path) as registry:
        for index, name in enumerate(names):
            reference = f"CAQES-NA-2022-TEST{index:05d}"
            establishment = base.establishment.model_copy(update={"legal_name": name})
            contract = base.model_copy(
                update={"reference": reference, "establishment": establishment}
            )
            pdf = folder / f"{reference}.pdf"
            pdf.write_bytes(f"%PDF-1.7 {index}".encode())
            record = IssuedRecord(
                sha256=hashlib.sha256(pdf.read_bytes()).hexdigest(), size=pdf.stat().st_size,
                reference=reference, finess_ej="330990011", file_name=pdf.name,
                issued_at="2023-01-02T10:00:00+01:00",
            )  # fmt: skip
            document = registry.register_issued(contract, CONTRACT, pdf, record, campaign)
            if index == 0:
                with registry.transaction():
                    signature = Signature("ETAB", "Directeur", signing_time=SIGNED_AT)
                    registry.add_signatures(document, [signature], pdf, pdf.name)
    return path


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    names = [
        '=HYPERLINK("http://exemple.invalid";"Cliquer")',
        "Centre hospitalier intercommunal fictif de la Haute-Lande et du Pays de Born réunis",
        "Clinique fictive",
    ]
    return make_registry(tmp_path_factory.mktemp("registre"), names)


def test_status_csv(registry: Path) -> None:
    result = CliRunner().invoke(main, ["status", "--csv", "--registry", str(registry)])
    assert result.exit_code == 0
    header, first, *others = read_back(result.stdout)
    row = dict(zip(header, first, strict=True))
    assert row["etablissement"].startswith("'=HYPERLINK(")
    assert row["signature_ETAB"] == "01/07/2023 11:30" and row["signature_CPAM"] == ""
    assert row["date_effet"] == "01/07/2022" and len(others) == 2
    assert not any(cell.startswith(tuple("=+-@")) for line in (first, *others) for cell in line)


def test_status_table_in_100_columns(registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    result = CliRunner().invoke(main, ["status", "--registry", str(registry)])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    header = next(line for line in lines if line.startswith("Contrat"))
    assert header.split() == ["Contrat", "Document", "ETAB", "CPAM", "ARS", "Attendu"]
    # Each reference whole on its row, each name whole, wrapped between words only.
    for index in range(3):
        assert any(line.startswith(f"CAQES-NA-2022-TEST{index:05d}  ") for line in lines)
    text = " ".join(line.strip() for line in lines)
    assert "Haute-Lande et du Pays de Born réunis" in text
    assert "01/07/2023" in result.stdout and "3 document(s) : 0 complet(s)" in result.stdout


def test_rejects_csv_neutralises_formulas(tmp_path: Path) -> None:
    """rejets.csv: the establishment's name, and a refused value that looks like a formula."""
    from caqes_docs.inputs.campaign import load_campaign
    from caqes_docs.inputs.targeting import read_targeting, write_rejects

    lines = (EXAMPLES / "ciblage-nouvelle-aquitaine-2022.csv").read_text("utf-8-sig").splitlines()
    header = lines[0].split(";")
    cells = lines[1].split(";")
    cells[header.index("NAT_2")] = "=1+1"
    source = tmp_path / "ciblage.csv"
    source.write_text("\n".join([lines[0], ";".join(cells)]) + "\n", encoding="utf-8")
    result = read_targeting(source, load_campaign())
    out = tmp_path / "rejets.csv"
    write_rejects(out, result.refused)
    rows = read_back(out.read_text("utf-8"))
    assert rows[0][:3] == ["ligne", "finess_ej", "raison_sociale"]
    refused = next(row for row in rows[1:] if row[4] == "NAT_2")
    assert refused[2] == cells[header.index("raison_sociale")] and refused[5] == "'=1+1"
