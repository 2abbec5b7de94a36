"""Why did a rule not fire on a case? Which parts of its condition the case did not meet.

Headless (no Textual): the admin TUI shows this next to an assessment, and it works
the same from a script. The rule's ``when`` is put in disjunctive normal form (the
alternatives durable_rules matches); each alternative lists the literals the case
met and those it missed, judged by the oracle's evaluator against what the
assessment knew: the findings, the scores, and the conditions and facts that fired
rules concluded or derived.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from . import condition, oracle
from .assessment import Assessment
from .errors import ConditionError
from .model import Rule
from .vocabulary import Value


@dataclass(frozen=True)
class LiteralCheck:
    """One literal of an alternative (``calf_pain``, ``not chest_pain``, ``pain_score >= 7``)."""

    text: str
    met: bool
    # what the case had for the name it tests: a value, or None when not recorded or not concluded
    actual: Value | None

    def explain(self) -> str:
        have = "not recorded / not concluded" if self.actual is None else f"case has {self.actual!r}"
        return f"{self.text}: {'met' if self.met else 'NOT met'} ({have})"


@dataclass(frozen=True)
class Alternative:
    literals: tuple[LiteralCheck, ...]

    @property
    def met(self) -> bool:
        return all(lit.met for lit in self.literals)

    @property
    def missing(self) -> tuple[LiteralCheck, ...]:
        return tuple(lit for lit in self.literals if not lit.met)


@dataclass(frozen=True)
class WhyNot:
    rule_id: str
    when: str
    fires: bool
    alternatives: tuple[Alternative, ...] = ()
    error: str | None = None  # the condition does not parse (a rule being edited)

    def closest(self) -> Alternative | None:
        """The alternative that misses the fewest literals (the one to show first)."""
        return min(self.alternatives, key=lambda alt: len(alt.missing), default=None)

    def lines(self) -> list[str]:
        """Plain-text explanation, one line each, for a clinician."""
        if self.error:
            return [f"rule {self.rule_id}: its condition does not parse: {self.error}"]
        if self.fires:
            return [f"rule {self.rule_id} fires on this case: its condition is met."]
        out = [f"rule {self.rule_id} does not fire: no alternative of its condition is fully met."]
        # the alternative closest to firing first: it says what the case most nearly lacks
        nearest_first = sorted(self.alternatives, key=lambda alt: len(alt.missing))
        for number, alt in enumerate(nearest_first, start=1):
            if len(self.alternatives) > 1:
                out.append(f"alternative {number} (misses {len(alt.missing)} of {len(alt.literals)}):")
            for lit in alt.literals:
                out.append(f"  {'✓' if lit.met else '✗'} {lit.explain()}")
        return out


@dataclass
class CaseFacts:
    """What an assessment knew: findings and scores, plus names that rules concluded or derived."""

    values: dict[str, Value] = field(default_factory=dict)

    @classmethod
    def from_assessment(cls, assessment: Assessment) -> CaseFacts:
        values: dict[str, Value] = dict(assessment.findings)
        for score in assessment.scores:
            values[score.id] = score.value
        for step in assessment.trace:
            if step.concluded:
                values[step.concluded] = True
            for name in step.derived:
                values[name] = True
        return cls(values)


def why_not(rule: Rule, facts: Mapping[str, Value] | CaseFacts) -> WhyNot:
    """Check each alternative of ``rule.when`` against the case's facts."""
    known = facts.values if isinstance(facts, CaseFacts) else dict(facts)
    try:
        expr = condition.parse(rule.when)
        branches = condition.to_dnf(expr)
    except ConditionError as exc:
        return WhyNot(rule.id, rule.when, False, error=str(exc))
    alternatives = tuple(
        Alternative(tuple(_check(atom, positive, known) for atom, positive in branch)) for branch in branches
    )
    fires = oracle.evaluate(expr, known.get)
    return WhyNot(rule.id, rule.when, fires, alternatives)


def _check(atom: condition.Atom, positive: bool, known: Mapping[str, Value]) -> LiteralCheck:
    holds = oracle.evaluate(atom, known.get)
    text = condition.to_text(atom if positive else condition.Not(atom, atom.column))
    return LiteralCheck(text, holds == positive, known.get(atom.name))


__all__ = ["Alternative", "CaseFacts", "LiteralCheck", "WhyNot", "why_not"]
