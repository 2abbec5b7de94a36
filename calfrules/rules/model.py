"""What a ruleset holds: rules, recommendations, conditions, floor entries and golden cases."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from calfrules.rules.levels import Level
from calfrules.rules.numbers import format_number
from calfrules.rules.vocabulary import Finding

DoseValue = Union[int, float, tuple[float, float]]
# Structured dose fields a recommendation may carry, with how they read.
DOSE_FIELDS: dict[str, str] = {
    "sets": "sets",
    "reps": "reps",
    "seconds": "seconds",
    "minutes": "minutes",
    "hours": "hours",
    "times_per_day": "times a day",
    "times_per_week": "times a week",
    "days": "days",
    "weeks": "weeks",
    "ounces_per_day": "oz a day",
}
RECOMMENDATION_KINDS: tuple[str, ...] = (
    "seek_care",
    "stop",
    "treatment",
    "self_care",
    "exercise",
    "prevention",
    "return_to_run",
    "education",
)


@dataclass(frozen=True)
class Source:
    id: str
    citation: str
    url: str | None = None


@dataclass(frozen=True)
class RuleRef:
    """Which rule, in which ruleset, from which plugin."""

    rule: str
    ruleset: str
    plugin: str | None


@dataclass(frozen=True)
class ScreenQuestion:
    id: str
    question: str


@dataclass(frozen=True)
class Reference:
    id: str
    citation: str
    url: str | None = None


@dataclass(frozen=True)
class Recommendation:
    """Advice a rule gives: its text, how much and how often, and where it comes from."""

    id: str
    text: str
    kind: str = "self_care"
    priority: int = 50
    dose: tuple[tuple[str, DoseValue], ...] = ()
    references: tuple[str, ...] = ()
    return_if: str | None = None
    # conditions, derived facts or floor entries in whose presence this advice is withheld
    avoid_with: tuple[str, ...] = ()

    def dose_text(self) -> str:
        parts = []
        for key, value in self.dose:
            if isinstance(value, tuple):
                amount = f"{format_number(value[0])}-{format_number(value[1])}"
            else:
                amount = format_number(value)
            parts.append(f"{amount} {DOSE_FIELDS[key]}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Rule:
    """If ``when`` holds: conclude a condition, derive facts, escalate, recommend."""

    id: str
    when: str
    rationale: str
    references: tuple[str, ...] = ()
    conclude: str | None = None
    derive: tuple[str, ...] = ()
    escalate: Level | None = None
    recommend: tuple[Recommendation, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class ConditionInfo:
    """A condition the rules may conclude, as a clinician would name it."""

    id: str
    label: str
    description: str = ""
    red_flag: bool = False


@dataclass(frozen=True)
class FloorEntry:
    """A red flag: when its condition holds, the level is at least ``level``.

    Applied after the rules, by plain Python, whatever the rules did.
    """

    id: str
    when: str
    level: Level
    label: str
    rationale: str = ""
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScreenGroup:
    """The red-flag questions to ask, for one presenting group, before self_care can stand.

    A case belongs to every group whose ``when`` holds; the ``default`` group applies
    when none does. Each question is a yes/no finding, answered when it is recorded.
    """

    id: str
    label: str
    when: str
    ask: tuple[str, ...]
    default: bool = False
    rationale: str = ""
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class Expectation:
    level: Level | None = None
    conditions: tuple[str, ...] = ()
    absent_conditions: tuple[str, ...] = ()
    recommendations: tuple[str, ...] = ()
    red_flags: tuple[str, ...] = ()
    screen_complete: bool | None = None
    screen_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class GoldenCase:
    """A case with the outcome a clinician expects; ``calfrules test`` runs it."""

    id: str
    findings: tuple[tuple[str, object], ...]
    expect: Expectation
    description: str = ""

    def case(self) -> dict[str, object]:
        return {"id": self.id, "findings": dict(self.findings)}


@dataclass(frozen=True)
class Ruleset:
    id: str
    version: str
    title: str
    authors: tuple[str, ...] = ()
    description: str = ""
    references: tuple[Reference, ...] = ()
    findings: tuple[Finding, ...] = ()
    conditions: tuple[ConditionInfo, ...] = ()
    rules: tuple[Rule, ...] = ()
    floor: tuple[FloorEntry, ...] = ()
    screen: tuple[ScreenGroup, ...] = ()
    tests: tuple[GoldenCase, ...] = ()
    # Where it came from (a path or "plugin:NAME"); not part of the content.
    source: str = field(default="", compare=False)

    def reference(self, ref_id: str) -> Reference | None:
        return next((ref for ref in self.references if ref.id == ref_id), None)

    def rule(self, rule_id: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.id == rule_id), None)
