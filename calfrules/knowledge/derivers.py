"""Facts computed in Python before the rules run (for example the Wells score)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from calfrules.rules.vocabulary import Value


@dataclass(frozen=True)
class Score:
    """A computed value and the parts it was built from, so a clinician can check it."""

    value: float
    components: Mapping[str, float] = field(default_factory=dict)
    interpretation: str = ""


@dataclass(frozen=True)
class Deriver:
    """Computes one named number from the case's findings.

    ``compute`` receives the validated findings and returns a Score, or None
    when the case has too little to compute it. Rules can then use ``id`` like
    a number finding (``wells_score >= 2``).
    """

    id: str
    label: str
    inputs: tuple[str, ...]
    compute: Callable[[Mapping[str, Value]], Score | None]
    references: tuple[str, ...] = ()
    description: str = ""
