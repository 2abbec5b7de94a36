"""How a number reads wherever calfrules shows one: 3 not 3.0, 2.5 as 2.5."""

from __future__ import annotations


def format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
