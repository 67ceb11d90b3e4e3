"""Benchmark: the ARS countersigns 150 real contracts with one key, PAdES B-B.

The contracts are real ones: a targeting file from bench/make_targeting.py issued by
``caqes_docs.workflows.batch.run_batch`` (LibreOffice, contract and annexes, 9 to 11 pages)
into a cache folder, outside the timing. The first run converts them (about a minute for
150); later runs reuse them, since run_batch leaves alone the folders whose inputs have not changed.

Each run copies the issued PDFs and their records into a fresh folder, where each party signs
all of them with its own key (each establishment its own, the CPAM of each département, then
the ARS), each signed copy written beside its input. Each party's signatures are timed,
elapsed and CPU (``time.process_time``); the ARS's include the verification made before
signing (the same as ``verify``: issued record, every stretch of revisions against the
allow-list, each earlier signature intact, trusted and bound to its party, uncovered bytes)
and the atomic writes. That verification is also timed alone, on the files the CPAM signed,
to show its share. Target: 60 ms per ARS signature.

Usage: .venv/bin/python bench/bench_sign.py [--count 150] [--repeat 3] [--cache DIR]

The machine's 2 cores are shared: read the figures as orders of magnitude; the medians of
several runs and the CPU times are steadier than one elapsed time.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from make_targeting import DEFAULT_SITES, parse_sites, rows, write_csv  # noqa: E402
from pyhanko.sign.signers import Signer  # noqa: E402

from caqes_docs.inputs.campaign import load_campaign  # noqa: E402
from caqes_docs.issued import read_issued_record, sidecar_path  # noqa: E402
from caqes_docs.signatures.pki import create_demo_pki  # noqa: E402
from caqes_docs.signatures.signing import load_p12, sign_documents  # noqa: E402
from caqes_docs.signatures.verify import (  # noqa: E402
    check_document,
    expectations_for,
    load_trust_roots,
    open_pdf,
)
from caqes_docs.workflows.batch import run_batch  # noqa: E402

TARGET_MS = 60.0
PASSWORD = b"caqes-bench"
ROLES = ("ETAB", "CPAM", "ARS")
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "caqes-bench-contrats"


@dataclass(frozen=True)
class Timing:
    """Milliseconds per signature of one ``sign_documents`` call."""

    wall: float
    cpu: float


def issued_contracts(cache: Path, count: int) -> list[Path]:
    """The issued PDFs of ``count`` establishments, converted into ``cache`` unless there."""
    cache.mkdir(parents=True, exist_ok=True)
    targeting = cache / f"ciblage-{count}.csv"
    if not targeting.exists():
        write_csv(targeting, rows(count, parse_sites(DEFAULT_SITES), seed=2022))
    started = time.perf_counter()
    report = run_batch(targeting, cache / f"contrats-{count}", registry=cache / "caqes.db")
    if report.failed:
        finess, problem = report.failed[0]
        raise SystemExit(f"émission impossible pour {finess} : {problem}")
    if report.generated:
        print(f"{len(report.generated)} contrat(s) émis en {time.perf_counter() - started:.0f} s")
    folders = [report.out_dir / finess for finess in report.generated + report.up_to_date]
    pdfs = sorted(pdf for folder in folders for pdf in folder.glob("*.pdf"))
    if len(pdfs) < count:
        raise SystemExit(f"{len(pdfs)} contrat(s) émis sur {count} demandés")
    return pdfs[:count]


def copy_contracts(issued: list[Path], directory: Path) -> list[Path]:
    copies = []
    for pdf in issued:
        copy = directory / pdf.name
        shutil.copyfile(pdf, copy)
        shutil.copyfile(sidecar_path(pdf), sidecar_path(copy))
        copies.append(copy)
    return copies


def timed_signing(
    paths: list[Path], role: str, keys: list[Signer], root: Path
) -> tuple[Timing, list[Path]]:
    """Sign every file, one ``sign_documents`` call per key (``keys[i]`` signs ``paths[i]``);
    each signed copy is written beside its input (X.signe-<partie>.pdf)."""
    groups: dict[int, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(id(key), []).append(index)
    outputs: list[Path] = list(paths)
    start, cpu_start = time.perf_counter(), time.process_time()
    for indexes in groups.values():
        batch = [paths[i] for i in indexes]
        results = sign_documents(batch, role, keys[indexes[0]], trust_roots=[root])
        for i, result in zip(indexes, results, strict=True):
            if not result.ok or result.output is None:
                raise SystemExit(f"échec de la signature {role} : {result.error}")
            outputs[i] = result.output
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return Timing(elapsed * 1000 / len(paths), cpu * 1000 / len(paths)), outputs


def party_keys(issued: list[Path], directory: Path) -> tuple[dict[str, list[Signer]], Path]:
    """For each role, the key of each contract's party (in the order of ``issued``): its
    establishment, the CPAM of its département, the ARS; and the root to trust."""
    campaign = load_campaign()
    finess = [pdf.parent.name for pdf in issued]
    pki = create_demo_pki(directory, [(f, f"Établissement {f}") for f in finess], PASSWORD)
    assert pki.ars is not None
    loaded: dict[Path, Signer] = {}

    def key(path: Path) -> Signer:
        if path not in loaded:
            loaded[path] = load_p12(path, PASSWORD)
        return loaded[path]

    def cpam(ej: str) -> Path:
        dept = ej[:2]
        return pki.cpams[next(k for k in campaign.cpams if k == dept or k.startswith(dept))]

    keys = {
        "ETAB": [key(pki.establishments[ej]) for ej in finess],
        "CPAM": [key(cpam(ej)) for ej in finess],
        "ARS": [key(pki.ars)] * len(finess),
    }
    return keys, pki.root_certificate


def time_checks(paths: list[Path], root: Path) -> float:
    """CPU ms per file of the verification ``sign`` makes before the ARS signature."""
    roots = load_trust_roots([root])
    start = time.process_time()
    for path in paths:
        data = path.read_bytes()
        expect = expectations_for(data, path, read_issued_record(path), None, None, None, None)
        report = asyncio.run(check_document(data, path, roots, expect))
        assert report.ok, report.all_problems()
    return (time.process_time() - start) * 1000 / len(paths)


def page_counts(paths: list[Path]) -> list[int]:
    counts = []
    for path in paths:
        pages = open_pdf(path.read_bytes(), path).root["/Pages"]
        counts.append(int(pages["/Count"]))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=150)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()

    issued = issued_contracts(args.cache, args.count)
    pages = page_counts(issued)
    print(f"{len(issued)} contrats réels, de {min(pages)} à {max(pages)} pages ({args.cache})")
    pki_dir = Path(tempfile.mkdtemp(prefix="caqes-bench-pki-"))
    keys, root = party_keys(issued, pki_dir)

    runs: list[dict[str, Timing]] = []
    checks: list[float] = []
    for run in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="caqes-bench-") as directory:
            paths = copy_contracts(issued, Path(directory))
            timings = {}
            for role in ROLES:
                if role == "ARS":
                    checks.append(time_checks(paths, root))
                timings[role], paths = timed_signing(paths, role, keys[role], root)
        runs.append(timings)
        print(
            f"run {run + 1} : "
            + " ; ".join(
                f"{role} {timings[role].wall:.1f} ms ({timings[role].cpu:.1f} CPU)"
                for role in ROLES
            )
            + " par signature"
        )

    shutil.rmtree(pki_dir, ignore_errors=True)
    print(f"ms par signature, médiane de {args.repeat} (meilleure) — écoulées / CPU :")
    for role in ROLES:
        walls = [run[role].wall for run in runs]
        cpus = [run[role].cpu for run in runs]
        print(
            f"  {role:5s} {statistics.median(walls):6.1f} ({min(walls):5.1f}) / "
            f"{statistics.median(cpus):6.1f} ({min(cpus):5.1f})"
        )
    ars_wall = statistics.median(run["ARS"].wall for run in runs)
    ars_cpu = statistics.median(run["ARS"].cpu for run in runs)
    print(f"  dont contrôles avant la signature ARS (CPU) : {statistics.median(checks):.1f}")
    print(
        f"ratio à la cible de {TARGET_MS:.0f} ms (ARS) : {ars_wall / TARGET_MS:.2f} écoulé, "
        f"{ars_cpu / TARGET_MS:.2f} CPU"
    )


if __name__ == "__main__":
    main()
