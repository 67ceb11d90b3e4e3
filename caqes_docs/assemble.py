"""Merge a contract PDF and its annex PDFs into one PDF/A-2b with one bookmark per part.

The inputs are LibreOffice PDF/A-2b exports. What PDF/A-2b asks of the merged file, and how it
is met here:

- an output intent: the first part's ``/OutputIntents`` (sRGB ICC profile) is copied;
- embedded fonts: each page keeps its own embedded subsets; since LibreOffice names its subsets
  ``AAAAAA+…``, ``BAAAAA+…`` in every file, the later parts' subsets are renamed so that two
  different subsets never share a name in the merged file (ISO 32000-1, 9.6.4);
- XMP metadata (uncompressed, ``/Type /Metadata /Subtype /XML``) declaring ``pdfaid:part`` 2
  and ``pdfaid:conformance`` B, with the same values as the Info dictionary (Title, Subject,
  Keywords, Author, Creator, Producer, CreationDate, ModDate);
- a trailer ``/ID``, a classic cross-reference table, no encryption, no JavaScript.

The Producer is pyHanko's own name on purpose: every pyHanko incremental update (signature
fields here, signatures later) rewrites ``pdf:Producer`` in the XMP to exactly that name, and
appends it to the Info Producer unless already there; any other Producer would leave the two
unequal after the first update, which PDF/A forbids.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from pathlib import Path
from xml.sax.saxutils import escape

from pyhanko.pdf_utils.metadata.model import VENDOR as PYHANKO_PRODUCER
from pypdf import PdfReader, PdfWriter
from pypdf.errors import PyPdfError
from pypdf.generic import DictionaryObject, NameObject, PdfObject

from caqes_docs.errors import ConversionError

__all__ = [
    "CREATOR_TOOL",
    "DocumentMetadata",
    "Part",
    "assemble",
    "contract_metadata",
    "parse_keywords",
    "pdf_date",
    "xmp_date",
]

CREATOR_TOOL = "caqes-docs (LibreOffice Writer)"
_SUBSET_TAG = re.compile(r"^[A-Z]{6}\+")


@dataclass(frozen=True)
class DocumentMetadata:
    """What the Info dictionary and the XMP packet say about the document."""

    title: str
    subject: str
    keywords: str
    author: str | None = None
    creator: str = CREATOR_TOOL


def contract_metadata(reference: str, finess_ej: str, title: str) -> DocumentMetadata:
    """The metadata of a CAQES contract; the verifier reads the FINESS back from the keywords."""
    return DocumentMetadata(
        title=title,
        subject=f"Contrat CAQES {reference}",
        keywords=f"CAQES; reference={reference}; finess_ej={finess_ej}",
    )


def parse_keywords(keywords: str) -> dict[str, str]:
    """The ``name=value`` entries of keywords written by :func:`contract_metadata`."""
    entries = (item.strip().partition("=") for item in keywords.split(";"))
    return {name: value for name, sep, value in entries if sep and name}


@dataclass(frozen=True)
class Part:
    """One converted document and the title of its bookmark; ``name`` is used in messages."""

    pdf: bytes
    title: str
    name: str

    @classmethod
    def from_file(cls, path: Path, title: str, name: str | None = None) -> Part:
        return cls(Path(path).read_bytes(), title, name or Path(path).name)


def pdf_date(moment: datetime) -> str:
    """``D:YYYYMMDDHHmmSS+HH'mm'``, the Info dictionary's date format."""
    offset = moment.strftime("%z") or "+0000"
    return f"D:{moment:%Y%m%d%H%M%S}{offset[:3]}'{offset[3:]}'"


def xmp_date(moment: datetime) -> str:
    """The same instant in XMP's ISO 8601 format."""
    return moment.replace(microsecond=0).isoformat()


def assemble(
    parts: Sequence[Part], metadata: DocumentMetadata, *, now: datetime | None = None
) -> bytes:
    """Concatenate ``parts`` in order into one PDF/A-2b and return its bytes.

    ``now`` (timezone-aware) stamps both the creation and modification dates.
    """
    if not parts:
        raise ConversionError("aucun document à assembler")
    moment = (now or datetime.now().astimezone()).replace(microsecond=0)
    if moment.tzinfo is None:
        moment = moment.astimezone()
    writer = PdfWriter()
    for index, part in enumerate(parts):
        reader = _open(part)
        start = len(writer.pages)
        try:
            writer.append(reader, import_outline=False)
        except (PyPdfError, ValueError, KeyError) as exc:
            raise ConversionError(f"{part.name} : PDF illisible ({exc})") from exc
        writer.add_outline_item(title=part.title, page_number=start)
        if index == 0:
            _copy_pdfa_catalog_entries(reader, writer, part.name)
    _make_subset_names_unique(writer)
    _set_metadata(writer, metadata, moment)
    writer.page_mode = "/UseOutlines"
    writer.generate_file_identifiers()
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def _open(part: Part) -> PdfReader:
    try:
        # Strict: LibreOffice writes exact cross-reference tables, and pypdf's lenient mode
        # re-reads every object header to repair them (half the merge time).
        reader = PdfReader(BytesIO(part.pdf), strict=True)
        if reader.is_encrypted:
            raise ConversionError(f"{part.name} : PDF chiffré, impossible à assembler")
        return reader
    except (PyPdfError, ValueError) as exc:
        raise ConversionError(f"{part.name} : PDF illisible ({exc})") from exc


def _copy_pdfa_catalog_entries(reader: PdfReader, writer: PdfWriter, name: str) -> None:
    catalog = reader.trailer["/Root"]
    if "/OutputIntents" not in catalog:
        raise ConversionError(
            f"{name} : pas de profil de sortie (OutputIntents), ce n'est pas un PDF/A"
        )
    root = writer.root_object
    root[NameObject("/OutputIntents")] = catalog.raw_get("/OutputIntents").clone(writer)
    if "/Lang" in catalog:
        root[NameObject("/Lang")] = catalog["/Lang"].clone(writer)


def _fonts_in(resources: PdfObject | None, seen: set[int]) -> Iterator[DictionaryObject]:
    """Font dictionaries of a resource dictionary and of the form XObjects it uses, once each."""
    if resources is None:
        return
    resources = resources.get_object()
    for font in resources.get("/Font", DictionaryObject()).get_object().values():
        font_dict = font.get_object()
        if id(font_dict) not in seen:
            seen.add(id(font_dict))
            yield font_dict
    for xobject in resources.get("/XObject", DictionaryObject()).get_object().values():
        form = xobject.get_object()
        if form.get("/Subtype") == "/Form" and id(form) not in seen:
            seen.add(id(form))
            yield from _fonts_in(form.get("/Resources"), seen)


def _make_subset_names_unique(writer: PdfWriter) -> None:
    """Give a fresh tag to each font subset whose tag an earlier, different subset uses."""
    seen: set[int] = set()
    fonts = [font for page in writer.pages for font in _fonts_in(page.get("/Resources"), seen)]
    used = {str(font.get("/BaseFont", ""))[1:7] for font in fonts}
    fresh_tags = (
        tag for tag in map("".join, itertools.product("ZYXWVUTSRQ", repeat=6)) if tag not in used
    )
    owners: dict[str, int] = {}
    for font in fonts:
        name = str(font.get("/BaseFont", ""))[1:]
        if not _SUBSET_TAG.match(name):
            continue
        if owners.setdefault(name[:6], id(font)) == id(font):
            continue
        tag = next(fresh_tags)
        owners[tag] = id(font)
        # a Type0 font and its descendant CIDFont are one subset: they share the new tag
        for member in (font, *(d.get_object() for d in font.get("/DescendantFonts", []))):
            renamed = NameObject(f"/{tag}{str(member['/BaseFont'])[7:]}")
            member[NameObject("/BaseFont")] = renamed
            descriptor = member.get("/FontDescriptor")
            if descriptor is not None:
                descriptor.get_object()[NameObject("/FontName")] = renamed


def _set_metadata(writer: PdfWriter, meta: DocumentMetadata, moment: datetime) -> None:
    info = {
        "/Title": meta.title,
        "/Subject": meta.subject,
        "/Keywords": meta.keywords,
        "/Creator": meta.creator,
        "/Producer": PYHANKO_PRODUCER,
        "/CreationDate": pdf_date(moment),
        "/ModDate": pdf_date(moment),
    }
    if meta.author:
        info["/Author"] = meta.author
    writer.add_metadata(info)
    writer.xmp_metadata = _xmp_packet(meta, moment)
    stream = writer.root_object["/Metadata"].get_object()
    stream[NameObject("/Type")] = NameObject("/Metadata")
    stream[NameObject("/Subtype")] = NameObject("/XML")


def _xmp_packet(meta: DocumentMetadata, moment: datetime) -> bytes:
    def alt(value: str) -> str:
        return f'<rdf:Alt><rdf:li xml:lang="x-default">{escape(value)}</rdf:li></rdf:Alt>'

    author = (
        f"<dc:creator><rdf:Seq><rdf:li>{escape(meta.author)}</rdf:li></rdf:Seq></dc:creator>"
        if meta.author
        else ""
    )
    date = xmp_date(moment)
    packet = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">
   <pdfaid:part>2</pdfaid:part>
   <pdfaid:conformance>B</pdfaid:conformance>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:format>application/pdf</dc:format>
   <dc:title>{alt(meta.title)}</dc:title>
   <dc:description>{alt(meta.subject)}</dc:description>{author}
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
   <pdf:Keywords>{escape(meta.keywords)}</pdf:Keywords>
   <pdf:Producer>{escape(PYHANKO_PRODUCER)}</pdf:Producer>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
   <xmp:CreatorTool>{escape(meta.creator)}</xmp:CreatorTool>
   <xmp:CreateDate>{date}</xmp:CreateDate>
   <xmp:ModifyDate>{date}</xmp:ModifyDate>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="r"?>"""
    return packet.encode("utf-8")
