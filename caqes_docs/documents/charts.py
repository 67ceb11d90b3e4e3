"""Charts of the annual evaluation, drawn with matplotlib (Agg, no display needed).

Officers and establishments read a picture faster than a table: the report shows the
achievement per theme; the campaign summary shows, per theme, how achievement is spread over
the establishments, and the amount notified to each establishment.

Figures are built with matplotlib's object API and drawn by the Agg canvas (no pyplot, no
global backend: nothing shared between calls or imposed on the host program), in Liberation
Sans like the documents; their output holds no date, so the same evaluation gives the same
bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

STYLE = {
    "font.family": "sans-serif",
    "font.sans-serif": ["Liberation Sans", "DejaVu Sans"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "pdf.fonttype": 42,  # TrueType fonts embedded whole: text stays text in the PDF
    "svg.hashsalt": "caqes",
}
ACHIEVED = "#1f4e79"
MISSING = "#c00000"
NATIONAL = "#2e75b6"
REGIONAL = "#70ad47"
A4_PORTRAIT = (8.27, 11.69)
DPI = 150  # 160 mm wide in the report: 945 pixels, sharp on screen and paper


@dataclass(frozen=True)
class ThemePoint:
    """One theme of one establishment: its achievement (None: no result)."""

    code: str
    label: str
    achievement: Decimal | None


@dataclass(frozen=True)
class EstablishmentAmount:
    name: str
    national: Decimal
    regional: Decimal


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _percent(value: float, _position: object) -> str:
    return f"{value:.0f} %"


def _euros(value: float, _position: object) -> str:
    return f"{value:,.0f}\u00a0€".replace(",", "\u00a0")


def _short(label: str, limit: int = 42) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def achievement_chart(points: Sequence[ThemePoint], title: str = "") -> bytes:
    """Horizontal bars, one per theme, 0 to 100 %; a missing result is marked in red."""
    with rc_context(STYLE):
        height = 0.9 + 0.38 * max(len(points), 1)
        figure = Figure(figsize=(6.3, height))
        axes = figure.add_subplot()
        names = [f"{p.code} – {_short(p.label)}" for p in points]
        values = [float(p.achievement or 0) for p in points]
        positions = range(len(points))
        axes.barh(positions, values, color=ACHIEVED, height=0.6)
        for index, point in enumerate(points):
            if point.achievement is None:
                axes.text(2, index, "résultat manquant", va="center", color=MISSING)
            else:
                shown = f"{point.achievement:.1f}".rstrip("0").rstrip(".").replace(".", ",")
                axes.text(values[index] + 1.5, index, f"{shown} %", va="center")
        axes.set_yticks(list(positions), names)
        axes.invert_yaxis()
        axes.set_xlim(0, 112)
        axes.set_xticks(range(0, 101, 20))
        axes.xaxis.set_major_formatter(FuncFormatter(_percent))
        axes.set_xlabel("Niveau d'atteinte des engagements du thème")
        if title:
            figure.suptitle(title, x=0.01, ha="left", fontweight="bold")
        axes.grid(axis="x", color="#d9d9d9", linewidth=0.6)
        axes.set_axisbelow(True)
        figure.tight_layout()
        return _png(figure)


def _distribution(axes: object, by_theme: dict[str, list[float]], labels: dict[str, str]) -> None:
    codes = list(by_theme)
    data = [by_theme[code] or [0.0] for code in codes]
    axes.boxplot(  # type: ignore[attr-defined]
        data,
        orientation="horizontal",
        widths=0.5,
        showfliers=False,
        medianprops={"color": ACHIEVED},
    )
    for index, values in enumerate(data, start=1):
        spread = [index + 0.12 * ((k % 5) - 2) / 2 for k in range(len(values))]
        axes.scatter(values, spread, s=12, color=NATIONAL, alpha=0.7, zorder=3)  # type: ignore[attr-defined]
    axes.set_yticks(  # type: ignore[attr-defined]
        range(1, len(codes) + 1),
        [f"{code} – {_short(labels[code], 30)} ({len(by_theme[code])})" for code in codes],
    )
    axes.invert_yaxis()  # type: ignore[attr-defined]
    axes.set_xlim(0, 100)  # type: ignore[attr-defined]
    axes.xaxis.set_major_formatter(FuncFormatter(_percent))  # type: ignore[attr-defined]
    axes.set_title("Atteinte par thème (nombre de résultats)", loc="left")  # type: ignore[attr-defined]
    axes.grid(axis="x", color="#d9d9d9", linewidth=0.6)  # type: ignore[attr-defined]


def _amounts(axes: object, amounts: Sequence[EstablishmentAmount]) -> None:
    names = [_short(a.name, 38) for a in amounts]
    national = [float(a.national) for a in amounts]
    regional = [float(a.regional) for a in amounts]
    positions = range(len(amounts))
    axes.barh(positions, national, color=NATIONAL, label="national", height=0.6)  # type: ignore[attr-defined]
    axes.barh(positions, regional, left=national, color=REGIONAL, label="régional", height=0.6)  # type: ignore[attr-defined]
    axes.set_yticks(list(positions), names)  # type: ignore[attr-defined]
    axes.invert_yaxis()  # type: ignore[attr-defined]
    axes.xaxis.set_major_formatter(FuncFormatter(_euros))  # type: ignore[attr-defined]
    axes.set_title("Intéressement notifié par établissement", loc="left")  # type: ignore[attr-defined]
    axes.legend(loc="lower right", frameon=False)  # type: ignore[attr-defined]
    axes.grid(axis="x", color="#d9d9d9", linewidth=0.6)  # type: ignore[attr-defined]


def summary_pdf(
    title: str,
    lines: Sequence[str],
    by_theme: dict[str, list[float]],
    labels: dict[str, str],
    amounts: Sequence[EstablishmentAmount],
) -> bytes:
    """The campaign summary: a heading, a few lines of figures, then the two charts (A4)."""
    with rc_context(STYLE):
        figure = Figure(figsize=A4_PORTRAIT)
        figure.text(0.07, 0.965, title, fontsize=14, fontweight="bold", va="top")
        for index, line in enumerate(lines):
            # The font has no narrow no-break space: a plain no-break space instead.
            text = line.replace("\u202f", "\u00a0")
            figure.text(0.07, 0.93 - index * 0.018, text, fontsize=9, va="top")
        top = 0.93 - len(lines) * 0.018 - 0.03
        share = max(len(by_theme), 1) / (max(len(by_theme), 1) + max(len(amounts), 1))
        middle = top - (top - 0.05) * min(max(share, 0.3), 0.6)
        axes = figure.add_axes((0.42, middle + 0.05, 0.53, top - middle - 0.08))
        _distribution(axes, by_theme, labels)
        if amounts:
            _amounts(figure.add_axes((0.42, 0.05, 0.53, middle - 0.08)), amounts)
        buffer = io.BytesIO()
        # No creation date: the same evaluation gives the same file.
        with PdfPages(buffer, metadata={"Title": title, "CreationDate": None}) as pdf:
            pdf.savefig(figure)
        return buffer.getvalue()
