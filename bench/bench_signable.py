"""Benchmark: DOCX → signable PDF/A-2b pipeline against bare LibreOffice conversions.

Usage: .venv/bin/python bench/bench_signable.py [N] [--workers W] [--repeat R] [--skip-per-document]

For N contracts (each a contract and two annexes, 3 × N DOCX files) it times:

  (a) the pipeline: caqes_docs.signable.make_signable (pool conversion in streaming mode,
      merge, anchors, fields, hashing, atomic writes, records);
  (b) one soffice process per document, W at a time;
  (c) a bare soffice batch conversion of the same DOCX files, split into W contiguous lists,
      one soffice process per list, all W side by side.

Targets at N = 100: (a) ≤ 1.15 × (c), and (a) at least 6 × faster than (b). Every variant
starts from fresh LibreOffice profiles, so each pays profile creation alike. (c) ends when its
processes exit; (a) ends when the last PDF is written and then stops its soffice processes
without waiting for their shut-down. With --repeat, (c) and (a) are run alternately R times:
the best time of each is kept, and the ratio of each round is printed too (steadier on a
shared machine). Read the absolute figures as orders of magnitude.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from queue import Queue

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from caqes_docs.assemble import contract_metadata  # noqa: E402
from caqes_docs.convert import DOCX_IMPORT_FILTER, PDFA2_EXPORT, SofficePool  # noqa: E402
from caqes_docs.signable import SignableJob, make_signable  # noqa: E402

ANNEX_TITLES = (
    "Annexe 1 — Volet pertinence des prescriptions",
    "Annexe 2 — Volet pertinence des parcours et des séjours",
)


@dataclass(frozen=True)
class ContractInput:
    """One contract's DOCX files and identity, as the pipeline receives them."""

    contract: Path
    annexes: tuple[Path, ...]
    reference: str
    finess_ej: str


# ==========================================================================================
# INPUT GENERATION — the one function to swap for the real renderer.
# It builds synthetic DOCX files with the test builders. With the real templates, render
# each contract instead, e.g. ``caqes_docs.render.render_contract(contract, folder)`` for the
# example campaign's contracts, and time the rendering too (the pipeline target includes it).
# ==========================================================================================
def make_inputs(folder: Path, count: int) -> list[ContractInput]:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_convert import write_annex_docx, write_contract_docx

    inputs = []
    for index in range(count):
        finess = f"33{index:07d}"
        reference = f"CAQES-NA-2022-{finess}"
        contract = write_contract_docx(folder / f"{reference}.docx", reference=reference)
        annexes = tuple(
            write_annex_docx(folder / f"{reference}-annexe{volet}.docx", volet, title)
            for volet, title in (
                (1, "Volet pertinence des prescriptions"),
                (2, "Volet pertinence des parcours et des séjours"),
            )
        )
        inputs.append(ContractInput(contract, annexes, reference, finess))
    return inputs


def documents(inputs: Sequence[ContractInput]) -> list[Path]:
    """Every DOCX, each contract followed by its annexes (the order the pipeline uses)."""
    return [path for item in inputs for path in (item.contract, *item.annexes)]


def soffice_command(profile: Path, out_dir: Path, files: Sequence[Path]) -> list[str]:
    return [
        "soffice",
        f"-env:UserInstallation={profile.as_uri()}",
        "--headless",
        "--invisible",
        "--nologo",
        "--nodefault",
        "--norestore",
        "--nolockcheck",
        f"--infilter={DOCX_IMPORT_FILTER}",
        "--convert-to",
        PDFA2_EXPORT,
        "--outdir",
        str(out_dir),
        *map(str, files),
    ]


def split(files: list[Path], parts: int) -> list[list[Path]]:
    size, extra = divmod(len(files), parts)
    runs, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        runs.append(files[start:end])
        start = end
    return [run for run in runs if run]


def run_pipeline(inputs: Sequence[ContractInput], scratch: Path, workers: int) -> dict:
    """(a) make_signable on every contract; returns timings and post-processing CPU."""
    out = scratch / "signable"
    jobs = [
        SignableJob(
            contract=item.contract,
            output=out / f"{item.reference}.pdf",
            metadata=contract_metadata(item.reference, item.finess_ej, f"Contrat {item.reference}"),
            reference=item.reference,
            finess_ej=item.finess_ej,
            annexes=list(zip(item.annexes, ANNEX_TITLES, strict=False)),
        )
        for item in inputs
    ]
    start = time.perf_counter()
    with SofficePool(workers) as pool:
        results = make_signable(jobs, pool=pool)
    wall = time.perf_counter() - start
    failed = [result.error for result in results if not result.ok]
    if failed:
        raise SystemExit(f"pipeline: {len(failed)} échecs, par exemple : {failed[0]}")
    return {"wall": wall, "cpu": [result.cpu_ms for result in results]}


def run_bare_batch(files: list[Path], scratch: Path, workers: int) -> float:
    """(c) W soffice processes, each converting one contiguous list."""
    start = time.perf_counter()
    processes = []
    for index, run in enumerate(split(files, workers)):
        out = scratch / f"batch-{index}"
        command = soffice_command(scratch / f"batch-profile-{index}", out, run)
        processes.append(
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
    for process in processes:
        process.wait()
    wall = time.perf_counter() - start
    converted = sum(
        len(list((scratch / f"batch-{i}").glob("*.pdf"))) for i in range(len(processes))
    )
    if converted != len(files):
        raise SystemExit(f"conversion nue : {converted} PDF sur {len(files)}")
    return wall


def run_per_document(files: list[Path], scratch: Path, workers: int) -> float:
    """(b) one soffice process per document, W at a time (one profile per slot)."""
    profiles: Queue[Path] = Queue()
    for index in range(workers):
        profiles.put(scratch / f"single-profile-{index}")
    out = scratch / "single"

    def convert(path: Path) -> None:
        profile = profiles.get()
        try:
            subprocess.run(soffice_command(profile, out, [path]), capture_output=True, check=True)
        finally:
            profiles.put(profile)

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as executor:
        list(executor.map(convert, files))
    return time.perf_counter() - start


def timed(label: str, action: Callable[[], float | dict]) -> float | dict:
    load = os.getloadavg()[0]
    print(f"  {label} … (charge {load:.1f})", flush=True)
    return action()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", nargs="?", type=int, default=100, help="contrats (défaut 100)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=1, help="tours de (c) et (a)")
    parser.add_argument("--skip-per-document", action="store_true", help="sans (b), très lent")
    args = parser.parse_args()
    if shutil.which("soffice") is None:
        raise SystemExit("soffice introuvable")

    with tempfile.TemporaryDirectory(prefix="bench-signable-") as tmp:
        root = Path(tmp)
        (root / "docx").mkdir()
        start = time.perf_counter()
        inputs = make_inputs(root / "docx", args.count)
        files = documents(inputs)
        print(
            f"{args.count} contrats, {len(files)} DOCX, {args.workers} processus soffice "
            f"(entrées générées en {time.perf_counter() - start:.1f} s)"
        )

        bare, pipeline = [], []
        for round_ in range(args.repeat):
            scratch = root / f"round-{round_}"
            scratch.mkdir()
            bare.append(
                timed(
                    "(c) conversion nue", lambda s=scratch: run_bare_batch(files, s, args.workers)
                )
            )
            pipeline.append(
                timed("(a) pipeline", lambda s=scratch: run_pipeline(inputs, s, args.workers))
            )
            shutil.rmtree(scratch)
        per_document = None
        if not args.skip_per_document:
            scratch = root / "per-document"
            scratch.mkdir()
            per_document = timed(
                "(b) un soffice par document",
                lambda: run_per_document(files, scratch, args.workers),
            )

    best_c = min(bare)
    best = min(pipeline, key=lambda run: run["wall"])
    best_a = best["wall"]
    steps = {step: [cpu[step] for cpu in best["cpu"]] for step in best["cpu"][0]}
    totals = [sum(cpu.values()) for cpu in best["cpu"]]

    print()
    rows = [
        ("(c) conversion nue", best_c, len(files), "DOCX"),
        ("(a) pipeline", best_a, args.count, "contrat"),
    ]
    if per_document is not None:
        rows.append(("(b) un soffice/document", per_document, len(files), "DOCX"))
    for label, seconds, units, unit in rows:
        print(f"{label:<25} : {seconds:7.2f} s  ({seconds / units * 1000:6.1f} ms/{unit})")
    print("post-traitement par contrat (CPU, ms) : moyenne / p95")
    for step, values in [*steps.items(), ("total", totals)]:
        p95 = statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]
        print(f"  {step:<10} {statistics.mean(values):6.1f} / {p95:6.1f}")
    print()
    ratio = best_a / best_c
    print(f"(a)/(c) = {ratio:.3f}   cible ≤ 1.15  {'OK' if ratio <= 1.15 else 'MANQUÉ'}")
    if per_document is not None:
        speedup = per_document / best_a
        print(f"(b)/(a) = {speedup:.1f}     cible ≥ 6     {'OK' if speedup >= 6 else 'MANQUÉ'}")
    if args.repeat > 1:
        # (c) and (a) of one round ran back to back under similar load: their ratio is steadier
        paired = [run["wall"] / value for value, run in zip(bare, pipeline, strict=True)]
        print("tours (c) :", ", ".join(f"{value:.2f}" for value in bare))
        print("tours (a) :", ", ".join(f"{run['wall']:.2f}" for run in pipeline))
        print("(a)/(c) par tour :", ", ".join(f"{ratio:.3f}" for ratio in paired))


if __name__ == "__main__":
    main()
