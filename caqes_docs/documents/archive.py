"""Opening a DOCX model as the hostile file it may be: bounded, and closed to the outside.

A DOCX is a zip archive. Its central directory states each part's uncompressed size before
anything is inflated, and zipfile never returns more than that size, so checking the stated
sizes bounds the memory any later reader (python-docx, docxtpl) can use. A model may also
point outside itself: an image or OLE object linked rather than embedded, an attached
template on a network share, a hyperlink. Rendering such a model would make Word or
LibreOffice fetch the target when an officer opens a contract; such models are refused.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docx.oxml.ns import qn
from lxml import etree

from caqes_docs.errors import TemplateError
from caqes_docs.files import zip_bounds_problem

# Our models weigh 45-80 KB unpacked; a model with a few high-resolution logos stays far
# below these bounds, a zip bomb does not.
MAX_UNPACKED_BYTES = 32 * 1024 * 1024
MAX_PARTS = 500

# What zipfile raises on a damaged archive; RuntimeError: an encrypted part;
# NotImplementedError: an unknown compression method.
_UNREADABLE = (zipfile.BadZipFile, OSError, EOFError, zlib.error, RuntimeError, NotImplementedError)
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)
# HYPERLINK with \l points to a bookmark of the document itself.
_FETCHING_FIELD = re.compile(
    r'\b(INCLUDEPICTURE|INCLUDETEXT|LINK|DDEAUTO|DDE|HYPERLINK)\s+(?!\\l)"?([^"\s]+)'
)
_RELATIONSHIPS = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"


@dataclass(frozen=True)
class ExternalLink:
    """A relationship, or a field, whose target lies outside the package."""

    source: str  # the part that holds the link, e.g. ``word/document.xml``
    kind: str  # the relationship type's last word: image, oleObject, attachedTemplate, …
    target: str

    def __str__(self) -> str:
        return f"{self.source} : lien externe ({self.kind}) vers « {self.target} »"


def check_bounds(archive: zipfile.ZipFile, name: str) -> None:
    """Refuse an archive with too many parts or too many bytes once inflated."""
    problem = zip_bounds_problem(archive, max_parts=MAX_PARTS, max_bytes=MAX_UNPACKED_BYTES)
    if problem:
        raise TemplateError(f"{name} : modèle refusé, {problem}")


@dataclass(frozen=True)
class Package:
    """A model's bytes, read once, and its parts, read within the bounds."""

    data: bytes
    parts: list[tuple[zipfile.ZipInfo, bytes]]

    def part(self, name: str) -> bytes:
        for info, data in self.parts:
            if info.filename == name:
                return data
        raise KeyError(f"partie {name} absente")


def read_package(path: Path) -> Package:
    """The model at ``path``, its bounds checked before any part is inflated."""
    try:
        if path.stat().st_size > MAX_UNPACKED_BYTES:
            raise TemplateError(
                f"{path.name} : modèle refusé, fichier de plus de "
                f"{MAX_UNPACKED_BYTES // (1024 * 1024)} Mo"
            )
        data = path.read_bytes()
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            check_bounds(archive, path.name)
            return Package(data, [(info, archive.read(info)) for info in archive.infolist()])
    except FileNotFoundError:
        raise TemplateError(f"modèle introuvable : {path}") from None
    except _UNREADABLE as exc:
        raise TemplateError(f"{path.name} : ce n'est pas un document Word (.docx) lisible") from exc


def parse_xml(data: bytes, name: str) -> Any:
    """One XML part of a model: no entity expansion, no network access."""
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise TemplateError(f"{name} : XML illisible (ligne {exc.lineno})") from exc


def external_links(parts: list[tuple[zipfile.ZipInfo, bytes]]) -> list[ExternalLink]:
    """What points outside the package: external relationships, and the fields that fetch
    their content from elsewhere (INCLUDEPICTURE, INCLUDETEXT, LINK, DDE, HYPERLINK)."""
    links = []
    for info, data in parts:
        if info.filename.endswith(".rels"):
            source = _source_part(info.filename)
            for rel in parse_xml(data, info.filename).iter(_RELATIONSHIPS):
                if rel.get("TargetMode", "Internal") == "External":
                    kind = re.split(r"[/#]", rel.get("Type", ""))[-1] or "inconnu"
                    links.append(ExternalLink(source, kind, rel.get("Target", "")))
        elif info.filename.startswith("word/") and info.filename.endswith(".xml"):
            links += _external_fields(info.filename, parse_xml(data, info.filename))
    return links


def _external_fields(name: str, root: Any) -> list[ExternalLink]:
    # A field's instruction may be split over several runs: join them before searching.
    instructions = "".join(t.text or "" for t in root.iter(qn("w:instrText")))
    instructions += " ".join(f.get(qn("w:instr"), "") for f in root.iter(qn("w:fldSimple")))
    return [
        ExternalLink(name, f"champ {match[1]}", match[2])
        for match in _FETCHING_FIELD.finditer(instructions)
    ]


def _source_part(rels_name: str) -> str:
    # word/_rels/document.xml.rels describes word/document.xml; _rels/.rels the package.
    folder, name = posixpath.split(rels_name)
    return posixpath.join(posixpath.dirname(folder), name.removesuffix(".rels")) or "paquet"


def refuse_external_links(parts: list[tuple[zipfile.ZipInfo, bytes]], name: str) -> None:
    links = external_links(parts)
    if links:
        more = f" (et {len(links) - 1} autre(s))" if len(links) > 1 else ""
        raise TemplateError(
            f"{name} : modèle refusé, il pointe hors du document — {links[0]}{more} ; "
            "incorporer l’élément ou supprimer le lien, puis lancer caqes check-template"
        )
