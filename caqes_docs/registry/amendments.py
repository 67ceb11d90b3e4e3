"""Avenants: a changes file (YAML) → validated changes → legal wording + consolidated contract.

A changes file lists modifications in order, each a mapping with one key naming the kind::

    reference: CAQES-NA-2022-330990011      # optional; checked against the contract
    modifications:
      - cibler: {indicateur: NAT_4, sites: ["330990029"]}
      - retenir: [DLR]
      - ajouter_site: {finess: "330990078", nom: Hôpital fictif de Bègles}

Each change is checked against the contract as the previous changes left it (so a site can
be added, then targeted), and every problem is reported with the line of the change and its
field. The result is the wording the avenant prints, the annexes it joins (an action plan
that changed is replaced as a whole) and the new consolidated :class:`Contract`.

Dates (articles 3, 10 and 11 of the model): an avenant is in force on 1 January following
its signature date; an avenant de résiliation of a volet takes effect on 31 December of the
year of its signature.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, TypeAdapter, ValidationError

from caqes_docs.documents.render import build_context, date_fr
from caqes_docs.errors import InputError
from caqes_docs.inputs.campaign import Campaign
from caqes_docs.inputs.catalogue import catalogue
from caqes_docs.inputs.contract_file import complete_action_plan
from caqes_docs.inputs.finess import Finess
from caqes_docs.inputs.models import (
    MAX_YEARS,
    ActionRow,
    Contract,
    Model,
    Representative,
    Site,
    Text,
    Theme,
    Volet1,
    Volet2,
    add_years,
    duration_problem,
)
from caqes_docs.inputs.validation import (
    InvalidData,
    format_location,
    read_yaml,
    translate,
    validate,
)

VOLET_LABELS = {1: "Pertinence des prescriptions", 2: "Pertinence des parcours et des séjours"}
VOLET_NAMES = {"prescriptions": 1, "parcours": 2}
ANNEX_LABELS = {
    1: "plan d’actions du volet pertinence des prescriptions",
    2: "plan d’actions du volet pertinence des parcours et des séjours",
}


def amendment_effective_date(signature: dt.date) -> dt.date:
    """1 January following the signature date (31/12/2023 → 1/1/2024; 1/1/2024 → 1/1/2025)."""
    return dt.date(signature.year + 1, 1, 1)


def termination_effective_date(signature: dt.date) -> dt.date:
    """31 December of the signature's year."""
    return dt.date(signature.year, 12, 31)


# --- the shapes of the changes --------------------------------------------------------------


class Targeting(Model):
    indicator: Text = Field(alias="indicateur")
    sites: list[Finess] = Field(min_length=1)


class NewRepresentative(Model):
    name: Text = Field(alias="nom")
    title: Text = Field("Directeur", alias="qualite")


class ThemeRef(Model):
    code: Text
    label: str | None = Field(None, alias="libelle")


class VoletAddition(Model):
    volet: Literal[1, 2]
    national: dict[str, list[Finess]] = Field(default_factory=dict, alias="nationaux")
    regional: list[str] = Field(default_factory=list, alias="regionaux")
    themes: list[ThemeRef | str] | None = None


class ChangesFile(Model):
    reference: str | None = None
    changes: list[dict[str, Any]] = Field(min_length=1, alias="modifications")


Codes = list[str] | str
SHAPES: dict[str, Any] = {
    "cibler": Targeting,
    "ne_plus_cibler": Targeting,
    "retenir": Codes,
    "ne_plus_retenir": Codes,
    "ajouter_site": Site,
    "retirer_site": Finess,
    "representant": NewRepresentative,
    "raison_sociale": Text,
    "adresse": Text,
    "date_fin": dt.date,
    "ajouter_volet": VoletAddition,
    "ajouter_theme": ThemeRef | str,
    "retirer_theme": str,
    "ajouter_action": ActionRow,
}
_ADAPTERS = {kind: TypeAdapter(shape) for kind, shape in SHAPES.items()}


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnnexChange:
    """An annex the avenant joins: a new volet's annex, or a replaced one."""

    volet: int
    new: bool


@dataclass(frozen=True)
class Amendment:
    changes: tuple[str, ...]
    contract: Contract
    annexes: tuple[AnnexChange, ...]
    signature_date: dt.date
    effective_date: dt.date


class _Refusal(Exception):
    """A change that does not apply; ``field`` is relative to the change."""

    def __init__(self, rule: str, field: str = "", value: object = None) -> None:
        super().__init__(rule)
        self.rule = rule
        self.field = field
        self.value = value


# --- the working state ------------------------------------------------------------------------


@dataclass
class _State:
    """The contract being amended, in mutable form."""

    contract: Contract
    campaign: Campaign | None
    effective: dt.date  # the avenant's effect date
    sites: list[Site]
    representative: Representative
    legal_name: str
    address: str
    end_date: dt.date
    national: dict[str, list[str]] | None
    regional: list[str]
    themes: list[Theme] | None
    added_rows: list[ActionRow] = field(default_factory=list)

    @classmethod
    def of(cls, contract: Contract, campaign: Campaign | None, effective: dt.date) -> _State:
        est = contract.establishment
        volet1, volet2 = contract.volet1, contract.volet2
        return cls(
            contract=contract,
            campaign=campaign,
            effective=effective,
            sites=list(est.sites),
            representative=est.representative,
            legal_name=est.legal_name,
            address=est.address,
            end_date=contract.end_date,
            national={k: list(v) for k, v in volet1.national.items()} if volet1 else None,
            regional=list(volet1.regional) if volet1 else [],
            themes=list(volet2.themes) if volet2 else None,
        )

    def site(self, finess: str, field_name: str) -> Site:
        for site in self.sites:
            if site.finess == finess:
                return site
        raise _Refusal(
            "ce site n'est pas un site de l'établissement (l'ajouter d'abord : ajouter_site)",
            field_name,
            finess,
        )

    def require_volet1(self) -> dict[str, list[str]]:
        if self.national is None:
            raise _Refusal("le volet 1 n'est pas conclu (l'ajouter d'abord : ajouter_volet)")
        return self.national

    def require_volet2(self) -> list[Theme]:
        if self.themes is None:
            raise _Refusal("le volet 2 n'est pas conclu (l'ajouter d'abord : ajouter_volet)")
        return self.themes


def _site_words(site: Site) -> str:
    return f"Le site FINESS {site.finess} ({site.name})"


def _national(code: str, field_name: str = "indicateur") -> str:
    cat = catalogue()
    indicator = cat.get(code)
    if indicator is not None and not indicator.national:
        raise _Refusal(
            "indicateur régional : utiliser retenir ou ne_plus_retenir", field_name, code
        )
    if indicator is None:
        raise _Refusal(
            f"indicateur national inconnu (attendu : {', '.join(cat.national_codes)})",
            field_name,
            code,
        )
    return f"{indicator.code} {indicator.label}"


def _regional(code: str, field_name: str) -> str:
    cat = catalogue()
    indicator = cat.get(code)
    if indicator is not None and indicator.national:
        raise _Refusal("indicateur national : utiliser cibler ou ne_plus_cibler", field_name, code)
    if indicator is None:
        raise _Refusal(
            f"indicateur régional inconnu (attendu : {', '.join(cat.regional_codes)})",
            field_name,
            code,
        )
    return f"{indicator.code} {indicator.label}"


def _codes(value: list[str] | str) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


# --- one function per kind of change -------------------------------------------------------------


def _target(state: _State, change: Targeting) -> list[str]:
    national = state.require_volet1()
    words = _national(change.indicator)
    sentences = []
    for index, finess in enumerate(change.sites):
        site = state.site(finess, f"sites[{index}]")
        targeted = national.setdefault(change.indicator, [])
        if finess in targeted:
            raise _Refusal(
                f"site déjà ciblé au titre de {change.indicator}", f"sites[{index}]", finess
            )
        targeted.append(finess)
        sentences.append(
            f"{_site_words(site)} est ciblé au titre de l’indicateur national {words}."
        )
    return sentences


def _untarget(state: _State, change: Targeting) -> list[str]:
    national = state.require_volet1()
    words = _national(change.indicator)
    sentences = []
    for index, finess in enumerate(change.sites):
        site = state.site(finess, f"sites[{index}]")
        targeted = national.get(change.indicator, [])
        if finess not in targeted:
            raise _Refusal(
                f"site non ciblé au titre de {change.indicator}", f"sites[{index}]", finess
            )
        targeted.remove(finess)
        if not targeted:
            del national[change.indicator]
        sentences.append(
            f"{_site_words(site)} n’est plus ciblé au titre de l’indicateur national {words}."
        )
    return sentences


def _retain(state: _State, codes: list[str] | str) -> list[str]:
    state.require_volet1()
    sentences = []
    for index, code in enumerate(_codes(codes)):
        place = f"[{index}]" if not isinstance(codes, str) else ""
        words = _regional(code, place)
        if code in state.regional:
            raise _Refusal("indicateur régional déjà retenu", place, code)
        state.regional.append(code)
        sentences.append(f"L’indicateur régional {words} est retenu (OUI).")
    return sentences


def _drop(state: _State, codes: list[str] | str) -> list[str]:
    state.require_volet1()
    sentences = []
    for index, code in enumerate(_codes(codes)):
        place = f"[{index}]" if not isinstance(codes, str) else ""
        words = _regional(code, place)
        if code not in state.regional:
            raise _Refusal("indicateur régional non retenu par le contrat", place, code)
        state.regional.remove(code)
        sentences.append(f"L’indicateur régional {words} n’est plus retenu (NON).")
    return sentences


def _add_site(state: _State, site: Site) -> list[str]:
    if any(known.finess == site.finess for known in state.sites):
        raise _Refusal("site déjà présent dans le contrat", "finess", site.finess)
    state.sites.append(site)
    return [f"{_site_words(site)} est ajouté au contrat."]


def _remove_site(state: _State, finess: str) -> list[str]:
    site = state.site(finess, "")
    targeted = [code for code, sites in (state.national or {}).items() if finess in sites]
    if targeted:
        raise _Refusal(
            f"site encore ciblé au titre de {', '.join(targeted)} "
            "(le retirer d'abord : ne_plus_cibler)",
            "",
            finess,
        )
    if len(state.sites) == 1:
        raise _Refusal("le contrat doit garder au moins un site", "", finess)
    state.sites.remove(site)
    return [f"{_site_words(site)} est retiré du contrat."]


def _representative(state: _State, new: NewRepresentative) -> list[str]:
    current = state.representative
    if (current.name, current.title) == (new.name, new.title):
        raise _Refusal("c'est déjà le représentant légal inscrit au contrat", "nom", new.name)
    state.representative = Representative(nom=new.name, qualite=new.title)
    return [f"Le représentant légal de l’établissement est désormais {new.name}, {new.title}."]


def _legal_name(state: _State, name: str) -> list[str]:
    if name == state.legal_name:
        raise _Refusal("c'est déjà la raison sociale inscrite au contrat", "", name)
    state.legal_name = name
    return [f"La raison sociale de l’établissement devient « {name} »."]


def _address(state: _State, address: str) -> list[str]:
    if address == state.address:
        raise _Refusal("c'est déjà l'adresse inscrite au contrat", "", address)
    state.address = address
    return [f"L’adresse de l’établissement devient : {address}."]


def _end_date(state: _State, end: dt.date) -> list[str]:
    if end == state.end_date:
        raise _Refusal("c'est déjà la date de fin du contrat", "", end.isoformat())
    start = state.contract.effective_date
    problem = duration_problem(start, end)
    if problem:
        latest = add_years(start, MAX_YEARS) - dt.timedelta(days=1)
        raise _Refusal(
            f"{problem} : entré en vigueur le {date_fr(start)}, il prend fin au plus tard le "
            f"{date_fr(latest)}",
            "",
            end.isoformat(),
        )
    if end < state.effective:
        raise _Refusal(
            f"la date de fin précède l'entrée en vigueur de l'avenant ({date_fr(state.effective)})",
            "",
            end.isoformat(),
        )
    verb = "portée" if end > state.end_date else "avancée"
    state.end_date = end
    return [f"La date de fin du contrat est {verb} au {date_fr(end)}."]


def _theme(state: _State, ref: ThemeRef | str, field_name: str) -> Theme:
    code = ref if isinstance(ref, str) else ref.code
    label = None if isinstance(ref, str) else ref.label
    if label:
        return Theme(code=code, libelle=label)
    known = {theme.code: theme for theme in state.campaign.volet2_themes} if state.campaign else {}
    if code not in known:
        expected = f" (attendu : {', '.join(known)})" if known else ""
        raise _Refusal(
            f"thème inconnu de la campagne{expected} ; sinon donner {{code, libelle}}",
            field_name,
            code,
        )
    return known[code]


def _add_volet(state: _State, addition: VoletAddition) -> list[str]:
    title = f"Le volet {addition.volet} « {VOLET_LABELS[addition.volet]} » est ajouté au contrat."
    if addition.volet == 1:
        if state.national is not None:
            raise _Refusal("le volet 1 est déjà conclu", "volet", 1)
        if addition.themes is not None:
            raise _Refusal("le volet 1 n'a pas de thèmes (nationaux, regionaux)", "themes")
        if not any(addition.national.values()) and not addition.regional:
            raise _Refusal("le volet 1 doit retenir au moins un indicateur", "nationaux")
        state.national = {}
        sentences = [title]
        for code, sites in addition.national.items():
            try:
                sentences += _target(state, Targeting(indicateur=code, sites=sites))
            except _Refusal as refusal:
                raise _Refusal(
                    refusal.rule, f"nationaux.{code}.{refusal.field}".rstrip("."), refusal.value
                ) from None
        try:
            sentences += _retain(state, addition.regional)
        except _Refusal as refusal:
            raise _Refusal(refusal.rule, f"regionaux{refusal.field}", refusal.value) from None
        return sentences
    if state.themes is not None:
        raise _Refusal("le volet 2 est déjà conclu", "volet", 2)
    if addition.national or addition.regional:
        raise _Refusal("le volet 2 n'a pas d'indicateurs nationaux ni régionaux", "nationaux")
    if addition.themes is None:
        if state.campaign is None or not state.campaign.volet2_themes:
            raise _Refusal("thèmes du volet 2 à préciser (themes)", "themes")
        themes = list(state.campaign.volet2_themes)
    else:
        themes = [_theme(state, ref, f"themes[{i}]") for i, ref in enumerate(addition.themes)]
    if not themes:
        raise _Refusal("le volet 2 doit retenir au moins un thème", "themes")
    state.themes = []
    sentences = [title]
    for theme in themes:
        sentences += _add_theme_to(state, theme, "themes")
    return sentences


def _add_theme_to(state: _State, theme: Theme, field_name: str) -> list[str]:
    themes = state.require_volet2()
    if any(known.code == theme.code for known in themes):
        raise _Refusal("thème déjà retenu au titre du volet 2", field_name, theme.code)
    themes.append(theme)
    return [f"Le thème {theme.code} « {theme.label} » est retenu au titre du volet 2."]


def _add_theme(state: _State, ref: ThemeRef | str) -> list[str]:
    state.require_volet2()
    return _add_theme_to(state, _theme(state, ref, "code"), "code")


def _remove_theme(state: _State, code: str) -> list[str]:
    themes = state.require_volet2()
    for theme in themes:
        if theme.code == code:
            themes.remove(theme)
            return [
                f"Le thème {theme.code} « {theme.label} » n’est plus retenu au titre du volet 2."
            ]
    raise _Refusal("thème non retenu par le contrat", "", code)


def _add_action(state: _State, row: ActionRow) -> list[str]:
    if row.volet == 1:
        national = state.require_volet1()
        indicator = catalogue().get(row.indicator)
        if indicator is None:
            raise _Refusal("indicateur inconnu", "indicateur", row.indicator)
        retained = (
            national.get(row.indicator) if indicator.national else (row.indicator in state.regional)
        )
        if not retained:
            raise _Refusal("indicateur non retenu par le contrat", "indicateur", row.indicator)
        label = f"{indicator.code} {indicator.label}"
    else:
        themes = {theme.code: theme for theme in state.require_volet2()}
        if row.indicator not in themes:
            raise _Refusal("thème non retenu par le contrat", "indicateur", row.indicator)
        label = f"{row.indicator} « {themes[row.indicator].label} »"
    where = ""
    if row.site is not None:
        site = state.site(row.site, "finess_et")
        where = f" (site FINESS {site.finess})"
    state.added_rows.append(row)
    return [
        f"Une action est ajoutée au plan d’actions de l’annexe {row.volet} pour "
        f"{label}{where} : « {row.action} »."
    ]


APPLY: dict[str, Callable[[_State, Any], list[str]]] = {
    "cibler": _target,
    "ne_plus_cibler": _untarget,
    "retenir": _retain,
    "ne_plus_retenir": _drop,
    "ajouter_site": _add_site,
    "retirer_site": _remove_site,
    "representant": _representative,
    "raison_sociale": _legal_name,
    "adresse": _address,
    "date_fin": _end_date,
    "ajouter_volet": _add_volet,
    "ajouter_theme": _add_theme,
    "retirer_theme": _remove_theme,
    "ajouter_action": _add_action,
}
assert APPLY.keys() == SHAPES.keys()


# --- reading and applying the file ------------------------------------------------------------


def _change_lines(path: Path) -> list[int | None]:
    """The line (1-based) of each item of ``modifications``, read from the YAML nodes."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if key.value == "modifications" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _place(index: int, line: int | None, kind: str | None, field_name: str = "") -> str:
    where = f"ligne {line}, " if line else ""
    path = f"modifications[{index}]"
    if kind:
        path += f".{kind}"
    if field_name:
        path += field_name if field_name.startswith("[") else f".{field_name}"
    return where + path


def _parse_change(
    raw: object, index: int, line: int | None, path: Path
) -> tuple[str, Any] | list[InputError]:
    if not isinstance(raw, dict) or len(raw) != 1:
        return [
            InputError(
                f"chaque modification est un seul « type: valeur » (types : {', '.join(SHAPES)})",
                file=path,
                place=_place(index, line, None),
            )
        ]
    ((kind, value),) = raw.items()
    if kind not in SHAPES:
        return [
            InputError(
                f"type de modification inconnu (attendu : {', '.join(SHAPES)})",
                file=path,
                place=_place(index, line, None),
                value=kind,
            )
        ]
    try:
        return kind, _ADAPTERS[kind].validate_python(value)
    except ValidationError as exc:
        return [
            InputError(
                translate(error),
                file=path,
                place=_place(index, line, kind, format_location(_clean_loc(error["loc"]))),
                value=error.get("input") if isinstance(error.get("input"), str | int) else None,
            )
            for error in exc.errors()
        ]


def _clean_loc(loc: Sequence[int | str]) -> tuple[int | str, ...]:
    # Union members and validator names in pydantic's locations mean nothing to the reader.
    names = {"function-after", "function-before", "str", "list[str]", "ThemeRef", "date"}
    return tuple(part for part in loc if part not in names)


def plan_amendment(
    current: Contract,
    changes_file: Path,
    signature_date: dt.date,
    *,
    campaign: Campaign | None = None,
) -> Amendment:
    """Check the changes of ``changes_file`` against ``current`` and apply them.

    Raises :class:`~caqes_docs.inputs.validation.InvalidData` listing every problem, located.
    """
    parsed = validate(ChangesFile, read_yaml(changes_file), file=changes_file)
    if parsed.reference is not None and parsed.reference != current.reference:
        raise InputError(
            f"le fichier concerne un autre contrat que {current.reference}",
            file=changes_file,
            place="reference",
            value=parsed.reference,
        )
    effective = amendment_effective_date(signature_date)
    if signature_date > current.end_date:
        raise InputError(
            f"le contrat a pris fin le {date_fr(current.end_date)} : il ne peut plus être modifié",
            place="--date-signature",
            value=signature_date.isoformat(),
        )
    lines = _change_lines(changes_file)
    state = _State.of(current, campaign, effective)
    problems: list[InputError] = []
    sentences: list[str] = []
    for index, raw in enumerate(parsed.changes):
        line = lines[index] if index < len(lines) else None
        parsed_change = _parse_change(raw, index, line, changes_file)
        if isinstance(parsed_change, list):
            problems += parsed_change
            continue
        kind, value = parsed_change
        try:
            sentences += APPLY[kind](state, value)
        except _Refusal as refusal:
            problems.append(
                InputError(
                    refusal.rule,
                    file=changes_file,
                    place=_place(index, line, kind, refusal.field),
                    value=refusal.value,
                )
            )
    problems += _final_problems(state, changes_file)
    if problems:
        raise InvalidData(problems)
    if state.end_date < effective:
        raise InputError(
            f"l'avenant entrerait en vigueur le {date_fr(effective)}, après la fin du contrat "
            f"({date_fr(state.end_date)})",
            place="--date-signature",
            value=signature_date.isoformat(),
        )
    contract = _consolidate(state, changes_file)
    return Amendment(
        changes=tuple(sentences),
        contract=contract,
        annexes=_annex_changes(current, contract),
        signature_date=signature_date,
        effective_date=effective,
    )


def _final_problems(state: _State, path: Path) -> list[InputError]:
    problems = []
    if state.national is not None and not any(state.national.values()) and not state.regional:
        problems.append(
            InputError(
                "le volet 1 ne retiendrait plus aucun indicateur : le résilier plutôt "
                "(caqes terminate --volet prescriptions)",
                file=path,
                place="modifications",
            )
        )
    if state.themes is not None and not state.themes:
        problems.append(
            InputError(
                "le volet 2 ne retiendrait plus aucun thème : le résilier plutôt "
                "(caqes terminate --volet parcours)",
                file=path,
                place="modifications",
            )
        )
    return problems


def _kept_rows(state: _State) -> list[ActionRow]:
    """The current action plan without the lines of what the avenant removes."""
    sites = {site.finess for site in state.sites}
    theme_codes = {theme.code for theme in state.themes or []}
    kept = []
    for row in state.contract.action_plan:
        if row.site is not None and row.site not in sites:
            continue
        if row.volet == 2:
            if row.indicator in theme_codes:
                kept.append(row)
            continue
        if state.national is None:
            continue
        targeted = state.national.get(row.indicator)
        if targeted is not None:
            if row.site is None or row.site in targeted:
                kept.append(row)
        elif row.indicator in state.regional:
            kept.append(row)
    return kept


def _consolidate(state: _State, path: Path) -> Contract:
    volet1 = (
        Volet1(nationaux={k: v for k, v in state.national.items() if v}, regionaux=state.regional)
        if state.national is not None
        else None
    )
    volet2 = Volet2(themes=state.themes) if state.themes is not None else None
    rows = _kept_rows(state) + state.added_rows
    if state.campaign is not None:
        rows = complete_action_plan(state.campaign, volet1, volet2, rows)
    current = state.contract
    data = current.model_dump(by_alias=True)
    data["etablissement"].update(
        raison_sociale=state.legal_name,
        adresse=state.address,
        representant=state.representative,
        sites=state.sites,
    )
    data.update(date_fin=state.end_date, volet1=volet1, volet2=volet2, plan_actions=rows)
    return validate(Contract, data, file=path)


def _annex_changes(before: Contract, after: Contract) -> tuple[AnnexChange, ...]:
    changes = []
    for volet, was, now in ((1, before.volet1, after.volet1), (2, before.volet2, after.volet2)):
        if now is None:
            continue
        old_rows = [row for row in before.action_plan if row.volet == volet]
        new_rows = [row for row in after.action_plan if row.volet == volet]
        if was is None:
            changes.append(AnnexChange(volet, new=True))
        elif old_rows != new_rows:
            changes.append(AnnexChange(volet, new=False))
    return tuple(changes)


# --- termination --------------------------------------------------------------------------------


def terminated_contract(current: Contract, volet: int, effective: dt.date) -> Contract:
    """The consolidated contract once ``volet`` is terminated on ``effective``.

    Without its last volet a contract ends: the volets stay on record and the end date
    becomes the termination's effect date.
    """
    remaining = [v for v, part in ((1, current.volet1), (2, current.volet2)) if part and v != volet]
    if not remaining:
        return current.model_copy(update={"end_date": min(effective, current.end_date)})
    data = current.model_dump(by_alias=True)
    data[f"volet{volet}"] = None
    data["plan_actions"] = [row for row in current.action_plan if row.volet != volet]
    return validate(Contract, data)


# --- template contexts --------------------------------------------------------------------------


def amendment_context(amendment: Amendment, number: int) -> dict[str, Any]:
    """The variables of ``templates/avenant.docx`` (see docs/variables-modeles.md)."""
    return {
        **build_context(amendment.contract),
        "avenant": {
            "numero": number,
            "modifications": list(amendment.changes),
            "annexes": [
                {"numero": annex.volet, "libelle": ANNEX_LABELS[annex.volet], "nouvelle": annex.new}
                for annex in amendment.annexes
            ],
            "date_signature": amendment.signature_date,
            "date_effet": amendment.effective_date,
        },
    }


def termination_context(
    contract: Contract, number: int, volet: int, signature_date: dt.date, last_volet: bool
) -> dict[str, Any]:
    """The variables of ``templates/resiliation.docx`` (see docs/variables-modeles.md)."""
    return {
        **build_context(contract),
        "resiliation": {
            "numero": number,
            "volet": volet,
            "volet_libelle": VOLET_LABELS[volet],
            "date_signature": signature_date,
            "date_effet": termination_effective_date(signature_date),
            "dernier_volet": last_volet,
        },
    }
