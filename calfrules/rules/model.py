"""What a ruleset holds: rules, recommendations, conditions, floor entries and golden cases.

These dataclasses are the one description of a ruleset: their annotations (with
``msgspec.Meta`` constraints) are what ``knowledge/ruleset_read.py`` checks a file against
and what ``ruleset_write.py`` writes. A ruleset file differs from them only where the
``Meta(extra=...)`` keys below say so, and in tables of key -> value (``dose``, a golden
case's ``findings``) that the dataclasses hold as (key, value) pairs.

No ``from __future__ import annotations`` here: real annotation objects make reading the
description at start-up cheap (ruleset_form.py, msgspec).
"""

from dataclasses import field
from typing import TYPE_CHECKING, Annotated, Union

from msgspec import Meta

from calfrules.rules import frozen
from calfrules.rules.levels import Level
from calfrules.rules.numbers import format_number
from calfrules.rules.shapes import INVALID
from calfrules.rules.vocabulary import Finding

if TYPE_CHECKING:  # type checkers know it as what it makes: a frozen dataclass
    from dataclasses import dataclass as frozen_dataclass
else:  # one exec for every class's __init__ instead of six per class (most of this module's import)
    from calfrules.rules.frozen import frozen_dataclass

# Keys of Meta(extra=...) for how a field looks in a ruleset file:
KEYED_BY_ID = "keyed_by_id"  # a table of id -> item (the item without its id), not a list
ALWAYS_WRITTEN = "always_written"  # written out even when it holds its default

ID_PATTERN = "^[a-z][a-z0-9_]*$"
Id = Annotated[
    str,
    Meta(
        pattern=ID_PATTERN,
        extra={INVALID: "id {value} must be lower case letters, digits and _ (starting with a letter)"},
    ),
]
DOSE_INVALID = "dose {name} must be a positive number or a range [low, high]"
# A dose amount, or a range [low, high]; TOML keeps 3 and 3.0 apart, and so do these. That
# amounts are positive and finite, and low <= high, is checked by the reader: msgspec 0.22
# crashes on a union of a constrained number and a tuple.
DoseValue = Annotated[
    Union[int, float, tuple[Union[int, float], Union[int, float]]],
    Meta(
        title="DoseValue",
        description="an amount, or a range [low, high]",
        extra={INVALID: DOSE_INVALID},
    ),
]
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
# how one and two times read in a frequency ("once a day", not "1 times a day")
_FREQUENCY_WORDS = {"1": "once", "2": "twice"}
DoseField = Annotated[
    str,
    Meta(
        pattern=f"^({'|'.join(DOSE_FIELDS)})$",
        extra={INVALID: f"unknown dose field {{value}}; use {', '.join(DOSE_FIELDS)}"},
    ),
]
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
RecommendationKind = Annotated[
    str,
    Meta(
        pattern=f"^({'|'.join(RECOMMENDATION_KINDS)})$",
        extra_json_schema={"enum": list(RECOMMENDATION_KINDS)},
        extra={INVALID: f"unknown kind {{value}}; use one of: {', '.join(RECOMMENDATION_KINDS)}"},
    ),
]
_KEYED = Meta(extra={KEYED_BY_ID: True})
_ALWAYS = Meta(extra={ALWAYS_WRITTEN: True})


@frozen_dataclass(frozen=True)
class Source:
    id: str
    citation: str
    url: str | None = None


@frozen_dataclass(frozen=True)
class RuleRef:
    """Which rule, in which ruleset, from which plugin."""

    rule: str
    ruleset: str
    plugin: str | None


@frozen_dataclass(frozen=True)
class ScreenQuestion:
    id: Annotated[str, Meta(description="the yes/no finding that answers it")]
    question: str


@frozen_dataclass(frozen=True)
class Reference:
    id: Id
    citation: str
    url: str | None = None


@frozen_dataclass(frozen=True)
class Recommendation:
    """Advice a rule gives: its text, how much and how often, and where it comes from."""

    id: Id
    text: str
    kind: Annotated[RecommendationKind, _ALWAYS] = "self_care"
    priority: Annotated[int, _ALWAYS] = 50
    dose: tuple[tuple[DoseField, DoseValue], ...] = ()
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
            unit = DOSE_FIELDS[key]
            if amount in _FREQUENCY_WORDS and unit.startswith("times a "):
                parts.append(f"{_FREQUENCY_WORDS[amount]} {unit.removeprefix('times ')}")  # "twice a day"
            elif amount == "1" and " " not in unit:
                parts.append(f"1 {unit.removesuffix('s')}")  # "1 set", "1 week"
            else:
                parts.append(f"{amount} {unit}")
        return ", ".join(parts)


@frozen_dataclass(frozen=True)
class Rule:
    """If ``when`` holds: conclude a condition, derive facts, escalate, recommend."""

    id: Id
    when: str
    rationale: str
    references: tuple[str, ...] = ()
    conclude: Id | None = None
    derive: tuple[Id, ...] = ()
    escalate: Level | None = None
    recommend: tuple[Recommendation, ...] = ()
    description: str = ""


@frozen_dataclass(frozen=True)
class ConditionInfo:
    """A condition the rules may conclude, as a clinician would name it."""

    id: Id
    label: str
    description: str = ""
    red_flag: bool = False


@frozen_dataclass(frozen=True)
class FloorEntry:
    """A red flag: when its condition holds, the level is at least ``level``.

    Applied after the rules, by plain Python, whatever the rules did.
    """

    id: Id
    when: str
    level: Level
    label: str
    rationale: str = ""
    references: tuple[str, ...] = ()


@frozen_dataclass(frozen=True)
class ScreenGroup:
    """The red-flag questions to ask, for one presenting group, before self_care can stand.

    A case belongs to every group whose ``when`` holds; the ``default`` group applies
    when none does. Each question is a yes/no finding, answered when it is recorded.
    """

    id: Id
    label: str
    when: str
    ask: tuple[Id, ...]
    default: bool = False
    rationale: str = ""
    references: tuple[str, ...] = ()


@frozen_dataclass(frozen=True)
class Expectation:
    level: Level | None = None
    conditions: tuple[str, ...] = ()
    absent_conditions: tuple[str, ...] = ()
    recommendations: tuple[str, ...] = ()
    red_flags: tuple[str, ...] = ()
    screen_complete: bool | None = None
    screen_groups: tuple[str, ...] = ()


@frozen_dataclass(frozen=True)
class GoldenCase:
    """A case with the outcome a clinician expects; ``calfrules test`` runs it."""

    id: Id
    findings: tuple[tuple[str, object], ...]
    expect: Expectation
    description: str = ""

    def case(self) -> dict[str, object]:
        return {"id": self.id, "findings": dict(self.findings)}


@frozen_dataclass(frozen=True)
class Ruleset:
    id: Id
    version: str
    title: str
    authors: tuple[str, ...] = ()
    description: str = ""
    references: tuple[Reference, ...] = ()
    findings: Annotated[tuple[Finding, ...], _KEYED] = ()
    conditions: Annotated[tuple[ConditionInfo, ...], _KEYED] = ()
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


frozen.make_methods()  # the classes above, compiled in one go
