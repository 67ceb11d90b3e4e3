"""DOCX → one signable PDF/A-2b per contract, with real LibreOffice conversions.

One batch of jobs is issued once for the module; the tests read its outputs.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import pdfplumber
import pytest
from PIL import Image
from pyhanko.pdf_utils.generic import parse_pdf_date
from pyhanko.pdf_utils.reader import PdfFileReader
from pypdf import PdfReader, PdfWriter
from test_convert import (
    ANCHORS,
    pdfa_identification,
    pdffonts,
    write_annex_docx,
    write_contract_docx,
)

from caqes_docs.errors import ConversionError, SignatureFieldError, VerificationError
from caqes_docs.issued import load_issued_record, sidecar_path
from caqes_docs.pdf.assemble import Part, assemble, contract_metadata, parse_keywords
from caqes_docs.pdf.fields import FieldGeometry, find_anchors, plan_fields
from caqes_docs.pdf.signable import SignableJob, make_signable

REFERENCE = "CAQES-NA-2022-330781196"
FINESS = "330781196"
TITLE = "Contrat CAQES — Centre hospitalier « Les Pins » & associés"
ANNEX_1 = "Annexe 1 — Volet pertinence des prescriptions"
ANNEX_2 = "Annexe 2 — Volet pertinence des parcours et des séjours"
CONTRACT_PAGES = 9  # write_contract_docx: 8 article pages + the signature page


def _job(out: Path, name: str, contract: Path, annexes=()) -> SignableJob:
    return SignableJob(
        contract=contract,
        output=out / f"{name}.pdf",
        metadata=contract_metadata(REFERENCE, FINESS, TITLE),
        reference=REFERENCE,
        finess_ej=FINESS,
        annexes=list(annexes),
    )


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory):
    docs = tmp_path_factory.mktemp("docx")
    out = tmp_path_factory.mktemp("emis")
    contract = write_contract_docx(docs / "contrat.docx", reference=REFERENCE)
    annex1 = write_annex_docx(docs / "annexe1.docx", 1, "Volet pertinence des prescriptions")
    annex2 = write_annex_docx(docs / "annexe2.docx", 2, "Volet pertinence des parcours")
    missing = write_contract_docx(docs / "sans-ancre.docx", omit="/s2_CPAM/")
    doubled = write_contract_docx(docs / "ancre-double.docx", duplicate="/d3_ARS/")
    corrupt = docs / "contrat-corrompu.docx"
    corrupt.write_bytes(os.urandom(3000))
    jobs = {
        "complet": _job(out, "complet", contract, [(annex1, ANNEX_1), (annex2, ANNEX_2)]),
        "volet1": _job(out, "volet1", contract, [(annex1, ANNEX_1)]),
        "sans-ancre": _job(out, "sans-ancre", missing, [(annex1, ANNEX_1)]),
        "ancre-double": _job(out, "ancre-double", doubled),
        "corrompu": _job(out, "corrompu", corrupt, [(annex1, ANNEX_1)]),
    }
    results = make_signable(list(jobs.values()), workers=2)
    return out, jobs, dict(zip(jobs, results, strict=True))


@pytest.fixture(scope="module")
def complete(issued) -> Path:
    out, _, results = issued
    assert results["complet"].ok, results["complet"].error
    return out / "complet.pdf"


RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
DC = "{http://purl.org/dc/elements/1.1/}"
PDF = "{http://ns.adobe.com/pdf/1.3/}"
XMP = "{http://ns.adobe.com/xap/1.0/}"


def _info_and_xmp(pdf: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The Info dictionary, and the XMP properties (first item of an array) by expanded name."""
    reader = PdfReader(pdf)
    info = {key: str(value) for key, value in reader.trailer["/Info"].items()}
    packet = reader.trailer["/Root"]["/Metadata"].get_object().get_data()
    xmp: dict[str, str] = {}
    for description in ET.fromstring(packet).iter(RDF + "Description"):
        xmp.update({k: v for k, v in description.attrib.items() if not k.startswith(RDF)})
        for prop in description:
            item = next(prop.iter(RDF + "li"), prop)
            xmp[prop.tag] = (item.text or "").strip()
    return info, xmp


def plumber_boxes(pdf: Path, page: int) -> dict[str, tuple[float, float, float, float]]:
    """Each anchor's box ``(x0, y0, x1, y1)`` by pdfplumber, independently of caqes_docs."""
    with pdfplumber.open(pdf) as document:
        chars = document.pages[page].chars
    text = "".join(char["text"] for char in chars)
    boxes = {}
    for anchor in ANCHORS:
        start = text.index(anchor)
        run = chars[start : start + len(anchor)]
        boxes[anchor] = (
            min(char["x0"] for char in run),
            min(char["y0"] for char in run),
            max(char["x1"] for char in run),
            max(char["y1"] for char in run),
        )
    return boxes


def test_failed_jobs_name_their_document_and_the_others_succeed(issued) -> None:
    _, _, results = issued
    assert results["complet"].ok and results["volet1"].ok
    assert results["sans-ancre"].error == (
        "sans-ancre.docx : ancre « /s2_CPAM/ » introuvable dans le document"
    )
    assert results["ancre-double"].error == (
        "ancre-double.docx : ancre « /d3_ARS/ » présente 2 fois (pages 9, 9)"
    )
    assert results["corrompu"].error.startswith(
        "contrat-corrompu.docx : document Word (.docx) illisible"
    )


def test_only_complete_documents_and_their_records_are_written(issued) -> None:
    out, _, _ = issued
    assert sorted(path.name for path in out.iterdir()) == [
        "complet.emission.json",
        "complet.pdf",
        "volet1.emission.json",
        "volet1.pdf",
    ]


def test_issued_record_matches_the_file(issued, complete: Path) -> None:
    _, _, results = issued
    record = load_issued_record(complete)
    data = complete.read_bytes()
    assert record.file_name == "complet.pdf"
    assert record.sha256 == hashlib.sha256(data).hexdigest() == results["complet"].sha256
    assert record.size == len(data)
    assert (record.reference, record.finess_ej) == (REFERENCE, FINESS)
    info, _ = _info_and_xmp(complete)
    issued_at = datetime.fromisoformat(record.issued_at or "")
    assert issued_at.tzinfo is not None
    assert info["/CreationDate"].startswith(f"D:{issued_at:%Y%m%d%H%M%S}")


def test_missing_record_is_a_verification_error(tmp_path: Path) -> None:
    with pytest.raises(VerificationError, match="fiche d'émission introuvable"):
        load_issued_record(tmp_path / "absent.pdf")
    sidecar_path(tmp_path / "x.pdf").write_text('{"fichier": "x.pdf"}')
    with pytest.raises(VerificationError, match="incomplète"):
        load_issued_record(tmp_path / "x.pdf")


def test_output_is_identified_as_pdfa_2b(complete: Path) -> None:
    assert pdfa_identification(complete) == ("2", "B")


def test_info_dictionary_and_xmp_agree(complete: Path) -> None:
    info, xmp = _info_and_xmp(complete)
    assert info["/Title"] == xmp[DC + "title"] == TITLE
    assert info["/Subject"] == xmp[DC + "description"] == f"Contrat CAQES {REFERENCE}"
    assert info["/Keywords"] == xmp[PDF + "Keywords"]
    assert parse_keywords(info["/Keywords"]) == {"reference": REFERENCE, "finess_ej": FINESS}
    assert info["/Producer"] == xmp[PDF + "Producer"]
    assert info["/Creator"] == xmp[XMP + "CreatorTool"]
    assert parse_pdf_date(info["/CreationDate"]) == datetime.fromisoformat(xmp[XMP + "CreateDate"])
    assert parse_pdf_date(info["/ModDate"]) == datetime.fromisoformat(xmp[XMP + "ModifyDate"])


def test_output_intent_is_the_srgb_profile(complete: Path) -> None:
    (intent,) = PdfReader(complete).trailer["/Root"]["/OutputIntents"]
    intent = intent.get_object()
    assert intent["/S"] == "/GTS_PDFA1"
    profile = intent["/DestOutputProfile"].get_object()
    icc = profile.get_data()
    assert profile["/N"] == 3
    assert icc[36:40] == b"acsp" and icc[16:20] == b"RGB "


def test_all_fonts_embedded_with_distinct_subset_tags(complete: Path) -> None:
    fonts = pdffonts(complete)
    assert [name for name, embedded in fonts if not embedded] == []
    tags = [name.split("+")[0] for name, _ in fonts if "+" in name]
    assert len(tags) == len(set(tags)) > 3  # the annexes' subsets were renamed


def test_strict_reader_two_revisions_id_no_encryption_no_javascript(complete: Path) -> None:
    data = complete.read_bytes()
    reader = PdfFileReader(io.BytesIO(data), strict=True)
    assert reader.xrefs.total_revisions == 2  # the contract, then annexes, metadata, fields
    assert not reader.has_xref_stream
    assert len(reader.trailer["/ID"]) == 2
    assert "/Encrypt" not in reader.trailer
    assert b"/JavaScript" not in data and b"/JS " not in data
    assert "/Names" not in reader.root or "/JavaScript" not in reader.root["/Names"]


def test_qpdf_finds_no_error_or_warning(complete: Path) -> None:
    checked = subprocess.run(["qpdf", "--check", str(complete)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "No syntax or stream encoding errors found" in checked.stdout
    assert "WARNING" not in checked.stdout + checked.stderr


def test_bookmarks_open_each_part(issued) -> None:
    out, _, _ = issued
    for name, titles in (
        ("complet", ["Contrat", ANNEX_1, ANNEX_2]),
        ("volet1", ["Contrat", ANNEX_1]),
    ):
        reader = PdfReader(out / f"{name}.pdf")
        assert [item.title for item in reader.outline] == titles
        pages = [reader.get_destination_page_number(item) for item in reader.outline]
        assert pages == [0, CONTRACT_PAGES, CONTRACT_PAGES + 1][: len(titles)]
        assert len(reader.pages) == CONTRACT_PAGES + len(titles) - 1


def test_three_empty_signature_fields_cover_their_anchors(complete: Path) -> None:
    data = complete.read_bytes()
    reader = PdfFileReader(io.BytesIO(data), strict=True)
    fields = [ref.get_object() for ref in reader.root["/AcroForm"]["/Fields"]]
    assert [str(field["/T"]) for field in fields] == ["s1_ETAB", "s2_CPAM", "s3_ARS"]
    boxes = plumber_boxes(complete, CONTRACT_PAGES - 1)
    signature_page = PdfReader(complete).pages[CONTRACT_PAGES - 1].indirect_reference.idnum
    for field, party in zip(fields, ("1_ETAB", "2_CPAM", "3_ARS"), strict=True):
        assert field["/FT"] == "/Sig"
        assert "/V" not in field  # unsigned
        assert field.raw_get("/P").idnum == signature_page
        llx, lly, urx, ury = (float(v) for v in field["/Rect"])
        for anchor in (f"/s{party}/", f"/d{party}/"):
            x0, y0, x1, y1 = boxes[anchor]
            assert llx <= x0 and x1 <= urx and lly <= y0 and y1 <= ury, anchor
        assert int(field["/F"]) & 4  # printed, as PDF/A wants of a widget


def test_anchor_boxes_match_pdfplumber(complete: Path) -> None:
    found = find_anchors(complete.read_bytes(), ANCHORS)
    reference = plumber_boxes(complete, CONTRACT_PAGES - 1)
    for anchor, box in found.items():
        assert box.page == CONTRACT_PAGES - 1
        measured = (box.x0, box.y0, box.x1, box.y1)
        # PDFium's glyph boxes and pdfminer's font-size boxes differ by a few tenths of the size
        assert measured == pytest.approx(reference[anchor], abs=3), anchor


def test_anchors_do_not_show_on_the_printed_page(complete: Path, tmp_path: Path) -> None:
    page = str(CONTRACT_PAGES)
    command = ["pdftoppm", "-png", "-r", "60", "-f", page, "-l", page, "-singlefile"]
    subprocess.run([*command, str(complete), str(tmp_path / "page")], check=True)
    image = Image.open(tmp_path / "page.png").convert("L")
    scale = 60 / 72
    height = image.height

    def darkest(x0: float, y0: float, x1: float, y1: float) -> int:
        box = (
            int(x0 * scale),
            int(height - y1 * scale),
            int(x1 * scale) + 1,
            int(height - y0 * scale) + 1,
        )
        return image.crop(box).getextrema()[0]

    boxes = plumber_boxes(complete, CONTRACT_PAGES - 1)
    for anchor, box in boxes.items():
        assert darkest(*box) == 255, anchor
    # the party names above the anchors do print: the picture is not just blank
    x0, _, x1, y1 = boxes["/s1_ETAB/"]
    assert darkest(x0, y1 + 2, x1 + 60, y1 + 40) < 128


def test_existing_output_is_not_replaced(issued, complete: Path) -> None:
    _, jobs, _ = issued
    before = complete.read_bytes()
    (result,) = make_signable([jobs["complet"]], workers=1)
    assert (
        result.error
        == f"{complete} : le fichier existe déjà (peut-être déjà signé), il n'est pas remplacé"
    )
    assert complete.read_bytes() == before


def test_fixed_height_and_overlapping_geometry(complete: Path) -> None:
    anchors = find_anchors(complete.read_bytes(), ANCHORS)
    short = plan_fields(anchors, FieldGeometry(height_pt=20))
    for placement, party in zip(short, ("1_ETAB", "2_CPAM", "3_ARS"), strict=True):
        # too short for the date anchor: the field still holds both anchors
        assert placement.contains(anchors[f"/s{party}/"])
        assert placement.contains(anchors[f"/d{party}/"])
    with pytest.raises(SignatureFieldError, match="« s1_ETAB » et « s2_CPAM » se chevauchent"):
        plan_fields(anchors, FieldGeometry(width_pt=300))


def test_parts_that_are_not_pdfa_or_not_pdf_are_refused_by_name(complete: Path) -> None:
    blank = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.write(blank)
    contract = Part.from_file(complete, "Contrat")
    metadata = contract_metadata(REFERENCE, FINESS, TITLE)
    with pytest.raises(ConversionError, match=r"^annexe\.pdf : pas de profil de sortie"):
        assemble([contract, Part(blank.getvalue(), ANNEX_1, "annexe.pdf")], metadata)
    with pytest.raises(ConversionError, match=r"^annexe\.pdf : PDF illisible"):
        assemble([contract, Part(os.urandom(2000), ANNEX_1, "annexe.pdf")], metadata)


def test_post_processing_cost_is_measured_per_step(issued) -> None:
    _, _, results = issued
    cpu = results["complet"].cpu_ms
    assert set(cpu) == {"anchors", "assemble", "write"}
    assert all(ms > 0 for ms in cpu.values())
