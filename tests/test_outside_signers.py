"""Honest signatures from the outside world go through the whole chain (issue 14, point 1).

For each tool of :data:`outside_signers.TOOLS` (poppler, PDFBox, pyHanko's CLI, Acrobat's
conventions) and caqes itself, the three parties sign in turn with that tool; after each party:
``verify_document`` calls the copy valid, ``receive`` records it, and the next party's
``sign_documents`` signs on top of it. A new tool is one entry in ``TOOLS``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path

import pytest
from attacks import page_boxes, sign_field
from click.testing import CliRunner
from conftest_signers import (
    CAQES,
    FIELDS,
    NEXT,
    ROLES,
    Desk,
    PartyPki,
    folder_snapshot,
    issued_bytes,
    registry_snapshot,
    sign_copy,
    signed_chain,
)
from outside_signers import PLAIN, TOOLS, ToolContext
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader

from caqes_docs.registry.lifecycle import RECORDED, receive, signed_copy_path
from caqes_docs.signatures.signing import sign_documents
from caqes_docs.signatures.verify import verify_document

TOOL_NAMES = [CAQES, *TOOLS]
# Tests that still fail: {test function: {reason: [parameter ids]}}; each becomes an xfail
# (conftest_signers.pytest_collection_modifyitems). Remove an id when its test passes.
KNOWN_GAPS: dict[str, dict[str, list[str]]] = {}
NEEDS_TSA = {"pyhanko-cli-pades-timestamp", "pyhanko-cli-pades-lt", "pyhanko-cli-pades-lta"}
CERTIFYING = {CAQES, "pdfbox-certify", "pyhanko-cli-certify", "acrobat-like"}
"""The tools whose first signature certifies the document (DocMDP)."""


def run_cli(*args: str):  # type: ignore[no-untyped-def]
    """``caqes ARGS`` through click's runner (imported here: the CLI pulls in every module)."""
    from caqes_docs.cli import main

    return CliRunner().invoke(main, list(args), prog_name="caqes")


def problems(report) -> list[str]:  # type: ignore[no-untyped-def]
    return report.problems + [f"{s.field}: {p}" for s in report.signatures for p in s.problems]


@pytest.fixture(scope="module")
def roots(party_pki: PartyPki, loopback_pki) -> list[Path]:  # type: ignore[no-untyped-def]
    """Our parties' root, and the loopback PKI's (its timestamp authority)."""
    return [party_pki.root, loopback_pki.root_certificate]


@pytest.fixture(scope="module")
def chains(loopback_pki, party_pki: PartyPki):  # type: ignore[no-untyped-def]
    """The copies each tool produces; the tools run in threads from the start of the module
    (most are other processes: Java, pdfsig, pyHanko's CLI), each test waits for its own."""
    issued_bytes()  # the stand-in and the PKI are made once, before the threads
    with ThreadPoolExecutor(max_workers=3) as pool:
        with_tsa = ToolContext(
            tsa_url=loopback_pki.tsa_url, trust=(party_pki.root, loopback_pki.root_certificate)
        )
        futures = {
            tool: pool.submit(signed_chain, tool, with_tsa if tool in NEEDS_TSA else PLAIN)
            for tool in TOOL_NAMES
        }
        yield lambda tool: futures[tool].result()


def signed_so_far(stage: str) -> list[str]:
    return list(ROLES[: ROLES.index(stage) + 1])


@pytest.mark.parametrize("stage", ROLES)
@pytest.mark.parametrize("tool", TOOL_NAMES)
def test_verify_accepts_an_honest_signature(
    tool: str, stage: str, chains, roots: list[Path], desk: Desk
) -> None:
    copy = desk.returned(chains(tool)[stage])
    report = verify_document(copy, trust_roots=roots)
    assert report.ok, problems(report)
    signed = [s.role for s in report.signatures if s.status == "signé"]
    assert signed == signed_so_far(stage)
    for signature in report.signatures[: len(signed)]:
        assert (signature.intact, signature.trust, signature.party_match) == (
            True,
            "oui",
            "conforme",
        ), signature
    first = report.signatures[0]
    assert first.certification is (tool in CERTIFYING)
    if tool in NEEDS_TSA:
        assert first.timestamp_time is not None and first.timestamp_trust == "oui"
    assert report.issued == "conforme"
    assert report.complete is (stage == "ARS")


@pytest.mark.parametrize("tool", TOOL_NAMES)
def test_the_verify_command_exits_0_on_an_honest_copy(
    tool: str, chains, roots: list[Path], desk: Desk
) -> None:
    copy = desk.returned(chains(tool)["ARS"])
    trust = [arg for root in roots for arg in ("--trust", str(root))]
    result = run_cli("verify", str(copy), *trust)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("stage", ROLES)
@pytest.mark.parametrize("tool", TOOL_NAMES)
def test_receive_records_an_honest_signature(
    tool: str, stage: str, chains, roots: list[Path], desk: Desk
) -> None:
    data = chains(tool)[stage]
    # By mail: no issued record beside the file, the registry knows the issued version.
    [outcome] = receive([desk.returned(data, record=False)], desk.registry, roots)
    assert outcome.status == RECORDED, outcome.message
    assert outcome.new_parties == tuple(signed_so_far(stage))
    assert signed_copy_path(desk.issued).read_bytes() == data


@pytest.mark.parametrize("stage", ["ETAB", "CPAM"])
@pytest.mark.parametrize("tool", TOOL_NAMES)
def test_the_next_party_signs_on_top(
    tool: str, stage: str, chains, roots: list[Path], party_pki: PartyPki, desk: Desk
) -> None:
    copy = desk.returned(chains(tool)[stage])
    role = NEXT[stage]
    assert role is not None
    out = copy.with_name(f"signe-{role}.pdf")
    [result] = sign_copy([copy], role, party_pki.signer(role), roots, output=out)
    assert result.ok, result.error
    report = verify_document(out, trust_roots=roots)
    assert report.ok, problems(report)
    assert [s.role for s in report.signatures if s.status == "signé"] == signed_so_far(role)
    assert out.read_bytes().startswith(chains(tool)[stage])


@pytest.mark.parametrize(
    "media_box",
    [(0.0, 0.0, 612.0, 792.0), (0.0, 0.0, 612.01, 791.99)],
    ids=["en-flottants", "arrondie-au-centieme"],
)
def test_a_signer_rewriting_its_page_with_rounded_numbers_is_accepted(
    media_box: tuple[float, ...], party_pki: PartyPki, roots: list[Path], desk: Desk
) -> None:
    """The page of the field written anew by the signing tool, as PDFBox does, its box in
    floats or rounded to the hundredth of a point (the issued box is 612 × 792): rounding,
    which issue 14 (point 2) says to tolerate."""
    last_page = 5
    rewrite = page_boxes(last_page, media_box)
    data = sign_field(desk.issued.read_bytes(), "ETAB", party_pki.signer("ETAB"), change=rewrite)
    report = verify_document(desk.returned(data), trust_roots=roots)
    assert report.ok, problems(report)


def test_sign_never_overwrites_the_issued_pdf(party_pki: PartyPki, desk: Desk) -> None:
    """Without ``output``, the signed copy is a new file beside the issued one."""
    before = desk.issued.read_bytes()
    [result] = sign_documents([desk.issued], "ETAB", party_pki.signer("ETAB"))
    assert result.ok, result.error
    assert desk.issued.read_bytes() == before
    assert result.output is not None and result.output != desk.issued
    assert result.output.parent == desk.issued.parent


def test_without_the_issued_record_a_copy_cannot_be_called_valid(
    roots: list[Path], desk: Desk
) -> None:
    """The mail case with no registry: nothing proves the copy extends what was issued."""
    copy = desk.returned(signed_chain(CAQES)["ETAB"], record=False)
    report = verify_document(copy, trust_roots=roots)
    assert not report.ok
    result = run_cli("verify", str(copy), "--trust", str(roots[0]))
    assert result.exit_code != 0
    assert "valide" not in result.output.splitlines()[0].replace("NON VALIDE", "")


def test_a_refused_honest_copy_changes_nothing_on_the_desk(roots: list[Path], desk: Desk) -> None:
    """Sanity check of the helpers the attack tests rely on: a copy that is not the
    registry's is refused and the folder and registry stay as they were."""
    registry, files = registry_snapshot(desk.db), folder_snapshot(desk.folder)
    [outcome] = receive([desk.returned(b"%PDF-1.7\n%%EOF\n", "inconnu")], desk.registry, roots)
    assert outcome.status == "refusé"
    assert registry_snapshot(desk.db) == registry
    assert set(folder_snapshot(desk.folder)) - set(files) <= {
        "courrier/inconnu.pdf",
        "courrier/inconnu.emission.json",
    }


def test_a_timestamp_from_an_untrusted_authority_is_reported(
    chains, party_pki: PartyPki, desk: Desk
) -> None:
    """Trusting the parties' root but not the timestamp authority's (issue 14, point 6)."""
    copy = desk.returned(chains("pyhanko-cli-pades-timestamp")["ETAB"])
    report = verify_document(copy, trust_roots=[party_pki.root])
    assert report.signatures[0].timestamp_time is not None
    assert not report.ok
    assert any("horodatage" in problem for problem in problems(report)), problems(report)


@pytest.mark.parametrize("stage", ROLES)
def test_caqes_embeds_each_certificate_once_in_its_cms(stage: str) -> None:
    reader = PdfFileReader(BytesIO(signed_chain(CAQES)[stage]))
    for signature in reader.embedded_signatures:
        certificates = [c.chosen.dump() for c in signature.signed_data["certificates"]]
        assert len(certificates) == len(set(certificates)), signature.field_name


# --- the tools do what their documentation says -------------------------------------------------


def _reader(data: bytes) -> PdfFileReader:
    return PdfFileReader(BytesIO(data), strict=False)


def test_acrobat_like_certifies_and_adds_the_dss_in_a_later_revision(chains) -> None:
    reader = _reader(chains("acrobat-like")["ETAB"])
    etab = reader.embedded_signatures[0]
    assert "/DSS" in reader.root and "/DSS" not in reader.get_historical_root(etab.signed_revision)
    assert reader.root["/Perms"]["/DocMDP"] == etab.sig_object
    assert etab.docmdp_level is not None and etab.docmdp_level.value == 2
    assert etab.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert etab.sig_object["/Prop_Build"]["/App"]["/Name"] == "/Adobe Acrobat Pro"
    assert reader.root["/AcroForm"]["/SigFlags"] == 3
    layers = etab.sig_field["/AP"]["/N"]["/Resources"]["/XObject"]["/FRM"]
    assert set(layers["/Resources"]["/XObject"]) == {"/n0", "/n2"}
    assert b"Tj" in layers["/Resources"]["/XObject"]["/n2"].data  # the text layer


def test_pdfbox_certify_writes_its_docmdp_dictionaries_as_objects_and_a_zero_rect(
    chains,
) -> None:
    reader = _reader(chains("pdfbox-certify")["ETAB"])
    etab = reader.embedded_signatures[0]
    assert isinstance(reader.root.raw_get("/Perms"), generic.IndirectObject)
    reference = etab.sig_object["/Reference"]
    assert isinstance(reference.raw_get(0), generic.IndirectObject)  # the /SigRef
    assert isinstance(reference[0].raw_get("/TransformParams"), generic.IndirectObject)
    assert reference[0]["/TransformParams"]["/P"] == 2
    assert [float(x) for x in etab.sig_field["/Rect"]] == [0, 0, 0, 0]


def test_pdfsig_writes_generation_numbers_the_strict_reader_refuses(chains) -> None:
    """Why the lenient reading of issue 14 is needed: poppler 22.12's own numbering."""
    with pytest.raises(PdfError):
        PdfFileReader(BytesIO(chains("pdfsig")["ETAB"]), strict=True)


def test_pyhanko_lta_adds_validation_data_and_a_document_timestamp(chains) -> None:
    reader = _reader(chains("pyhanko-cli-pades-lta")["CPAM"])
    assert "/DSS" in reader.root
    assert [s.field_name for s in reader.embedded_regular_signatures] == ["s1_ETAB", "s2_CPAM"]
    assert len(reader.embedded_timestamp_signatures) == 2  # one after each party


def test_each_party_with_its_own_tool(party_pki: PartyPki, roots: list[Path], desk: Desk) -> None:
    """Okular's poppler for the establishment, Acrobat's conventions for the CPAM, a PDFBox
    service for the ARS: the three signatures in one copy, verified and recorded."""
    source = desk.issued
    for role, tool in [
        ("ETAB", "pdfsig-etsi"),
        ("CPAM", "acrobat-like"),
        ("ARS", "pdfbox-visible"),
    ]:
        target = desk.folder / f"{role}.pdf"
        context = ToolContext(first=role == "ETAB")
        TOOLS[tool](source, target, FIELDS[role], party_pki.credentials[role], context)
        source = target
    copy = desk.returned(source.read_bytes())
    report = verify_document(copy, trust_roots=roots)
    assert report.ok and report.complete, problems(report)
    [outcome] = receive([copy], desk.registry, roots)
    assert outcome.status == RECORDED and outcome.complete, outcome.message
