"""Benchmark: how long the ``caqes`` command takes to answer, start-up included.

Each command runs as a new process, as an officer types it: ``caqes --help``,
``caqes verify --help`` and ``caqes status`` on a registry of 150 contracts (generated once
into a temporary folder through the registry's own API: stand-in PDFs, a third of the
contracts signed by one, two or three parties). The figure printed for each is the median
(and the min and max) of ``--repeat`` runs, in seconds, and the median CPU time (user +
system), steadier when other processes share the cores. Target: under 0.3 s each.

Usage: .venv/bin/python bench/bench_cli.py [--count 150] [--repeat 11] [--checkout DIR]

The machine's 2 cores are shared: read the figures as orders of magnitude; the median of
several runs is steadier than one.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "chu-fictif-bordeaux.yaml"


def caqes_command(checkout: Path | None) -> list[str]:
    """``python CHECKOUT/cli.py`` (e.g. an older commit's export, for a before/after), else
    the installed ``caqes`` script beside this Python."""
    script = Path(sys.executable).with_name("caqes")
    if checkout is None and script.exists():
        return [str(script)]
    return [sys.executable, str((checkout or ROOT) / "cli.py")]


def make_registry(folder: Path, count: int) -> Path:
    """A registry of ``count`` contracts; contract i is signed by the first i % 4 parties."""
    # Imported here: with --checkout, the registry is made by the checkout's own code.
    from caqes_docs.inputs.campaign import load_campaign
    from caqes_docs.inputs.contract_file import load_contract
    from caqes_docs.issued import IssuedRecord
    from caqes_docs.parties import ROLES
    from caqes_docs.registry.store import CONTRACT, Registry, Signature

    campaign = load_campaign()
    base = load_contract(EXAMPLE, campaign)
    path = folder / "caqes.db"
    with Registry.open(path) as registry:
        for index in range(count):
            reference = f"CAQES-NA-2022-BENCH{index:04d}"
            contract = base.model_copy(update={"reference": reference})
            pdf = folder / f"{reference}.pdf"
            content = f"%PDF-1.7 contrat {index}".encode()
            pdf.write_bytes(content)
            record = IssuedRecord(
                sha256=hashlib.sha256(content).hexdigest(),
                size=len(content),
                reference=reference,
                finess_ej=contract.establishment.finess_ej,
                file_name=pdf.name,
                issued_at="2023-01-02T10:00:00+01:00",
            )
            document = registry.register_issued(contract, CONTRACT, pdf, record, campaign)
            signed = [
                Signature(party, f"Signataire {party}", signing_time="2023-02-01T10:00:00+01:00")
                for party in ROLES[: index % 4]
            ]
            if signed:
                with registry.transaction():
                    registry.add_signatures(document, signed, pdf, pdf.name)
    return path


def timed(command: list[str], repeat: int) -> tuple[list[float], list[float]]:
    """Elapsed and CPU (user + system) seconds of each run."""
    elapsed, cpu = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        elapsed.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=150, help="contracts in the registry")
    parser.add_argument("--repeat", type=int, default=11, help="runs per command")
    parser.add_argument("--checkout", type=Path, help="run python CHECKOUT/cli.py instead")
    args = parser.parse_args()
    caqes = caqes_command(args.checkout)
    if args.checkout:
        sys.path.insert(0, str(args.checkout.resolve()))
    with tempfile.TemporaryDirectory() as tmp:
        registry = make_registry(Path(tmp), args.count)
        commands = {
            "caqes --help": [*caqes, "--help"],
            "caqes verify --help": [*caqes, "verify", "--help"],
            f"caqes status ({args.count} contrats)": [*caqes, "status", "--registry", registry],
        }
        print(f"{' '.join(caqes)} — {args.repeat} runs, seconds")
        print(f"{'commande':<32} {'médiane':>8} {'min':>7} {'max':>7} {'CPU (méd.)':>11}")
        for label, command in commands.items():
            elapsed, cpu = timed([str(part) for part in command], args.repeat)
            print(
                f"{label:<32} {statistics.median(elapsed):>8.3f} {min(elapsed):>7.3f} "
                f"{max(elapsed):>7.3f} {statistics.median(cpu):>11.3f}"
            )


if __name__ == "__main__":
    main()
