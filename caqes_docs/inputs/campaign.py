"""The campaign: what every contract of one region and period shares, read from YAML."""

from __future__ import annotations

import datetime as dt
import re
import string
from collections.abc import Iterable
from pathlib import Path

from pydantic import Field, model_validator

from caqes_docs.errors import InputError
from caqes_docs.inputs.catalogue import catalogue
from caqes_docs.inputs.finess import departement
from caqes_docs.inputs.models import (
    Action,
    Ars,
    Model,
    Party,
    Text,
    Theme,
    duration_problem,
)
from caqes_docs.inputs.results import Incentives
from caqes_docs.inputs.text import file_name_problem
from caqes_docs.inputs.validation import read_yaml, validate
from caqes_docs.parties import ROLES
from caqes_docs.pdf.fields import FieldGeometry
from caqes_docs.resources import data_file
from caqes_docs.signatures.binding import IdentitySettings

DEFAULT_CAMPAIGN = "campagne-nouvelle-aquitaine-2022.yaml"


_GEOMETRY = FieldGeometry()


class FieldSettings(Model):
    """Size and offsets of the signature fields, in points (1/72 inch); see fields.py."""

    width: float = Field(_GEOMETRY.width_pt, gt=0, alias="largeur")
    height: float | None = Field(_GEOMETRY.height_pt, gt=0, alias="hauteur")
    offset_x: float = Field(_GEOMETRY.x_offset_pt, alias="decalage_x")
    offset_y: float = Field(_GEOMETRY.y_offset_pt, alias="decalage_y")
    bottom_margin: float = Field(_GEOMETRY.bottom_margin_pt, ge=0, alias="marge_bas")

    def geometry(self) -> FieldGeometry:
        return FieldGeometry(
            self.width, self.height, self.offset_x, self.offset_y, self.bottom_margin
        )


class SignatureSettings(Model):
    order: list[str] = Field(list(ROLES), alias="ordre")
    fields: FieldSettings = Field(default_factory=FieldSettings, alias="champs")
    # How each party's certificate is recognised (caqes_docs/signatures/binding.py).
    identities: IdentitySettings = Field(default_factory=IdentitySettings, alias="identites")
    # Parties whose certificate must be qualified (eIDAS) per the trusted lists given to
    # verify/receive/sign (caqes_docs/signatures/qualified.py), e.g. {CPAM: true, ARS: true}.
    qualified: dict[str, bool] = Field(default_factory=dict, alias="qualifiee")

    @model_validator(mode="after")
    def _roles(self) -> SignatureSettings:
        if sorted(self.order) != sorted(ROLES):
            raise ValueError(f"ordre : les trois parties {', '.join(ROLES)} chacune une fois")
        unknown = sorted(set(self.qualified) - set(ROLES))
        if unknown:
            raise ValueError(
                f"qualifiee : partie inconnue {', '.join(unknown)} ({', '.join(ROLES)})"
            )
        return self

    def qualified_roles(self) -> frozenset[str]:
        return frozenset(role for role, required in self.qualified.items() if required)


class ReminderSettings(Model):
    """When the parties awaited are reminded by mail (caqes_docs/workflows/reminders.py)."""

    first_delay_days: int = Field(7, ge=1, le=365, alias="premier_delai_jours")
    interval_days: int = Field(7, ge=1, le=365, alias="intervalle_jours")
    max_reminders: int = Field(3, ge=0, le=20, alias="nombre_max")


class Campaign(Model):
    name: Text = Field(alias="nom")
    region: Text
    region_code: Text = Field(alias="code_region")
    reference_pattern: Text = Field(alias="reference")
    effective_date: dt.date = Field(alias="date_effet")
    end_date: dt.date = Field(alias="date_fin")
    exceptional_start: bool = Field(False, alias="entree_exceptionnelle")
    ars: Ars
    cpams: dict[str, Party] = Field(alias="cpam", min_length=1)
    visas: list[Text] = Field(min_length=1)
    volet2_themes: list[Theme] = Field(default_factory=list)
    default_actions: dict[str, list[Action]] = Field(
        default_factory=dict, alias="plan_actions_defaut"
    )
    signature: SignatureSettings = Field(default_factory=SignatureSettings)
    # the annual evaluation's settings per year (caqes_docs/inputs/results.py)
    incentives: Incentives = Field(default_factory=dict, alias="interessement")
    # reminders by mail to the parties awaited (caqes relances)
    reminders: ReminderSettings = Field(default_factory=ReminderSettings, alias="relances")

    @model_validator(mode="after")
    def _consistent(self) -> Campaign:
        problem = duration_problem(self.effective_date, self.end_date)
        if problem:
            raise ValueError(f"date_fin : {problem}")
        known = set(catalogue().by_code) | {theme.code for theme in self.volet2_themes}
        for code in self.default_actions:
            if code not in known:
                raise ValueError(
                    f"plan_actions_defaut : « {code} » n'est ni un indicateur "
                    "ni un thème du volet 2"
                )
        problem = reference_pattern_problem(self.reference_pattern)
        if problem is None:
            problem = file_name_problem(self.reference_for("330781196"))
        if problem:
            raise ValueError(f"reference : modèle de référence invalide : {problem}")
        return self

    def reference_for(self, finess_ej: str) -> str:
        return self.reference_pattern.format(
            code_region=self.region_code, annee=self.effective_date.year, finess_ej=finess_ej
        )

    def cpam_for(self, finess_ej: str, key: str | None = None) -> tuple[str, Party]:
        """The CPAM named by ``key``, else the one of the establishment's département."""
        if key:
            if key not in self.cpams:
                raise InputError(
                    f"CPAM inconnue de la campagne (attendu : {', '.join(sorted(self.cpams))})",
                    place="cpam",
                    value=key,
                )
            return key, self.cpams[key]
        dept = departement(finess_ej)
        keys = [k for k in self.cpams if k == dept or k.startswith(f"{dept}-")]
        if not keys:
            raise InputError(
                f"aucune CPAM de la campagne pour le département {dept} : préciser la CPAM",
                place="cpam",
            )
        if len(keys) > 1:
            raise InputError(
                f"le département {dept} a plusieurs CPAM ({', '.join(sorted(keys))}) : "
                "préciser laquelle",
                place="cpam",
            )
        return keys[0], self.cpams[keys[0]]


REFERENCE_FIELDS = ("code_region", "annee", "finess_ej")


def reference_pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot make references, checked before any formatting.

    Only the three plain variables: a format such as ``{finess_ej:>100000000}`` would build a
    100 MB string, and ``{finess_ej.__class__}`` reach into Python objects.
    """
    allowed = f"variables permises : {', '.join(f'{{{name}}}' for name in REFERENCE_FIELDS)}"
    try:
        parts = list(string.Formatter().parse(pattern))
    except ValueError:
        return f"accolades mal formées ; {allowed}"
    for _, name, spec, conversion in parts:
        if name is not None and (name not in REFERENCE_FIELDS or spec or conversion):
            return f"« {name} » ; {allowed}, sans format"
    return None


_PLACEHOLDER = re.compile(r"(?i)\b(?:a|à) compl[eé]ter\b|x{3,}|\.{3}|…")
_POSTCODE = re.compile(r"\b\d{5}\b")


def party_gaps(party: Party) -> list[str]:
    """What a party's data still lacks before contracts go out: placeholders, empty names."""
    gaps = []
    if _PLACEHOLDER.search(party.name):
        gaps.append("nom")
    if _PLACEHOLDER.search(party.address) or not _POSTCODE.search(party.address):
        gaps.append("adresse postale (sans code postal)")
    name = party.representative.name
    if not name or _PLACEHOLDER.search(name):
        gaps.append("nom du directeur")
    return gaps


def incomplete_parties(campaign: Campaign, cpam_keys: Iterable[str]) -> list[str]:
    """« CPAM 16, 33 : adresse postale (sans code postal), nom du directeur »: the ARS and
    the CPAMs named that still hold placeholder data, grouped by what they lack."""
    lines = []
    if gaps := party_gaps(campaign.ars):
        lines.append(f"ARS : {', '.join(gaps)}")
    by_gaps: dict[tuple[str, ...], list[str]] = {}
    for key in cpam_keys:
        if gaps := party_gaps(campaign.cpams[key]):
            by_gaps.setdefault(tuple(gaps), []).append(key)
    lines += [f"CPAM {', '.join(keys)} : {', '.join(gaps)}" for gaps, keys in by_gaps.items()]
    return lines


def load_campaign(path: Path | None = None) -> Campaign:
    """Read a campaign file; without one, the bundled default campaign."""
    path = path or data_file(DEFAULT_CAMPAIGN)
    return validate(Campaign, read_yaml(path), file=path)
