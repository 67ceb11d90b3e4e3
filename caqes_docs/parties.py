"""The three parties of a CAQES document and their signature fields, defined once.

Each party signs its own field, placed at its anchors of the model's signature block
(``/s1_ETAB/`` over ``/d1_ETAB/`` …). The default signing order is the order of
:data:`PARTIES`; a campaign may set another one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """A party, by the code used in the CLI, the campaign and the registry."""

    ETAB = "ETAB"
    CPAM = "CPAM"
    ARS = "ARS"


@dataclass(frozen=True)
class Party:
    """A party, its signature field and the anchors that place it."""

    role: Role
    field: str
    signature_anchor: str
    date_anchor: str
    name: str
    """How documents and messages name the party."""
    of_name: str
    """« de l'établissement », « de la CPAM »: the party as a complement, in messages."""

    @property
    def tooltip(self) -> str:
        """The field's description, shown by PDF readers."""
        return f"Signature {self.of_name}"


PARTIES: tuple[Party, ...] = (
    Party(
        Role.ETAB,
        "s1_ETAB",
        "/s1_ETAB/",
        "/d1_ETAB/",
        "Établissement",
        "de l'établissement",
    ),
    Party(Role.CPAM, "s2_CPAM", "/s2_CPAM/", "/d2_CPAM/", "CPAM", "de la CPAM"),
    Party(Role.ARS, "s3_ARS", "/s3_ARS/", "/d3_ARS/", "ARS", "de l'ARS"),
)
"""In the default signing order: établissement, CPAM, ARS."""

ROLES: tuple[str, ...] = tuple(party.role.value for party in PARTIES)
ANCHORS: tuple[str, ...] = tuple(
    anchor for party in PARTIES for anchor in (party.signature_anchor, party.date_anchor)
)
_BY_ROLE = {party.role.value: party for party in PARTIES}


def party(role: str) -> Party:
    """The party of ``role`` (``ETAB``, ``CPAM`` or ``ARS``); KeyError for anything else."""
    return _BY_ROLE[role]
