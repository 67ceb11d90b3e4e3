"""Party binding: which certificate may sign for which party of one contract.

The campaign says, per party, which attribute of the certificate's subject names the party and
the value it must hold, compared whole (case and surrounding spaces aside), never as a
substring: a certificate whose organisation name merely contains a FINESS names nobody.

- The establishment: its FINESS juridique, by default ``organizationIdentifier`` =
  ``FINESS-<finess_ej>`` (the eIDAS form; ``serialNumber`` is the other usual place).
- Each CPAM: its own identity, by default ``organizationName`` = its name in the campaign;
  the CPAM of a contract is the one the contract names, else the one of its département.
- The ARS: by default ``organizationName`` = its name in the campaign.

Campaign YAML, under ``signature`` (every key optional)::

    identites:
      ETAB: {attribut: serialNumber, valeur: "FINESS-{finess_ej}"}
      CPAM:
        "33": {attribut: organizationIdentifier, valeur: "NTRFR-180035024"}
      ARS: {attribut: organizationName, valeur: "ARS Nouvelle-Aquitaine"}
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from caqes_docs.errors import InputError
from caqes_docs.inputs.finess import departement
from caqes_docs.inputs.models import Model

if TYPE_CHECKING:
    from asn1crypto import x509

    from caqes_docs.inputs.campaign import Campaign

# Subject attributes a party may be recognised by, as campaigns name them, and as asn1crypto
# names them.
ATTRIBUTES: dict[str, str] = {
    "organizationIdentifier": "organization_identifier",
    "serialNumber": "serial_number",
    "organizationName": "organization_name",
    "organizationalUnitName": "organizational_unit_name",
    "commonName": "common_name",
}
AttributeName = Literal[
    "organizationIdentifier",
    "serialNumber",
    "organizationName",
    "organizationalUnitName",
    "commonName",
]

MATCHES = "conforme"
DIFFERS = "non conforme"
UNKNOWN = "non vérifiable"


class CertificateIdentity(Model):
    """One subject attribute and the whole value it must hold."""

    attribute: AttributeName = Field(alias="attribut")
    value: str = Field(min_length=1, alias="valeur")

    @field_validator("value")
    @classmethod
    def _only_finess_variable(cls, value: str) -> str:
        try:
            value.format(finess_ej="000000000")
        except (KeyError, IndexError, ValueError):
            raise ValueError(
                "seule la variable {finess_ej} est permise dans la valeur attendue"
            ) from None
        return value


class IdentitySettings(Model):
    """How each party's certificate is recognised; see the module's documentation."""

    establishment: CertificateIdentity = Field(
        CertificateIdentity(attribut="organizationIdentifier", valeur="FINESS-{finess_ej}"),
        alias="ETAB",
    )
    cpams: dict[str, CertificateIdentity] = Field(default_factory=dict, alias="CPAM")
    ars: CertificateIdentity | None = Field(None, alias="ARS")


@dataclass(frozen=True)
class ExpectedSigner:
    """What the certificate of one party of one contract must say, or why that is unknown.

    ``identities`` lists (attribute, value) pairs, any one of which names the party: one, but
    for a contract whose CPAM is not known, each CPAM of its département.
    """

    role: str
    identities: tuple[tuple[str, str], ...] = ()
    unknown: str | None = None

    def judge(self, certificate: x509.Certificate) -> str:
        """MATCHES, DIFFERS, or UNKNOWN when the expected identity could not be determined."""
        if not self.identities:
            return UNKNOWN
        for attribute, value in self.identities:
            wanted = _normal(value)
            if any(_normal(found) == wanted for found in subject_values(certificate, attribute)):
                return MATCHES
        return DIFFERS

    def describe(self) -> str:
        if not self.identities:
            return self.unknown or "identité attendue inconnue"
        return " ou ".join(f"{attribute}={value}" for attribute, value in self.identities)


def _signer(role: str, *identities: CertificateIdentity) -> ExpectedSigner:
    return ExpectedSigner(role, tuple((i.attribute, i.value) for i in identities))


def subject_values(certificate: x509.Certificate, attribute: str) -> list[str]:
    """Every value of ``attribute`` (campaign name) in the certificate's subject."""
    key = ATTRIBUTES[attribute]
    values = []
    for rdn in certificate.subject.chosen:
        for pair in rdn:
            if pair["type"].native == key:
                values.append(str(pair["value"].native))
    return values


def _normal(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split()).casefold()


def expected_signers(
    campaign: Campaign, finess_ej: str | None, cpam_name: str | None = None
) -> dict[str, ExpectedSigner]:
    """For each role, what its certificate must say for the contract of ``finess_ej``.

    ``cpam_name`` is the CPAM the contract names (from the registry); without it the CPAM is
    the campaign's one for the establishment's département.
    """
    settings = campaign.signature.identities
    signers = {
        "ETAB": _establishment(settings.establishment, finess_ej),
        "CPAM": _cpam(campaign, settings, finess_ej, cpam_name),
    }
    ars = settings.ars or CertificateIdentity(attribut="organizationName", valeur=campaign.ars.name)
    signers["ARS"] = _signer("ARS", ars)
    return signers


def _establishment(identity: CertificateIdentity, finess_ej: str | None) -> ExpectedSigner:
    if "{finess_ej}" in identity.value and not finess_ej:
        return ExpectedSigner("ETAB", unknown="FINESS juridique du contrat inconnu")
    value = identity.value.format(finess_ej=finess_ej or "")
    return ExpectedSigner("ETAB", ((identity.attribute, value),))


def _cpam(
    campaign: Campaign,
    settings: IdentitySettings,
    finess_ej: str | None,
    cpam_name: str | None,
) -> ExpectedSigner:
    keys = _cpam_keys(campaign, finess_ej, cpam_name)
    if not keys:
        if cpam_name:
            # A contract naming a CPAM the campaign does not list: its name is its identity.
            return ExpectedSigner("CPAM", (("organizationName", cpam_name),))
        return ExpectedSigner("CPAM", unknown="CPAM du contrat indéterminée")
    return _signer(
        "CPAM",
        *(
            settings.cpams.get(key)
            or CertificateIdentity(attribut="organizationName", valeur=campaign.cpams[key].name)
            for key in keys
        ),
    )


def _cpam_keys(campaign: Campaign, finess_ej: str | None, cpam_name: str | None) -> list[str]:
    """The contract's CPAM: the one it names, else those of the establishment's département."""
    if cpam_name:
        return [key for key, cpam in campaign.cpams.items() if cpam.name == cpam_name][:1]
    if not finess_ej:
        return []
    try:
        dept = departement(finess_ej)
    except (InputError, ValueError, KeyError):
        return []
    return [key for key in campaign.cpams if key == dept or key.startswith(f"{dept}-")]
