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

import functools
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from calfrules.engine.assessment import RecommendationResult, WithheldRecommendation
from calfrules.rules.levels import Level
from calfrules.rules.model import RECOMMENDATION_KINDS, Recommendation, RuleRef, Source

_KIND_ORDER = {kind: rank for rank, kind in enumerate(RECOMMENDATION_KINDS)}
_RANK = {id(level): level.rank for level in Level}  # by identity: hashing a Level runs Python code
_BY_RANK = sorted(Level, key=lambda level: level.rank)  # a level's rank is its place here

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
    # by the answer's level rank: why it is withheld at that level when nothing clashes (None: shown)
    held: tuple[str | None, ...] = ()
    # by the answer's level rank: whether it, when shown, says where to go at that level
    guides: tuple[bool, ...] = ()

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
    held, guides = _by_level(result.kind, level, red_flag)
    return Candidate(result, recommendation.avoid_with, level, red_flag, rank, held, guides)


@functools.cache
def _by_level(kind: str, level: Level, red_flag: bool) -> tuple[tuple[str | None, ...], tuple[bool, ...]]:
    """Candidate.held and Candidate.guides, the same for all advice of a kind, level and red flag."""
    held = tuple(_static_reason(kind, level, red_flag, at) for at in _BY_RANK)
    guides = tuple(kind == "seek_care" and level.rank >= at.rank for at in _BY_RANK)
    return held, guides


_NEW = object.__new__


def _own_copy(advice: RecommendationResult) -> RecommendationResult:
    """The advice with a dose dict of its own: what one assessment holds is never shared with another.
    (Its fields copied in one go: the frozen dataclass is filled through its ``__dict__``.)"""
    dose = {k: list(v) if isinstance(v, list) else v for k, v in advice.dose.items()} if advice.dose else {}
    copy = _NEW(RecommendationResult)
    fields = copy.__dict__
    fields.update(advice.__dict__)
    fields["dose"] = dose
    return copy


def offered(offers: Sequence[Mapping[str, Candidate]]) -> tuple[Candidate, ...]:
    """The fired rules' advice (each rule's by id, in firing order), each once (the first rule to
    give it wins), most important first."""
    if not offers:
        return ()
    if len(offers) == 1:
        return tuple(sorted(offers[0].values(), key=_ORDER))
    given: dict[str, Candidate] = {}
    for advice in reversed(offers):  # later rules first, so that an earlier rule's advice overwrites theirs
        given.update(advice)
    return tuple(sorted(given.values(), key=_ORDER))  # ids are unique: the order is total


_ORDER = operator.attrgetter("rank")  # Candidate.order, without the call


@dataclass(frozen=True)
class Choice:
    """What advice none of which can clash with anything comes to at a level: the same for every case
    with the same advice and level, so worked out once (``choose``)."""

    shown: tuple[RecommendationResult, ...]  # as the rules give them: each assessment gets its own copies
    withheld: tuple[WithheldRecommendation, ...]  # shared: nothing in them can change
    needs_level_advice: bool  # whether the engine's own seek-care line is added (``level_line``)

    def shown_copies(self) -> list[RecommendationResult]:
        return [_own_copy(advice) for advice in self.shown]


def choose(candidates: Sequence[Candidate], level: Level) -> Choice:
    """``select`` and ``level_advice`` for advice none of which avoids anything."""
    if any(c.avoid_with for c in candidates):
        raise ValueError("advice that avoids something depends on the case: use select")
    shown, withheld = _split(candidates, {}, level)
    return Choice(tuple(shown), tuple(withheld), _needs_level_advice(level, shown, candidates))


KEPT = 20_000  # sets of advice-giving rules and levels whose advice Offers keeps worked out


class Offers:
    """The advice of each set of advice-giving rules fired and, when none of it can clash with
    anything, what it comes to at each level: worked out once per rules and level (see ``at``)."""

    def __init__(self, offers: Sequence[Mapping[str, Candidate]]) -> None:
        self.offers = offers  # each rule's advice by id, by the rule's index
        # (the rules, by index in firing order; the level's identity) -> (their advice, its Choice or None)
        self.known: dict[tuple[tuple[int, ...], int], tuple[tuple[Candidate, ...], Choice | None]] = {}

    def at(self, offering: tuple[int, ...], level: Level) -> tuple[tuple[Candidate, ...], Choice | None]:
        """The advice of the rules ``offering`` it (indices, in firing order), most important first, and
        what it comes to at ``level`` when none of it can clash (None when some can: ``select`` it)."""
        key = (offering, id(level))  # a level's identity: hashing a Level runs Python code
        found = self.known.get(key)
        if found is None:
            candidates = offered([self.offers[index] for index in offering])
            clashable = any(c.avoid_with for c in candidates)
            found = (candidates, None if clashable else choose(candidates, level))
            if len(self.known) < KEPT:  # the sets of rules that fire together: bounded all the same
                self.known[key] = found
        return found


def select(
    candidates: Iterable[Candidate], present: Mapping[str, str], level: Level
) -> tuple[list[RecommendationResult], list[WithheldRecommendation]]:
    """Split advice into shown and withheld; ``present`` maps what is present to its plain name."""
    shown, withheld = _split(candidates, present, level)
    return [_own_copy(advice) for advice in shown], withheld


def _split(
    candidates: Iterable[Candidate], present: Mapping[str, str], level: Level
) -> tuple[list[RecommendationResult], list[WithheldRecommendation]]:
    """``select``, the shown advice as the rules give it (not copied)."""
    shown: list[RecommendationResult] = []
    withheld: list[WithheldRecommendation] = []
    at = _RANK[id(level)]
    for candidate in candidates:
        advice = candidate.advice
        reason = candidate.held[at]
        if candidate.avoid_with:  # a clash withholds at any level, and says what it clashes with
            clash = [present[name] for name in candidate.avoid_with if name in present]
            if clash:
                reason = f"not advised with {', '.join(dict.fromkeys(clash))}"
        if reason is None:
            shown.append(advice)
        else:
            withheld.append(WithheldRecommendation(advice.id, advice.text, advice.rule, reason))
    return shown, withheld


def _static_reason(kind: str, own_level: Level, red_flag: bool, level: Level) -> str | None:
    """Why advice of this kind, from a rule of ``own_level``, is withheld at ``level`` when nothing clashes."""
    if level.rank < Level.URGENT.rank or kind in SERVES_ANY_LEVEL:
        return None
    if kind == "seek_care":
        return None if own_level.rank >= level.rank else _REPLACED[id(level), id(own_level)]
    if red_flag and own_level.rank >= Level.URGENT.rank:
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
    return level_line(level, sources()) if _needs_level_advice(level, shown, candidates) else None


def _needs_level_advice(level: Level, shown: list[RecommendationResult], candidates: Iterable[Candidate]) -> bool:
    if level is Level.SELF_CARE:
        return False
    at = _RANK[id(level)]
    guiding = [c.advice.id for c in candidates if c.guides[at]]
    return not (guiding and not {rec.id for rec in shown if rec.kind == "seek_care"}.isdisjoint(guiding))


def level_line(level: Level, sources: tuple[Source, ...]) -> RecommendationResult:
    """The engine's own seek-care line at ``level`` (not self-care), citing ``sources``."""
    line_id, text = _LEVEL_LINES[id(level)]
    return RecommendationResult(
        id=line_id,
        text=text,
        kind="seek_care",
        priority=-1,
        dose={},
        dose_text="",
        rule=LEVEL_ADVICE_RULE,
        sources=sources,
        return_if=None,
    )


_LEVEL_LINES = {id(level): (f"level_advice_{level.value}", text) for level, text in LEVEL_ADVICE.items()}
