"""Qualified signatures: trusted lists generated and signed here, read by pyHanko, offline.

The demo PKI's root is listed as a qualified CA service (« CA/QC ») whose certificates are
qualified for e-signatures (or e-seals); the lists are XAdES-signed with signxml as pyHanko's
own tests do, by a list operator certificate made here.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from click.testing import CliRunner
from conftest_pki import FINESS, build_stand_in_contract, signed_stand_in
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree
from pyhanko.generated.etsi import MimeType, ts_119612, ts_119612_sie
from pyhanko.sign.validation.qualified.eutl_parse import ETSI_TSL_MIME_TYPE, STATUS_GRANTED
from pyhanko.sign.validation.qualified.tsp import CA_QC_URI, Qualifier
from signxml import SignatureMethod
from signxml.xades import XAdESSigner
from test_lifecycle import (  # noqa: F401  (keys, issued: fixtures)
    CHU,
    Issued,
    Keys,
    World,
    issued,
    keys,
    snapshot,
)
from xsdata.formats.dataclass.serializers import XmlSerializer
from xsdata.models.datatype import XmlDateTime

from caqes_docs.errors import InputError
from caqes_docs.inputs.campaign import load_campaign
from caqes_docs.issued import write_issued_record
from caqes_docs.registry.lifecycle import RECORDED, REFUSED, receive, signed_copy_path
from caqes_docs.registry.store import CONTRACT, Registry
from caqes_docs.signatures.qualified import (
    NOT_CHECKED,
    QUALIFIED_ESEAL,
    QUALIFIED_ESIG,
    load_trusted_lists,
)
from caqes_docs.signatures.signing import sign_documents
from caqes_docs.signatures.verify import verify_document

ESIG, ESEAL = "ForeSignatures", "ForeSeals"
_SVCINFOEXT = "http://uri.etsi.org/TrstSvc/TrustedList/SvcInfoExt"


# --- generating a trusted list --------------------------------------------------------------


@functools.cache
def _operator(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed list operator (or stand-in CA) certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _qc_service(ca_der: bytes, kind: str) -> ts_119612.TSPService:
    """A granted CA/QC service for ``ca_der``: its certificates with digitalSignature are
    qualified (QCStatement) for ``kind``, as the French TL declares its CAs."""
    qualifier = Qualifier.FOR_ESIG if kind == ESIG else Qualifier.FOR_ESEAL
    qualifications = ts_119612_sie.Qualifications(
        qualification_element=(
            ts_119612_sie.QualificationElementType(
                qualifiers=ts_119612_sie.QualifiersType(
                    qualifier=(
                        ts_119612_sie.QualifierType(uri=Qualifier.QC_STATEMENT.uri),
                        ts_119612_sie.QualifierType(uri=qualifier.uri),
                    )
                ),
                criteria_list=ts_119612_sie.CriteriaListType(
                    assert_value=ts_119612_sie.CriteriaListTypeassert.ALL,
                    key_usage=(
                        ts_119612_sie.KeyUsageType(
                            key_usage_bit=(
                                ts_119612_sie.KeyUsageBitType(
                                    value=True,
                                    name=ts_119612_sie.KeyUsageBitTypename.DIGITAL_SIGNATURE,
                                ),
                            )
                        ),
                    ),
                ),
            ),
        )
    )
    extensions = ts_119612.ExtensionsListType(
        extension=(
            ts_119612.Extension(content=(qualifications,), critical=True),
            ts_119612.Extension(
                content=(
                    ts_119612.AdditionalServiceInformation(
                        uri=ts_119612.NonEmptyMultiLangURIType(
                            value=f"{_SVCINFOEXT}/{kind}", lang="en"
                        )
                    ),
                ),
                critical=False,
            ),
        )
    )
    return ts_119612.TSPService(
        ts_119612.ServiceInformation(
            service_type_identifier=ts_119612.ServiceTypeIdentifier(CA_QC_URI),
            service_name=ts_119612.InternationalNamesType(
                (ts_119612.MultiLangNormStringType(value="AC de test", lang="fr"),)
            ),
            service_digital_identity=ts_119612.ServiceDigitalIdentity(
                (ts_119612.DigitalIdentityType(x509_certificate=ca_der),)
            ),
            service_status=ts_119612.ServiceStatus(STATUS_GRANTED),
            status_starting_time=XmlDateTime.from_datetime(dt.datetime(2020, 1, 1, tzinfo=dt.UTC)),
            service_information_extensions=extensions,
        )
    )


def _sign_list(root: ts_119612.TrustServiceStatusList, operator: str) -> bytes:
    key, cert = _operator(operator)
    unsigned = etree.fromstring(XmlSerializer().render(root).encode("utf-8"))
    signed = XAdESSigner(signature_algorithm=SignatureMethod.ECDSA_SHA256).sign(
        unsigned,
        key=key,
        cert=cert.public_bytes(serialization.Encoding.PEM).decode(),
        always_add_key_value=False,
    )
    return etree.tostring(signed)


def trusted_list(ca_der: bytes, kind: str = ESIG, operator: str = "Opérateur LdC") -> bytes:
    """A member-state trusted list naming ``ca_der`` as a qualified CA, signed by ``operator``."""
    root = ts_119612.TrustServiceStatusList(
        scheme_information=ts_119612.SchemeInformation(),
        trust_service_provider_list=ts_119612.TrustServiceProviderList(
            trust_service_provider=(
                ts_119612.TrustServiceProvider(
                    tspservices=ts_119612.TSPServices((_qc_service(ca_der, kind),))
                ),
            )
        ),
    )
    return _sign_list(root, operator)


def list_of_lists(tl_operator: str, operator: str = "Opérateur LOTL") -> bytes:
    """A LOTL pointing to one French list signed by ``tl_operator``."""
    pointer = ts_119612.OtherTSLPointer(
        tsllocation="https://example.invalid/tl-fr.xml",
        service_digital_identities=ts_119612.ServiceDigitalIdentities(
            service_digital_identity=(
                ts_119612.ServiceDigitalIdentity(
                    (
                        ts_119612.DigitalIdentityType(
                            x509_certificate=_der(_operator(tl_operator)[1])
                        ),
                    )
                ),
            )
        ),
        additional_information=ts_119612.AdditionalInformation(
            other_information=(
                ts_119612.AnyType(
                    content=(ts_119612.SchemeTerritory("FR"), MimeType(ETSI_TSL_MIME_TYPE))
                ),
            )
        ),
    )
    root = ts_119612.TrustServiceStatusList(
        scheme_information=ts_119612.SchemeInformation(
            scheme_information_uri=ts_119612.SchemeInformationURI(uri=()),
            list_issue_date_time=XmlDateTime.from_datetime(dt.datetime.now(dt.UTC)),
            pointers_to_other_tsl=ts_119612.PointersToOtherTSL(other_tslpointer=(pointer,)),
        )
    )
    return _sign_list(root, operator)


def operator_pem(tmp_path: Path, operator: str = "Opérateur LdC") -> Path:
    path = tmp_path / "operateur.pem"
    path.write_bytes(_operator(operator)[1].public_bytes(serialization.Encoding.PEM))
    return path


def demo_root_der(demo_pki) -> bytes:
    return asn1_x509.Certificate.load(
        x509.load_pem_x509_certificate(demo_pki.root_certificate.read_bytes()).public_bytes(
            serialization.Encoding.DER
        )
    ).dump()


@pytest.fixture
def signed_contract(tmp_path: Path) -> Path:
    return build_stand_in_contract(tmp_path, content=signed_stand_in(("ETAB", "CPAM")))


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _qualifications(report) -> dict[str, str | None]:
    return {sig.role: sig.qualification for sig in report.signatures}


# --- reading lists ------------------------------------------------------------------------------


def test_listed_root_makes_signatures_qualified(tmp_path, demo_pki, signed_contract):
    tl = _write(tmp_path, "tl.xml", trusted_list(demo_root_der(demo_pki)))
    lists = load_trusted_lists([tl], [operator_pem(tmp_path)])
    report = verify_document(
        signed_contract, trust_roots=[demo_pki.root_certificate], trusted_lists=lists
    )
    assert report.ok, report.all_problems()
    assert _qualifications(report) == {"ETAB": QUALIFIED_ESIG, "CPAM": QUALIFIED_ESIG, "ARS": None}


def test_seal_service_says_cachet(tmp_path, demo_pki, signed_contract):
    tl = _write(tmp_path, "tl.xml", trusted_list(demo_root_der(demo_pki), kind=ESEAL))
    lists = load_trusted_lists([tl], [operator_pem(tmp_path)])
    report = verify_document(signed_contract, trusted_lists=lists)
    assert _qualifications(report)["ETAB"] == QUALIFIED_ESEAL


def test_other_ca_is_not_qualified_and_no_list_is_not_checked(tmp_path, signed_contract):
    other_ca = _der(_operator("Autre AC")[1])
    tl = _write(tmp_path, "tl.xml", trusted_list(other_ca))
    lists = load_trusted_lists([tl], [operator_pem(tmp_path)])
    found = _qualifications(verify_document(signed_contract, trusted_lists=lists))
    assert found["ETAB"].startswith("non qualifiée : ")
    assert "CA/QC" in found["ETAB"]
    assert _qualifications(verify_document(signed_contract))["ETAB"] == NOT_CHECKED


def test_list_named_by_a_list_of_lists(tmp_path, demo_pki, signed_contract):
    lotl = _write(tmp_path, "lotl.xml", list_of_lists("Opérateur FR"))
    tl = _write(tmp_path, "tl.xml", trusted_list(demo_root_der(demo_pki), operator="Opérateur FR"))
    lotl_signer = operator_pem(tmp_path, "Opérateur LOTL")
    lists = load_trusted_lists([lotl, tl], [lotl_signer])
    assert _qualifications(verify_document(signed_contract, trusted_lists=lists))["ETAB"] == (
        QUALIFIED_ESIG
    )
    # A TL signed by someone the LOTL does not name is refused.
    rogue = _write(tmp_path, "rogue.xml", trusted_list(demo_root_der(demo_pki), operator="Intrus"))
    with pytest.raises(InputError, match="liste de confiance refusée"):
        load_trusted_lists([lotl, rogue], [lotl_signer])


# --- hostile lists ------------------------------------------------------------------------------


def _one_line(exc: pytest.ExceptionInfo, path: Path) -> str:
    message = str(exc.value)
    assert "\n" not in message and str(path) in message
    return message


def test_tampered_list_is_refused(tmp_path, demo_pki):
    data = trusted_list(_der(_operator("Autre AC")[1]))
    # Swap the listed CA for the demo root after signing.
    forged = data.replace(
        etree.fromstring(data).findtext(".//{*}X509Certificate").encode(),
        __import__("base64").b64encode(demo_root_der(demo_pki)),
        1,
    )
    assert forged != data
    tl = _write(tmp_path, "tl.xml", forged)
    with pytest.raises(InputError) as exc:
        load_trusted_lists([tl], [operator_pem(tmp_path)])
    assert "liste de confiance refusée (signature XML" in _one_line(exc, tl)


_TSL = b'<TrustServiceStatusList xmlns="http://uri.etsi.org/02231/v2#">'
_LAUGHS = b"".join(
    b'<!ENTITY l%d "%s">' % (n, f"&l{n - 1};".encode() * 10 if n else b"lol") for n in range(10)
)


@pytest.mark.parametrize(
    "content",
    [
        b"<TrustServiceStatusList><unclosed>",
        b"\xff\xfe garbage",
        b"",
        b"<a/>" + b" " * 10,
        b"<!DOCTYPE t [" + _LAUGHS + b"]>" + _TSL + b"&l9;</TrustServiceStatusList>",
        b'<!DOCTYPE t [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        + _TSL
        + b"&e;</TrustServiceStatusList>",
        b"<a>" * 100_000 + b"</a>" * 100_000,
    ],
    ids=["malformed", "binary", "empty", "not-a-list", "billion-laughs", "external-entity", "deep"],
)
def test_malformed_list_is_one_line(tmp_path, content):
    tl = _write(tmp_path, "tl.xml", content)
    with pytest.raises(InputError) as exc:
        load_trusted_lists([tl], [operator_pem(tmp_path)])
    _one_line(exc, tl)


def test_unsigned_or_unexpected_signer_is_refused(tmp_path, demo_pki):
    signed = trusted_list(demo_root_der(demo_pki))
    tree = etree.fromstring(signed)
    for signature in tree.findall("{http://www.w3.org/2000/09/xmldsig#}Signature"):
        tree.remove(signature)
    unsigned = _write(tmp_path, "unsigned.xml", etree.tostring(tree))
    with pytest.raises(InputError, match="signature XML absente") as exc:
        load_trusted_lists([unsigned], [operator_pem(tmp_path)])
    _one_line(exc, unsigned)
    other_signer = _write(tmp_path, "tl.xml", signed)
    with pytest.raises(InputError, match="signataire non attendu") as exc:
        load_trusted_lists([other_signer], [operator_pem(tmp_path, "Autre opérateur")])
    _one_line(exc, other_signer)
    with pytest.raises(InputError, match="sans signataire attendu") as exc:
        load_trusted_lists([other_signer])
    _one_line(exc, other_signer)


def test_oversized_list_is_refused_unread(tmp_path, monkeypatch):
    import caqes_docs.signatures.qualified as qualified

    monkeypatch.setattr(qualified, "MAX_LIST_BYTES", 1000)
    tl = _write(tmp_path, "tl.xml", b"<a>" + b" " * 2000 + b"</a>")
    with pytest.raises(InputError, match="trop grande") as exc:
        load_trusted_lists([tl], [operator_pem(tmp_path)])
    _one_line(exc, tl)


# --- the campaign's requirement -----------------------------------------------------------------


def requiring(roles: dict[str, bool]):
    campaign = load_campaign()
    signature = campaign.signature.model_copy(update={"qualified": roles})
    return campaign.model_copy(update={"signature": signature})


def test_campaign_requirement_refuses_unqualified_signature(tmp_path, demo_pki, signed_contract):
    campaign = requiring({"ETAB": False, "CPAM": True})
    other = _write(tmp_path, "other.xml", trusted_list(_der(_operator("Autre AC")[1])))
    lists = load_trusted_lists([other], [operator_pem(tmp_path)])
    report = verify_document(
        signed_contract, trust_roots=[demo_pki.root_certificate], trusted_lists=lists,
        campaign=campaign,
    )  # fmt: skip
    assert not report.ok
    (problem,) = report.all_problems()
    assert "CPAM" in problem and "exige un certificat qualifié" in problem
    # Without a list nothing proves the qualification: refused as well.
    report = verify_document(
        signed_contract, trust_roots=[demo_pki.root_certificate], campaign=campaign
    )
    assert not report.ok and "non vérifiée" in report.all_problems()[0]
    # The listed root satisfies it.
    listed = _write(tmp_path, "tl.xml", trusted_list(demo_root_der(demo_pki)))
    lists = load_trusted_lists([listed], [operator_pem(tmp_path)])
    report = verify_document(
        signed_contract, trust_roots=[demo_pki.root_certificate], trusted_lists=lists,
        campaign=campaign,
    )  # fmt: skip
    assert report.ok, report.all_problems()


def test_campaign_yaml_alias_and_unknown_party():
    from caqes_docs.inputs.campaign import SignatureSettings

    settings = SignatureSettings.model_validate({"qualifiee": {"ETAB": False, "ARS": True}})
    assert settings.qualified_roles() == {"ARS"}
    with pytest.raises(ValueError, match="qualifiee : partie inconnue"):
        SignatureSettings.model_validate({"qualifiee": {"MAIRIE": True}})


# --- the command line ---------------------------------------------------------------------------


def test_verify_command_reports_qualification(tmp_path, demo_pki, signed_contract):
    from caqes_docs.cli import main

    tl = _write(tmp_path, "tl.xml", trusted_list(demo_root_der(demo_pki)))
    result = CliRunner().invoke(
        main,
        [
            "verify", str(signed_contract), "--trust", str(demo_pki.root_certificate),
            "--trusted-list", str(tl), "--trusted-list-signer", str(operator_pem(tmp_path)),
            "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.output)
    assert report["signatures"][0]["qualification"] == QUALIFIED_ESIG
    assert FINESS in report["finess_ej"]


def test_verify_command_bad_list_is_one_line(tmp_path, demo_pki, signed_contract):
    from caqes_docs.cli import main

    tl = _write(tmp_path, "tl.xml", b"<pas-une-liste")
    result = CliRunner().invoke(
        main,
        [
            "verify", str(signed_contract), "--trusted-list", str(tl),
            "--trusted-list-signer", str(operator_pem(tmp_path)),
        ],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "liste de confiance" in result.output


# --- receive ------------------------------------------------------------------------------------


@pytest.fixture
def strict_world(tmp_path: Path, keys: Keys, issued: dict[str, Issued]) -> Iterator[World]:  # noqa: F811
    """test_lifecycle's world, its contracts registered under a campaign that requires the
    establishment's signature to be qualified."""
    registry = Registry.open(tmp_path / "caqes.db")
    world = World(tmp_path, registry, keys, issued)
    campaign = requiring({"ETAB": True})
    for name, item in issued.items():
        pdf = tmp_path / "contrats" / f"{item.contract.reference}.pdf"
        pdf.parent.mkdir(exist_ok=True)
        pdf.write_bytes(item.pdf)
        write_issued_record(pdf, item.record)
        registry.register_issued(item.contract, CONTRACT, pdf, item.record, campaign)
        world.pdfs[name] = pdf
    yield world
    world.registry.close()


def _root_der(path: Path) -> bytes:
    return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(
        serialization.Encoding.DER
    )


def test_receive_refuses_an_unqualified_signature_the_campaign_requires(strict_world, tmp_path):
    world = strict_world
    copy = world.returned(CHU, "ETAB")
    other = _write(tmp_path, "other.xml", trusted_list(_der(_operator("Autre AC")[1])))
    lists = load_trusted_lists([other], [operator_pem(tmp_path)])
    with world.closed():
        before = snapshot(world.db)
        with Registry.open(world.db) as registry:
            [outcome] = receive([copy], registry, [world.keys.root], lists)
        assert snapshot(world.db) == before
    assert outcome.status == REFUSED
    assert "exige un certificat qualifié" in outcome.message and "\n" not in outcome.message
    assert not signed_copy_path(world.pdfs[CHU]).exists()

    listed = _write(tmp_path, "tl.xml", trusted_list(_root_der(world.keys.root)))
    lists = load_trusted_lists([listed], [operator_pem(tmp_path)])
    [outcome] = receive([copy], world.registry, [world.keys.root], lists)
    assert outcome.status == RECORDED, outcome.message
    assert outcome.qualifications == (("ETAB", QUALIFIED_ESIG),)


def test_receive_command_prints_each_qualification(strict_world, tmp_path):
    from caqes_docs.cli import main

    world = strict_world
    listed = _write(tmp_path, "tl.xml", trusted_list(_root_der(world.keys.root)))
    copy = world.returned(CHU, "CPAM")
    world.registry.close()
    result = CliRunner().invoke(
        main,
        [
            "receive", str(copy), "--trust", str(world.keys.root), "--registry", str(world.db),
            "--trusted-list", str(listed), "--trusted-list-signer", str(operator_pem(tmp_path)),
        ],
    )  # fmt: skip
    world.registry = Registry.open(world.db)
    assert result.exit_code == 0, result.output
    assert f"ETAB {QUALIFIED_ESIG}" in result.output
    assert f"CPAM {QUALIFIED_ESIG}" in result.output


# --- sign ---------------------------------------------------------------------------------------


def test_sign_refuses_what_the_campaign_requires_qualified(tmp_path, demo_pki, demo_signers):
    campaign = requiring({"ETAB": True})
    other = _write(tmp_path, "other.xml", trusted_list(_der(_operator("Autre AC")[1])))
    unlisted = load_trusted_lists([other], [operator_pem(tmp_path)])
    listed_xml = _write(tmp_path, "tl.xml", trusted_list(demo_root_der(demo_pki)))
    listed = load_trusted_lists([listed_xml], [operator_pem(tmp_path)])
    roots = [demo_pki.root_certificate]

    # The signer's own certificate.
    fresh = build_stand_in_contract(tmp_path, "frais")
    out = tmp_path / "frais-etab.pdf"
    (result,) = sign_documents(
        [fresh], "ETAB", demo_signers["ETAB"], output=out, trust_roots=roots,
        campaign=campaign, trusted_lists=unlisted,
    )  # fmt: skip
    assert not result.ok and "exige un certificat qualifié" in result.error
    assert not out.exists()

    # An earlier signature, when countersigning.
    signed = build_stand_in_contract(tmp_path, "signe", content=signed_stand_in(("ETAB",)))
    out = tmp_path / "signe-cpam.pdf"
    for lists in (unlisted, None):
        (result,) = sign_documents(
            [signed], "CPAM", demo_signers["CPAM"], output=out, trust_roots=roots,
            campaign=campaign, trusted_lists=lists,
        )  # fmt: skip
        assert not result.ok and "exige un certificat qualifié" in result.error
        assert not out.exists()
    (result,) = sign_documents(
        [signed], "CPAM", demo_signers["CPAM"], output=out, trust_roots=roots,
        campaign=campaign, trusted_lists=listed,
    )  # fmt: skip
    assert result.ok, result.error
