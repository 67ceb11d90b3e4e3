"""Benchmark: ``caqes evaluate`` at the scale of a region.

Usage::

    .venv/bin/python bench/bench_evaluation.py [--etablissements 150] [--workers W]

A registry of N signed contracts (the bundled Bordeaux example under N FINESS numbers, stand-in
PDFs completed by three recorded signatures, as in tests/test_evaluation.py) and a results file
(each targeted site, each theme, random achievements and savings, seed 2023) are made in a
temporary folder. Then, timed: a first run (2 × N documents rendered, converted by LibreOffice,
finished as PDF/A; the amounts, refusals, JSON and summary), a second run with the same inputs
(nothing to issue), and a run where one establishment's result changed (one report and one
letter). Other engineers share the machine: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import yaml

from caqes_docs.inputs.campaign import Campaign, load_campaign
from caqes_docs.inputs.contract_file import load_contract
from caqes_docs.inputs.finess import luhn_valid
from caqes_docs.inputs.models import Contract
from caqes_docs.issued import IssuedRecord
from caqes_docs.parties import ROLES
from caqes_docs.registry.store import CONTRACT, Registry, Signature
from caqes_docs.resources import shipped_dir
from caqes_docs.workflows.evaluation import evaluate

HEADER = "finess_ej;finess_et;indicateur;valeur_initiale;cible;realise;atteinte;economie\n"


def finess(index: int) -> str:
    """A valid FINESS number of Gironde: ``33`` + 6 digits + its Luhn key."""
    stem = f"339{index:05d}"
    return next(stem + str(key) for key in range(10) if luhn_valid(stem + str(key)))


def campaign() -> Campaign:
    data = load_campaign().model_dump(mode="json", by_alias=True)
    data["interessement"] = {
        "2023": {"taux_national": "0.30", "enveloppe_regionale": 1_000_000, "ponderation": {}}
    }
    return Campaign.model_validate(data)


def contracts(count: int, base: Campaign) -> list[Contract]:
    example = load_contract(shipped_dir("examples") / "chu-fictif-bordeaux.yaml", base)
    made = []
    for index in range(count):
        data = example.model_dump(by_alias=True)
        data["etablissement"]["finess_ej"] = finess(index)
        data["etablissement"]["raison_sociale"] = f"Centre hospitalier de banc d'essai n°{index}"
        data["reference"] = base.reference_for(finess(index))
        made.append(Contract.model_validate(data))
    return made


def registry(path: Path, made: list[Contract], base: Campaign) -> None:
    with Registry.open(path) as reg:
        for contract in made:
            pdf = path.parent / f"{contract.reference}.pdf"
            content = f"%PDF-1.7 {contract.reference}".encode()
            pdf.write_bytes(content)
            record = IssuedRecord(sha256=hashlib.sha256(content).hexdigest(), size=len(content))
            document = reg.register_issued(contract, CONTRACT, pdf, record, base)
            signatures = [Signature(p, p, None, "2022-06-20T10:00:00+02:00") for p in ROLES]
            with reg.transaction():
                reg.add_signatures(document, signatures, pdf, pdf.name)
                reg.complete(document)


def results(path: Path, made: list[Contract]) -> None:
    draw = random.Random(2023)
    lines = [HEADER]
    for contract in made:
        ej = contract.establishment.finess_ej
        volet1 = contract.volet1
        assert volet1 is not None
        for code, sites in volet1.national.items():
            for site in sites:
                saving = draw.randrange(-5_000_00, 30_000_00) / 100
                lines.append(f"{ej};{site};{code};;;;{draw.randrange(101)};{saving}\n")
        themes = [*volet1.regional, *(t.code for t in contract.volet2.themes)]  # type: ignore[union-attr]
        lines += [f"{ej};;{code};;;;{draw.randrange(101)};\n" for code in themes]
    path.write_text("".join(lines), encoding="utf-8")


def timed(label: str, run: object) -> None:
    start = time.perf_counter()
    report = run()  # type: ignore[operator]
    seconds = time.perf_counter() - start
    issued = sum(1 for o in report.outcomes if o.status.startswith("émis"))
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"{label} : {seconds:6.1f} s, {issued} établissement(s) émis (charge {load})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--etablissements", type=int, default=150)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    base = campaign()
    with tempfile.TemporaryDirectory(prefix="caqes-bench-evaluation-") as tmp:
        work = Path(tmp)
        made = contracts(args.etablissements, base)
        registry(work / "caqes.db", made, base)
        results(work / "resultats.csv", made)
        settings = work / "campagne.yaml"
        settings.write_text(
            yaml.safe_dump(base.model_dump(mode="json", by_alias=True), allow_unicode=True),
            encoding="utf-8",
        )

        def run(source: Path = work / "resultats.csv") -> object:
            return evaluate(
                source, 2023, campaign_file=settings, out_dir=work / "sortie",
                registry=work / "caqes.db", workers=args.workers,
            )  # fmt: skip

        timed(f"premier passage ({2 * len(made)} documents)", run)
        timed("même fichier à nouveau", run)
        lines = (work / "resultats.csv").read_text(encoding="utf-8").splitlines(keepends=True)
        theme = next(i for i, line in enumerate(lines) if line.split(";")[1] == "" and i)
        cells = lines[theme].split(";")
        cells[6] = "1" if cells[6] == "0" else "0"  # one theme's achievement changes
        lines[theme] = ";".join(cells)
        changed = work / "resultats-modifies.csv"
        changed.write_text("".join(lines), encoding="utf-8")
        timed("un résultat modifié", lambda: run(changed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
