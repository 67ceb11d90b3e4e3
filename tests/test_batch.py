"""``caqes batch``: a whole targeting file into one folder per establishment, end to end.

One campaign (three accepted establishments, one refused) is run once through the CLI for the
module, with real LibreOffice conversions; most tests then work on a private copy of its
output and registry, so that only the tests that must convert again pay for it.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import Workbook
from pypdf import PdfReader

from caqes_docs.cli import main
from caqes_docs.inputs.finess import luhn_valid
from caqes_docs.inputs.targeting import (
    FLAG_RULE,
    PLAN_COLUMNS,
    REJECT_COLUMNS,
    read_targeting,
    targeting_columns,
)
from caqes_docs.issued import load_issued_record
from caqes_docs.pdf import convert
from caqes_docs.pdf.convert import soffice_command
from caqes_docs.registry.store import SUPERSEDED, Registry
from caqes_docs.workflows import batch
from caqes_docs.workflows.batch import RETIRED_PREFIX, STAGING_PREFIX, run_batch
from caqes_docs.workflows.manifest import ENTRY, MANIFEST


def finess(first8: str) -> str:
    """The valid FINESS number starting with ``first8``."""
    return next(first8 + d for d in "0123456789" if luhn_valid(first8 + d))


def fin(number: int) -> str:
    return finess(f"330997{number:02d}")


EJ_A, EJ_B, EJ_C, EJ_D = fin(10), fin(20), fin(30), fin(40)
# A's first site has the larger number: the sites must come in the file's order, not sorted.
A_FIRST, A_SECOND = fin(19), fin(11)
B_SITE, C_FIRST, C_SECOND, D_SITE = fin(21), fin(31), fin(32), fin(41)
ACCEPTED = [EJ_A, EJ_B, EJ_D]
# The annexes each establishment gets: A concludes both volets, B volet 1, D volet 2.
ANNEXES = {EJ_A: (1, 2), EJ_B: (1,), EJ_D: (2,)}


def reference(ej: str) -> str:
    return f"CAQES-NA-2022-{ej}"


def row(ej: str, et: str, name: str, **values: str) -> dict[str, str]:
    data = {
        "finess_ej": ej,
        "finess_et": et,
        "raison_sociale": name,
        "nom_et": f"{name} - site {et}",
        "adresse": "1 rue du Port - 33740 Arès",
        "representant": "Madame Léa BÉGUÉ",
        "qualite_representant": "Directrice",
    }
    data.update(values)
    return data


A_NAME = "Centre hospitalier fictif d'Arès & Lège"
ROWS = [
    # line 2: A, interleaved with B and C, whose second site comes on line 5
    row(EJ_A, A_FIRST, A_NAME, NAT_1="X", NAT_2="X", ATB="OUI", volet_parcours="OUI"),
    row(EJ_B, B_SITE, "Clinique fictive du Cap", NAT_3="X"),  # line 3
    row(EJ_C, C_FIRST, "Centre fictif du Teich", NAT_2="X"),  # line 4
    row(EJ_A, A_SECOND, A_NAME, NAT_2="X", ATB="OUI", volet_parcours="OUI"),  # line 5
    row(EJ_C, C_SECOND, "Centre fictif du Teich", NAT_2="peut-être"),  # line 6: C refused
    row(EJ_D, D_SITE, "Hôpital fictif de Lacanau", volet_parcours="OUI"),  # line 7
]
PLAN = [
    {
        "finess_ej": EJ_A,
        "volet": "1",
        "indicateur": "NAT_2",
        "finess_et": A_SECOND,
        "axe": "Déprescription des IPP",
        "action": "Revue pharmaceutique des ordonnances de sortie",
        "pilote": "Pharmacie",
        "echeance": "30/06/2023",
    }
]


def write_csv(
    path: Path,
    rows: list[dict[str, str]],
    columns: tuple[str, ...] = targeting_columns(),
    *,
    delimiter: str = ";",
    encoding: str = "utf-8-sig",
) -> Path:
    with open(path, "w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(columns)
        writer.writerows([[data.get(column, "") for column in columns] for data in rows])
    return path


def write_xlsx(path: Path, rows: list[dict[str, str]], plan: list[dict[str, str]]) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.title = "ciblage"
    sheet.append(list(targeting_columns()))
    for data in rows:
        sheet.append([data.get(column) or None for column in targeting_columns()])
    if plan:
        plan_sheet = book.create_sheet("plan_actions")
        plan_sheet.append(list(PLAN_COLUMNS))
        for data in plan:
            plan_sheet.append([data.get(column) or None for column in PLAN_COLUMNS])
    book.save(path)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), prog_name="caqes")
    return result.exit_code, result.stdout, result.stderr


@dataclass(frozen=True)
class Run:
    """A campaign's inputs and where its output went."""

    targeting: Path
    plan: Path
    out: Path
    registry: Path

    def args(self, targeting: Path | None = None) -> list[str]:
        return [
            "batch", str(targeting or self.targeting), "--plan-actions", str(self.plan),
            "--out", str(self.out), "--registry", str(self.registry), "--jobs", "2",
        ]  # fmt: skip

    def batch(self, targeting: Path | None = None, **options: object):
        options = {"action_plan": self.plan, "registry": self.registry, "workers": 2, **options}
        return run_batch(targeting or self.targeting, self.out, **options)  # type: ignore[arg-type]

    def manifest(self) -> dict:
        return json.loads((self.out / MANIFEST).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class FirstRun:
    run: Run
    code: int
    stdout: str
    stderr: str


def campaign_inputs(folder: Path) -> Run:
    return Run(
        targeting=write_csv(folder / "ciblage.csv", ROWS),
        plan=write_csv(folder / "plan.csv", PLAN, PLAN_COLUMNS),
        out=folder / "sortie",
        registry=folder / "caqes.db",
    )


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> FirstRun:
    run = campaign_inputs(tmp_path_factory.mktemp("campagne"))
    code, stdout, stderr = cli(*run.args())
    return FirstRun(run, code, stdout, stderr)


@pytest.fixture
def copied(first: FirstRun, tmp_path: Path) -> Run:
    """A private copy of the first run's inputs, output folder and registry."""
    shutil.copytree(first.run.out, tmp_path / "sortie")
    for path in first.run.registry.parent.glob(first.run.registry.name + "*"):
        shutil.copy2(path, tmp_path / path.name)
    return Run(
        targeting=shutil.copy2(first.run.targeting, tmp_path / "ciblage.csv"),
        plan=shutil.copy2(first.run.plan, tmp_path / "plan.csv"),
        out=tmp_path / "sortie",
        registry=tmp_path / first.run.registry.name,
    )


def state(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file of a folder with its digest and modification time."""
    return {path.name: (sha256(path), path.stat().st_mtime_ns) for path in folder.iterdir()}


def assert_complete(folder: Path) -> dict:
    """The folder holds exactly the files its entry lists, as written, and one issued PDF."""
    entry = json.loads((folder / ENTRY).read_text(encoding="utf-8"))
    assert {path.name for path in folder.iterdir()} == {*entry["fichiers"], ENTRY}
    for name, digest in entry["fichiers"].items():
        assert sha256(folder / name) == digest, name
    [pdf] = [name for name in entry["fichiers"] if name.endswith(".pdf")]
    assert load_issued_record(folder / pdf).sha256 == entry["fichiers"][pdf]
    assert entry["emission"]["sha256"] == entry["fichiers"][pdf]
    return entry


def live_documents(registry: Path) -> dict[str, list]:
    with Registry.open(registry, create=False) as opened:
        documents = opened.documents(include_superseded=True)
    by_reference: dict[str, list] = {}
    for document in documents:
        by_reference.setdefault(document.reference, []).append(document)
    return by_reference


# --------------------------------------------------------------------------- the first run


def test_each_establishment_gets_its_sources_and_one_signable_pdf(first: FirstRun) -> None:
    out = first.run.out
    assert first.code == 1, first.stderr  # C is refused
    names = sorted(path.name for path in out.iterdir())
    assert names == sorted([*ACCEPTED, MANIFEST, "rejets.csv"])
    for ej, volets in ANNEXES.items():
        ref = reference(ej)
        docx = {f"{ref}.docx", *(f"{ref}-annexe{volet}.docx" for volet in volets)}
        signable = {f"{ref}.pdf", f"{ref}.emission.json", ENTRY}
        assert {path.name for path in (out / ej).iterdir()} == docx | signable
        assert_complete(out / ej)
        pdf = PdfReader(out / ej / f"{ref}.pdf")
        fields = pdf.get_fields() or {}
        assert sorted(fields) == ["s1_ETAB", "s2_CPAM", "s3_ARS"]
        assert all(spec.get("/FT") == "/Sig" and "/V" not in spec for spec in fields.values())
        # the contract and its annexes, merged: one bookmark per part
        assert len(pdf.outline) == 1 + len(volets)
        record = load_issued_record(out / ej / f"{ref}.pdf")
        assert (record.reference, record.finess_ej) == (ref, ej)


def test_rows_are_grouped_by_finess_juridique_sites_in_file_order(first: FirstRun) -> None:
    manifest = first.run.manifest()
    entries = {entry["finess_ej"]: entry for entry in manifest["etablissements"]}
    assert [entry["finess_ej"] for entry in manifest["etablissements"]] == ACCEPTED
    assert (entries[EJ_A]["sites"], entries[EJ_A]["lignes"]) == ([A_FIRST, A_SECOND], [2, 5])
    assert (entries[EJ_B]["sites"], entries[EJ_B]["lignes"]) == ([B_SITE], [3])
    assert (entries[EJ_D]["sites"], entries[EJ_D]["lignes"]) == ([D_SITE], [7])
    assert entries[EJ_A]["lignes_plan_actions"] == [2]
    assert {ej: tuple(entry["volets"]) for ej, entry in entries.items()} == {
        EJ_A: (1, 2),
        EJ_B: (1,),
        EJ_D: (2,),
    }
    document = zipfile.ZipFile(first.run.out / EJ_A / f"{reference(EJ_A)}.docx")
    text = document.read("word/document.xml").decode("utf-8")
    assert text.index(A_FIRST) < text.index(A_SECOND)
    assert "Arès &amp; Lège" in text


def test_manifest_lists_references_files_digests_and_folder(first: FirstRun) -> None:
    manifest = first.run.manifest()
    assert manifest["refuses"] == [{"finess_ej": EJ_C, "lignes": [4, 6]}]
    assert manifest["echecs"] == []
    for entry in manifest["etablissements"]:
        ej = entry["finess_ej"]
        folder = first.run.out / ej
        assert entry["reference"] == reference(ej)
        assert entry["dossier"] == ej
        assert entry == assert_complete(folder)  # the folder's own entry, files as listed
        assert entry["emission"]["fichier"] == f"{reference(ej)}.pdf"
        assert entry["emission"]["sha256"] == sha256(folder / f"{reference(ej)}.pdf")


def test_refused_establishment_lists_all_its_lines(first: FirstRun) -> None:
    with open(first.run.out / "rejets.csv", encoding="utf-8-sig", newline="") as handle:
        header, *rows = list(csv.reader(handle, delimiter=";"))
    assert tuple(header) == REJECT_COLUMNS == (
        "ligne", "finess_ej", "raison_sociale", "finess_et", "colonne", "valeur", "erreur",
    )  # fmt: skip
    name = "Centre fictif du Teich"
    assert rows == [
        [
            "4", EJ_C, name, C_FIRST, "", "",
            "établissement refusé en entier à cause de ses autres lignes (ligne 6)",
        ],
        ["6", EJ_C, name, C_SECOND, "NAT_2", "peut-être", FLAG_RULE],
    ]  # fmt: skip
    assert f"Refusé : {EJ_C} : ligne 6, colonne NAT_2 : {FLAG_RULE} (valeur « peut-être »)" in (
        first.stderr.splitlines()
    )
    assert not (first.run.out / EJ_C).exists()


def test_registry_holds_each_contract_at_its_final_path(first: FirstRun) -> None:
    documents = live_documents(first.run.registry)
    assert sorted(documents) == sorted(reference(ej) for ej in ACCEPTED)
    for ej in ACCEPTED:
        [document] = documents[reference(ej)]
        pdf = first.run.out / ej / f"{reference(ej)}.pdf"
        assert document.issued_path.resolve() == pdf.resolve()
        assert document.issued_sha256 == sha256(pdf)


# --------------------------------------------------------------------------- running again


def test_same_command_again_regenerates_nothing(copied: Run) -> None:
    before = {ej: state(copied.out / ej) for ej in ACCEPTED}
    (copied.out / f"{STAGING_PREFIX}{EJ_B}").mkdir()  # left by an interrupted run
    (copied.out / f"{STAGING_PREFIX}{EJ_B}" / "partiel.docx").write_bytes(b"PK")
    (copied.out / f"{RETIRED_PREFIX}{EJ_D}").mkdir()
    code, stdout, _ = cli(*copied.args())
    assert code == 1  # C is still refused
    assert "Rien à régénérer : tous les dossiers sont à jour." in stdout
    assert re.search(r"à jour \(non régénérés\)\s*│\s*3 │", stdout)
    assert {ej: state(copied.out / ej) for ej in ACCEPTED} == before
    assert not [path for path in copied.out.iterdir() if path.name.startswith(".")]
    assert all(len(documents) == 1 for documents in live_documents(copied.registry).values())


def test_changed_row_regenerates_only_that_establishment(copied: Run) -> None:
    before = {ej: state(copied.out / ej) for ej in ACCEPTED}
    old_pdf = sha256(copied.out / EJ_B / f"{reference(EJ_B)}.pdf")
    rows = [dict(data) for data in ROWS]
    rows[1]["representant"] = "Monsieur Paul NOUVEAU"
    write_csv(copied.targeting, rows)
    events: list[tuple[str, str]] = []
    report = copied.batch(on_progress=lambda event, ej: events.append((event, ej)))
    assert (report.generated, report.up_to_date) == ([EJ_B], [EJ_A, EJ_D])
    assert [refused.finess_ej for refused in report.refused] == [EJ_C]
    assert events[0] == ("total", "3")
    assert sorted(events[1:]) == sorted([("à jour", EJ_A), ("à jour", EJ_D), ("généré", EJ_B)])
    assert {ej: state(copied.out / ej) for ej in (EJ_A, EJ_D)} == {
        ej: before[ej] for ej in (EJ_A, EJ_D)
    }
    entry = assert_complete(copied.out / EJ_B)
    new_pdf = entry["emission"]["sha256"]
    assert new_pdf != old_pdf
    docx = zipfile.ZipFile(copied.out / EJ_B / f"{reference(EJ_B)}.docx")
    assert "Paul NOUVEAU" in docx.read("word/document.xml").decode("utf-8")
    manifest = {entry["finess_ej"]: entry for entry in copied.manifest()["etablissements"]}
    assert manifest[EJ_B]["emission"]["sha256"] == new_pdf
    documents = live_documents(copied.registry)[reference(EJ_B)]
    assert {(doc.issued_sha256, doc.status == SUPERSEDED) for doc in documents} == {
        (old_pdf, True),
        (new_pdf, False),
    }


def test_without_refusals_exit_zero_and_manifest_follows_the_lines(copied: Run) -> None:
    """Removing C's lines shifts D's line; D is up to date, its manifest entry says line 5."""
    before = {ej: state(copied.out / ej) for ej in ACCEPTED}
    write_csv(copied.targeting, [data for data in ROWS if data["finess_ej"] != EJ_C])
    code, stdout, stderr = cli(*copied.args())
    assert code == 0, stderr
    assert "Rien à régénérer" in stdout
    assert {ej: state(copied.out / ej) for ej in ACCEPTED} == before
    manifest = copied.manifest()
    assert manifest["refuses"] == []
    lines = {entry["finess_ej"]: entry["lignes"] for entry in manifest["etablissements"]}
    assert lines == {EJ_A: [2, 4], EJ_B: [3], EJ_D: [5]}
    with open(copied.out / "rejets.csv", encoding="utf-8-sig", newline="") as handle:
        assert list(csv.reader(handle, delimiter=";")) == [list(REJECT_COLUMNS)]


@pytest.mark.parametrize("kind", ["xlsx avec plan_actions", "xlsx + plan CSV", "csv cp1252 ,"])
def test_same_data_in_another_format_is_up_to_date(copied: Run, kind: str) -> None:
    """The digest is of the data, not of the file: XLSX or a Windows CSV change nothing."""
    columns = tuple(reversed(targeting_columns()))
    plan: Path | None = copied.plan
    if kind == "xlsx avec plan_actions":
        targeting, plan = write_xlsx(copied.out.parent / "ciblage.xlsx", ROWS, PLAN), None
    elif kind == "xlsx + plan CSV":
        targeting = write_xlsx(copied.out.parent / "ciblage.xlsx", ROWS, [])
    else:
        path = copied.out.parent / "ciblage-windows.csv"
        targeting = write_csv(path, ROWS, columns, delimiter=",", encoding="cp1252")
    before = {ej: state(copied.out / ej) for ej in ACCEPTED}
    report = copied.batch(targeting, action_plan=plan)
    assert (report.generated, report.up_to_date) == ([], ACCEPTED)
    assert [refused.finess_ej for refused in report.refused] == [EJ_C]
    assert {ej: state(copied.out / ej) for ej in ACCEPTED} == before
    assert copied.manifest()["ciblage"] == targeting.name


def test_signed_or_completed_folder_is_reported_and_kept(copied: Run) -> None:
    pdf_a = copied.out / EJ_A / f"{reference(EJ_A)}.pdf"
    with open(pdf_a, "ab") as handle:  # as an incremental signature would
        handle.write(b"\n% signature ETAB\n%%EOF\n")
    signed_copy = copied.out / EJ_B / f"{reference(EJ_B)}-signe-ETAB.pdf"
    shutil.copy2(copied.out / EJ_B / f"{reference(EJ_B)}.pdf", signed_copy)
    rows = [dict(data) for data in ROWS]
    for index in (0, 1, 3):  # A's and B's rows change: both would be issued again
        rows[index]["representant"] = "Monsieur Paul NOUVEAU"
    write_csv(copied.targeting, rows)
    before = {ej: state(copied.out / ej) for ej in ACCEPTED}
    code, stdout, stderr = cli(*copied.args())
    assert code == 1
    failures = [line for line in stderr.splitlines() if line.startswith("Erreur")]
    assert len(failures) == 2, stderr
    assert failures[0].startswith(f"Erreur : {EJ_A} : {pdf_a} a changé depuis son émission")
    assert failures[1].startswith(f"Erreur : {EJ_B} : ")
    assert signed_copy.name in failures[1] and "n'est pas remplacé" in failures[1]
    assert "tous les dossiers sont à jour" not in stdout
    assert {ej: state(copied.out / ej) for ej in ACCEPTED} == before
    assert not [path for path in copied.out.iterdir() if path.name.startswith(".")]
    manifest = copied.manifest()
    assert [failure["finess_ej"] for failure in manifest["echecs"]] == [EJ_A, EJ_B]
    assert all(len(documents) == 1 for documents in live_documents(copied.registry).values())


def test_up_to_date_folders_missing_from_the_registry_are_registered(
    copied: Run, tmp_path: Path
) -> None:
    """What a run killed between placing a folder and registering it leaves behind."""
    before = {ej: state(copied.out / ej) for ej in ACCEPTED}
    other = tmp_path / "autre.db"
    report = copied.batch(registry=other)
    assert (report.generated, report.up_to_date) == ([], ACCEPTED)
    assert {ej: state(copied.out / ej) for ej in ACCEPTED} == before
    documents = live_documents(other)
    for ej in ACCEPTED:
        [document] = documents[reference(ej)]
        assert document.issued_sha256 == sha256(copied.out / ej / f"{reference(ej)}.pdf")


def test_libreoffice_starts_before_the_targeting_file_is_read(
    copied: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """soffice loads while the file is read and the documents rendered, not after."""
    scratch = tmp_path / "tmp"  # the pool's profiles: their path names its soffice processes
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    running_when_read: list[int] = []

    def read(*args: object, **kwargs: object):
        running_when_read.extend(_processes_mentioning(str(scratch)))
        return read_targeting(*args, **kwargs)

    monkeypatch.setattr(batch, "read_targeting", read)
    shutil.rmtree(copied.out / EJ_B)
    report = copied.batch()
    assert running_when_read, "aucun soffice lancé avant la lecture du ciblage"
    assert (report.generated, report.failed) == ([EJ_B], [])
    assert_complete(copied.out / EJ_B)
    assert list(_processes_mentioning(str(scratch))) == []


# --------------------------------------------------------------------------- interruption


def _processes_mentioning(text: str) -> Iterator[int]:
    """Processes whose command line contains ``text`` (this test's own folder)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if text.encode() in command:
            yield int(proc.name)


def _kill_leftovers(marker: str) -> None:
    """Kill, by pid, what the killed run started (soffice runs in its own session)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pids = list(_processes_mentioning(marker))
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def test_killed_run_leaves_no_partial_folder_and_next_run_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = campaign_inputs(tmp_path)
    scratch = tmp_path / "tmp"  # soffice profiles and work folders: found and killed after
    scratch.mkdir()
    command = [
        sys.executable, "-c", "from caqes_docs.cli import main; main(prog_name='caqes')",
        *run.args()[:-1], "1",  # one soffice: establishments complete one after the other
    ]  # fmt: skip
    env = {**os.environ, "TMPDIR": str(scratch)}
    with open(tmp_path / "sortie.log", "wb") as log:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while not (run.out.is_dir() and any(ej in ACCEPTED for ej in os.listdir(run.out))):
            assert process.poll() is None, (tmp_path / "sortie.log").read_text()
            assert time.monotonic() < deadline, "aucun dossier d'établissement en 120 s"
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        process.kill()
        process.wait()
        _kill_leftovers(str(tmp_path))

    names = os.listdir(run.out)
    done = [ej for ej in ACCEPTED if ej in names]
    assert 1 <= len(done) < len(ACCEPTED), "le traitement a fini avant d'être interrompu"
    for name in names:
        if name.startswith("."):
            assert (run.out / name).is_dir() and name.startswith((STAGING_PREFIX, RETIRED_PREFIX))
        elif name in ACCEPTED:
            assert_complete(run.out / name)
        else:
            assert name == "rejets.csv"

    # one document per soffice invocation: invocations follow one another in each worker
    monkeypatch.setattr(convert, "DOCUMENTS_PER_INVOCATION", 1)
    report = run.batch()
    assert report.up_to_date == done
    assert sorted(report.generated) == sorted(set(ACCEPTED) - set(done))
    assert not [name for name in os.listdir(run.out) if name.startswith(".")]
    for ej in ACCEPTED:
        assert_complete(run.out / ej)
    assert sorted(live_documents(run.registry)) == sorted(reference(ej) for ej in ACCEPTED)
    assert [entry["finess_ej"] for entry in run.manifest()["etablissements"]] == ACCEPTED


def test_soffice_is_never_given_more_arguments_than_it_reads(tmp_path: Path) -> None:
    """soffice ignores arguments past its 254th: an invocation stays below that."""
    other_arguments = [*soffice_command("soffice", tmp_path), "--outdir", str(tmp_path)]
    assert len(other_arguments) + convert.DOCUMENTS_PER_INVOCATION <= 254


# --------------------------------------------------------------------------- bad input


def test_unreadable_file_or_bad_arguments_exit_2(tmp_path: Path) -> None:
    out, registry = tmp_path / "sortie", tmp_path / "caqes.db"
    options = ["--out", str(out), "--registry", str(registry)]
    header = tmp_path / "mauvais.csv"
    header.write_text("finess_ej;finess_et;nom\n330997105;330997113;X\n", encoding="utf-8")
    code, _, stderr = cli("batch", str(header), *options)
    assert code == 2
    assert "Erreur : " in stderr and "nom" in stderr and "colonne inconnue" in stderr
    xls = tmp_path / "ciblage.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0" + bytes(60))
    code, _, stderr = cli("batch", str(xls), *options)
    assert code == 2 and ".xls" in stderr
    code, _, stderr = cli("batch", str(tmp_path / "absent.csv"), *options)
    assert code == 2 and "absent.csv" in stderr
    targeting = write_csv(tmp_path / "ciblage.csv", ROWS)
    code, _, stderr = cli("batch", str(targeting), *options, "--jobs", "0")
    assert code == 2 and "--jobs" in stderr
    assert not out.exists() and not registry.exists()
    assert "Traceback" not in stderr
