"""What a run of the rules produces, whichever evaluator ran them."""

from __future__ import annotations

from dataclasses import dataclass, field

from calfrules.rules.vocabulary import Value

# one rule that fired, compactly: its index and the alternatives (branch numbers) that matched
Fired = tuple[int, tuple[int, ...]]


@dataclass(slots=True)  # made for every rule fired in every case: slots make that cheaper
class Firing:
    """One rule that fired, and the facts it matched (``not x`` entries for negations)."""

    rule_index: int
    matched: dict[str, Value] = field(default_factory=dict)
