"""Amounts and rates as French documents write them, and as the exported files store them."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

THIN_SPACE = "\u202f"  # between thousands, as French typography has it
NO_BREAK_SPACE = "\u00a0"  # before « € » and « % »
CENT = Decimal("0.01")


def to_cent(amount: Decimal) -> Decimal:
    """Rounded to the cent, half up (0.005 → 0.01)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def euros(amount: Decimal) -> str:
    """``1234567.5`` → « 1 234 567,50 € », rounded to the cent for display."""
    whole, cents = f"{to_cent(amount):,.2f}".split(".")
    return whole.replace(",", THIN_SPACE) + f",{cents}{NO_BREAK_SPACE}€"


def decimal_fr(value: Decimal) -> str:
    """A number as written in French, without trailing zeros: ``42.50`` → « 42,5 »."""
    text = f"{value.normalize():f}"
    return text.replace(".", ",")


def percent(value: Decimal) -> str:
    """``85`` → « 85 % », ``42.5`` → « 42,5 % »."""
    return f"{decimal_fr(value)}{NO_BREAK_SPACE}%"


def rate(fraction: Decimal) -> str:
    """A share written as a fraction of one: ``0.30`` → « 30 % »."""
    return percent(fraction * 100)


def plain(amount: Decimal) -> str:
    """Two decimals with a dot, for JSON: ``1234.5`` → ``"1234.50"``."""
    return f"{to_cent(amount):.2f}"
