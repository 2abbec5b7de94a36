"""Why did a rule not fire on a case? Which parts of its condition the case did not meet.

Headless (no Textual): the admin TUI shows this next to an assessment, and it works
the same from a script. The rule's ``when`` is put in disjunctive normal form (the
alternatives durable_rules matches); each alternative lists the literals the case
met and those it missed, judged by the shared evaluator (calfrules.rules.evaluate) against what the
assessment knew: the findings, the scores, and the conditions and facts that fired
rules concluded or derived.

Each literal says what the case had for its name in words that keep a recorded no
apart from a finding nobody recorded: ``not night_pain`` is met either way (a rule reads
an unrecorded finding as "not yes"), but "night_pain is no (recorded)" and "night_pain
not recorded" are different things to tell a clinician.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from calfrules.engine.assessment import Assessment
from calfrules.rules import condition
from calfrules.rules.errors import ConditionError
from calfrules.rules.evaluate import evaluate
from calfrules.rules.model import Rule
from calfrules.rules.vocabulary import Value

# what a name a rule tests is: a finding (recorded or not), a score, a fact a rule concludes
# or derives, or unknown (plain facts without an assessment behind them)
NameKind = Literal["finding", "score", "fact", "unknown"]


@dataclass(frozen=True)
class LiteralCheck:
    """One literal of an alternative (``calf_pain``, ``not chest_pain``, ``pain_score >= 7``)."""

    text: str
    met: bool
    # what the case had for the name it tests: a value, or None when not recorded or not concluded
    actual: Value | None
    name: str = ""
    kind: NameKind = "unknown"
    negated: bool = False

    def explain(self) -> str:
        have = self.have()
        if self.negated and self.actual is None and self.kind == "finding":
            have += " (a rule reads that as not yes)"  # met, but on no answer rather than a no
        return f"{self.text}: {'met' if self.met else 'NOT met'} — {have}"

    def have(self) -> str:
        """What the case had for the name, in words: a recorded no is never "not recorded"."""
        name = self.name or "it"
        if self.actual is None:
            return {
                "finding": f"{name} not recorded",
                "score": f"{name} not computed",
                "fact": f"{name} not concluded",
                "unknown": f"{name} not recorded / not concluded",
            }[self.kind]
        if self.actual is False:
            return f"{name} is no (recorded)"
        if self.actual is True:
            return f"{name} concluded" if self.kind == "fact" else f"{name} is yes"
        shown = f"{self.actual:g}" if isinstance(self.actual, float) else str(self.actual)
        return f"{name} is {shown}"


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
    """What an assessment knew: findings and scores, plus names that rules concluded or derived.

    The name sets say what each name is, so a literal can say "not recorded" of a finding
    and "not concluded" of a condition. ``vocabulary`` is True when ``findings`` holds every
    finding a case could record, so a name outside it is a condition or derived fact.
    """

    values: dict[str, Value] = field(default_factory=dict)
    findings: frozenset[str] = frozenset()
    scores: frozenset[str] = frozenset()
    facts: frozenset[str] = frozenset()
    vocabulary: bool = False

    @classmethod
    def from_assessment(
        cls, assessment: Assessment, finding_ids: Iterable[str] | None = None, score_ids: Iterable[str] = ()
    ) -> CaseFacts:
        """``finding_ids``: the vocabulary's finding ids, when known (the case's own are always
        known); ``score_ids``: every score the engine can compute (those computed are known)."""
        values: dict[str, Value] = dict(assessment.findings)
        for score in assessment.scores:
            values[score.id] = score.value
        facts: set[str] = set()
        for step in assessment.trace:
            if step.concluded:
                facts.add(step.concluded)
            facts.update(step.derived)
        values.update(dict.fromkeys(facts, True))
        return cls(
            values,
            findings=frozenset(finding_ids or ()) | frozenset(assessment.findings),
            scores=frozenset(score_ids) | frozenset(score.id for score in assessment.scores),
            facts=frozenset(facts),
            vocabulary=finding_ids is not None,
        )

    def kind(self, name: str) -> NameKind:
        if name in self.findings:
            return "finding"
        if name in self.scores:
            return "score"
        if name in self.facts or self.vocabulary:
            return "fact"
        return "unknown"


def why_not(rule: Rule, facts: Mapping[str, Value] | CaseFacts) -> WhyNot:
    """Check each alternative of ``rule.when`` against the case's facts."""
    case = facts if isinstance(facts, CaseFacts) else CaseFacts(dict(facts))
    known = case.values
    try:
        expr = condition.parse(rule.when)
        branches = condition.to_dnf(expr)
    except ConditionError as exc:
        return WhyNot(rule.id, rule.when, False, error=str(exc))
    alternatives = tuple(
        Alternative(tuple(_check(atom, positive, case) for atom, positive in branch)) for branch in branches
    )
    fires = evaluate(expr, known.get)
    return WhyNot(rule.id, rule.when, fires, alternatives)


def _check(atom: condition.Atom, positive: bool, case: CaseFacts) -> LiteralCheck:
    holds = evaluate(atom, case.values.get)
    text = condition.to_text(atom if positive else condition.Not(atom, atom.column))
    return LiteralCheck(
        text, holds == positive, case.values.get(atom.name), atom.name, case.kind(atom.name), negated=not positive
    )


__all__ = ["Alternative", "CaseFacts", "LiteralCheck", "NameKind", "WhyNot", "why_not"]
