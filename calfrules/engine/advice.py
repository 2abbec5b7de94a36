"""Which advice is shown: never advice that contradicts the level or is unsafe with a sign.

- Advice naming a condition, derived fact, floor entry or yes/no finding in
  ``avoid_with`` is withheld when that is present (a sign counts whether or not a
  condition was concluded).
- At urgent or emergency only what serves that level is shown: stop, education,
  seek-care advice at that level, and the red-flag conditions' own advice. Treatment,
  self-care, exercise, prevention, return to run and any lower-level appointment are
  withheld, each with its reason.
- When no shown advice says where to go at the answer's level, the engine adds one
  line that does, citing what raised the level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from calfrules.engine.assessment import RecommendationResult, WithheldRecommendation
from calfrules.rules.levels import Level
from calfrules.rules.model import RECOMMENDATION_KINDS, Recommendation, RuleRef, Source

_KIND_ORDER = {kind: rank for rank, kind in enumerate(RECOMMENDATION_KINDS)}
_RANK = {id(level): level.rank for level in Level}  # by identity: hashing a Level runs Python code

SERVES_ANY_LEVEL: frozenset[str] = frozenset({"stop", "education"})
LEVEL_ADVICE_RULE = RuleRef(rule="level_advice", ruleset="core", plugin=None)
LEVEL_ADVICE: dict[Level, str] = {
    Level.EMERGENCY: (
        "Call emergency services now, or have someone take you straight to an emergency department. "
        "Do not drive yourself."
    ),
    Level.URGENT: (
        "Get a medical assessment today: a same-day GP appointment, an urgent treatment centre or an "
        "emergency department. Do not wait to see whether it settles."
    ),
    Level.SEE_CLINICIAN: (
        "Book an appointment with a GP or physiotherapist within the next few days, sooner if it gets worse."
    ),
}


@dataclass(frozen=True)
class Candidate:
    """Advice a fired rule gives, with what the policy needs to know about that rule."""

    advice: RecommendationResult
    avoid_with: tuple[str, ...]
    level: Level  # the rule's escalation (seek-care advice without one books within days)
    red_flag: bool  # the rule concludes or derives a red-flag finding of its own level
    rank: tuple[int, int, str] = (99, 0, "")  # its place, most important first (see ``order``)

    def order(self) -> tuple[int, int, str]:
        """Most important first: by kind, then priority, then id."""
        return self.rank


def candidate(
    recommendation: Recommendation, sources: tuple[Source, ...], rule: RuleRef, level: Level, red_flag: bool
) -> Candidate:
    """A rule's advice as an assessment shows it (made once per engine: the dose text is worked out here)."""
    result = RecommendationResult(
        id=recommendation.id,
        text=recommendation.text,
        kind=recommendation.kind,
        priority=recommendation.priority,
        dose={k: list(v) if isinstance(v, tuple) else v for k, v in recommendation.dose},
        dose_text=recommendation.dose_text(),
        rule=rule,
        sources=sources,
        return_if=recommendation.return_if,
    )
    rank = (_KIND_ORDER.get(result.kind, 99), result.priority, result.id)
    return Candidate(result, recommendation.avoid_with, level, red_flag, rank)


def _own_copy(advice: RecommendationResult) -> RecommendationResult:
    """The advice with a dose dict of its own: what one assessment holds is never shared with another."""
    dose = {k: list(v) if isinstance(v, list) else v for k, v in advice.dose.items()} if advice.dose else {}
    return RecommendationResult(
        advice.id,
        advice.text,
        advice.kind,
        advice.priority,
        dose,
        advice.dose_text,
        advice.rule,
        advice.sources,
        advice.return_if,
    )


def select(
    candidates: Iterable[Candidate], present: Mapping[str, str], level: Level
) -> tuple[list[RecommendationResult], list[WithheldRecommendation]]:
    """Split advice into shown and withheld; ``present`` maps what is present to its plain name."""
    shown: list[RecommendationResult] = []
    withheld: list[WithheldRecommendation] = []
    below_urgent = _RANK[id(level)] < _RANK[id(Level.URGENT)]
    for candidate in candidates:
        advice = candidate.advice
        # below urgent only a clash withholds: advice that avoids nothing is shown
        reason = None if below_urgent and not candidate.avoid_with else _reason_to_withhold(candidate, present, level)
        if reason is None:
            shown.append(_own_copy(advice))
        else:
            withheld.append(WithheldRecommendation(advice.id, advice.text, advice.rule, reason))
    return shown, withheld


def _reason_to_withhold(candidate: Candidate, present: Mapping[str, str], level: Level) -> str | None:
    clash = [present[name] for name in candidate.avoid_with if name in present]
    if clash:
        return f"not advised with {', '.join(dict.fromkeys(clash))}"
    if _RANK[id(level)] < _RANK[id(Level.URGENT)]:
        return None
    kind = candidate.advice.kind
    if kind in SERVES_ANY_LEVEL:
        return None
    if kind == "seek_care":
        if _RANK[id(candidate.level)] >= _RANK[id(level)]:
            return None
        return _REPLACED[id(level), id(candidate.level)]
    if candidate.red_flag and _RANK[id(candidate.level)] >= _RANK[id(Level.URGENT)]:
        return None
    return _HELD_BACK[id(level)]


# the reasons to withhold that depend on levels only, written once
_REPLACED = {
    (id(level), id(lower)): f"replaced by the {level.label.lower()} advice: this advice is for {lower.label.lower()}"
    for level in Level
    for lower in Level
}
_HELD_BACK = {id(level): f"held back until the {level.label.lower()} problem has been assessed" for level in Level}


def level_advice(
    level: Level,
    shown: list[RecommendationResult],
    candidates: Iterable[Candidate],
    sources: Callable[[], tuple[Source, ...]],
) -> RecommendationResult | None:
    """The engine's own seek-care line when no shown advice says where to go at this level.

    ``sources`` is called only when the line is needed (what raised the level).
    """
    if level == Level.SELF_CARE:
        return None
    shown_ids = {rec.id for rec in shown if rec.kind == "seek_care"}
    if any(c.advice.id in shown_ids and _RANK[id(c.level)] >= _RANK[id(level)] for c in candidates):
        return None
    return RecommendationResult(
        id=f"level_advice_{level.value}",
        text=LEVEL_ADVICE[level],
        kind="seek_care",
        priority=-1,
        dose={},
        dose_text="",
        rule=LEVEL_ADVICE_RULE,
        sources=sources(),
        return_if=None,
    )
