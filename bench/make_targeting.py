"""Generate a large, valid targeting file (« ciblage ») for benchmarks.

Examples::

    python bench/make_targeting.py 150 sortie/ciblage-na.csv           # Nouvelle-Aquitaine
    python bench/make_targeting.py 1130 sortie/ciblage-national.xlsx   # national scale
    python bench/make_targeting.py 1130 x.csv --sites 1:50,2:30,3:20 --graine 7

Every row is valid against the bundled Nouvelle-Aquitaine campaign: FINESS numbers of the
fictitious « 099 » series with their Luhn key, départements of the region (the CPAM is
given in the Pyrénées-Atlantiques, which has two), indicators drawn with plausible
frequencies, and at least one volet per establishment.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from collections.abc import Iterator
from pathlib import Path

from caqes_docs.files import atomic_path
from caqes_docs.inputs.catalogue import catalogue
from caqes_docs.inputs.finess import luhn_valid
from caqes_docs.inputs.targeting import TARGETING_SHEET, targeting_columns

DEPARTEMENTS = ("16", "17", "19", "23", "24", "33", "40", "47", "64", "79", "86", "87")
CPAM_64 = ("64-bayonne", "64-pau")
# Share of sites ticked for each national indicator, of establishments for each regional one.
NATIONAL_RATE = {
    "NAT_1": 0.3,
    "NAT_2": 0.6,
    "NAT_3": 0.25,
    "NAT_4": 0.3,
    "NAT_5": 0.1,
    "NAT_6": 0.4,
}
REGIONAL_RATE = 0.3
VOLET2_RATE = 0.4
DEFAULT_SITES = "1:62,2:22,3:9,4:4,6:3"  # about 1.7 sites per establishment (148 → 250)
# Numbers per département: establishments 000-399, sites 400-999 (after « dd099 »).
EJ_SLOTS, ET_FIRST = 400, 400
TITLES = ("Directeur", "Directrice", "Directeur général", "Directrice générale", "")
KINDS = ("Centre hospitalier fictif", "Clinique fictive", "Centre de soins fictif")
PLACES = ("des Rives", "du Val", "des Collines", "de la Forêt", "du Plateau", "des Vignes")


def with_key(first8: str) -> str:
    """The FINESS number whose first eight digits are ``first8``."""
    return next(first8 + digit for digit in "0123456789" if luhn_valid(first8 + digit))


def parse_sites(text: str) -> tuple[list[int], list[int]]:
    """``1:62,2:22`` → site counts and their weights."""
    counts, weights = [], []
    for part in text.split(","):
        count, _, weight = part.partition(":")
        if not (count.strip().isdigit() and weight.strip().isdigit() and int(count) > 0):
            raise argparse.ArgumentTypeError(f"répartition invalide : « {part} » (ex. 1:62,2:22)")
        counts.append(int(count))
        weights.append(int(weight))
    return counts, weights


def rows(total: int, sites: tuple[list[int], list[int]], seed: int) -> Iterator[list[object]]:
    """The data rows, establishment after establishment, in ``targeting_columns()`` order."""
    rng = random.Random(seed)
    columns = targeting_columns()
    regional = catalogue().regional_codes
    next_ej = dict.fromkeys(DEPARTEMENTS, 0)
    next_et = dict.fromkeys(DEPARTEMENTS, ET_FIRST)
    for number in range(total):
        dept = DEPARTEMENTS[number % len(DEPARTEMENTS)]
        if next_ej[dept] >= EJ_SLOTS:
            raise SystemExit(f"plus de {EJ_SLOTS * len(DEPARTEMENTS)} établissements : trop")
        ej = with_key(f"{dept}099{next_ej[dept]:03d}")
        next_ej[dept] += 1
        count = rng.choices(*sites)[0]
        if next_et[dept] + count > 1000:
            raise SystemExit("trop de sites pour la série fictive « 099 » d'un département")
        ets = [with_key(f"{dept}099{next_et[dept] + i:03d}") for i in range(count)]
        next_et[dept] += count
        name = f"{rng.choice(KINDS)} {rng.choice(PLACES)} n° {number + 1}"
        shared = {
            "finess_ej": ej,
            "raison_sociale": name,
            "adresse": f"{rng.randint(1, 120)} avenue de la République - {dept}000 Ville-{dept}",
            "representant": f"Madame Camille FICTIVE-{number + 1}",
            "qualite_representant": rng.choice(TITLES),
            "cpam": rng.choice(CPAM_64) if dept == "64" else "",
            "volet_parcours": "OUI" if rng.random() < VOLET2_RATE else "NON",
        }
        shared.update({code: "OUI" if rng.random() < REGIONAL_RATE else "NON" for code in regional})
        ticks = [{code for code, rate in NATIONAL_RATE.items() if rng.random() < rate} for _ in ets]
        if not any(ticks) and "OUI" not in shared.values():
            ticks[0].add("NAT_2")
        for index, (et, ticked) in enumerate(zip(ets, ticks, strict=True)):
            row = {**shared, "finess_et": et, "nom_et": f"{name} - site {index + 1}"}
            row.update({code: "X" for code in ticked})
            yield [row.get(column, "") for column in columns]


def write_csv(path: Path, data: Iterator[list[object]]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\r\n")
        writer.writerow(targeting_columns())
        writer.writerows(data)


def write_xlsx(path: Path, data: Iterator[list[object]]) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(TARGETING_SHEET)
    sheet.append(list(targeting_columns()))
    for row in data:
        sheet.append(row)
    with atomic_path(path) as tmp:
        book.save(tmp)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Génère un fichier de ciblage de test.")
    parser.add_argument("etablissements", type=int, help="nombre d'établissements")
    parser.add_argument("sortie", type=Path, help="fichier à écrire (.csv ou .xlsx)")
    parser.add_argument(
        "--sites",
        type=parse_sites,
        default=parse_sites(DEFAULT_SITES),
        help=f"répartition nombre de sites:poids (défaut {DEFAULT_SITES})",
    )
    parser.add_argument("--graine", type=int, default=2022, help="graine du hasard (défaut 2022)")
    args = parser.parse_args(argv)
    data = rows(args.etablissements, args.sites, args.graine)
    if args.sortie.suffix.lower() == ".xlsx":
        write_xlsx(args.sortie, data)
    else:
        write_csv(args.sortie, data)
    print(f"{args.sortie} : {args.etablissements} établissements", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
