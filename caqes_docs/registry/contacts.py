"""The parties' e-mail contacts of each contract, and who changed them.

A contract's contacts start as its data says: ``etablissement.email`` (the ciblage's column
``email_etab`` or the contract YAML), the campaign's ``cpam.email`` and ``ars.email``. Officers
change them afterwards (the portal's contract page, ``caqes contact``) without an avenant: an
address is not a term of the contract — no document prints it. Each change is a row of the
registry's ``contacts`` table (who, when, the new address) and an event ``contact modifié`` of
the journal naming the old and the new address; the latest change wins over the contract's
data, for the later versions of the contract too. The portal's mail goes to
:meth:`ContactBook.email`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from caqes_docs.errors import InputError, InvalidData
from caqes_docs.inputs.models import check_email
from caqes_docs.parties import ROLES, party
from caqes_docs.registry.store import ContactChange, ContractRecord, Registry

CONTACT_CHANGED = "contact modifié"
DATA_KEYS = {"ETAB": "etablissement", "CPAM": "cpam", "ARS": "ars"}
"""Where each party's address sits in the registry's JSON of a contract version."""


@dataclass(frozen=True)
class Contact:
    """A party's current address; ``change`` is None while the contract's data holds."""

    role: str
    email: str | None
    change: ContactChange | None = None

    @property
    def party_name(self) -> str:
        return party(self.role).name


def data_email(contract: ContractRecord, role: str) -> str | None:
    """The address the contract's current version gives the party."""
    holder = contract.current_version.data.get(DATA_KEYS[role])
    email = holder.get("email") if isinstance(holder, dict) else None
    return email if isinstance(email, str) and email else None


class ContactBook:
    """Every contract's latest changes, read once, for sending many messages."""

    def __init__(self, changes: list[ContactChange]) -> None:
        self._latest = {(change.contract_id, change.party): change for change in changes}

    @classmethod
    def load(cls, registry: Registry, contract: ContractRecord | None = None) -> ContactBook:
        return cls(registry.contact_changes(contract.id if contract else None))

    def contact(self, contract: ContractRecord, role: str) -> Contact:
        change = self._latest.get((contract.id, role))
        if change is not None:
            return Contact(role, change.email, change)
        return Contact(role, data_email(contract, role))

    def email(self, contract: ContractRecord, role: str) -> str | None:
        return self.contact(contract, role).email


def contacts(registry: Registry, contract: ContractRecord) -> list[Contact]:
    """The contract's three contacts, in the parties' order."""
    book = ContactBook.load(registry, contract)
    return [book.contact(contract, role) for role in ROLES]


def set_contacts(
    registry: Registry, reference: str, wanted: Mapping[str, str | None], changed_by: str
) -> list[ContactChange]:
    """Give the contract's parties these addresses (blank: none); the changes made.

    Every address is checked before anything is written; an address equal to the current one
    changes nothing. One transaction: all the changes, each with its event, or none.
    """
    contract = registry.contract(reference)
    problems, checked = [], {}
    for role, value in wanted.items():
        if role not in DATA_KEYS:
            problems.append(InputError("partie inconnue (ETAB, CPAM ou ARS)", value=role))
            continue
        try:
            checked[role] = check_email(value)
        except ValueError as exc:
            problems.append(
                InputError(str(exc), place=f"courriel {party(role).of_name}", value=value)
            )
    if problems:
        raise problems[0] if len(problems) == 1 else InvalidData(problems)
    book = ContactBook.load(registry, contract)
    made = []
    with registry.transaction():
        for role, email in checked.items():
            before = book.email(contract, role)
            if email == before:
                continue
            made.append(registry.add_contact_change(contract.id, role, email, changed_by))
            registry.add_event(
                contract.id, None, CONTACT_CHANGED, _detail(role, before, email, changed_by)
            )
    return made


def _detail(role: str, before: str | None, after: str | None, changed_by: str) -> str:
    if after is None:
        what = f"supprimée (était {before})"
    elif before is None:
        what = f"fixée à {after}"
    else:
        what = f"{before} → {after}"
    return f"adresse électronique {party(role).of_name} {what}, par {changed_by}"
