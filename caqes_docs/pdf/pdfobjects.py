"""Just enough PDF syntax to read LibreOffice's files and append one incremental revision.

Assembling a signable PDF reads a few objects of the contract (trailer, catalog, page tree,
signature page) and the pages of each annex with what they use, then appends one revision.
pyHanko's reader parses every cross-reference entry and builds rich objects in Python: 10 ms
per contract, the largest cost of a campaign after LibreOffice itself. This module reads
only the objects asked for: the cross-reference table is indexed by arithmetic (its entries
are 20 bytes each, ISO 32000-1, 7.5.4) and an object is parsed when it is first asked for.

What it reads: files with classic cross-reference tables, as LibreOffice writes them (and
pyHanko's incremental updates too). A file with a cross-reference stream, object streams or
encryption is refused with a :class:`~caqes_docs.errors.ConversionError`; it never came out
of LibreOffice.

The object model is deliberately plain:

- ``None``, ``bool`` and ``int`` for null, booleans and integers;
- :class:`Name` (a ``str`` holding the name as written, ``/`` included) for names; dictionary
  keys are such strings too;
- :class:`Token` (``bytes``) for what is copied exactly as written: real numbers, literal and
  hexadecimal strings;
- ``list`` and ``dict`` for arrays and dictionaries; :class:`Ref` for indirect references;
- :class:`Stream` for a stream: its dictionary and its data, still encoded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from caqes_docs.errors import ConversionError

__all__ = ["Name", "PdfFile", "Ref", "Revision", "Stream", "Token", "text_string"]


class Name(str):
    """A PDF name as written, with its slash: ``Name("/Page")``."""


class Token(bytes):
    """A real number or a string, kept byte for byte as written."""


@dataclass(frozen=True)
class Ref:
    """An indirect reference ``num gen R``."""

    num: int
    gen: int = 0


@dataclass
class Stream:
    """A stream object: its dictionary and its (still encoded) data."""

    dictionary: dict[str, object]
    data: bytes


_WS = rb"\x00\t\n\x0c\r "
_DELIMITERS = rb"()<>\[\]{}/%"
_TOKEN = re.compile(
    rb"(?:[" + _WS + rb"]+|%[^\r\n]*)*"  # white space and comments
    rb"(?:(?P<ref>(\d+)[" + _WS + rb"]+(\d+)[" + _WS + rb"]+R(?![^" + _WS + _DELIMITERS + rb"]))"
    rb"|(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))"
    rb"|(?P<name>/[^" + _WS + _DELIMITERS + rb"]*)"
    rb"|(?P<open><<|\[)"
    rb"|(?P<close>>>|\])"
    rb"|(?P<hex><[0-9A-Fa-f" + _WS + rb"]*>)"
    rb"|(?P<string>\()"
    rb"|(?P<keyword>[A-Za-z]+))"
)
_STRING_PART = re.compile(rb"\\.|[()]", re.S)
_OBJECT_HEADER = re.compile(rb"(\d+)[" + _WS + rb"]+(\d+)[" + _WS + rb"]+obj")
_STREAM_START = re.compile(rb"[" + _WS + rb"]*stream\r?\n")
_ENDSTREAM = re.compile(rb"[" + _WS + rb"]*endstream")
_KEYWORDS = {b"true": True, b"false": False, b"null": None}
_XREF_SUBSECTION = re.compile(rb"[" + _WS + rb"]*(\d+) (\d+)[" + _WS + rb"]*?\r?\n")
_TRAILER = re.compile(rb"[" + _WS + rb"]*trailer")


class _Parser:
    """Parses one value at a time from a buffer."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def value(self, pos: int) -> tuple[object, int]:
        match = _TOKEN.match(self.data, pos)
        if match is None:
            raise ValueError(f"syntaxe PDF invalide à l'octet {pos}")
        kind, end = match.lastgroup, match.end()
        if kind == "ref":
            return Ref(int(match.group(2)), int(match.group(3))), end
        if kind == "number":
            text = match.group("number")
            return (Token(text) if b"." in text else int(text)), end
        if kind == "name":
            return Name(match.group("name").decode("latin-1")), end
        if kind == "open":
            return self._container(match.group("open"), end)
        if kind == "hex":
            return Token(match.group("hex")), end
        if kind == "string":
            return self._string(match.start("string"))
        word = match.group(kind) if kind else b""
        if kind == "keyword" and word in _KEYWORDS:
            return _KEYWORDS[word], end
        raise ValueError(f"« {word.decode('latin-1')} » inattendu à l'octet {match.start(kind)}")

    def _container(self, opener: bytes, pos: int) -> tuple[object, int]:
        items: list[object] = []
        closer = b">>" if opener == b"<<" else b"]"
        while True:
            match = _TOKEN.match(self.data, pos)
            if match is not None and match.lastgroup == "close":
                if match.group("close") != closer:
                    raise ValueError(f"délimiteur inattendu à l'octet {match.start('close')}")
                pos = match.end()
                break
            item, pos = self.value(pos)
            items.append(item)
        if closer == b"]":
            return items, pos
        if len(items) % 2 or not all(isinstance(key, Name) for key in items[::2]):
            raise ValueError(f"dictionnaire invalide avant l'octet {pos}")
        return dict(zip(items[::2], items[1::2], strict=True)), pos

    def _string(self, start: int) -> tuple[Token, int]:
        depth = 0
        for part in _STRING_PART.finditer(self.data, start):
            if part.group() == b"(":
                depth += 1
            elif part.group() == b")":
                depth -= 1
                if depth == 0:
                    return Token(self.data[start : part.end()]), part.end()
        raise ValueError(f"chaîne non terminée à l'octet {start}")


@dataclass(frozen=True)
class _XrefSection:
    first: int
    count: int
    entries: int  # offset of the first 20-byte entry


class PdfFile:
    """A PDF file with classic cross-reference tables; objects are parsed on demand.

    ``name`` is used in error messages. Raises :class:`ConversionError` for a file this
    reader does not handle.
    """

    def __init__(self, data: bytes, name: str) -> None:
        self.data = data
        self.name = name
        self._parser = _Parser(data)
        self._cache: dict[int, object] = {}
        self._sections: list[_XrefSection] = []
        try:
            self.xref_offset = self._startxref()
            self.trailer = self._read_xrefs(self.xref_offset)
        except ValueError as exc:
            raise self.error(str(exc)) from None
        if "/Encrypt" in self.trailer:
            raise self.error("PDF chiffré")
        if not isinstance(self.trailer.get("/Size"), int) or "/Root" not in self.trailer:
            raise self.error("dictionnaire final (trailer) incomplet")

    def error(self, reason: str) -> ConversionError:
        return ConversionError(f"{self.name} : PDF illisible ({reason})")

    @property
    def size(self) -> int:
        """The trailer's ``/Size``: one more than the highest object number."""
        return self.trailer["/Size"]  # type: ignore[return-value]

    @property
    def root(self) -> dict[str, object]:
        return self.dict(self.trailer["/Root"])

    def get(self, num: int) -> object:
        """Object ``num`` (a dictionary, array, stream, …); ``None`` for a free object."""
        if num not in self._cache:
            offset = self._offset(num)
            try:
                self._cache[num] = None if offset is None else self._read_object(num, offset)
            except ValueError as exc:
                raise self.error(f"objet {num} : {exc}") from None
        return self._cache[num]

    def resolve(self, value: object) -> object:
        """``value``, or the object it refers to."""
        return self.get(value.num) if isinstance(value, Ref) else value

    def dict(self, value: object) -> dict[str, object]:
        """``value`` resolved, which must be a dictionary (a stream's dictionary will do)."""
        value = self.resolve(value)
        if isinstance(value, Stream):
            return value.dictionary
        if not isinstance(value, dict):
            raise self.error(f"dictionnaire attendu, trouvé {type(value).__name__}")
        return value

    def pages(self) -> Iterator[tuple[Ref, dict[str, object], dict[str, object]]]:
        """Each page in order: its reference, its dictionary and what it inherits.

        What it inherits is the nearest ancestor's value of each inheritable attribute it
        does not set itself (ISO 32000-1, 7.7.3.4).
        """
        yield from self._pages(self.root["/Pages"], {}, depth=0)

    def _pages(
        self, ref: object, inherited: dict[str, object], depth: int
    ) -> Iterator[tuple[Ref, dict[str, object], dict[str, object]]]:
        if depth > 64 or not isinstance(ref, Ref):
            raise self.error("arbre des pages invalide")
        node = self.dict(ref)
        if node.get("/Type") != "/Pages":
            yield ref, node, {k: v for k, v in inherited.items() if k not in node}
            return
        here = {**inherited, **{k: node[k] for k in _INHERITABLE if k in node}}
        kids = self.resolve(node.get("/Kids"))
        if not isinstance(kids, list):
            raise self.error("arbre des pages invalide")
        for kid in kids:
            yield from self._pages(kid, here, depth + 1)

    # -- reading ---------------------------------------------------------------------------
    def _startxref(self) -> int:
        tail_start = max(0, len(self.data) - 1024)
        position = self.data.rfind(b"startxref", tail_start)
        if position < 0:
            raise ValueError("« startxref » introuvable")
        value, _ = self._parser.value(position + len(b"startxref"))
        if not isinstance(value, int):
            raise ValueError("position de la table des références croisées invalide")
        return value

    def _read_xrefs(self, offset: int) -> dict[str, object]:
        trailer: dict[str, object] | None = None
        seen: set[int] = set()
        while offset not in seen:
            seen.add(offset)
            section_trailer = self._read_xref_table(offset)
            if "/XRefStm" in section_trailer:
                raise ValueError("flux de références croisées non pris en charge")
            trailer = trailer or section_trailer
            previous = section_trailer.get("/Prev")
            if not isinstance(previous, int):
                break
            offset = previous
        assert trailer is not None
        return trailer

    def _read_xref_table(self, offset: int) -> dict[str, object]:
        if not self.data.startswith(b"xref", offset):
            raise ValueError("flux de références croisées non pris en charge")
        pos = offset + 4
        while (match := _XREF_SUBSECTION.match(self.data, pos)) is not None:
            first, count = int(match.group(1)), int(match.group(2))
            self._sections.append(_XrefSection(first, count, match.end()))
            pos = match.end() + 20 * count
            if count and self.data[pos - 3 : pos - 2] not in (b"n", b"f"):
                raise ValueError("table des références croisées mal formée")
        trailer_match = _TRAILER.match(self.data, pos)
        if trailer_match is None:
            raise ValueError("dictionnaire final (trailer) introuvable")
        trailer, _ = self._parser.value(trailer_match.end())
        if not isinstance(trailer, dict):
            raise ValueError("dictionnaire final (trailer) invalide")
        return trailer

    def _offset(self, num: int) -> int | None:
        # the newest table comes first; its entry wins
        for section in self._sections:
            if section.first <= num < section.first + section.count:
                at = section.entries + 20 * (num - section.first)
                entry = self.data[at : at + 20]
                if entry[17:18] == b"f":
                    return None
                if entry[17:18] != b"n":
                    raise self.error(f"entrée de la table des références invalide ({num})")
                return int(entry[:10])
        return None

    def _read_object(self, num: int, offset: int) -> object:
        header = _OBJECT_HEADER.match(self.data, offset)
        if header is None or int(header.group(1)) != num:
            raise ValueError(f"en-tête d'objet attendu à l'octet {offset}")
        value, pos = self._parser.value(header.end())
        start = _STREAM_START.match(self.data, pos)
        if start is None:
            return value
        if not isinstance(value, dict):
            raise ValueError("flux sans dictionnaire")
        length = self.resolve(value.get("/Length"))
        if not isinstance(length, int) or length < 0:
            raise ValueError("longueur de flux invalide")
        end = start.end() + length
        if _ENDSTREAM.match(self.data, end) is None:
            raise ValueError("longueur de flux incohérente")
        if value.get("/Type") in ("/ObjStm", "/XRef"):
            raise ValueError("flux d'objets non pris en charge")
        return Stream(value, self.data[start.end() : end])


_INHERITABLE = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")


# -- writing -------------------------------------------------------------------------------
def serialize(value: object) -> bytes:
    """The PDF syntax of ``value`` (streams excepted: see :meth:`Revision.put`)."""
    out: list[bytes] = []
    _write(value, out.append)
    return b"".join(out)


def _write(value: object, emit: Callable[[bytes], object]) -> None:
    if isinstance(value, Name):
        emit(value.encode("latin-1"))
    elif isinstance(value, Token):
        emit(value)
    elif isinstance(value, bool):
        emit(b"true" if value else b"false")
    elif isinstance(value, int):
        emit(b"%d" % value)
    elif isinstance(value, Ref):
        emit(b"%d %d R" % (value.num, value.gen))
    elif value is None:
        emit(b"null")
    elif isinstance(value, dict):
        emit(b"<<")
        for key, item in value.items():
            emit(key.encode("latin-1"))
            emit(b" ")
            _write(item, emit)
        emit(b">>")
    elif isinstance(value, list):
        emit(b"[")
        for index, item in enumerate(value):
            if index:
                emit(b" ")
            _write(item, emit)
        emit(b"]")
    else:
        raise TypeError(f"valeur PDF inattendue : {value!r}")


def renumber(value: object, new_ref: Callable[[Ref], Ref]) -> object:
    """A copy of ``value`` whose references are replaced by ``new_ref(reference)``."""
    if isinstance(value, Ref):
        return new_ref(value)
    if isinstance(value, dict):
        return {key: renumber(item, new_ref) for key, item in value.items()}
    if isinstance(value, list):
        return [renumber(item, new_ref) for item in value]
    return value


_PDFDOC_SAFE = re.compile(r"[\x20-\x7e\xa1-\xac\xae-\xff]*")


def text_string(text: str) -> Token:
    """A text string (ISO 32000-1, 7.9.2.2): Latin-1 when it suffices, else UTF-16BE."""
    if _PDFDOC_SAFE.fullmatch(text):
        escaped = re.sub(rb"([\\()])", rb"\\\1", text.encode("latin-1"))
        return Token(b"(" + escaped + b")")
    return Token(b"<feff" + text.encode("utf-16-be").hex().encode("ascii") + b">")


class Revision:
    """One incremental update appended to ``base``: new and replaced objects, then the xref."""

    def __init__(self, base: PdfFile) -> None:
        self.base = base
        self._next = base.size
        self._objects: dict[int, bytes] = {}

    def allocate(self) -> Ref:
        """A fresh object number, to be given a value with :meth:`put`."""
        self._next += 1
        return Ref(self._next - 1)

    def add(self, value: object) -> Ref:
        """Write ``value`` as a new object; its reference."""
        ref = self.allocate()
        self.put(ref, value)
        return ref

    def put(self, ref: Ref, value: object) -> None:
        """Write ``value`` as object ``ref``: a new one, or a new version of an old one."""
        if isinstance(value, Stream):
            dictionary = {**value.dictionary, "/Length": len(value.data)}
            body = serialize(dictionary) + b"\nstream\n" + value.data + b"\nendstream"
        else:
            body = serialize(value)
        self._objects[ref.num] = b"%d %d obj\n%s\nendobj\n" % (ref.num, ref.gen, body)

    def write(self, trailer: dict[str, object]) -> bytes:
        """The base file followed by this revision; ``trailer`` adds to the new trailer.

        The new trailer has ``/Size``, ``/Prev`` and an ``/ID`` whose first part is the
        original one and whose second part is new, as an update must (ISO 32000-1, 14.4).
        """
        data = self.base.data
        chunks = [data] if data.endswith(b"\n") else [data, b"\n"]
        position = sum(map(len, chunks))
        offsets: dict[int, int] = {}
        for num in sorted(self._objects):
            offsets[num] = position
            chunks.append(self._objects[num])
            position += len(self._objects[num])
        chunks.append(_xref_table(offsets))
        original = self.base.trailer.get("/ID")
        first = original[0] if isinstance(original, list) and original else None
        fresh = Token(b"<" + os.urandom(16).hex().encode("ascii") + b">")
        final = {
            "/Size": self._next,
            **trailer,
            "/ID": [first if isinstance(first, Token) else fresh, fresh],
            "/Prev": self.base.xref_offset,
        }
        chunks.append(b"trailer\n" + serialize(final) + b"\nstartxref\n%d\n%%%%EOF\n" % position)
        return b"".join(chunks)


def _xref_table(offsets: dict[int, int]) -> bytes:
    """A cross-reference section for the objects at ``offsets``, with the free list's head."""
    lines = [b"xref\n", b"0 1\n", b"0000000000 65535 f \n"]
    nums = sorted(offsets)
    start = 0
    while start < len(nums):
        end = start
        while end + 1 < len(nums) and nums[end + 1] == nums[end] + 1:
            end += 1
        lines.append(b"%d %d\n" % (nums[start], end - start + 1))
        lines.extend(b"%010d 00000 n \n" % offsets[num] for num in nums[start : end + 1])
        start = end + 1
    return b"".join(lines)
