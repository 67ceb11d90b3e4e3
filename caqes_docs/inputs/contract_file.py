"""One establishment's contract file (YAML) and the assembly of a full :class:`Contract`.

The contract file says only what is the establishment's own: who it is, its sites, the
indicators retained and, optionally, its own action-plan lines; the campaign supplies the
rest. :func:`build_contract` is shared with the batch reader of targeting spreadsheets.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from caqes_docs.errors import InputError
from caqes_docs.inputs.campaign import Campaign
from caqes_docs.inputs.catalogue import catalogue
from caqes_docs.inputs.models import (
    Action,
    ActionRow,
    Contract,
    Establishment,
    Model,
    Reference,
    Volet1,
    Volet2,
)
from caqes_docs.inputs.validation import InvalidData, read_yaml, validate


class Volet2Selection(Model):
    """Volet 2 as a contract file states it: the campaign's theme codes, or all of them."""

    themes: list[str] | None = None


class ContractFile(Model):
    reference: Reference | None = None
    establishment: Establishment = Field(alias="etablissement")
    volet1: Volet1 | None = None
    volet2: Volet2Selection | bool | None = None
    action_plan: list[ActionRow] = Field(default_factory=list, alias="plan_actions")


def select_themes(campaign: Campaign, selection: Volet2Selection | bool | None) -> Volet2 | None:
    if selection is None or selection is False:
        return None
    themes = {theme.code: theme for theme in campaign.volet2_themes}
    if not themes:
        raise InputError("la campagne ne définit aucun thème du volet 2", place="volet2")
    codes = list(themes) if selection is True or selection.themes is None else selection.themes
    for code in codes:
        if code not in themes:
            raise InputError(
                f"thème inconnu de la campagne (attendu : {', '.join(themes)})",
                place="volet2.themes",
                value=code,
            )
    return Volet2(themes=[themes[code] for code in codes])


def _default_row(volet: int, code: str, site: str | None, action: Action) -> ActionRow:
    return ActionRow(volet=volet, indicator=code, site=site, **action.model_dump())


def complete_action_plan(
    campaign: Campaign, volet1: Volet1 | None, volet2: Volet2 | None, rows: list[ActionRow]
) -> list[ActionRow]:
    """The establishment's own rows, then the campaign's defaults for what they leave out.

    A national indicator gets its default lines once per targeted site, a regional one or a
    volet 2 theme once for the establishment. An own row replaces the defaults of its
    indicator for its site, or for every site when it names none.
    """
    own = {(row.indicator, row.site) for row in rows}
    wanted: list[tuple[int, str, str | None]] = []
    if volet1 is not None:
        for code in catalogue().national_codes:
            wanted += [(1, code, site) for site in volet1.targeted_sites(code)]
        regional = [code for code in catalogue().regional_codes if code in volet1.regional]
        wanted += [(1, code, None) for code in regional]
    if volet2 is not None:
        wanted += [(2, theme.code, None) for theme in volet2.themes]
    completed = list(rows)
    for volet, code, site in wanted:
        if (code, site) in own or (code, None) in own:
            continue
        completed += [
            _default_row(volet, code, site, action)
            for action in campaign.default_actions.get(code, [])
        ]
    return completed


def build_contract(
    campaign: Campaign,
    establishment: Establishment,
    volet1: Volet1 | None,
    volet2: Volet2 | None,
    rows: list[ActionRow],
    *,
    reference: str | None = None,
    source: str | Path | None = None,
) -> Contract:
    """Join the campaign and the establishment's data into a validated contract."""
    try:
        _, cpam = campaign.cpam_for(establishment.finess_ej, establishment.cpam)
    except InputError as exc:
        raise InputError(
            exc.rule, file=source, place="etablissement.cpam", value=exc.value
        ) from None
    data = {
        "reference": reference or campaign.reference_for(establishment.finess_ej),
        "ars": campaign.ars,
        "cpam": cpam,
        "etablissement": establishment,
        "date_effet": campaign.effective_date,
        "date_fin": campaign.end_date,
        "entree_exceptionnelle": campaign.exceptional_start,
        "visas": campaign.visas,
        "volet1": volet1,
        "volet2": volet2,
        "plan_actions": complete_action_plan(campaign, volet1, volet2, rows),
    }
    return validate(Contract, data, file=source)


def load_contract(path: Path, campaign: Campaign) -> Contract:
    """Read one establishment's contract file and complete it from the campaign."""
    parsed = validate(ContractFile, read_yaml(path), file=path)
    try:
        volet2 = select_themes(campaign, parsed.volet2)
    except InputError as exc:
        located = InputError(exc.rule, file=path, place=exc.place, value=exc.value)
        raise InvalidData([located]) from None
    return build_contract(
        campaign,
        parsed.establishment,
        parsed.volet1,
        volet2,
        parsed.action_plan,
        reference=parsed.reference,
        source=path,
    )
