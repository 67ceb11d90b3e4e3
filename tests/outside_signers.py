"""Signing tools from outside caqes, run for real on a contract's signature fields.

In real life the establishment and the CPAM sign their copy with whatever they have and mail it
back. Each tool here fills one EXISTING field (``s1_ETAB``, ``s2_CPAM``, ``s3_ARS``) of a PDF
with a PKCS#12 credential, with that tool's defaults or usual options:

- poppler's ``pdfsig -sign`` (what Okular uses), with and without ``-etsi``; the key is
  imported into a throw-away NSS database with ``certutil -N`` and ``pk12util``;
- Apache PDFBox 2.0 from Debian (``libpdfbox2-java``), through ``tests/java/PdfBoxSigner.java``
  run as a single-file Java program: visible, invisible, and certifying (DocMDP P=2);
- pyHanko's command line (``pyhanko sign addsig``): approval, ``--certify``, ``--use-pades``,
  and ``--use-pades`` with a timestamp, at PAdES B-T, B-LT and B-LTA;
- a reproduction of Adobe Acrobat's conventions, see :func:`sign_like_acrobat`.

A tool is one entry of :data:`TOOLS`; adding a tool is adding one entry. Every tool is called
as ``tool(source, target, field, credential, context)``: ``context`` carries what only some
tools use (whether the field is the first one, a timestamp authority's URL, trust roots).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from io import BytesIO
from pathlib import Path
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.content import AnnotAppearances
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import BoxConstraints
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import BasePdfFileWriter, init_xobject_dictionary
from pyhanko.sign import fields as sig_fields
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, SimpleSigner
from pyhanko.sign.signers.pdf_byterange import BuildProps
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.stamp import TextStamp, TextStampStyle

JAVA_DIR = Path(__file__).parent / "java"
JAVA_SIGNER = JAVA_DIR / "PdfBoxSigner.java"
# Debian's libpdfbox2-java and libbcpkix-java (with its bcprov and bcutil dependencies).
JARS = ("pdfbox2", "fontbox2", "commons-logging", "bcprov", "bcpkix", "bcutil")
JAVA_SHARE = Path("/usr/share/java")
PYHANKO = Path(sys.executable).with_name("pyhanko")  # pyhanko-cli, in the same environment
TIMEOUT = 120
_ONE_JVM = threading.Lock()


class ToolError(RuntimeError):
    """A signing tool failed; the message carries its output."""


@dataclass(frozen=True)
class Credential:
    """A PKCS#12 file holding a key, its certificate and the issuing CA, and its password."""

    p12: Path
    password: str


@dataclass(frozen=True)
class ToolContext:
    """What some tools need beyond the file and the key."""

    first: bool = True
    """Whether the field is the first one signed: only then may a tool certify."""
    tsa_url: str | None = None
    trust: tuple[Path, ...] = ()
    """Roots that validate the signer's chain and the timestamp authority's (for B-LT)."""


PLAIN = ToolContext()
"""No timestamp authority, no trust roots."""
Tool = Callable[[Path, Path, str, Credential, ToolContext], None]


@dataclass(frozen=True)
class Step:
    """One signature of a chain: the field, the signer's credential, the file written."""

    field: str
    credential: Credential
    target: Path


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=TIMEOUT, check=False, **kwargs
    )
    if result.returncode != 0:
        raise ToolError(f"{command[0]} : statut {result.returncode}\n{result.stderr}")
    return result


# --- poppler ----------------------------------------------------------------------------------


def nss_database(directory: Path, credential: Credential) -> str:
    """Make an NSS database in ``directory`` holding the credential; its key's nickname."""
    _run(["certutil", "-N", "-d", f"sql:{directory}", "--empty-password"])
    _run(
        ["pk12util", "-i", str(credential.p12), "-d", f"sql:{directory}", "-W", credential.password]
    )
    listing = _run(["certutil", "-L", "-d", f"sql:{directory}"]).stdout
    # The user certificate (with its key) is the one marked "u,u,u".
    return next(
        line[: -len("u,u,u")].strip() for line in listing.splitlines() if line.endswith("u,u,u")
    )


def sign_with_pdfsig(
    source: Path,
    target: Path,
    field: str,
    credential: Credential,
    context: ToolContext,
    *,
    etsi: bool = False,
) -> None:
    """``pdfsig -sign FIELD`` as Okular does it: adbe.pkcs7.detached, or ETSI with ``-etsi``."""
    with tempfile.TemporaryDirectory(prefix="caqes-nss-") as nss:
        nick = nss_database(Path(nss), credential)
        command = ["pdfsig", "-nssdir", f"sql:{nss}", "-nick", nick, "-sign", field]
        command += ["-reason", "Signature du contrat CAQES"]
        if etsi:
            command.append("-etsi")
        _run([*command, str(source), str(target)])


# --- Apache PDFBox ----------------------------------------------------------------------------


def pdfbox_classpath() -> str:
    return os.pathsep.join(str(JAVA_SHARE / f"{jar}.jar") for jar in JARS)


def sign_with_pdfbox(
    source: Path,
    target: Path,
    field: str,
    credential: Credential,
    context: ToolContext,
    *,
    mode: str = "visible",
) -> None:
    """PDFBox's example signers (tests/java/PdfBoxSigner.java)."""
    pdfbox_chain(mode, source, [Step(field, credential, target)], first=context.first)


def pdfbox_chain(mode: str, source: Path, steps: list[Step], *, first: bool = True) -> None:
    """Each step signs the previous step's output, in one JVM run (a JVM start costs seconds).

    ``certify`` applies to the first field only: PDFBox refuses DocMDP once a signature exists,
    so later fields are signed ``invisible``.
    """
    java = shutil.which("java") or "java"
    arguments: list[str] = []
    for index, step in enumerate(steps):
        step_mode = mode if mode != "certify" or (first and index == 0) else "invisible"
        arguments += [
            step_mode,
            str(source),
            str(step.target),
            str(step.credential.p12),
            step.credential.password,
            step.field,
        ]
        source = step.target
    # PDFBox builds a font cache on first use, in the user's home unless told otherwise; one
    # JVM at a time, since the runs share that cache file.
    env = {**os.environ, "JAVA_TOOL_OPTIONS": f"-Dpdfbox.fontcache={tempfile.gettempdir()}"}
    with _ONE_JVM:
        _run([java, "-cp", pdfbox_classpath(), str(JAVA_SIGNER), *arguments], env=env)


# --- pyHanko's command line ---------------------------------------------------------------------


def sign_with_pyhanko_cli(
    source: Path,
    target: Path,
    field: str,
    credential: Credential,
    context: ToolContext,
    *,
    certify: bool = False,
    pades: bool = False,
    timestamp: bool = False,
    long_term: bool = False,
    archive: bool = False,
) -> None:
    """``pyhanko sign addsig --field FIELD --existing-only [--certify] [--use-pades]
    [--timestamp-url URL] [--with-validation-info --trust ROOT…] [--use-pades-lta] pkcs12 …``;
    ``--certify`` only on the first field. ``long_term`` (PAdES B-LT) adds the validation
    data in a revision after the signature, ``archive`` (B-LTA) a document timestamp too."""
    command = [str(PYHANKO), "sign", "addsig", "--field", field, "--existing-only"]
    if certify and context.first:
        command.append("--certify")
    if pades:
        command.append("--use-pades")
    if timestamp:
        if context.tsa_url is None:
            raise ToolError("pyhanko --timestamp-url : aucune autorité d'horodatage donnée")
        command += ["--timestamp-url", context.tsa_url]
    if long_term:
        command += ["--with-validation-info", "--trust-replace"]
        command += [argument for root in context.trust for argument in ("--trust", str(root))]
    if archive:
        command.append("--use-pades-lta")
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as passfile:
        passfile.write(credential.password)
        passfile.flush()
        command += [
            "pkcs12",
            "--passfile",
            passfile.name,
            str(source),
            str(target),
            str(credential.p12),
        ]
        _run(command)


# --- Adobe Acrobat's conventions -----------------------------------------------------------------


ACROBAT_BUILD = BuildProps(name="Adobe Acrobat Pro", revision="2023.008.20470")


class AcrobatLayers(TextStamp):
    """Acrobat's layered widget appearance: /N draws the form /FRM, which draws /n0 (the blank
    "DSBlank" layer) then /n2 (the signature's text, here pyHanko's text stamp)."""

    def as_appearances(self) -> AnnotAppearances:
        writer = self.writer
        assert writer is not None

        def form(content: bytes, xobjects: dict[str, generic.IndirectObject]) -> generic.PdfObject:
            names = {generic.NameObject(name): ref for name, ref in xobjects.items()}
            resources = generic.DictionaryObject(
                {generic.NameObject("/XObject"): generic.DictionaryObject(names)}
            )
            return writer.add_object(
                init_xobject_dictionary(content, self.box.width, self.box.height, resources)
            )

        blank = form(b"% DSBlank\n", {})
        layers = form(b"q /n0 Do Q q /n2 Do Q", {"/n0": blank, "/n2": self.register()})
        return AnnotAppearances(normal=form(b"q /FRM Do Q", {"/FRM": layers}))


class AcrobatStyle(TextStampStyle):
    """A text stamp drawn in Acrobat's layers (:class:`AcrobatLayers`)."""

    def create_stamp(
        self, writer: BasePdfFileWriter, box: BoxConstraints, text_params: dict[str, Any]
    ) -> TextStamp:
        return AcrobatLayers(writer=writer, style=self, box=box, text_params=text_params)


def sign_like_acrobat(
    source: Path, target: Path, field: str, credential: Credential, context: ToolContext
) -> None:
    """What Adobe Acrobat writes when a party signs, reproduced with pyHanko's library.

    Acrobat cannot run here. The conventions reproduced, and how:

    - the first signature certifies, "form fill-in and signing allowed" (DocMDP P=2): the
      catalog's ``/Perms /DocMDP`` points to the signature dictionary, whose ``/Reference``
      holds the ``/SigRef`` with ``/TransformMethod /DocMDP`` (pyHanko's certification);
    - ``/SubFilter /ETSI.CAdES.detached`` ("CAdES-equivalent", Acrobat DC's default format),
      with ``/Prop_Build /App`` naming the application (``BuildProps``);
    - a full widget appearance in Acrobat's layers: the field's ``/AP /N`` form draws
      ``/FRM``, which draws ``/n0`` (blank) and ``/n2`` ("Signé numériquement par …" and the
      date, in the field's own rectangle): :class:`AcrobatStyle`;
    - ``/AcroForm /SigFlags 3`` (signatures exist, append only);
    - ``/DSS`` added LATER, in a revision of its own after the signature, as Acrobat's
      "Ajouter les informations de vérification" does: the certificates of the chain (our
      test CAs publish no revocation data, so no OCSP response or CRL).
    """
    signer = SimpleSigner.load_pkcs12(str(credential.p12), passphrase=credential.password.encode())
    assert signer is not None, credential.p12
    metadata = PdfSignatureMetadata(
        field_name=field,
        md_algorithm="sha256",
        subfilter=sig_fields.SigSeedSubFilter.PADES,
        certify=context.first,
        docmdp_permissions=sig_fields.MDPPerm.FILL_FORMS,
        app_build_props=ACROBAT_BUILD,
        reason="Je suis l'auteur de ce document",
        location="Bordeaux",
    )
    style = AcrobatStyle(
        stamp_text="Signé numériquement par\n%(signer)s\nDate : %(ts)s",
        timestamp_format="%Y.%m.%d %H:%M:%S %z",
        border_width=0,
    )
    writer = IncrementalPdfFileWriter(BytesIO(source.read_bytes()), strict=False)
    signed = BytesIO()
    PdfSigner(metadata, signer, stamp_style=style).sign_pdf(
        writer, existing_fields_only=True, output=signed
    )
    # Later, in its own revision: the validation data (certificates of the chain).
    reader = PdfFileReader(signed, strict=False)
    embedded = next(sig for sig in reader.embedded_signatures if sig.field_name == field)
    certificates = [signer.signing_cert, *signer.cert_registry]
    DocumentSecurityStore.add_dss(signed, embedded.pkcs7_content, certs=certificates, strict=False)
    target.write_bytes(signed.getvalue())


# --- the tools ----------------------------------------------------------------------------------

TOOLS: dict[str, Tool] = {
    "pdfsig": sign_with_pdfsig,
    "pdfsig-etsi": partial(sign_with_pdfsig, etsi=True),
    "pdfbox-visible": partial(sign_with_pdfbox, mode="visible"),
    "pdfbox-invisible": partial(sign_with_pdfbox, mode="invisible"),
    "pdfbox-certify": partial(sign_with_pdfbox, mode="certify"),
    "pyhanko-cli": sign_with_pyhanko_cli,
    "pyhanko-cli-certify": partial(sign_with_pyhanko_cli, certify=True),
    "pyhanko-cli-pades": partial(sign_with_pyhanko_cli, pades=True),
    "pyhanko-cli-pades-timestamp": partial(sign_with_pyhanko_cli, pades=True, timestamp=True),
    "pyhanko-cli-pades-lt": partial(
        sign_with_pyhanko_cli, pades=True, timestamp=True, long_term=True
    ),
    "pyhanko-cli-pades-lta": partial(
        sign_with_pyhanko_cli, pades=True, timestamp=True, long_term=True, archive=True
    ),
    "acrobat-like": sign_like_acrobat,
}
"""Each tool by name; the tests parametrize over these names."""


def sign_chain(tool: str, source: Path, steps: list[Step], context: ToolContext = PLAIN) -> None:
    """Sign each step's field on top of the previous step's file, starting from ``source``."""
    if tool.startswith("pdfbox-"):
        pdfbox_chain(tool.removeprefix("pdfbox-"), source, steps)
        return
    for index, step in enumerate(steps):
        TOOLS[tool](
            source, step.target, step.field, step.credential, replace(context, first=index == 0)
        )
        source = step.target
