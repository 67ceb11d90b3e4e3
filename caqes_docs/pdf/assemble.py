"""The signable PDF: the contract's PDF, then ONE incremental revision holding the rest.

LibreOffice writes each part (the contract, each annex) as its own PDF/A-2b. The contract's
file is kept byte for byte as the first revision; one incremental revision, written with
pyHanko's :class:`~pyhanko.pdf_utils.incremental_writer.IncrementalPdfFileWriter` (which
parses only the objects it touches), then appends the annexes' pages, the bookmarks
« Contrat » / « Annexe 1 — … », the document's metadata and the three empty signature fields
(pyHanko's ``append_signature_field``): about 13 ms of CPU per contract. pypdf 7.1's
incremental writer (``PdfWriter(contract, incremental=True)``, ``append``) was tried too: it
reads and hashes every object of the contract (about 44 ms), and writes its revision with a
cross-reference stream instead of a table, with a ``/Size`` one too large (qpdf warns).

What PDF/A-2b asks of the result, and how it is met:

- an output intent: the contract's catalog keeps its ``/OutputIntents`` (sRGB ICC profile);
- embedded fonts: each page keeps its own embedded subsets; since LibreOffice names its
  subsets ``AAAAAA+…``, ``BAAAAA+…`` in every file, the annexes' subsets are renamed so that
  two different subsets never share a name in the document (ISO 32000-1, 9.6.4);
- XMP metadata declaring ``pdfaid:part`` 2 and ``pdfaid:conformance`` B, with the same
  values as the Info dictionary (Title, Subject, Keywords, Author, Creator, Producer,
  CreationDate, ModDate);
- a trailer ``/ID`` (first part kept, second part new), classic cross-reference tables
  (pyHanko writes its revision the way the file it updates was written), no encryption, no
  JavaScript.

The parts' structure trees (LibreOffice tags its PDF/A exports) are not merged: the catalog
no longer declares the document tagged, as the annexes' pages are not in the contract's tree.

The Producer is pyHanko's own name on purpose: every pyHanko incremental update (this one,
the signatures later) rewrites ``pdf:Producer`` in the XMP to exactly that name, and appends
it to the Info Producer unless already there; any other Producer would leave the two unequal,
which PDF/A forbids. pyHanko also stamps both modification dates, reading the clock once for
each: a revision whose two dates straddle a second boundary is written again.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from pathlib import Path
from xml.sax.saxutils import escape

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import parse_pdf_date, pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata.model import VENDOR as PYHANKO_PRODUCER
from pyhanko.pdf_utils.metadata.model import XMP_MODDATE
from pyhanko.pdf_utils.metadata.xmp_xml import MetadataStream
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import SigFieldSpec, append_signature_field

from caqes_docs.errors import ConversionError, SignatureFieldError
from caqes_docs.pdf.fields import FieldPlacement

__all__ = [
    "CREATOR_TOOL",
    "DocumentMetadata",
    "Part",
    "add_signature_fields",
    "assemble",
    "contract_metadata",
    "parse_keywords",
    "pdf_date",
    "xmp_date",
]

CREATOR_TOOL = "caqes-docs (LibreOffice Writer)"
_SUBSET_TAG = re.compile(r"/[A-Z]{6}\+")


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
    parts: Sequence[Part],
    metadata: DocumentMetadata,
    placements: Sequence[FieldPlacement] = (),
    *,
    now: datetime | None = None,
) -> bytes:
    """The signable PDF: ``parts[0]`` unchanged, then one revision with the rest (see above).

    ``placements`` are the empty signature fields to create, on the contract's pages. ``now``
    (timezone-aware) stamps the creation date.
    """
    if not parts:
        raise ConversionError("aucun document à assembler")
    moment = (now or datetime.now().astimezone()).replace(microsecond=0)
    if moment.tzinfo is None:
        moment = moment.astimezone()
    for _ in range(3):
        # fresh readers each time: the writer changes the objects its reader cached
        readers = [_open(part) for part in parts]
        writer = IncrementalPdfFileWriter.from_reader(readers[0])
        out = BytesIO()
        try:
            _build_revision(writer, parts, readers, metadata, placements, moment)
            writer.write(out)
        except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise ConversionError(
                f"{parts[0].name} : assemblage impossible (structure PDF inattendue)"
            ) from exc
        if _dates_agree(writer):
            return out.getvalue()
    raise ConversionError("dates de modification incohérentes entre Info et XMP")


def _open(part: Part) -> PdfFileReader:
    try:
        reader = PdfFileReader(BytesIO(part.pdf), strict=True)
        if reader.encrypted:
            raise ConversionError(f"{part.name} : PDF chiffré, impossible à assembler")
        if "/OutputIntents" not in reader.root:
            raise ConversionError(
                f"{part.name} : pas de profil de sortie (OutputIntents), ce n'est pas un PDF/A"
            )
        return reader
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ConversionError(f"{part.name} : PDF illisible (structure PDF inattendue)") from exc


def _build_revision(
    writer: IncrementalPdfFileWriter,
    parts: Sequence[Part],
    readers: Sequence[PdfFileReader],
    metadata: DocumentMetadata,
    placements: Sequence[FieldPlacement],
    moment: datetime,
) -> None:
    # the fields first, while the contract's pages are all the document has
    add_signature_fields(writer, placements)
    first_pages = [writer.find_page_for_modification(0)[0]]
    taken = {_tag(font) for font in _page_fonts(_pages(readers[0].root["/Pages"]))}
    fonts: list[generic.DictionaryObject] = []
    for part, reader in zip(parts[1:], readers[1:], strict=True):
        try:
            pages = _import_pages(writer, reader)
        except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise ConversionError(
                f"{part.name} : PDF illisible (structure PDF inattendue)"
            ) from exc
        first_pages.append(pages[0])
        fonts.extend(_page_fonts(page.get_object() for page in pages))
    _make_subset_names_unique(fonts, taken - {""})
    root = writer.root
    for key in ("/StructTreeRoot", "/MarkInfo"):
        root.pop(key, None)
    root["/Outlines"] = _outline(writer, [part.title for part in parts], first_pages)
    root["/PageMode"] = pdf_name("/UseOutlines")
    _set_metadata(writer, metadata, moment)
    writer.update_root()


def add_signature_fields(
    writer: IncrementalPdfFileWriter, placements: Sequence[FieldPlacement]
) -> None:
    """Add the empty signature fields to the revision ``writer`` is preparing.

    Each field is also its widget (printed, locked) with an empty appearance, as PDF/A wants
    of an annotation (pyHanko's ``append_signature_field``); a form the document already has
    keeps its fields.
    """
    pages = int(writer.root["/Pages"]["/Count"])
    for placement in placements:
        if not 0 <= placement.page < pages:
            raise SignatureFieldError(
                f"champ « {placement.name} » : la page {placement.page + 1} n'existe pas"
            )
        spec = SigFieldSpec(
            placement.name,
            on_page=placement.page,
            box=placement.box,
            readable_field_name=placement.label,
        )
        try:
            append_signature_field(writer, spec)
        except (PdfError, ValueError, KeyError) as exc:
            raise SignatureFieldError(
                f"champ « {placement.name} » impossible à créer (structure PDF inattendue)"
            ) from exc


def _pages(node: generic.DictionaryObject) -> Iterator[generic.DictionaryObject]:
    """The page dictionaries under a page tree node, in order."""
    for kid in node["/Kids"]:
        kid = kid.get_object()
        if kid.get("/Type") == "/Pages":
            yield from _pages(kid)
        else:
            yield kid


# A page's entries that point back into its own file's page tree or structure tree.
_PAGE_LINKS = ("/Parent", "/StructParents", "/Annots")
_ANNOTATION_LINKS = ("/P", "/Parent", "/StructParent")
_INHERITABLE = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")


def _inherited(page: generic.DictionaryObject, key: str) -> generic.PdfObject | None:
    """A page's value for ``key``, its own or its nearest ancestor's, unresolved."""
    node: generic.DictionaryObject | None = page
    while node is not None:
        if key in node:
            return node.raw_get(key)
        node = _value(node, "/Parent")
    return None


def _import_pages(
    writer: IncrementalPdfFileWriter, reader: PdfFileReader
) -> list[generic.IndirectObject]:
    """Copy the pages of ``reader`` (with what they use, once) to the end of the document.

    They become the last kids of the page tree's root, whatever the tree's shape below it:
    unlike inserting after the last page, this reads none of the existing pages.
    """
    copies = generic.ArrayObject()
    for page in _pages(reader.root["/Pages"]):
        copy = generic.DictionaryObject({k: v for k, v in page.items() if k not in _PAGE_LINKS})
        for key in _INHERITABLE:
            if key not in copy and (value := _inherited(page, key)) is not None:
                copy[key] = value
        annotations = [
            generic.DictionaryObject(
                {k: v for k, v in a.get_object().items() if k not in _ANNOTATION_LINKS}
            )
            for a in _value(page, "/Annots", generic.ArrayObject())
        ]
        if annotations:
            copy["/Annots"] = generic.ArrayObject(annotations)
        copies.append(copy)
    # One import for all the pages, so that what they share (fonts, images) is copied once;
    # import_object finds the file to copy from through the container of what it imports.
    copies.container_ref = reader.root.container_ref
    imported = writer.import_object(copies)
    tree = writer.root["/Pages"]
    refs = [writer.add_object(page) for page in imported]
    for page in imported:
        page["/Parent"] = writer.root.raw_get("/Pages")
    tree["/Kids"].extend(refs)
    tree["/Count"] = generic.NumberObject(int(tree["/Count"]) + len(refs))
    writer.update_container(tree)
    writer.update_container(tree["/Kids"])
    return refs


def _page_fonts(pages: Iterable[generic.DictionaryObject]) -> Iterator[generic.DictionaryObject]:
    """The font dictionaries the pages use, directly or through form XObjects, once each."""
    seen: set[int] = set()
    for page in pages:
        yield from _fonts_in(_value(page, "/Resources"), seen)


def _fonts_in(resources: generic.PdfObject, seen: set[int]) -> Iterator[generic.DictionaryObject]:
    if not isinstance(resources, generic.DictionaryObject) or id(resources) in seen:
        return
    seen.add(id(resources))
    for font in _value(resources, "/Font", _EMPTY).values():
        font = font.get_object()
        if id(font) not in seen:
            seen.add(id(font))
            yield font
    for xobject in _value(resources, "/XObject", _EMPTY).values():
        form = xobject.get_object()
        if _value(form, "/Subtype") == "/Form" and id(form) not in seen:
            seen.add(id(form))
            yield from _fonts_in(_value(form, "/Resources"), seen)


_EMPTY = generic.DictionaryObject()


def _value(
    dictionary: generic.DictionaryObject, key: str, default: generic.PdfObject | None = None
) -> generic.PdfObject | None:
    """``dictionary[key]`` resolved (pyHanko's ``get`` does not resolve), or ``default``."""
    return dictionary[key] if key in dictionary else default  # noqa: SIM401


def _tag(font: generic.DictionaryObject) -> str:
    """The subset tag of a font (``ABCDEF`` of ``/ABCDEF+Name``), or ``""``."""
    name = str(_value(font, "/BaseFont", ""))
    return name[1:7] if _SUBSET_TAG.match(name) else ""


def _make_subset_names_unique(fonts: Sequence[generic.DictionaryObject], taken: set[str]) -> None:
    """Give a fresh tag to each copied font subset whose tag another subset already has.

    A Type0 font, its descendant CIDFont and their descriptors carry the same tag: they are
    renamed together.
    """
    used = taken | {_tag(font) for font in fonts}
    fresh_tags = (
        tag for tag in map("".join, itertools.product("ZYXWVUTSRQ", repeat=6)) if tag not in used
    )
    owners = dict.fromkeys(taken, 0)
    for font in fonts:
        tag = _tag(font)
        if not tag or owners.setdefault(tag, id(font)) == id(font):
            continue
        tag = next(fresh_tags)
        owners[tag] = id(font)
        descendants = _value(font, "/DescendantFonts", generic.ArrayObject())
        for member in (font, *(d.get_object() for d in descendants)):
            renamed = pdf_name(f"/{tag}{str(member['/BaseFont'])[7:]}")
            member["/BaseFont"] = renamed
            descriptor = _value(member, "/FontDescriptor")
            if isinstance(descriptor, generic.DictionaryObject):
                descriptor["/FontName"] = renamed


def _outline(
    writer: IncrementalPdfFileWriter,
    titles: Sequence[str],
    pages: Sequence[generic.IndirectObject],
) -> generic.IndirectObject:
    """One top-level bookmark per part, opening its first page."""
    root = writer.add_object(generic.DictionaryObject({"/Type": pdf_name("/Outlines")}))
    items = [
        writer.add_object(
            generic.DictionaryObject(
                {
                    "/Title": generic.TextStringObject(title),
                    "/Parent": root,
                    "/Dest": generic.ArrayObject([page, pdf_name("/Fit")]),
                }
            )
        )
        for title, page in zip(titles, pages, strict=True)
    ]
    for previous, following in itertools.pairwise(items):
        previous.get_object()["/Next"] = following
        following.get_object()["/Prev"] = previous
    outline = root.get_object()
    outline["/First"], outline["/Last"] = items[0], items[-1]
    outline["/Count"] = generic.NumberObject(len(items))
    return root


def _set_metadata(
    writer: IncrementalPdfFileWriter, meta: DocumentMetadata, moment: datetime
) -> None:
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
    writer.set_info(
        generic.DictionaryObject(
            {pdf_name(key): generic.TextStringObject(value) for key, value in info.items()}
        )
    )
    # pyHanko updates a MetadataStream's Producer and ModifyDate when it writes the revision
    writer.root["/Metadata"] = writer.add_object(
        MetadataStream(stream_data=_xmp_packet(meta, moment))
    )


def _dates_agree(writer: IncrementalPdfFileWriter) -> bool:
    """Whether the Info ModDate and xmp:ModifyDate pyHanko just wrote are the same instant."""
    info = writer.trailer["/Info"]
    fields = {key: value for root in writer.root["/Metadata"].xmp for key, value in root}
    xmp_value = fields.get(XMP_MODDATE)
    if "/ModDate" not in info or xmp_value is None:
        return True
    return parse_pdf_date(info["/ModDate"]) == datetime.fromisoformat(str(xmp_value.value))


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
