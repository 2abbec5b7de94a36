"""The result of assessing a case: level first, then everything that explains it.

These dataclasses are the one description of an assessment: ``to_dict()`` writes every
field, and ``calfrules schema assessment`` and the service's OpenAPI are generated from
their annotations (``formats/json_schema.py``).
"""

from __future__ import annotations

import json
from dataclasses import field
from typing import TYPE_CHECKING, Annotated, Any, Literal, NotRequired, TypedDict, Union

import msgspec
from msgspec import Meta

from calfrules.rules import frozen
from calfrules.rules.levels import Level
from calfrules.rules.model import RecommendationKind, RuleRef, ScreenQuestion, Source
from calfrules.rules.shapes import PUBLISHED_AS, FindingValue

if TYPE_CHECKING:  # type checkers know it as what it makes: a frozen dataclass
    from dataclasses import dataclass as frozen_dataclass
else:
    from calfrules.rules.frozen import frozen_dataclass

Matched = Annotated[
    dict[str, FindingValue],
    Meta(title="Matched", description="recorded values only, finding id -> value; a recorded no is false"),
]
Unrecorded = Annotated[
    tuple[str, ...],
    Meta(
        title="Unrecorded",
        description="finding ids nobody recorded; never evidence of a no",
        extra_json_schema={"uniqueItems": True},
    ),
]
_NOT_YES = Meta(description='findings the rule needed to be "not yes" that nobody recorded')
# A dose as the assessment gives it (a range as a list), published as DoseValue as it always was.
DoseAmount = Annotated[
    Union[int, float, Annotated[list[Union[int, float]], Meta(min_length=2, max_length=2)]],
    Meta(title="DoseValue", description="an amount, or a range [low, high]"),
]
ScreenPolicyName = Literal["prompt", "require"]  # engine/screening.py's ScreenPolicy


class RulesetProvenance(TypedDict):
    id: str
    version: str
    hash: Annotated[str, Meta(pattern="^sha256:[0-9a-f]{64}$")]
    plugin: str | None
    source: str | None
    replaces_plugin: NotRequired[str | None]


class PluginProvenance(TypedDict):
    name: str
    version: str | None
    status: str


class Provenance(TypedDict):
    """What made the assessment: the engine, and every ruleset and plugin, with versions."""

    engine: str
    engine_version: str
    rulesets: list[RulesetProvenance]
    plugins: list[PluginProvenance]
    durable_rules_version: NotRequired[str | None]
    python: NotRequired[str]
    evaluator: NotRequired[Literal["durable", "oracle"]]
    screen: NotRequired[Annotated[ScreenPolicyName, Meta(description="the red-flag screen policy")]]


@frozen_dataclass(frozen=True)
class Reason:
    """A rule that fired, what was recorded that it matched, and why the rule exists.

    ``matched`` holds recorded values only (a recorded no is ``false``); ``unrecorded``
    names the findings the rule needed to be "not yes" and that nobody recorded.
    """

    rule: RuleRef
    matched: Matched
    rationale: str
    sources: tuple[Source, ...] = ()
    unrecorded: Annotated[Unrecorded, _NOT_YES] = ()


@frozen_dataclass(frozen=True)
class ConditionResult:
    id: str
    label: str
    red_flag: bool
    because: tuple[Reason, ...]
    description: str = ""


@frozen_dataclass(frozen=True)
class RecommendationResult:
    id: str
    text: str
    kind: RecommendationKind
    priority: int
    dose: dict[str, DoseAmount]
    dose_text: str
    rule: RuleRef
    sources: tuple[Source, ...]
    return_if: str | None = None


@frozen_dataclass(frozen=True)
class WithheldRecommendation:
    """Advice a rule gave that is not shown, and why (a contraindication or an urgent level)."""

    id: str
    text: str
    rule: RuleRef
    reason: str


@frozen_dataclass(frozen=True)
class RedFlag:
    id: str
    label: str
    level: Level
    matched: Matched
    rationale: str
    origin: str
    sources: tuple[Source, ...] = ()


@frozen_dataclass(frozen=True)
class LevelReason:
    level: Level
    reason: str
    source: str


@frozen_dataclass(frozen=True)
class TraceStep:
    step: Annotated[int, Meta(ge=1)]
    rule: RuleRef
    matched: Matched
    concluded: str | None
    derived: tuple[str, ...]
    escalated: Level | None
    unrecorded: Annotated[Unrecorded, _NOT_YES] = ()


@frozen_dataclass(frozen=True)
class ScoreResult:
    id: str
    label: str
    value: float
    components: dict[str, float]
    interpretation: str
    plugin: str
    unrecorded: Annotated[
        Unrecorded,
        Meta(description="inputs of the score the case did not record: a low score may only mean they were not asked"),
    ] = ()


@frozen_dataclass(frozen=True)
class RedFlagScreen:
    """The red-flag questions for the case's presenting groups, and which are unanswered.

    Under the require policy an incomplete screen keeps the level at see_clinician or above;
    under prompt it only lists them.
    """

    complete: Annotated[bool, Meta(description="true once every question is recorded, yes or no")] = True
    unanswered: Annotated[
        tuple[str, ...],
        Meta(
            description="ids of the questions nobody recorded, in the order to ask them",
            extra_json_schema={"uniqueItems": True},
        ),
    ] = ()
    questions: tuple[ScreenQuestion, ...] = ()
    groups: Annotated[tuple[str, ...], Meta(description="the presenting groups the case belongs to")] = ()
    policy: ScreenPolicyName = "prompt"


@frozen_dataclass(frozen=True)
class Assessment:
    """What calfrules answers for one case: Assessment.to_dict(), `calfrules assess --json`,
    and the body of POST /assess."""

    level: Level
    complete: Annotated[
        bool, Meta(description="false when a plugin or the rule engine failed; the level is then at least urgent")
    ]
    conditions: tuple[ConditionResult, ...]
    recommendations: tuple[RecommendationResult, ...]
    red_flags: tuple[RedFlag, ...]
    level_reasons: tuple[LevelReason, ...]
    trace: tuple[TraceStep, ...]
    scores: tuple[ScoreResult, ...]
    unused_findings: tuple[str, ...]
    unexplained_findings: tuple[str, ...]
    findings: Annotated[Matched, Meta(description="the validated input findings")]
    # built as a plain dict by the engine; published with the shape of Provenance
    provenance: Annotated[dict[str, Any], Meta(extra={PUBLISHED_AS: Provenance})]
    incomplete_reasons: tuple[str, ...] = ()
    withheld_recommendations: tuple[WithheldRecommendation, ...] = ()
    case_id: str | None = None
    warnings: tuple[str, ...] = field(default=())
    red_flag_screen: RedFlagScreen = field(default_factory=RedFlagScreen)

    def condition_ids(self) -> list[str]:
        return [c.id for c in self.conditions]

    def recommendation_ids(self) -> list[str]:
        return [r.id for r in self.recommendations]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, a fresh copy; levels appear as their ids (``"urgent"``)."""
        return _assessment(self)

    def to_json(self, indent: int | None = None) -> bytes:
        """UTF-8 JSON, byte for byte what ``json.dumps(self.to_dict(), ensure_ascii=False)`` writes
        (compact separators, or ``indent``), several times faster: msgspec, straight from the dataclasses.

        The json module writes it when msgspec would differ: a number Python spells with an
        exponent (``1e-07``) or a NaN, and text UTF-8 cannot hold (a lone surrogate, say in a case
        id), which then comes out with every non-ASCII character as its ``\\uXXXX`` escape.
        """
        if not _plain_floats(self):
            return _json_module(self.to_dict(), indent)
        try:
            encoded = msgspec.json.encode(self)
        except UnicodeEncodeError:
            return _json_module(self.to_dict(), indent)
        return encoded if indent is None else msgspec.json.format(encoded, indent=indent)


frozen.make_methods()  # the classes above, compiled in one go


# The serialiser: what ``dataclasses.asdict`` gives (fields in order, tuples as lists, fresh dicts
# and lists), levels as ids, 5x faster than the generic walk tests/test_serialiser.py checks it against.


def _assessment(a: Assessment) -> dict[str, Any]:
    screen = a.red_flag_screen
    return {
        "level": a.level.value,
        "complete": a.complete,
        "conditions": [
            {
                "id": c.id,
                "label": c.label,
                "red_flag": c.red_flag,
                "because": [
                    {
                        "rule": _ref(r.rule),
                        "matched": dict(r.matched),
                        "rationale": r.rationale,
                        "sources": _sources(r.sources),
                        "unrecorded": list(r.unrecorded),
                    }
                    for r in c.because
                ],
                "description": c.description,
            }
            for c in a.conditions
        ],
        "recommendations": [
            {
                "id": r.id,
                "text": r.text,
                "kind": r.kind,
                "priority": r.priority,
                "dose": {key: list(v) if isinstance(v, list) else v for key, v in r.dose.items()},
                "dose_text": r.dose_text,
                "rule": _ref(r.rule),
                "sources": _sources(r.sources),
                "return_if": r.return_if,
            }
            for r in a.recommendations
        ],
        "red_flags": [
            {
                "id": f.id,
                "label": f.label,
                "level": f.level.value,
                "matched": dict(f.matched),
                "rationale": f.rationale,
                "origin": f.origin,
                "sources": _sources(f.sources),
            }
            for f in a.red_flags
        ],
        "level_reasons": [{"level": r.level.value, "reason": r.reason, "source": r.source} for r in a.level_reasons],
        "trace": [
            {
                "step": t.step,
                "rule": _ref(t.rule),
                "matched": dict(t.matched),
                "concluded": t.concluded,
                "derived": list(t.derived),
                "escalated": None if t.escalated is None else t.escalated.value,
                "unrecorded": list(t.unrecorded),
            }
            for t in a.trace
        ],
        "scores": [
            {
                "id": s.id,
                "label": s.label,
                "value": s.value,
                "components": dict(s.components),
                "interpretation": s.interpretation,
                "plugin": s.plugin,
                "unrecorded": list(s.unrecorded),
            }
            for s in a.scores
        ],
        "unused_findings": list(a.unused_findings),
        "unexplained_findings": list(a.unexplained_findings),
        "findings": dict(a.findings),
        "provenance": msgspec.to_builtins(a.provenance),  # plain dicts, lists and text: copied in C
        "incomplete_reasons": list(a.incomplete_reasons),
        "withheld_recommendations": [
            {"id": w.id, "text": w.text, "rule": _ref(w.rule), "reason": w.reason} for w in a.withheld_recommendations
        ],
        "case_id": a.case_id,
        "warnings": list(a.warnings),
        "red_flag_screen": {
            "complete": screen.complete,
            "unanswered": list(screen.unanswered),
            "questions": [{"id": q.id, "question": q.question} for q in screen.questions],
            "groups": list(screen.groups),
            "policy": screen.policy,
        },
    }


def _ref(ref: RuleRef) -> dict[str, Any]:
    return {"rule": ref.rule, "ruleset": ref.ruleset, "plugin": ref.plugin}


def _sources(sources: tuple[Source, ...]) -> list[dict[str, Any]]:
    return [{"id": s.id, "citation": s.citation, "url": s.url} for s in sources]


def _json_module(data: dict[str, Any], indent: int | None) -> bytes:
    separators = (",", ":") if indent is None else (",", ": ")
    text = json.dumps(data, indent=indent, ensure_ascii=False, separators=separators)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: all of it in ASCII escapes, as the json module's default
        return json.dumps(data, indent=indent, separators=separators).encode("ascii")


def _plain_float(value: object) -> bool:
    """Whether msgspec writes this number as the json module does: finite, without an exponent in Python."""
    if not isinstance(value, float):
        return True
    magnitude = abs(value)
    return magnitude == 0.0 or 1e-4 <= magnitude < 1e16


def _plain_floats(assessment: Assessment) -> bool:
    """Every number is written alike by msgspec and the json module: those of the findings, scores (matched
    values are findings or scores) and doses; none is NaN or infinite (msgspec would write null)."""
    numbers: list[object] = list(assessment.findings.values())
    for score in assessment.scores:
        numbers.append(score.value)
        numbers.extend(score.components.values())
    for rec in assessment.recommendations:
        for amount in rec.dose.values():
            numbers.extend(amount if isinstance(amount, list) else (amount,))
    return all(_plain_float(number) for number in numbers)
