"""The signable PDF: the contract's PDF, then ONE incremental revision holding the rest.

LibreOffice writes each part (the contract, each annex) as its own PDF/A-2b. The contract's
file is kept byte for byte as the first revision; one incremental revision then appends the
annexes' pages, the bookmarks « Contrat » / « Annexe 1 — … », the document's metadata and
the three empty signature fields. The revision is written with :mod:`caqes_docs.pdf.pdfobjects`,
which parses only the objects it copies or changes: 1 to 2 ms per contract, where pyHanko's
writer took 10 and a whole rewrite with pypdf more.

What PDF/A-2b asks of the result, and how it is met:

- an output intent: the contract's catalog keeps its ``/OutputIntents`` (sRGB ICC profile);
- embedded fonts: each page keeps its own embedded subsets; since LibreOffice names its
  subsets ``AAAAAA+…``, ``BAAAAA+…`` in every file, the annexes' subsets are renamed so that
  two different subsets never share a name in the document (ISO 32000-1, 9.6.4);
- XMP metadata declaring ``pdfaid:part`` 2 and ``pdfaid:conformance`` B, with the same
  values as the Info dictionary (Title, Subject, Keywords, Author, Creator, Producer,
  CreationDate, ModDate), all dates from one reading of the clock;
- a trailer ``/ID``, classic cross-reference tables, no encryption, no JavaScript.

The parts' structure trees (LibreOffice tags its PDF/A exports) are not merged: the catalog
no longer declares the document tagged, as the annexes' pages are not in the contract's tree.

The Producer is pyHanko's own name on purpose: every pyHanko incremental update (the
signatures later) rewrites ``pdf:Producer`` in the XMP to exactly that name, and appends it
to the Info Producer unless already there; any other Producer would leave the two unequal,
which PDF/A forbids.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

from pyhanko.pdf_utils.metadata.model import VENDOR as PYHANKO_PRODUCER

from caqes_docs.errors import ConversionError
from caqes_docs.pdf.fields import FieldPlacement, add_signature_fields
from caqes_docs.pdf.pdfobjects import (
    Name,
    PdfFile,
    Ref,
    Revision,
    Stream,
    renumber,
    text_string,
)

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
_SUBSET_TAG = re.compile(r"/[A-Z]{6}\+")
_SUBSET_NAME = re.compile(rb"/([A-Z]{6})\+")


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
    contract = _open(parts[0])
    revision = Revision(contract)
    catalog = dict(contract.root)
    pages_ref = catalog["/Pages"]
    tree = dict(contract.dict(pages_ref))
    contract_pages = [ref for ref, _, _ in contract.pages()]
    tags = _Tags(_SUBSET_NAME.findall(parts[0].pdf))
    firsts = [contract_pages[0]]
    for part in parts[1:]:
        refs = _copy_pages(revision, _open(part), pages_ref, tags)
        firsts.append(refs[0])
        tree["/Kids"] = [*contract.resolve(tree["/Kids"]), *refs]  # type: ignore[misc]
        tree["/Count"] = int(tree["/Count"]) + len(refs)  # type: ignore[call-overload]
    revision.put(pages_ref, tree)  # type: ignore[arg-type]
    for key in ("/StructTreeRoot", "/MarkInfo"):
        catalog.pop(key, None)
    catalog.update(
        {
            "/Version": Name("/1.7"),  # what pyHanko's own revisions would set anyway
            "/Outlines": _outline(revision, [part.title for part in parts], firsts),
            "/PageMode": Name("/UseOutlines"),
            "/Metadata": revision.add(Stream(_XMP_DICT, _xmp_packet(metadata, moment))),
        }
    )
    if placements:
        catalog["/AcroForm"] = add_signature_fields(revision, contract, contract_pages, placements)
    root = contract.trailer["/Root"]
    revision.put(root, catalog)  # type: ignore[arg-type]
    info = revision.add(_info(metadata, moment))
    return revision.write({"/Root": root, "/Info": info})


def _open(part: Part) -> PdfFile:
    pdf = PdfFile(part.pdf, part.name)
    if "/OutputIntents" not in pdf.root:
        raise ConversionError(
            f"{part.name} : pas de profil de sortie (OutputIntents), ce n'est pas un PDF/A"
        )
    return pdf


class _Tags:
    """Font subset tags already used in the document, and fresh ones on demand."""

    def __init__(self, taken: Iterable[bytes]) -> None:
        self.taken = {tag.decode("ascii") for tag in taken}
        self._fresh = map("".join, itertools.product("ZYXWVUTSRQ", repeat=6))

    def claim(self, tag: str) -> str:
        """``tag`` if no other subset has it yet, else a fresh tag; now taken either way."""
        if tag in self.taken:
            tag = next(fresh for fresh in self._fresh if fresh not in self.taken)
        self.taken.add(tag)
        return tag


# A page's entries that point back into its own file's page tree or structure tree.
_PAGE_LINKS = ("/Parent", "/StructParents", "/Annots")
_ANNOTATION_LINKS = ("/P", "/Parent", "/StructParent")


def _copy_pages(revision: Revision, part: PdfFile, parent: Ref, tags: _Tags) -> list[Ref]:
    """Copy the pages of ``part``, with everything they use, once; their new references.

    The copies become kids of ``parent``; the part's structure tree is left behind. Each
    font subset gets a tag no other subset of the document has: LibreOffice names its
    subsets ``AAAAAA+…``, ``BAAAAA+…`` in every file (ISO 32000-1, 9.6.4).
    """
    pages = list(part.pages())
    numbers = {ref.num: revision.allocate() for ref, _, _ in pages}
    waiting: list[int] = []
    renamed: dict[str, str] = {}

    def new_ref(ref: Ref) -> Ref:
        if ref.num not in numbers:
            numbers[ref.num] = revision.allocate()
            waiting.append(ref.num)
        return numbers[ref.num]

    for ref, page, inherited in pages:
        copy = {key: value for key, value in page.items() if key not in _PAGE_LINKS}
        copy.update(inherited)
        annotations = [
            {k: v for k, v in part.dict(a).items() if k not in _ANNOTATION_LINKS}
            for a in part.resolve(page.get("/Annots")) or []  # type: ignore[union-attr]
        ]
        if annotations:
            copy["/Annots"] = annotations
        revision.put(numbers[ref.num], {**renumber(copy, new_ref), "/Parent": parent})
    while waiting:
        num = waiting.pop()
        value = part.get(num)
        if isinstance(value, Stream):
            dictionary = {k: v for k, v in value.dictionary.items() if k != "/Length"}
            value = Stream(renumber(_retag(dictionary, renamed, tags), new_ref), value.data)
        elif isinstance(value, dict):
            value = renumber(_retag(value, renamed, tags), new_ref)
        else:
            value = renumber(value, new_ref)
        revision.put(numbers[num], value)
    return [numbers[ref.num] for ref, _, _ in pages]


def _retag(dictionary: dict, renamed: dict[str, str], tags: _Tags) -> dict:
    """``dictionary`` with its font subset tag replaced by this part's new one.

    A Type0 font, its descendant CIDFont and their descriptors carry the same tag within a
    file: one mapping per part renames them together.
    """
    for key in ("/BaseFont", "/FontName"):
        name = dictionary.get(key)
        if isinstance(name, Name) and _SUBSET_TAG.match(name):
            tag = name[1:7]
            if tag not in renamed:
                renamed[tag] = tags.claim(tag)
            return {**dictionary, key: Name(f"/{renamed[tag]}{name[7:]}")}
    return dictionary


def _outline(revision: Revision, titles: Sequence[str], pages: Sequence[Ref]) -> Ref:
    """One top-level bookmark per part, opening its first page."""
    root = revision.allocate()
    items = [revision.allocate() for _ in titles]
    for index, (item, title, page) in enumerate(zip(items, titles, pages, strict=True)):
        entry: dict[str, object] = {
            "/Title": text_string(title),
            "/Parent": root,
            "/Dest": [page, Name("/Fit")],
        }
        if index:
            entry["/Prev"] = items[index - 1]
        if index + 1 < len(items):
            entry["/Next"] = items[index + 1]
        revision.put(item, entry)
    outline = {"/Type": Name("/Outlines"), "/First": items[0], "/Last": items[-1]}
    revision.put(root, {**outline, "/Count": len(items)})
    return root


def _info(meta: DocumentMetadata, moment: datetime) -> dict[str, object]:
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
    return {key: text_string(value) for key, value in info.items()}


_XMP_DICT: dict[str, object] = {"/Type": Name("/Metadata"), "/Subtype": Name("/XML")}


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
