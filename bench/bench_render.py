"""Benchmark: rendering one establishment's DOCX files, our compiled path against docxtpl.

Usage::

    .venv/bin/python bench/bench_render.py [--repeat 30]

For each bundled example (the contract and the annexes of its concluded volets), prints the
median CPU time of:

- ``render_contract`` (templates compiled once, unchanged parts compressed once), warm;
- the same documents through docxtpl's public API alone (``DocxTemplate(path).render(...)``
  then ``save``), which reads, patches and compiles every template again for each document;

and the one-off cost of compiling the three models. One core; other engineers share the
machine, so the load average is printed and medians are the figures to read.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from docxtpl import DocxTemplate  # noqa: E402

from caqes_docs.documents.render import (  # noqa: E402
    TemplateSet,
    _template,
    build_context,
    make_environment,
    render_contract,
)
from caqes_docs.inputs.campaign import load_campaign  # noqa: E402
from caqes_docs.inputs.contract_file import load_contract  # noqa: E402
from caqes_docs.inputs.models import Contract  # noqa: E402

EXAMPLES = ("chu-fictif-bordeaux.yaml", "ch-fictif-limoges.yaml", "clinique-fictive-bayonne.yaml")


def median_ms(action: Callable[[], object], repeat: int) -> float:
    """Median CPU time of ``action`` in ms: steadier than wall time on a shared machine."""
    action()  # warm-up: imports, caches, compiled templates
    times = []
    for _ in range(repeat):
        start = time.process_time()
        action()
        times.append(time.process_time() - start)
    return statistics.median(times) * 1000


def plain_docxtpl(contract: Contract) -> None:
    """The same documents as render_contract, through docxtpl's public API only."""
    templates = TemplateSet.shipped()
    context = build_context(contract)
    for template, wanted in (
        (templates.contract, True),
        (templates.annex1, contract.volet1 is not None),
        (templates.annex2, contract.volet2 is not None),
    ):
        if wanted:
            document = DocxTemplate(str(template))
            document.render(context, make_environment(), autoescape=True)
            document.save(io.BytesIO())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)
    campaign = load_campaign()
    print(f"charge {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    _template.cache_clear()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        first = load_contract(ROOT / "examples" / EXAMPLES[0], campaign)
        render_contract(first, Path(tmp))
    elapsed = (time.perf_counter() - start) * 1000
    print(f"compilation des trois modèles + premier rendu : {elapsed:.0f} ms")

    totals = [0.0, 0.0]
    for name in EXAMPLES:
        contract = load_contract(ROOT / "examples" / name, campaign)
        with tempfile.TemporaryDirectory() as tmp:
            ours = median_ms(partial(render_contract, contract, Path(tmp)), args.repeat)
        plain = median_ms(partial(plain_docxtpl, contract), args.repeat)
        totals[0] += ours
        totals[1] += plain
        print(
            f"{name:32} compilé {ours:6.1f} ms   docxtpl seul {plain:6.1f} ms   ×{plain / ours:.1f}"
        )
    print(
        f"{'moyenne par établissement':32} compilé {totals[0] / 3:6.1f} ms   "
        f"docxtpl seul {totals[1] / 3:6.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
