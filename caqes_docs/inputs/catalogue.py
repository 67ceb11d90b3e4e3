"""The indicator catalogue of volet 1, read once from ``data/indicateurs.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property

import yaml

from caqes_docs.resources import data_file


@dataclass(frozen=True)
class Indicator:
    code: str
    label: str
    national: bool
    group: str | None = None


@dataclass(frozen=True)
class Catalogue:
    national: tuple[Indicator, ...]
    regional: tuple[Indicator, ...]

    def get(self, code: str) -> Indicator | None:
        return self.by_code.get(code)

    @cached_property
    def by_code(self) -> dict[str, Indicator]:
        return {i.code: i for i in (*self.national, *self.regional)}

    @property
    def national_codes(self) -> tuple[str, ...]:
        return tuple(i.code for i in self.national)

    @property
    def regional_codes(self) -> tuple[str, ...]:
        return tuple(i.code for i in self.regional)

    def regional_groups(self) -> list[tuple[str | None, list[Indicator]]]:
        """Regional indicators in catalogue order, consecutive ones of a group together."""
        groups: list[tuple[str | None, list[Indicator]]] = []
        for indicator in self.regional:
            if groups and groups[-1][0] == indicator.group and indicator.group is not None:
                groups[-1][1].append(indicator)
            else:
                groups.append((indicator.group, [indicator]))
        return groups


@cache
def catalogue() -> Catalogue:
    raw = yaml.safe_load(data_file("indicateurs.yaml").read_text(encoding="utf-8"))
    national = tuple(Indicator(i["code"], i["libelle"], True) for i in raw["nationaux"])
    regional = tuple(
        Indicator(i["code"], i["libelle"], False, group["groupe"])
        for group in raw["regionaux"]
        for i in group["indicateurs"]
    )
    return Catalogue(national, regional)
