"""Real LibreOffice conversions through the soffice pool.

Also home of the DOCX builders used by tests/test_signable.py and bench/bench_signable.py
until the real templates are rendered: a multi-page contract whose last page has the
three-column signature table with the six anchors in white 8 pt text, and small annexes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from docx import Document
from docx.enum.table import WD_ROW_HEIGHT_RULE
from docx.shared import Cm, Pt, RGBColor
from pypdf import PdfReader

from caqes_docs.errors import ConversionError
from caqes_docs.pdf import convert
from caqes_docs.pdf.convert import (
    ConversionResult,
    ConversionTask,
    CoreRotation,
    SofficePool,
    tasks_into,
)

PARTIES = (
    ("Pour l'établissement", "/s1_ETAB/", "/d1_ETAB/"),
    ("Pour la CPAM de la Gironde", "/s2_CPAM/", "/d2_CPAM/"),
    ("Pour l'ARS Nouvelle-Aquitaine", "/s3_ARS/", "/d3_ARS/"),
)
ANCHORS = tuple(anchor for _, sign, date in PARTIES for anchor in (sign, date))
BODY = (
    "Le présent contrat est conclu entre l'Agence régionale de santé, la caisse primaire "
    "d'assurance maladie et l'établissement de santé, pour l'amélioration de la qualité et "
    "de l'efficience des soins. "
)


def _a4(document: Document) -> None:
    section = document.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(2))


def _white_anchor(cell, text: str) -> None:
    run = cell.paragraphs[0].add_run(text)
    run.font.size = Pt(8)
    run.font.color.rgb = RGBColor(0xFF, 0xFF, 0xFF)


def write_contract_docx(
    path: Path,
    *,
    reference: str = "CAQES-NA-2022-330781196",
    pages: int = 8,
    omit: str | None = None,
    duplicate: str | None = None,
) -> Path:
    """A contract of ``pages`` article pages, then the signature page.

    ``omit`` leaves one anchor out; ``duplicate`` writes one anchor a second time, in white,
    under the signature table.
    """
    document = Document()
    _a4(document)
    document.add_heading(f"Contrat CAQES {reference}", 0)
    for number in range(1, pages + 1):
        document.add_heading(f"Article {number}", 1)
        for _ in range(5):
            document.add_paragraph(BODY * 3)
        document.add_page_break()
    document.add_paragraph("Fait à Bordeaux, en trois exemplaires originaux.")
    table = document.add_table(rows=3, cols=3)
    for column, (party, sign, date) in enumerate(PARTIES):
        table.cell(0, column).text = party
        for row, anchor in ((1, sign), (2, date)):
            if anchor != omit:
                _white_anchor(table.cell(row, column), anchor)
    # the signature anchor's row is 3.5 cm high: the date anchor lies 3.5 cm below it
    table.rows[1].height = Cm(3.5)
    table.rows[1].height_rule = WD_ROW_HEIGHT_RULE.EXACTLY
    if duplicate:
        run = document.add_paragraph().add_run(duplicate)
        run.font.size = Pt(8)
        run.font.color.rgb = RGBColor(0xFF, 0xFF, 0xFF)
    document.save(path)
    return path


def write_annex_docx(path: Path, number: int, title: str) -> Path:
    """A one-page annex: a title and a small action-plan table."""
    document = Document()
    _a4(document)
    document.add_heading(f"Annexe {number} — {title}", 1)
    table = document.add_table(rows=5, cols=3)
    table.style = "Table Grid"
    for row, label in enumerate(("Action", "Indicateur", "Échéance")):
        table.cell(0, row).text = label
    for row in range(1, 5):
        for column in range(3):
            table.cell(row, column).text = f"Action {number}.{row} — élément {column + 1}"
    document.save(path)
    return path


def pdfa_identification(pdf: Path) -> tuple[str | None, str | None]:
    """``(pdfaid:part, pdfaid:conformance)`` from the XMP packet, element or attribute form."""
    packet = PdfReader(pdf).trailer["/Root"]["/Metadata"].get_object().get_data()
    ns = "{http://www.aiim.org/pdfa/ns/id/}"
    values: dict[str, str] = {}
    for element in ET.fromstring(packet).iter():
        for name in ("part", "conformance"):
            if element.tag == ns + name and element.text:
                values[name] = element.text.strip()
            if ns + name in element.attrib:
                values[name] = element.attrib[ns + name]
    return values.get("part"), values.get("conformance")


def pdffonts(pdf: Path) -> list[tuple[str, bool]]:
    """``(font name, embedded)`` for each font poppler's pdffonts lists."""
    lines = subprocess.run(
        ["pdffonts", str(pdf)], check=True, capture_output=True, text=True
    ).stdout.splitlines()[2:]
    fonts = []
    for line in lines:
        # the columns after the name: type [subtype words] encoding emb sub uni id gen
        fields = line.split()
        fonts.append((fields[0], fields[-5] == "yes"))
    return fonts


# --------------------------------------------------------------------------------------
# A stand-in for soffice that really hangs: it converts with the real soffice up to the
# first document whose real name contains "hang", logs its own process id, then sleeps.

HANGING_SOFFICE = """#!/bin/bash
options=(); documents=()
for arg in "$@"; do
  if [[ $arg == *.docx ]]; then documents+=("$arg"); else options+=("$arg"); fi
done
before=()
for doc in "${documents[@]}"; do
  real=$(readlink -f "$doc")
  if [[ $real == *hang* ]]; then
    if [ ${#before[@]} -gt 0 ]; then soffice "${options[@]}" "${before[@]}"; fi
    echo $$ >> "$(dirname "$real")/hang.log"
    exec sleep 600
  fi
  before+=("$doc")
done
exec soffice "${options[@]}" "${documents[@]}"
"""
HANG_TIMEOUT_S = 5.0


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("docx")
    write_contract_docx(folder / "contrat-a.docx")
    write_contract_docx(folder / "contrat-b.docx", reference="CAQES-NA-2022-240000059")
    write_annex_docx(folder / "annexe1.docx", 1, "Volet pertinence des prescriptions")
    (folder / "corrompu.docx").write_bytes(os.urandom(4000))
    # a real ZIP with a broken document.xml: passes the pre-check, fails in LibreOffice
    with zipfile.ZipFile(folder / "xml-casse.docx", "w") as archive:
        archive.writestr("word/document.xml", "<w:document><not-closed>")
    write_contract_docx(folder / "hang-contrat.docx", pages=1)
    script = folder / "soffice-qui-bloque"
    script.write_text(HANGING_SOFFICE)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


@pytest.fixture(scope="module")
def conversion(docs: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("pdf")
    names = ["contrat-a", "corrompu", "annexe1", "xml-casse", "contrat-b"]
    tasks = tasks_into([docs / f"{name}.docx" for name in names], out)
    with SofficePool(2) as pool:
        results = {result.source.stem: result for result in pool.convert(tasks)}
        leftovers = sorted(
            str(path.relative_to(pool.work_dir)) for path in pool.work_dir.glob("*/*")
        )
        work_dir = pool.work_dir
    return out, results, leftovers, work_dir


@pytest.fixture(scope="module")
def hung(docs: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("pdf-hang")
    tasks = tasks_into(
        [docs / "contrat-a.docx", docs / "hang-contrat.docx", docs / "annexe1.docx"], out
    )
    start = time.monotonic()
    arrivals: list[tuple[float, ConversionResult]] = []
    with SofficePool(1, timeout=HANG_TIMEOUT_S, soffice=docs / "soffice-qui-bloque") as pool:
        for result in pool.convert(tasks):
            arrivals.append((time.monotonic() - start, result))
        work_dir = pool.work_dir
    return out, arrivals, work_dir


def test_valid_documents_become_pdfa_2b(conversion) -> None:
    out, results, _, _ = conversion
    for name in ("contrat-a", "annexe1", "contrat-b"):
        assert results[name].ok, results[name].message()
        assert results[name].pdf == out / f"{name}.pdf"
        assert pdfa_identification(out / f"{name}.pdf") == ("2", "B")


def test_every_font_is_embedded(conversion) -> None:
    out, _, _, _ = conversion
    fonts = pdffonts(out / "contrat-a.pdf")
    assert fonts
    assert [name for name, embedded in fonts if not embedded] == []


def test_contract_keeps_its_pages(conversion) -> None:
    out, _, _, _ = conversion
    assert len(PdfReader(out / "contrat-a.pdf").pages) == 9


def test_random_bytes_docx_is_reported_by_name(conversion) -> None:
    _, results, _, _ = conversion
    result = results["corrompu"]
    assert not result.ok
    assert result.message().startswith("corrompu.docx : document Word (.docx) illisible")


def test_document_libreoffice_cannot_open_is_reported(conversion) -> None:
    _, results, _, _ = conversion
    assert results["xml-casse"].error == "LibreOffice n'a pas pu ouvrir le document"


def test_no_partial_or_temporary_file_is_left(conversion) -> None:
    out, _, leftovers, work_dir = conversion
    assert sorted(path.name for path in out.iterdir()) == [
        "annexe1.pdf",
        "contrat-a.pdf",
        "contrat-b.pdf",
    ]
    # each worker kept its profile and nothing else; closing the pool removed everything
    assert leftovers == ["worker-0/profile", "worker-1/profile"]
    assert not work_dir.exists()


def test_hung_conversion_is_killed_retried_once_and_the_rest_continues(hung, docs) -> None:
    out, arrivals, _ = hung
    results = {result.source.stem: result for _, result in arrivals}
    assert results["contrat-a"].ok
    assert results["annexe1"].ok
    assert results["hang-contrat"].error == (
        f"délai de conversion dépassé ({HANG_TIMEOUT_S:g} s), deux essais"
    )
    assert sorted(path.name for path in out.iterdir()) == ["annexe1.pdf", "contrat-a.pdf"]
    pids = [int(pid) for pid in (docs / "hang.log").read_text().split()]
    assert len(pids) == 2  # tried twice
    for pid in pids:  # each hung process group was killed
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_results_stream_as_documents_finish(hung) -> None:
    _, arrivals, _ = hung
    first_at, first = arrivals[0]
    last_at, _ = arrivals[-1]
    assert first.source.name == "contrat-a.docx"
    # the first document was delivered while the hung one was still being waited for
    assert last_at - first_at > 2 * HANG_TIMEOUT_S


def soffice_processes(work_dir: Path) -> list[int]:
    """The processes whose command line names a pool's folder: its soffice processes."""
    marker = str(work_dir).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def started_processes(work_dir: Path) -> list[int]:
    """The pool's soffice processes, waited for a little: ``/proc`` may miss a process while
    it replaces its program (the ``soffice`` script starts ``oosplash``, which starts
    ``soffice.bin``)."""
    deadline = time.monotonic() + 10
    while not (found := soffice_processes(work_dir)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def test_no_libreoffice_process_outlives_the_pool(hung) -> None:
    _, _, work_dir = hung
    assert soffice_processes(work_dir) == []


def test_started_pool_gives_its_first_documents_to_the_soffice_already_running(
    docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two documents per invocation: the started soffice takes the first two, a new one the last
    monkeypatch.setattr(convert, "DOCUMENTS_PER_INVOCATION", 2)
    names = ["contrat-a", "xml-casse", "annexe1"]
    with SofficePool(1).start() as pool:
        work_dir = pool.work_dir
        assert started_processes(work_dir), "soffice is running before any document is given"
        results = {
            result.source.stem: result
            for result in pool.convert(tasks_into([docs / f"{n}.docx" for n in names], tmp_path))
        }
    # the running soffice prints the events of the documents it was handed: they were read
    assert results["contrat-a"].ok, results["contrat-a"].message()
    assert results["xml-casse"].error == "LibreOffice n'a pas pu ouvrir le document"
    assert results["annexe1"].ok, results["annexe1"].message()
    assert pdfa_identification(tmp_path / "contrat-a.pdf") == ("2", "B")
    assert soffice_processes(work_dir) == []


def test_started_soffice_that_died_is_replaced(docs: Path, tmp_path: Path) -> None:
    with SofficePool(1).start() as pool:
        for pid in started_processes(pool.work_dir):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)
        (result,) = pool.convert(tasks_into([docs / "annexe1.docx"], tmp_path))
        assert result.ok, result.message()


def test_closing_a_started_pool_stops_its_soffice_processes() -> None:
    with SofficePool(2).start() as pool:
        work_dir = pool.work_dir
        assert started_processes(work_dir)
    assert soffice_processes(work_dir) == []


def test_missing_soffice_gives_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(ConversionError) as caught:
        SofficePool(soffice=tmp_path / "absent" / "soffice")
    assert (
        "apt-get install -y --no-install-recommends libreoffice-writer-nogui "
        "fonts-liberation fonts-crosextra-carlito fonts-crosextra-caladea"
    ) in str(caught.value)


def test_two_sources_with_the_same_output_name_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match=r"« contrat\.pdf »"):
        tasks_into([tmp_path / "a" / "contrat.docx", tmp_path / "b" / "contrat.docx"], tmp_path)


def test_explicit_targets_may_live_anywhere(docs: Path, tmp_path: Path) -> None:
    target = tmp_path / "sous" / "dossier" / "annexe.pdf"
    with SofficePool(1) as pool:
        (result,) = pool.convert([ConversionTask(docs / "annexe1.docx", target)])
    assert result.ok, result.message()
    assert target.read_bytes().startswith(b"%PDF-")


@pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs a system where a thread chooses among several cores",
)
def test_core_rotation_takes_each_core_in_turn_and_gives_them_back() -> None:
    cores = sorted(os.sched_getaffinity(0))
    rotation = CoreRotation(workers=len(cores))
    seen = []
    for _ in range(2 * len(cores)):
        with rotation.next_core():
            seen.append(os.sched_getaffinity(0))
    assert seen == [{core} for core in cores] * 2
    with pytest.raises(RuntimeError), rotation.next_core():
        raise RuntimeError("post-processing failed")
    assert sorted(os.sched_getaffinity(0)) == cores
    # fewer soffice processes than cores: a free core exists, the system finds it
    with CoreRotation(workers=len(cores) - 1).next_core():
        assert sorted(os.sched_getaffinity(0)) == cores
