"""The result of assessing a case: level first, then everything that explains it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from calfrules.rules.levels import Level
from calfrules.rules.model import RuleRef, ScreenQuestion, Source
from calfrules.rules.vocabulary import Value


@dataclass(frozen=True)
class Reason:
    """A rule that fired, what was recorded that it matched, and why the rule exists.

    ``matched`` holds recorded values only (a recorded no is ``false``); ``unrecorded``
    names the findings the rule needed to be "not yes" and that nobody recorded.
    """

    rule: RuleRef
    matched: dict[str, Value]
    rationale: str
    sources: tuple[Source, ...] = ()
    unrecorded: tuple[str, ...] = ()


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
    kind: str
    priority: int
    dose: dict[str, Any]
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
    matched: dict[str, Value]
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
    step: int
    rule: RuleRef
    matched: dict[str, Value]
    concluded: str | None
    derived: tuple[str, ...]
    escalated: Level | None
    unrecorded: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScoreResult:
    id: str
    label: str
    value: float
    components: dict[str, float]
    interpretation: str
    plugin: str
    # inputs of the score the case did not record (a low score may only mean "not asked")
    unrecorded: tuple[str, ...] = ()


@dataclass(frozen=True)
class RedFlagScreen:
    """The red-flag questions for the case's presenting groups, and which are unanswered.

    ``complete`` once every question is recorded, yes or no. Under the ``require``
    policy an incomplete screen keeps the level at see_clinician or above.
    """

    complete: bool = True
    unanswered: tuple[str, ...] = ()
    questions: tuple[ScreenQuestion, ...] = ()
    groups: tuple[str, ...] = ()
    policy: str = "prompt"


@dataclass(frozen=True)
class Assessment:
    level: Level
    complete: bool
    conditions: tuple[ConditionResult, ...]
    recommendations: tuple[RecommendationResult, ...]
    red_flags: tuple[RedFlag, ...]
    level_reasons: tuple[LevelReason, ...]
    trace: tuple[TraceStep, ...]
    scores: tuple[ScoreResult, ...]
    unused_findings: tuple[str, ...]
    unexplained_findings: tuple[str, ...]
    findings: dict[str, Value]
    provenance: dict[str, Any]
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
