"""Reader of the public FINESS extract (« extraction du fichier des établissements »).

The extract is ``;``-separated, without a header row: a first line such as
``finess;etalab;111;2026-05-12``, then lines typed by their first field. A ``structureet``
line describes a site (FINESS géographique) in 32 fields; a ``structureej`` line, as in the
extract of legal entities, starts with the same identity and address fields for a FINESS
juridique. Other line types (``geolocalisation``…) are skipped.

A national extract holds about 100,000 lines: it is read as a stream, line by line, and
only the FINESS numbers asked for are kept. Older extracts are ISO-8859-1, recent ones UTF-8.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from caqes_docs.errors import InputError
from caqes_docs.files import reading

SITE_FIELDS = (
    "structureet", "nofinesset", "nofinessej", "rs", "rslongue", "complrs", "compldistrib",
    "numvoie", "typvoie", "voie", "compvoie", "lieuditbp", "commune", "departement",
    "libdepartement", "ligneacheminement", "telephone", "telecopie", "categetab",
    "libcategetab", "categagretab", "libcategagretab", "siret", "codeape", "codemft", "libmft",
    "codesph", "libsph", "dateouv", "dateautor", "maj", "numuai",
)  # fmt: skip
# A legal-entity line: its first fields mirror a site line without ``nofinesset``.
ENTITY_FIELDS = (
    "structureej", "nofinessej", "rs", "rslongue", "complrs", "compldistrib", "numvoie",
    "typvoie", "voie", "compvoie", "lieuditbp", "commune", "departement", "libdepartement",
    "ligneacheminement",
)  # fmt: skip

_SITE = {name: index for index, name in enumerate(SITE_FIELDS)}
_ENTITY = {name: index for index, name in enumerate(ENTITY_FIELDS)}


@dataclass(frozen=True)
class FinessEntry:
    """What the extract says of one FINESS number (a site or a legal entity)."""

    finess: str
    finess_ej: str
    name: str
    address: str
    departement: str
    category: str = ""


@dataclass
class FinessExtract:
    """The entries of an extract, restricted to the FINESS numbers that were asked for."""

    sources: list[Path] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)
    sites: dict[str, FinessEntry] = field(default_factory=dict)
    entities: dict[str, FinessEntry] = field(default_factory=dict)

    def site(self, finess_et: str) -> FinessEntry | None:
        return self.sites.get(finess_et)

    def entity(self, finess_ej: str) -> FinessEntry | None:
        return self.entities.get(finess_ej)


def build_address(fields: list[str], index: dict[str, int]) -> str:
    """``12 AV DE LA LIBERATION 33000 BORDEAUX`` from the extract's address fields.

    The complement (``B`` for bis) follows the street number, as on an envelope.
    """
    parts = ("numvoie", "compvoie", "typvoie", "voie", "lieuditbp", "ligneacheminement")
    return " ".join(" ".join(fields[index[name]].split()) for name in parts if fields[index[name]])


def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Numbered lines, each decoded as UTF-8, or as ISO-8859-1 once UTF-8 has failed.

    French text in ISO-8859-1 is never valid UTF-8 (an accented letter is one byte above
    0x7F), so the first line that fails decides the encoding of the rest of the file.
    """
    latin = False
    with reading(path), open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not latin:
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    latin = True
            if latin:
                text = raw.decode("latin-1")
            yield number, text.rstrip("\r\n")


def _site_entry(fields: list[str]) -> FinessEntry:
    get = fields.__getitem__
    return FinessEntry(
        finess=get(_SITE["nofinesset"]).strip(),
        finess_ej=get(_SITE["nofinessej"]).strip(),
        name=(get(_SITE["rslongue"]) or get(_SITE["rs"])).strip(),
        address=build_address(fields, _SITE),
        departement=get(_SITE["departement"]).strip(),
        category=get(_SITE["categetab"]).strip(),
    )


def _entity_entry(fields: list[str]) -> FinessEntry:
    get = fields.__getitem__
    number = get(_ENTITY["nofinessej"]).strip()
    return FinessEntry(
        finess=number,
        finess_ej=number,
        name=(get(_ENTITY["rslongue"]) or get(_ENTITY["rs"])).strip(),
        address=build_address(fields, _ENTITY),
        departement=get(_ENTITY["departement"]).strip(),
    )


def _check_first_line(path: Path, line: str) -> str:
    fields = line.split(";")
    if fields[0].strip().lower() != "finess":
        raise InputError(
            "ce fichier n'est pas un extrait FINESS : la première ligne doit commencer par "
            "« finess; » (par exemple « finess;etalab;111;2026-05-12 »)",
            file=path,
            place="ligne 1",
            value=line[:60],
        )
    return fields[-1].strip()


def read_finess_extract(
    path: Path, wanted: Collection[str] | None = None, into: FinessExtract | None = None
) -> FinessExtract:
    """Read an extract, keeping the sites and entities whose number is in ``wanted``.

    Without ``wanted``, every entry is kept. With ``into``, the entries are added to an
    extract already read (the sites and the legal entities are published as two files).
    """
    extract = into if into is not None else FinessExtract()
    extract.sources.append(path)
    lines = _text_lines(path)
    first = next(lines, None)
    if first is None:
        raise InputError("extrait FINESS vide", file=path)
    extract.dates.append(_check_first_line(path, first[1]))
    for number, line in lines:
        kind, _, rest = line.partition(";")
        if kind not in ("structureet", "structureej"):
            continue
        key = rest.partition(";")[0].strip()
        if wanted is not None and key not in wanted:
            continue
        fields = line.split(";")
        if kind == "structureet":
            if len(fields) != len(SITE_FIELDS):
                raise _bad_line(path, number, kind, len(fields), f"{len(SITE_FIELDS)}")
            entry = _site_entry(fields)
            extract.sites[entry.finess] = entry
        else:
            if len(fields) < len(ENTITY_FIELDS):
                raise _bad_line(path, number, kind, len(fields), f"au moins {len(ENTITY_FIELDS)}")
            entry = _entity_entry(fields)
            extract.entities[entry.finess] = entry
    return extract


def _bad_line(path: Path, number: int, kind: str, found: int, expected: str) -> InputError:
    return InputError(
        f"une ligne « {kind} » compte {expected} champs séparés par « ; », celle-ci en a {found}",
        file=path,
        place=f"ligne {number}",
    )
