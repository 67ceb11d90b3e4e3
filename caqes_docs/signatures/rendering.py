"""Defence in depth: the pages a reader sees, issued and signed, compared pixel by pixel.

The allow-list (:mod:`caqes_docs.signatures.revisions`) judges the objects each revision
writes; this module judges the result as a reader sees it. Both revisions are rendered with
pdfium (pypdfium2), form appearances included, and compared outside the rectangles of the
signature widgets, where the parties' appearances legitimately appear.

Resolution: 36 dpi. A pixel is then 0.7 mm: the smallest change a reader notices on paper or
at normal zoom — a digit of 9 pt body text, about 2 × 3 mm — covers a dozen pixels, and any
stroke added or moved changes at least one by far more than anti-aliasing noise (pdfium
renders the same content to the same pixels). Higher resolutions cost more (ten pages of two
revisions take ~40 ms at 36 dpi) without catching more than a reader would see.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy
import pypdfium2
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import HistoricalResolver

from caqes_docs.signatures.revisions import TOLERANCE_PT

DPI = 36
# Grey levels (of 255) a pixel may move by: pdfium is deterministic, this only absorbs
# anti-aliasing at a mask's edge.
_THRESHOLD = 48
_FLOAT32 = 1e-3
# Pixels around each widget also masked: its border may be anti-aliased into them.
_MARGIN_PX = 2

Box = tuple[float, float, float, float]


def visible_differences(before: bytes, after: bytes, masks: dict[int, list[Box]]) -> list[str]:
    """The pages (numbered from 1) that differ outside ``masks`` (page index → boxes in PDF
    units), in French; nothing when the two render the same."""
    old, new = pypdfium2.PdfDocument(before), pypdfium2.PdfDocument(after)
    try:
        if len(old) != len(new):
            return [f"nombre de pages changé ({len(old)} → {len(new)})"]
        for document in (old, new):
            document.init_forms()
        return [
            f"page {index + 1} : contenu visible modifié"
            for index in range(len(new))
            if _page_differs(old[index], new[index], masks.get(index, []))
        ]
    finally:
        old.close()
        new.close()


def _page_differs(old: pypdfium2.PdfPage, new: pypdfium2.PdfPage, boxes: list[Box]) -> bool:
    if old.get_rotation() != new.get_rotation() or not _same_boxes(old, new):
        return True
    scale = DPI / 72
    a = _pixels(old, scale)
    b = _pixels(new, scale)
    if a.shape != b.shape:
        return True
    differs = numpy.abs(a.astype(numpy.int16) - b.astype(numpy.int16)) > _THRESHOLD
    left, _bottom, _right, top = new.get_mediabox()
    for x0, y0, x1, y1 in boxes:
        columns = slice(
            max(0, int((min(x0, x1) - left) * scale) - _MARGIN_PX),
            int((max(x0, x1) - left) * scale) + 1 + _MARGIN_PX,
        )
        rows = slice(
            max(0, int((top - max(y0, y1)) * scale) - _MARGIN_PX),
            int((top - min(y0, y1)) * scale) + 1 + _MARGIN_PX,
        )
        differs[rows, columns] = False
    return bool(differs.any())


def _same_boxes(old: pypdfium2.PdfPage, new: pypdfium2.PdfPage) -> bool:
    """Whether the page boxes agree within the tolerance; if so the new page is rendered in
    the old one's boxes, since a box rounded by a tool shifts the whole page by a fraction of a
    pixel, which moves anti-aliased pixels everywhere without anything a reader would see."""
    media, crop = old.get_mediabox(), old.get_cropbox()
    for before, after in ((media, new.get_mediabox()), (crop, new.get_cropbox())):
        # pdfium gives the boxes in single precision: 612.01 reads 612.010009765625.
        if any(abs(x - y) > TOLERANCE_PT + _FLOAT32 for x, y in zip(before, after, strict=True)):
            return False
    new.set_mediabox(*media)
    new.set_cropbox(*crop)
    return True


def _pixels(page: pypdfium2.PdfPage, scale: float) -> numpy.ndarray:
    bitmap = page.render(scale=scale, may_draw_forms=True, grayscale=True)
    return bitmap.to_numpy().copy()


def widget_boxes(reader: HistoricalResolver, field_names: Iterable[str]) -> dict[int, list[Box]]:
    """The rectangles of the named fields' widgets, by page index, in the given revision.

    Given the issued revision: a signer who enlarges its widget (allowed by the allow-list,
    since tools move and hide it) gets no more room than the issued box to draw in."""
    pages = _page_refs(reader)
    names = set(field_names)
    boxes: dict[int, list[Box]] = {}
    # Indexing follows references; ``get`` would leave them as they are.
    form = reader.root["/AcroForm"] if "/AcroForm" in reader.root else None  # noqa: SIM401
    fields = form["/Fields"] if isinstance(form, generic.DictionaryObject) else []
    for entry in fields:
        widget = entry.get_object()
        if not isinstance(widget, generic.DictionaryObject) or str(widget.get("/T")) not in names:
            continue
        page = _page_of(widget, entry, pages, reader)
        rect = widget["/Rect"] if "/Rect" in widget else None  # noqa: SIM401
        if page is None or not isinstance(rect, generic.ArrayObject) or len(rect) != 4:
            continue
        x0, y0, x1, y1 = (float(value) for value in rect)
        boxes.setdefault(page, []).append((x0, y0, x1, y1))
    return boxes


def _page_refs(reader: HistoricalResolver) -> list[tuple[int, int]]:
    """The pages' object numbers in reading order (iterative: hostile trees can be deep)."""
    found: list[tuple[int, int]] = []
    stack = [reader.root.raw_get("/Pages")]
    seen: set[tuple[int, int]] = set()
    while stack:
        node_ref = stack.pop()
        if not isinstance(node_ref, generic.IndirectObject):
            continue
        key = (node_ref.idnum, node_ref.generation)
        if key in seen:
            continue
        seen.add(key)
        node = reader.get_object(generic.Reference(*key, pdf=reader))
        if node.get("/Type") == "/Pages":
            stack.extend(reversed(list(node["/Kids"])))
        else:
            found.append(key)
    return found


def _page_of(
    widget: generic.DictionaryObject,
    entry: generic.IndirectObject,
    pages: list[tuple[int, int]],
    reader: HistoricalResolver,
) -> int | None:
    page = widget.raw_get("/P") if "/P" in widget else None
    if isinstance(page, generic.IndirectObject) and (page.idnum, page.generation) in pages:
        return pages.index((page.idnum, page.generation))
    # Without /P, the page whose annotations list the widget.
    target = (entry.idnum, entry.generation)
    for index, (idnum, generation) in enumerate(pages):
        page_dict = reader.get_object(generic.Reference(idnum, generation, pdf=reader))
        annots = page_dict["/Annots"] if "/Annots" in page_dict else []  # noqa: SIM401
        if any(
            isinstance(a, generic.IndirectObject) and (a.idnum, a.generation) == target
            for a in annots
        ):
            return index
    return None
