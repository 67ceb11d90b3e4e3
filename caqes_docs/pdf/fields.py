"""Empty signature fields at the contract's anchors, in one incremental revision.

The signature block has one column per party, with a signature anchor above a date anchor
(``/s1_ETAB/`` over ``/d1_ETAB/`` …), written in white so that they do not print. Each field
covers its party's cell from the signature anchor down to the date anchor. The anchors are
found with their exact character boxes, searching from the contract's last page backwards and
stopping as soon as all six are found (they sit on the signature page), so that one page is
read in the usual case.

The character boxes come from PDFium (pypdfium2, which pdfplumber already depends on) rather
than pdfplumber: on the rendered contracts' signature pages (1,400 to 2,700 characters)
pdfplumber took 50 to 100 ms per page, PDFium 3 ms, and the whole post-processing budget is
well under 60 ms per contract. PDFium is not thread-safe: calls are serialised by a lock.

The fields themselves are created by :mod:`caqes_docs.pdf.assemble`, all three in ONE revision,
before any signature: a field added after a certification signature invalidates it. This
module imports no pyHanko, so that reading a campaign (its field geometry) stays light.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from caqes_docs.errors import InputError, SignatureFieldError
from caqes_docs.parties import PARTIES, Party

if TYPE_CHECKING:
    import pypdfium2 as pdfium

_PDFIUM_LOCK = threading.Lock()

__all__ = [
    "AnchorBox",
    "FieldGeometry",
    "FieldPlacement",
    "find_anchors",
    "plan_fields",
]


@dataclass(frozen=True)
class FieldGeometry:
    """Where a field sits relative to its anchors, in points (1/72 in).

    The field's left edge is ``x_offset_pt`` right of the signature anchor's left edge (a
    negative offset goes left), its width ``width_pt``; its top is ``y_offset_pt`` above the
    signature anchor's top. Its height is ``height_pt``, or, when that is ``None``, it reaches
    ``bottom_margin_pt`` below the date anchor. The field always contains both anchors' boxes.
    The defaults fit a three-column table across an A4 page with 2 cm margins (columns of
    about 160 pt), as in the shipped contract model.
    """

    width_pt: float = 150.0
    height_pt: float | None = None
    x_offset_pt: float = -4.0
    y_offset_pt: float = 4.0
    bottom_margin_pt: float = 4.0

    def __post_init__(self) -> None:
        if not self.width_pt > 0:
            raise InputError("la largeur doit être positive", place="width_pt", value=self.width_pt)
        if self.height_pt is not None and not self.height_pt > 0:
            raise InputError(
                "la hauteur doit être positive", place="height_pt", value=self.height_pt
            )


@dataclass(frozen=True)
class AnchorBox:
    """An anchor's box on a page (0-based index), in PDF user space (origin bottom left)."""

    text: str
    page: int
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class FieldPlacement:
    """A field to create: name, page (0-based) and box ``(llx, lly, urx, ury)``."""

    name: str
    label: str
    page: int
    box: tuple[int, int, int, int]

    def contains(self, anchor: AnchorBox) -> bool:
        llx, lly, urx, ury = self.box
        return (
            anchor.page == self.page
            and llx <= anchor.x0
            and anchor.x1 <= urx
            and lly <= anchor.y0
            and anchor.y1 <= ury
        )


def find_anchors(
    pdf: bytes,
    anchors: Sequence[str],
    *,
    last_page: int | None = None,
    source: str = "document",
) -> dict[str, AnchorBox]:
    """Locate each anchor once, reading pages from ``last_page`` (default: the last) backwards.

    Reading stops at the first page after which every anchor has been seen. Raises
    :class:`SignatureFieldError` for an anchor that is missing or found twice.
    """
    import pypdfium2 as pdfium  # here: the campaign imports this module for FieldGeometry

    found: dict[str, list[AnchorBox]] = {anchor: [] for anchor in anchors}
    with _PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(pdf)
        except pdfium.PdfiumError as exc:
            raise SignatureFieldError(
                f"{source} : PDF illisible (PDFium ne peut pas le lire)"
            ) from exc
        try:
            count = len(document)
            start = count - 1 if last_page is None else min(last_page, count - 1)
            for index in range(start, -1, -1):
                _collect(document, index, found)
                if all(found.values()):
                    break
        except pdfium.PdfiumError as exc:
            raise SignatureFieldError(
                f"{source} : PDF illisible (PDFium ne peut pas le lire)"
            ) from exc
        finally:
            document.close()
    for anchor, boxes in found.items():
        if not boxes:
            raise SignatureFieldError(f"{source} : ancre « {anchor} » introuvable dans le document")
        if len(boxes) > 1:
            pages_text = ", ".join(str(box.page + 1) for box in boxes)
            raise SignatureFieldError(
                f"{source} : ancre « {anchor} » présente {len(boxes)} fois (pages {pages_text})"
            )
    return {anchor: boxes[0] for anchor, boxes in found.items()}


def _collect(document: pdfium.PdfDocument, index: int, found: dict[str, list[AnchorBox]]) -> None:
    """Add the box of every occurrence of each anchor on one page."""
    page = document[index]
    text = page.get_textpage()
    try:
        for anchor, boxes in found.items():
            searcher = text.search(anchor, match_case=True)
            while (match := searcher.get_next()) is not None:
                first, length = match
                chars = [
                    text.get_charbox(char, loose=True) for char in range(first, first + length)
                ]
                boxes.append(
                    AnchorBox(
                        anchor,
                        index,
                        min(box[0] for box in chars),
                        min(box[1] for box in chars),
                        max(box[2] for box in chars),
                        max(box[3] for box in chars),
                    )
                )
            searcher.close()
    finally:
        text.close()
        page.close()


def plan_fields(
    anchors: dict[str, AnchorBox],
    geometry: FieldGeometry = FieldGeometry(),
    specs: Sequence[Party] = PARTIES,
    *,
    source: str = "document",
) -> list[FieldPlacement]:
    """The field rectangles for ``specs`` given their anchors' boxes."""
    placements = [_placement(spec, anchors, geometry, source) for spec in specs]
    for index, first in enumerate(placements):
        for second in placements[index + 1 :]:
            if first.page == second.page and _overlap(first.box, second.box):
                raise SignatureFieldError(
                    f"{source} : les champs « {first.name} » et « {second.name} » se "
                    "chevauchent ; réduisez la largeur ou la hauteur des champs"
                )
    return placements


def _placement(
    spec: Party,
    anchors: dict[str, AnchorBox],
    geometry: FieldGeometry,
    source: str,
) -> FieldPlacement:
    sign, date = anchors[spec.signature_anchor], anchors[spec.date_anchor]
    if sign.page != date.page:
        raise SignatureFieldError(
            f"{source} : les ancres « {sign.text} » (page {sign.page + 1}) et « {date.text} » "
            f"(page {date.page + 1}) doivent être sur la même page"
        )
    if date.y1 > sign.y0:
        raise SignatureFieldError(
            f"{source} : l'ancre « {date.text} » doit être sous l'ancre « {sign.text} »"
        )
    left = sign.x0 + geometry.x_offset_pt
    top = sign.y1 + geometry.y_offset_pt
    if geometry.height_pt is None:
        bottom = date.y0 - geometry.bottom_margin_pt
    else:
        bottom = top - geometry.height_pt
    # the field must hold both anchors whatever the geometry says
    llx = min(left, sign.x0, date.x0)
    urx = max(left + geometry.width_pt, sign.x1, date.x1)
    lly = min(bottom, sign.y0, date.y0)
    ury = max(top, sign.y1, date.y1)
    box = (math.floor(llx), math.floor(lly), math.ceil(urx), math.ceil(ury))
    return FieldPlacement(spec.field, spec.tooltip, sign.page, box)


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
