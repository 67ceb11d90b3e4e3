"""Benchmark: the ARS countersigns 150 contracts with one key, PAdES B-B.

The contracts are first signed by the establishment and the CPAM (not timed); then one
``sign_documents`` call signs the ARS field of all of them. That call includes every check
made before signing (issued record, field order, integrity of the earlier signatures and
pyHanko's difference analysis after the first one) and the atomic write. The same checks are
also timed alone, to show what the signature itself costs. Target: 60 ms per signature.

Usage: .venv/bin/python bench/bench_sign.py [--count 150] [--repeat 3]

The contract is the test suite's stand-in (tests/conftest_pki.py), a 6-page tagged PDF/A-2b
made by LibreOffice. Timings on a shared 2-core machine are noisy, hence the repeats and the
CPU time (``time.process_time``) reported beside the elapsed time.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conftest_pki import build_stand_in_contract, demo_signer_set

from caqes_docs.signing import sign_documents
from caqes_docs.verify import SIGNATURE_FIELDS, integrity_problem, open_pdf, read_signature_fields

TARGET_MS = 60.0


def prepare(directory: Path, count: int) -> tuple[list[Path], dict[str, float]]:
    """``count`` contracts signed by ETAB then CPAM, with the CPU ms per signature of each."""
    signers = demo_signer_set()
    paths = [build_stand_in_contract(directory, f"contrat-{index:03d}") for index in range(count)]
    costs = {}
    for role in ("ETAB", "CPAM"):
        start = time.process_time()
        failed = [r for r in sign_documents(paths, role, signers[role]) if not r.ok]
        costs[role] = (time.process_time() - start) * 1000 / count
        if failed:
            raise SystemExit(f"préparation : {failed[0].error}")
    return paths, costs


def time_checks(paths: list[Path]) -> float:
    """CPU seconds spent on the pre-signing checks of the ARS signature alone."""
    start = time.process_time()
    for path in paths:
        fields = read_signature_fields(open_pdf(path.read_bytes(), path), path)
        for index, role in enumerate(("ETAB", "CPAM")):
            signature = fields.embedded[SIGNATURE_FIELDS[role]]
            assert integrity_problem(signature, with_diff=index == 0) is None
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=150)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    ars = demo_signer_set()["ARS"]
    totals: list[float] = []
    walls: list[float] = []
    checks: list[float] = []
    for run in range(args.repeat):
        directory = Path(tempfile.mkdtemp(prefix="caqes-bench-"))
        try:
            paths, costs = prepare(directory, args.count)
            checks.append(time_checks(paths) * 1000 / args.count)
            start, cpu_start = time.perf_counter(), time.process_time()
            results = sign_documents(paths, "ARS", ars)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        failed = [r for r in results if not r.ok]
        if failed:
            raise SystemExit(f"échec : {failed[0].error}")
        totals.append(cpu * 1000 / args.count)
        walls.append(elapsed * 1000 / args.count)
        print(
            f"run {run + 1} : {args.count} signatures ARS en {elapsed:.2f} s ({cpu:.2f} s CPU) ;"
            f" ms CPU par signature ETAB {costs['ETAB']:.1f}, CPAM {costs['CPAM']:.1f}"
        )

    total, check = statistics.median(totals), statistics.median(checks)
    print(f"ms CPU par signature (médiane) : {total:.1f} (meilleure {min(totals):.1f})")
    print(f"ms écoulées par signature (médiane) : {statistics.median(walls):.1f}")
    print(f"  dont contrôles avant signature : {check:.1f}")
    print(f"  dont signature et écriture : {total - check:.1f}")
    print(f"ratio à la cible de {TARGET_MS:.0f} ms : {total / TARGET_MS:.2f}")


if __name__ == "__main__":
    main()
