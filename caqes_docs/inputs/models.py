"""Validated domain models of a CAQES contract.

Attributes are English; each carries the French key used in the YAML files and in the
templates as its alias, so that a validation error names the key the officer wrote.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from caqes_docs.inputs.catalogue import catalogue
from caqes_docs.inputs.finess import Finess
from caqes_docs.inputs.text import character_problem, file_name_problem

MAX_YEARS = 5


def _as_text(value: object) -> object:
    """Spreadsheets and YAML turn codes and figures into numbers; keep them as text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return value


def _printable(value: str) -> str:
    """Control characters break the DOCX; bidirectional overrides disguise a name."""
    problem = character_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _file_name(value: str) -> str:
    problem = file_name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# A pragmatic shape check (no DNS): one address, nom@domaine.tld, as mail servers accept it.
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


def check_email(value: object) -> str | None:
    """An optional e-mail contact: blank is none; anything else must be one address."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ValueError("adresse électronique attendue (texte)")
    value = value.strip()
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise ValueError(
            "adresse électronique mal formée (une seule adresse, de la forme nom@domaine.fr)"
        )
    return value


Text = Annotated[str, BeforeValidator(_as_text), Field(min_length=1), AfterValidator(_printable)]
Email = Annotated[str | None, BeforeValidator(check_email)]
"""An optional e-mail contact of a party (the portal's mails, caqes_docs/web/mail.py)."""
OptionalText = Annotated[str, BeforeValidator(_as_text), AfterValidator(_printable)]
Reference = Annotated[str, BeforeValidator(_as_text), AfterValidator(_file_name)]
"""A contract's reference: it names the contract's files."""


class Model(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True, extra="forbid", frozen=True, str_strip_whitespace=True
    )


class Representative(Model):
    name: OptionalText = Field("", alias="nom")
    title: Text = Field("Directeur", alias="qualite")


class Party(Model):
    name: Text = Field(alias="nom")
    address: Text = Field(alias="adresse")
    representative: Representative = Field(alias="representant")
    email: Email = None


class Ars(Party):
    short_name: Text = Field(alias="nom_court")


class Site(Model):
    finess: Finess
    name: Text = Field(alias="nom")


class Establishment(Model):
    legal_name: Text = Field(alias="raison_sociale")
    address: Text = Field(alias="adresse")
    finess_ej: Finess
    representative: Representative = Field(alias="representant")
    sites: list[Site] = Field(min_length=1)
    cpam: str | None = None
    email: Email = None

    @model_validator(mode="after")
    def _sites_unique(self) -> Establishment:
        seen: set[str] = set()
        for index, site in enumerate(self.sites):
            if site.finess in seen:
                raise ValueError(f"sites[{index}] : le site FINESS {site.finess} figure deux fois")
            seen.add(site.finess)
        if not self.representative.name:
            raise ValueError("representant.nom : le nom du représentant légal est obligatoire")
        return self


class Volet1(Model):
    """Volet « pertinence des prescriptions »: national indicators per site, regional OUI."""

    national: dict[str, list[Finess]] = Field(default_factory=dict, alias="nationaux")
    regional: list[str] = Field(default_factory=list, alias="regionaux")

    @model_validator(mode="after")
    def _known_codes(self) -> Volet1:
        cat = catalogue()
        for code in self.national:
            if code not in cat.national_codes:
                raise ValueError(
                    f"nationaux : indicateur « {code} » inconnu "
                    f"(attendu : {', '.join(cat.national_codes)})"
                )
        for code in self.regional:
            if code not in cat.regional_codes:
                raise ValueError(
                    f"regionaux : indicateur « {code} » inconnu "
                    f"(attendu : {', '.join(cat.regional_codes)})"
                )
        if not any(self.national.values()) and not self.regional:
            raise ValueError("le volet 1 ne retient aucun indicateur national ni régional")
        return self

    def targeted_sites(self, code: str) -> list[str]:
        return self.national.get(code, [])


class Theme(Model):
    code: Text
    label: Text = Field(alias="libelle")


class Volet2(Model):
    """Volet « pertinence des parcours et des séjours »: themes set by the campaign."""

    themes: list[Theme] = Field(min_length=1)


class Action(Model):
    """What an action-plan line says; the campaign proposes such lines per indicator."""

    axis: Text = Field(alias="axe")
    action: Text
    owner: OptionalText = Field("", alias="pilote")
    deadline: OptionalText = Field("", alias="echeance")
    follow_up: OptionalText = Field("", alias="indicateur_suivi")
    baseline: OptionalText = Field("", alias="valeur_initiale")
    target: OptionalText = Field("", alias="cible")


class ActionRow(Action):
    """One line of an action plan (annex), for one indicator and optionally one site."""

    volet: Literal[1, 2]
    indicator: Text = Field(alias="indicateur")
    site: Finess | None = Field(None, alias="finess_et")


def add_years(day: dt.date, years: int) -> dt.date:
    """The same day ``years`` later; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def duration_problem(effective: dt.date, end: dt.date) -> str | None:
    """Why a contract cannot run from ``effective`` to ``end``, or None."""
    if end <= effective:
        return "la date de fin doit être postérieure à la date d'effet"
    if end >= add_years(effective, MAX_YEARS):
        return f"le contrat dure au plus {MAX_YEARS} ans (décret n° 2021-1231, art. D. 162-14)"
    return None


class Contract(Model):
    """Everything one contract says: the campaign's share and the establishment's."""

    reference: Reference
    ars: Ars
    cpam: Party
    establishment: Establishment = Field(alias="etablissement")
    effective_date: dt.date = Field(alias="date_effet")
    end_date: dt.date = Field(alias="date_fin")
    exceptional_start: bool = Field(False, alias="entree_exceptionnelle")
    visas: list[Text] = Field(min_length=1)
    volet1: Volet1 | None = None
    volet2: Volet2 | None = None
    action_plan: list[ActionRow] = Field(default_factory=list, alias="plan_actions")

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        if self.volet1 is None and self.volet2 is None:
            raise ValueError("un contrat comporte au moins un volet (volet1 ou volet2)")
        problem = duration_problem(self.effective_date, self.end_date)
        if problem:
            raise ValueError(f"date_fin : {problem}")
        self._check_sites()
        self._check_action_plan()
        return self

    def _check_sites(self) -> None:
        if self.volet1 is None:
            return
        known = {site.finess for site in self.establishment.sites}
        for code, sites in self.volet1.national.items():
            for finess in sites:
                if finess not in known:
                    raise ValueError(
                        f"volet1.nationaux.{code} : le site {finess} n'est pas un site "
                        "de l'établissement"
                    )

    def _check_action_plan(self) -> None:
        known_sites = {site.finess for site in self.establishment.sites}
        themes = {theme.code for theme in self.volet2.themes} if self.volet2 else set()
        for index, row in enumerate(self.action_plan):
            place = f"plan_actions[{index}]"
            if row.volet == 1 and self.volet1 is None:
                raise ValueError(f"{place} : le volet 1 n'est pas conclu")
            if row.volet == 2 and self.volet2 is None:
                raise ValueError(f"{place} : le volet 2 n'est pas conclu")
            if row.volet == 1 and catalogue().get(row.indicator) is None:
                raise ValueError(f"{place}.indicateur : indicateur « {row.indicator} » inconnu")
            if row.volet == 2 and row.indicator not in themes:
                raise ValueError(
                    f"{place}.indicateur : thème « {row.indicator} » absent du volet 2"
                )
            if row.site is not None and row.site not in known_sites:
                raise ValueError(
                    f"{place}.finess_et : le site {row.site} n'est pas un site de l'établissement"
                )

    @property
    def calendar_years(self) -> int:
        """Calendar years covered: 2022 to 2024 is the model's « durée de 3 ans »."""
        return self.end_date.year - self.effective_date.year + 1
