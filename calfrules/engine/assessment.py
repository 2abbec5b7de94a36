"""The result of assessing a case: level first, then everything that explains it.

These dataclasses are the one description of an assessment: ``to_dict()`` writes every
field, and ``calfrules schema assessment`` and the service's OpenAPI are generated from
their annotations (``formats/json_schema.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Annotated, Any, Literal, NotRequired, TypedDict, Union

from msgspec import Meta

from calfrules.rules.levels import Level
from calfrules.rules.model import RecommendationKind, RuleRef, ScreenQuestion, Source
from calfrules.rules.shapes import PUBLISHED_AS, FindingValue

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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class ConditionResult:
    id: str
    label: str
    red_flag: bool
    because: tuple[Reason, ...]
    description: str = ""


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class WithheldRecommendation:
    """Advice a rule gave that is not shown, and why (a contraindication or an urgent level)."""

    id: str
    text: str
    rule: RuleRef
    reason: str


@dataclass(frozen=True)
class RedFlag:
    id: str
    label: str
    level: Level
    matched: Matched
    rationale: str
    origin: str
    sources: tuple[Source, ...] = ()


@dataclass(frozen=True)
class LevelReason:
    level: Level
    reason: str
    source: str


@dataclass(frozen=True)
class TraceStep:
    step: Annotated[int, Meta(ge=1)]
    rule: RuleRef
    matched: Matched
    concluded: str | None
    derived: tuple[str, ...]
    escalated: Level | None
    unrecorded: Annotated[Unrecorded, _NOT_YES] = ()


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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
        plain: dict[str, Any] = _plain(self)
        return plain


_SCALARS = (str, int, float, bool, type(None))
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _plain(value: Any) -> Any:
    """What ``dataclasses.asdict`` gives, with levels as ids, without its deep copies (10x faster)."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, Level):
        return value.value
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    names = _FIELD_NAMES.get(type(value))
    if names is None:
        if not is_dataclass(value):
            return value
        names = _FIELD_NAMES.setdefault(type(value), tuple(f.name for f in fields(value)))
    return {name: _plain(getattr(value, name)) for name in names}
