"""What caqes relies on in pyHanko beyond its documented defaults, in one place.

Each entry says in one line why it is here and what it buys (bench/bench_sign.py). Nothing
here patches pyHanko or touches its private members; the entries lean on behaviour of the
version below, which :func:`check_version` asserts at import so that an upgrade is looked at.

- ``PadesSignedAttributes``: pyHanko's signer hook ``signed_attr_prov_spec`` with the one
  signed attribute PAdES needs, encoded once per certificate: ~8 ms of a 25 ms signature.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import version

from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from pyhanko.sign import attributes
from pyhanko.sign.general import as_signing_certificate_v2
from pyhanko.sign.signers import Signer

WRITTEN_FOR = "0.38"


def check_version() -> None:
    """Fail loudly when pyHanko is not the version these entries were written for."""
    found = version("pyhanko")
    if not (found == WRITTEN_FOR or found.startswith(WRITTEN_FOR + ".")):
        raise ImportError(
            f"caqes_docs.signatures._pyhanko_compat a été écrit pour pyHanko {WRITTEN_FOR}, "
            f"trouvé {found} : relire ce module avant de changer de version"
        )


check_version()


class PadesSignedAttributes(attributes.SignedAttributeProviderSpec):
    """The signed attributes of a PAdES signature without signature policy or commitment type.

    pyHanko 0.38 signs, for PAdES, signing-certificate-v2 and the CAdES attributes asked for
    (none here); it adds content type and message digest itself. It builds
    signing-certificate-v2 from Python objects for every signature, which asn1crypto
    re-encodes at every dump; a value loaded from DER dumps its bytes as they are.
    """

    def __init__(self, signing_cert: asn1_x509.Certificate) -> None:
        self._value = as_signing_certificate_v2(signing_cert).dump()

    def signed_attr_providers(
        self, data_digest: bytes, digest_algorithm: str
    ) -> Iterator[attributes.CMSAttributeProvider]:
        yield _EncodedSigningCertificate(self._value)


class _EncodedSigningCertificate(attributes.CMSAttributeProvider):
    attribute_type = "signing_certificate_v2"

    def __init__(self, value: bytes) -> None:
        self._value = value

    async def build_attr_value(self, dry_run: bool = False) -> tsp.SigningCertificateV2:
        return tsp.SigningCertificateV2.load(self._value)


def with_pades_attributes(signer: Signer) -> Signer:
    """``signer``, signing its PAdES attributes through :class:`PadesSignedAttributes`."""
    assert signer.signing_cert is not None
    signer.signed_attr_prov_spec = PadesSignedAttributes(signer.signing_cert)
    return signer
