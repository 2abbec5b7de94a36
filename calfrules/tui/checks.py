"""What the app last learned about the rulesets, as one value the screens show (headless)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from calfrules.tooling.goldens import GoldenResult
from calfrules.tui.workspace import RulesetDoc


@dataclass(frozen=True)
class Checks:
    """The engine's problems, the golden-case results and the safety gate's status.

    Frozen: the app replaces it whole, so a reactive holding it notices every change.
    """

    problems: tuple[str, ...] = ()
    golden: Mapping[str, tuple[GoldenResult, ...]] = field(default_factory=dict)  # by ruleset id
    golden_seconds: float = 0.0
    safety: str = "not run yet (k)"

    def problems_of(self, doc: RulesetDoc) -> list[str]:
        """The engine's problems that name this ruleset (by id, or by the file it loads from)."""
        keys = [doc.id] + ([str(doc.path)] if doc.path else [])
        return [p for p in self.problems if any(k in p for k in keys)]


def by_ruleset(results: Iterable[GoldenResult]) -> dict[str, tuple[GoldenResult, ...]]:
    grouped: dict[str, list[GoldenResult]] = {}
    for result in results:
        grouped.setdefault(result.ruleset, []).append(result)
    return {ruleset: tuple(found) for ruleset, found in grouped.items()}
