"""Benchmark: the ARS countersigns 150 real contracts with one key, PAdES B-B.

The contracts are real ones: a targeting file from bench/make_targeting.py issued by
``caqes_docs.workflows.batch.run_batch`` (LibreOffice, contract and annexes, 9 to 11 pages)
into a cache folder, outside the timing. The first run converts them (about a minute for
150); later runs reuse them, since run_batch leaves alone the folders whose inputs have not changed.

Each run copies the issued PDFs and their records into a fresh folder, where one
``sign_documents`` call per party signs all of them: the establishment (one key for all, the
party is not checked at signing), the CPAM, then the ARS. Each call is timed, elapsed and CPU
(``time.process_time``); the ARS call includes every check made before signing (issued
record, field order, integrity of the earlier signatures, pyHanko's difference analysis after
the first one) and the atomic writes. The same checks are also timed alone, on the files the
CPAM signed, to show their share. Target: 60 ms per ARS signature.

Usage: .venv/bin/python bench/bench_sign.py [--count 150] [--repeat 3] [--cache DIR]

The machine's 2 cores are shared: read the figures as orders of magnitude; the medians of
several runs and the CPU times are steadier than one elapsed time.
"""

from __future__ import annotations

import argparse
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

from caqes_docs.issued import sidecar_path  # noqa: E402
from caqes_docs.parties import party  # noqa: E402
from caqes_docs.signatures.pki import create_demo_pki  # noqa: E402
from caqes_docs.signatures.signing import load_p12, sign_documents  # noqa: E402
from caqes_docs.signatures.verify import (  # noqa: E402
    integrity_problem,
    open_pdf,
    read_signature_fields,
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


def timed_signing(paths: list[Path], role: str, signer: object) -> Timing:
    start, cpu_start = time.perf_counter(), time.process_time()
    results = sign_documents(paths, role, signer)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    failed = [result for result in results if not result.ok]
    if failed:
        raise SystemExit(f"échec de la signature {role} : {failed[0].error}")
    return Timing(elapsed * 1000 / len(paths), cpu * 1000 / len(paths))


def time_checks(paths: list[Path]) -> float:
    """CPU ms per file spent on the pre-signing checks of the ARS signature alone."""
    start = time.process_time()
    for path in paths:
        fields = read_signature_fields(open_pdf(path.read_bytes(), path), path)
        for index, role in enumerate(("ETAB", "CPAM")):
            signature = fields.embedded[party(role).field]
            assert integrity_problem(signature, with_diff=index == 0) is None
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
    with tempfile.TemporaryDirectory(prefix="caqes-bench-pki-") as pki_dir:
        finess = issued[0].parent.name
        pki = create_demo_pki(pki_dir, [(finess, "Établissement du banc d'essai")], PASSWORD)
        assert pki.cpam is not None and pki.ars is not None
        keys = {
            "ETAB": load_p12(pki.establishments[finess], PASSWORD),
            "CPAM": load_p12(pki.cpam, PASSWORD),
            "ARS": load_p12(pki.ars, PASSWORD),
        }

    runs: list[dict[str, Timing]] = []
    checks: list[float] = []
    for run in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="caqes-bench-") as directory:
            paths = copy_contracts(issued, Path(directory))
            timings = {}
            for role in ROLES:
                if role == "ARS":
                    checks.append(time_checks(paths))
                timings[role] = timed_signing(paths, role, keys[role])
        runs.append(timings)
        print(
            f"run {run + 1} : "
            + " ; ".join(
                f"{role} {timings[role].wall:.1f} ms ({timings[role].cpu:.1f} CPU)"
                for role in ROLES
            )
            + " par signature"
        )

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
