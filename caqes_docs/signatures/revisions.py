"""What one stretch of revisions may change: the allow-list, written once.

A returned contract is the issued file followed by incremental updates. Between two
consecutive states that count — the issued revision, then each party's signed revision, then
the end of the file — :func:`segment_problems` lists every object written or freed, and
accepts only what :data:`the allow-list <ALLOWED>` names; everything else that changed is a
problem, in French, naming the object. The same rule judges every stretch, whoever wrote it
and whether or not the issued record is at hand: what comes after a signature is judged like
what comes before it.

Objects a stretch may write (each a line of the allow-list):

- the signing party's own field and widget: its value (/V, the signature dictionary and what
  only it refers to — DocMDP /Reference, /SigRef, /TransformParams), its appearance (/AP,
  /MK, /DA), /Rect (``[0 0 0 0]`` for an invisible signature), /F and /Ff flags, /Lock, /SV;
- the catalog's /Perms (DocMDP), /DSS (validation data), /Extensions, /Version (syntax
  facts, nothing a reader sees), /AcroForm's /SigFlags, /DR and /DA (default resources
  and appearance of variable text, which signature fields do not use);
- document timestamps: a new field whose value is a /DocTimeStamp, with an invisible widget;
- the Info dictionary's /ModDate and /Producer and the XMP dates, producer and instance id:
  every signing tool writes them;
- a page dictionary rewritten identically, its numbers within :data:`TOLERANCE_PT`;
- object and cross-reference streams, which only hold the objects above.

Everything else — page content, resources, fonts, annotations other than the party's widget,
page boxes beyond rounding, other fields, /NeedAppearances, any other Info or XMP entry, an
object nothing refers to — is a modification.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from xml.etree import ElementTree

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader

# Numbers a tool rewrites may move by this much (points): PDFBox writes page boxes with
# fewer decimals than LibreOffice. 0.01 pt is 1/7200 inch, far below a screen or printer dot.
TOLERANCE_PT = 0.01

# Keys of the party's own field/widget its signer may set.
OWN_FIELD_KEYS = frozenset(
    {"/V", "/AP", "/MK", "/DA", "/Rect", "/F", "/Ff", "/Lock", "/SV", "/AS", "/M"}
)
# Catalog keys a signer may add or change: DocMDP, validation data, extension levels.
CATALOG_KEYS = frozenset({"/Perms", "/DSS", "/Extensions", "/Version", "/AcroForm", "/Metadata"})
# AcroForm keys a signer may add or change: signature flags, default resources, and the
# default appearance of variable text (PDFBox writes one), which no signature field uses.
# /Fields is compared field by field (_check_acroform).
ACROFORM_KEYS = frozenset({"/SigFlags", "/DR", "/DA", "/Fields"})
# Info entries every signing tool rewrites.
INFO_KEYS = frozenset({"/ModDate", "/Producer"})
# XMP properties every signing tool rewrites (namespace URI, local name).
XMP_PROPERTIES = frozenset(
    {
        ("http://ns.adobe.com/xap/1.0/", "ModifyDate"),
        ("http://ns.adobe.com/xap/1.0/", "MetadataDate"),
        ("http://ns.adobe.com/pdf/1.3/", "Producer"),
        ("http://ns.adobe.com/xap/1.0/mm/", "InstanceID"),
    }
)
_CONTAINER_TYPES = ("/ObjStm", "/XRef")
_MAX_PROBLEMS = 5


@dataclass
class _Stretch:
    reader: PdfFileReader
    old: HistoricalResolver
    new: HistoricalResolver
    base: int
    own_field: str | None
    allow_timestamps: bool
    problems: list[str] = field(default_factory=list)
    timestamp_fields: set[tuple[int, int]] = field(default_factory=set)
    validation_data: set[tuple[int, int]] = field(default_factory=set)

    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)


def segment_problems(
    reader: PdfFileReader,
    base: int,
    target: int,
    *,
    own_field: str | None,
    allow_timestamps: bool,
) -> list[str]:
    """What revisions ``base + 1`` to ``target`` changed beyond the allow-list, in French.

    ``own_field`` is the field the stretch's signer fills (None: no field may be filled);
    ``allow_timestamps`` admits validation data and document timestamps.
    """
    if target <= base:
        return []
    stretch = _Stretch(
        reader,
        reader.get_historical_resolver(base),
        reader.get_historical_resolver(target),
        base,
        own_field,
        allow_timestamps,
    )
    written: set[tuple[int, int]] = set()
    for revision in range(base + 1, target + 1):
        written |= {
            (r.idnum, r.generation) for r in reader.xrefs.explicit_refs_in_revision(revision)
        }
        for ref in reader.xrefs.refs_freed_in_revision(revision):
            if _existed(stretch, (ref.idnum, ref.generation)):
                stretch.problem(f"objet {ref.idnum} supprimé")
    _check_trailer(stretch)
    free = _free_zone(stretch)
    added = []
    for key in sorted(written):
        if len(stretch.problems) >= _MAX_PROBLEMS:
            break
        if _existed(stretch, key):
            _check_rewritten(stretch, key)
        elif key not in free and not _is_container(stretch, key):
            added.append(key)
    if added and own_field is not None:
        # A signer's own revision may leave objects nothing refers to (poppler writes one):
        # nothing shows them, and the signature covers them.
        used = _reachable(stretch.new, [stretch.new.trailer_view.raw_get("/Root")])
        added = [key for key in added if key in used]
    for key in added[:_MAX_PROBLEMS]:
        stretch.problem(f"objet {key[0]} ajouté ({_describe(stretch.new, key)})")
    return stretch.problems


# --- what existed, what is free ------------------------------------------------------------


def _existed(stretch: _Stretch, key: tuple[int, int]) -> bool:
    try:
        introduced = stretch.reader.xrefs.get_introducing_revision(generic.Reference(*key))
    except KeyError:
        return False
    return introduced <= stretch.base


def _ref(obj: object) -> tuple[int, int] | None:
    if isinstance(obj, generic.IndirectObject):
        return (obj.idnum, obj.generation)
    return None


def _get(resolver: HistoricalResolver, key: tuple[int, int]) -> generic.PdfObject:
    return resolver.get_object(generic.Reference(*key, pdf=resolver))


def _reachable(resolver: HistoricalResolver, roots: Iterable[object]) -> set[tuple[int, int]]:
    """Every indirect object ``roots`` refer to, directly or not (no recursion: hostile depth)."""
    seen: set[tuple[int, int]] = set()
    stack = list(roots)
    while stack:
        obj = stack.pop()
        key = _ref(obj)
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
            obj = _get(resolver, key)
        if isinstance(obj, generic.DictionaryObject):  # streams included
            stack.extend(obj.values())
        elif isinstance(obj, generic.ArrayObject):
            stack.extend(obj)
    return seen


def _fields(resolver: HistoricalResolver) -> dict[str, generic.IndirectObject]:
    """Top-level form fields by name (the contract's fields are all top-level)."""
    try:
        entries = resolver.root["/AcroForm"]["/Fields"]
    except KeyError:
        return {}
    found = {}
    for entry in entries:
        if isinstance(entry, generic.IndirectObject):
            name = entry.get_object().get("/T")
            found[str(name)] = entry
    return found


def _is_timestamp_field(obj: generic.PdfObject) -> bool:
    if not isinstance(obj, generic.DictionaryObject) or "/V" not in obj:
        return False
    value = obj["/V"]
    return isinstance(value, generic.DictionaryObject) and value.get("/Type") == "/DocTimeStamp"


def _free_zone(stretch: _Stretch) -> set[tuple[int, int]]:
    """New objects the stretch may write: under the party's value and appearance, DocMDP,
    validation data, default resources, new document timestamps, new Info and XMP."""
    new = stretch.new
    roots: list[object] = []
    fields = _fields(new)
    own = fields.get(stretch.own_field) if stretch.own_field else None
    if own is not None:
        own_dict = own.get_object()
        roots += [own_dict.raw_get(key) for key in OWN_FIELD_KEYS & set(own_dict)]
    root = new.root
    roots += [root.raw_get(key) for key in ("/Perms", "/Extensions") if key in root]
    if stretch.allow_timestamps and "/DSS" in root:
        # Validation data only holds certificates, OCSP responses and CRLs: the objects it
        # already held may be rewritten as well as new ones added.
        old_root = stretch.old.root
        if "/DSS" in old_root:
            stretch.validation_data = _reachable(new, [root.raw_get("/DSS")]) & _reachable(
                stretch.old, [old_root.raw_get("/DSS")]
            )
        roots.append(root.raw_get("/DSS"))
    form = _value(root, "/AcroForm")
    if isinstance(form, generic.DictionaryObject) and "/DR" in form:
        roots.append(form.raw_get("/DR"))
    old_fields = _fields(stretch.old)
    for name, ref in fields.items():
        if name in old_fields or not stretch.allow_timestamps:
            continue
        if _is_timestamp_field(ref.get_object()) and _invisible(ref.get_object()):
            roots.append(ref)
            stretch.timestamp_fields.add((ref.idnum, ref.generation))
    free = _reachable(new, roots)
    # A new AcroForm, Info dictionary or XMP packet is compared with the old one instead.
    for holder, key in ((root, "/AcroForm"), (root, "/Metadata"), (new.trailer_view, "/Info")):
        if key in holder and _ref(holder.raw_get(key)) is not None:
            free.add(_ref(holder.raw_get(key)))  # type: ignore[arg-type]
    return free


def _invisible(widget: generic.DictionaryObject) -> bool:
    box = _box(_value(widget, "/Rect"))
    return box is not None and (box[2] - box[0]) * (box[3] - box[1]) == 0


def _is_container(stretch: _Stretch, key: tuple[int, int]) -> bool:
    obj = _get(stretch.new, key)
    return isinstance(obj, generic.StreamObject) and obj.get("/Type") in _CONTAINER_TYPES


def _describe(resolver: HistoricalResolver, key: tuple[int, int]) -> str:
    try:
        obj = _get(resolver, key)
    except Exception:  # only a label for a message
        return "illisible"
    if isinstance(obj, generic.DictionaryObject):
        kind = obj.get("/Type") or obj.get("/Subtype") or obj.get("/FT")
        if kind is not None:
            return str(kind).lstrip("/")
        return "flux" if isinstance(obj, generic.StreamObject) else "dictionnaire"
    return type(obj).__name__.replace("Object", "").lower()


# --- objects that existed before ---------------------------------------------------------------


def _check_trailer(stretch: _Stretch) -> None:
    old, new = stretch.old.trailer_view, stretch.new.trailer_view
    if _ref(old.raw_get("/Root")) != _ref(new.raw_get("/Root")):
        stretch.problem("catalogue du document remplacé")
    if "/Encrypt" in new and "/Encrypt" not in old:
        stretch.problem("chiffrement ajouté au document")
    old_info, new_info = _info(stretch.old), _info(stretch.new)
    if old_info is not None or new_info is not None:
        _check_info(stretch, old_info or generic.DictionaryObject(), new_info)
    _check_metadata(stretch)


def _info(resolver: HistoricalResolver) -> generic.DictionaryObject | None:
    trailer = resolver.trailer_view
    if "/Info" not in trailer:
        return None
    info = trailer.raw_get("/Info")
    # The flattened trailer's references lead to the newest objects: resolve in this revision.
    key = _ref(info)
    info = _get(resolver, key) if key is not None else info
    return info if isinstance(info, generic.DictionaryObject) else None


def _check_info(
    stretch: _Stretch, old: generic.DictionaryObject, new: generic.DictionaryObject | None
) -> None:
    new = new if new is not None else generic.DictionaryObject()
    for key in sorted(set(old) | set(new)):
        if key not in INFO_KEYS and not _same(old.get(key), new.get(key)):
            stretch.problem(f"métadonnées du document modifiées ({key.lstrip('/')})")


def _check_metadata(stretch: _Stretch) -> None:
    old, new = _xmp(stretch.old), _xmp(stretch.new)
    if old == new:
        return
    if old is None or new is None:
        stretch.problem("métadonnées XMP ajoutées ou retirées")
        return
    changed = {(namespace, local) for namespace, local, _value in set(old) ^ set(new)}
    for _namespace, local in sorted(changed - XMP_PROPERTIES):
        stretch.problem(f"métadonnées XMP modifiées ({local})")


def _xmp(resolver: HistoricalResolver) -> set[tuple[str, str, str]] | None:
    """The XMP packet as (namespace, name, text) leaves and attributes; None without one."""
    key = _ref(resolver.root.raw_get("/Metadata")) if "/Metadata" in resolver.root else None
    stream = _metadata_stream(resolver, key) if key is not None else None
    if not isinstance(stream, generic.StreamObject):
        return None
    try:
        # Expat refuses external entities and caps entity expansion (billion laughs).
        tree = ElementTree.fromstring(stream.data)
    except ElementTree.ParseError:
        return {("", "XMP illisible", stream.data.hex()[:64])}
    leaves: set[tuple[str, str, str]] = set()
    for element in tree.iter():
        for attribute, value in element.attrib.items():
            leaves.add((*_split(attribute), value))
        if len(element) == 0:
            leaves.add((*_split(element.tag), (element.text or "").strip()))
    return leaves


def _metadata_stream(resolver: HistoricalResolver, key: tuple[int, int]) -> generic.PdfObject:
    """The XMP stream as it stood in the resolver's revision, read from the reader itself:
    pyHanko may hold it as a metadata stream, which its historical view cannot copy."""
    reader, revision = resolver.reader, resolver.revision
    ref = generic.Reference(*key, pdf=reader)
    if reader.xrefs.get_last_change(ref) <= revision:
        return reader.get_object(ref)
    return reader.get_object(ref, revision)


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def _check_rewritten(stretch: _Stretch, key: tuple[int, int]) -> None:
    old, new = _get(stretch.old, key), _get(stretch.new, key)
    if _same(old, new) or key in stretch.validation_data:
        return
    root_key = _ref(stretch.new.trailer_view.raw_get("/Root"))
    fields = _fields(stretch.new)
    own = fields.get(stretch.own_field) if stretch.own_field else None
    if key == root_key:
        _compare_keys(stretch, old, new, CATALOG_KEYS, "catalogue du document")
        _check_acroform(stretch)
    elif own is not None and key == _ref(own):
        _compare_keys(stretch, old, new, OWN_FIELD_KEYS, f"champ {stretch.own_field}")
        _check_own_rect(stretch, old, new)
    elif key in {_ref(stretch.new.root.raw_get("/AcroForm"))}:
        _check_acroform(stretch)
    elif key == _ref(stretch.new.trailer_view.raw_get("/Info")) or key == _ref(
        stretch.new.root.raw_get("/Metadata")
    ):
        return  # judged by the Info and XMP rules
    elif isinstance(new, generic.DictionaryObject) and new.get("/Type") == "/Page":
        old_annots, new_annots = _raw_value(old, "/Annots"), _raw_value(new, "/Annots")
        if not _only_timestamps_added(stretch, old_annots, new_annots):
            stretch.problem(f"annotations de la page modifiées (objet {key[0]})")
        else:
            _compare_keys(stretch, old, new, frozenset({"/Annots"}), f"page (objet {key[0]})")
    elif isinstance(new, generic.ArrayObject) and _only_timestamps_added(stretch, old, new):
        return
    else:
        stretch.problem(f"objet {key[0]} modifié ({_describe(stretch.new, key)})")


def _only_timestamps_added(stretch: _Stretch, old: object, new: object) -> bool:
    """Whether ``new`` is the array ``old`` plus widgets of new document timestamps."""
    if _same(old, new):
        return True
    if isinstance(old, generic.IndirectObject) or isinstance(new, generic.IndirectObject):
        return False  # a changed indirect array is judged as an object of its own
    old_items = list(old) if isinstance(old, generic.ArrayObject) else []
    if not isinstance(new, generic.ArrayObject) or not _same(
        old_items, list(new)[: len(old_items)]
    ):
        return False
    return all(_ref(item) in stretch.timestamp_fields for item in list(new)[len(old_items) :])


def _check_own_rect(stretch: _Stretch, old: generic.PdfObject, new: generic.PdfObject) -> None:
    """The party's widget may be hidden ([0 0 0 0]) or stay within its issued box, no more:
    a larger one could cover the page with the party's appearance."""
    if not isinstance(old, generic.DictionaryObject) or not isinstance(
        new, generic.DictionaryObject
    ):
        return
    before, after = _box(_value(old, "/Rect")), _box(_value(new, "/Rect"))
    if after is None or after == before or (after[2] - after[0]) * (after[3] - after[1]) == 0:
        return
    inside = before is not None and (
        after[0] >= before[0] - TOLERANCE_PT
        and after[1] >= before[1] - TOLERANCE_PT
        and after[2] <= before[2] + TOLERANCE_PT
        and after[3] <= before[3] + TOLERANCE_PT
    )
    if not inside:
        stretch.problem(f"champ {stretch.own_field} : widget agrandi hors de son emplacement émis")


def _box(rect: object) -> tuple[float, float, float, float] | None:
    """A rectangle as (left, bottom, right, top); None if it is not four numbers."""
    if not isinstance(rect, generic.ArrayObject) or len(rect) != 4:
        return None
    try:
        x0, y0, x1, y1 = (float(value) for value in rect)
    except (TypeError, ValueError):
        return None
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _compare_keys(
    stretch: _Stretch,
    old: generic.PdfObject,
    new: generic.PdfObject,
    allowed: frozenset[str],
    what: str,
) -> None:
    if not isinstance(old, generic.DictionaryObject) or not isinstance(
        new, generic.DictionaryObject
    ):
        stretch.problem(f"{what} remplacé")
        return
    for key in sorted(set(old) | set(new)):
        if key not in allowed and not _same(_raw_value(old, key), _raw_value(new, key)):
            stretch.problem(f"{what} modifié ({key.lstrip('/')})")


def _check_acroform(stretch: _Stretch) -> None:
    old, new = _value(stretch.old.root, "/AcroForm"), _value(stretch.new.root, "/AcroForm")
    if not isinstance(old, generic.DictionaryObject) or not isinstance(
        new, generic.DictionaryObject
    ):
        if not _same(old, new):
            stretch.problem("formulaire du document remplacé")
        return
    _compare_keys(stretch, old, new, ACROFORM_KEYS, "formulaire du document")
    old_fields, new_fields = _fields(stretch.old), _fields(stretch.new)
    for name in sorted(set(old_fields) - set(new_fields)):
        stretch.problem(f"champ {name} retiré")
    for name in sorted(set(new_fields) - set(old_fields)):
        if not (stretch.allow_timestamps and _is_timestamp_field(new_fields[name].get_object())):
            stretch.problem(f"champ {name} ajouté")
    for name in sorted(set(old_fields) & set(new_fields)):
        if _ref(old_fields[name]) != _ref(new_fields[name]):
            stretch.problem(f"champ {name} remplacé")


# --- comparing values -------------------------------------------------------------------------


def _same(old: object, new: object) -> bool:
    """Equal PDF values, references compared by number, numbers within the tolerance.

    Iterative, with a bound: hostile files nest arrays very deep.
    """
    stack = [(old, new)]
    steps = 0
    while stack:
        steps += 1
        if steps > 200_000:
            return False
        a, b = stack.pop()
        if isinstance(a, generic.IndirectObject) or isinstance(b, generic.IndirectObject):
            if _ref(a) != _ref(b):
                return False
        elif isinstance(a, generic.StreamObject) or isinstance(b, generic.StreamObject):
            if not (isinstance(a, generic.StreamObject) and isinstance(b, generic.StreamObject)):
                return False
            if a.encoded_data != b.encoded_data:
                return False
            stack.append((_raw(a), _raw(b)))
        elif isinstance(a, dict) and isinstance(b, dict):
            a, b = _raw(a), _raw(b)
            if set(a) != set(b):
                return False
            stack.extend((a[key], b[key]) for key in a)
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                return False
            stack.extend(zip(a, b, strict=True))
        elif _number(a) and _number(b):
            if abs(float(a) - float(b)) > TOLERANCE_PT:  # type: ignore[arg-type]
                return False
        elif type(a) is not type(b) or a != b:
            return False
    return True


def _value(dictionary: generic.DictionaryObject, key: str) -> generic.PdfObject | None:
    """The value of ``key``, references followed (``get`` leaves them as they are)."""
    return dictionary[key] if key in dictionary else None  # noqa: SIM401


def _raw_value(dictionary: generic.DictionaryObject, key: str) -> object:
    return dictionary.raw_get(key) if key in dictionary else None


def _raw(value: dict) -> dict:
    """A dictionary's values as written: references not followed."""
    if isinstance(value, generic.DictionaryObject):
        return {key: value.raw_get(key) for key in value}
    return value


def _number(value: object) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)
