"""Reading the targeting file: time per format, and memory on hostile workbooks.

    python bench/bench_targeting.py            # 1,130 establishments (national scale)
    python bench/bench_targeting.py 148        # Nouvelle-Aquitaine

Prints the median of 5 runs of reading the cells (header and types checked) and of the whole
reading (contracts judged), for CSV and XLSX inputs from bench/make_targeting.py; then the
peak memory of a fresh process given a 3 MB zip bomb (1 GB once inflated) and a 5 kB XLSX
whose cells reach XFD1048576 (python-calamine would ask for 512 GB). Timings on a shared
machine are noisy: compare medians taken at the same time.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_targeting

from caqes_docs.inputs.campaign import load_campaign
from caqes_docs.inputs.targeting import read_targeting, read_targeting_rows

RUNS = 5
# Run in a fresh process, which prints what it said and its peak memory or its child's, in kB.
_READ = """
import resource, sys
from pathlib import Path
from caqes_docs.errors import InputError
from caqes_docs.inputs.campaign import load_campaign
from caqes_docs.inputs.targeting import read_targeting
try:
    read_targeting(Path(sys.argv[1]), load_campaign())
except InputError as exc:
    print(exc)
whom = (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
print(max(resource.getrusage(who).ru_maxrss for who in whom))
"""


def median_ms(action: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def zip_bomb(path: Path) -> Path:
    row = b'<row><c t="inlineStr"><is><t>AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA</t></is></c></row>'
    block = row * (1_000_000 // len(row))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("xl/workbook.xml", b"<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            for _ in range(1000):  # 1 GB, written by blocks
                sheet.write(block)
    return path


def far_corner(path: Path) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    book.active["A1"] = "finess_ej"
    book.active["XFD1048576"] = "x"
    book.save(path)
    return path


def peak_memory(path: Path) -> tuple[float, str]:
    """Peak resident memory (MB) of a fresh process reading ``path``, and what it said."""
    done = subprocess.run(
        [sys.executable, "-c", _READ, str(path)], capture_output=True, text=True, check=False
    )
    *said, peak = done.stdout.strip().splitlines() or [done.stderr, "0"]
    return int(peak) / 1024, " ".join(said).split(" : ", 1)[-1]


def main(argv: list[str]) -> None:
    count = int(argv[0]) if argv else 1130
    campaign = load_campaign()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for suffix in ("csv", "xlsx"):
            path = root / f"ciblage.{suffix}"
            make_targeting.main([str(count), str(path)])
            cells = median_ms(lambda p=path: list(read_targeting_rows(p).rows))
            whole = median_ms(lambda p=path: read_targeting(p, campaign))
            print(f"{suffix} : cellules {cells:.0f} ms, lecture complète {whole:.0f} ms")
        for name, make in (("bombe zip", zip_bomb), ("coin XFD1048576", far_corner)):
            path = make(root / f"{make.__name__}.xlsx")
            memory, said = peak_memory(path)
            size = path.stat().st_size / 1024
            print(f"{name} ({size:.0f} ko) : pic {memory:.0f} Mo ; {said[:70]}")


if __name__ == "__main__":
    main(sys.argv[1:])
