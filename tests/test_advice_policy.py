"""Advice never contradicts the level, and advice unsafe with a sign is withheld without a diagnosis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from calfrules import Engine, Level
from calfrules.engine.advice import LEVEL_ADVICE_RULE

from helpers import engine_with, ruleset

ADVICE = ruleset(
    """
    [conditions.calf_thing]
    label = "A calf thing"

    [[rules]]
    id = "home_care"
    when = "calf_pain"
    conclude = "calf_thing"
    rationale = "test"
    references = ["ref"]

    [[rules.recommend]]
    id = "ice_it"
    text = "Ice the calf."
    kind = "treatment"
    avoid_with = ["cold_pale_foot", "absent_foot_pulses"]

    [[rules.recommend]]
    id = "keep_walking"
    text = "Keep walking as far as it is comfortable."
    kind = "self_care"

    [[rules.recommend]]
    id = "calf_raises"
    text = "Do calf raises."
    kind = "exercise"

    [[rules.recommend]]
    id = "book_within_days"
    text = "See a physiotherapist within the next few days."
    kind = "seek_care"

    [[rules.recommend]]
    id = "what_a_calf_is"
    text = "The calf has two muscles."
    kind = "education"

    [[rules]]
    id = "breathless_leg"
    when = "calf_pain and shortness_of_breath"
    escalate = "emergency"
    rationale = "test"
    references = ["ref"]

    [[rules.recommend]]
    id = "call_now"
    text = "Call emergency services."
    kind = "seek_care"

    [[rules.recommend]]
    id = "stop_now"
    text = "Stop and sit upright."
    kind = "stop"
    """
)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    built = engine_with(ADVICE, builtins=False)
    yield built
    built.close()


def _shown(engine: Engine, findings: dict[str, object]) -> tuple[Level, set[str], dict[str, str]]:
    a = engine.assess({"findings": findings})
    return a.level, set(a.recommendation_ids()), {w.id: w.reason for w in a.withheld_recommendations}


def test_at_emergency_only_advice_serving_that_level_is_shown(engine: Engine) -> None:
    level, shown, withheld = _shown(engine, {"calf_pain": True, "shortness_of_breath": True})
    assert level == Level.EMERGENCY
    assert shown == {"call_now", "stop_now", "what_a_calf_is"}
    assert set(withheld) == {"ice_it", "keep_walking", "calf_raises", "book_within_days"}
    assert "emergency" in withheld["book_within_days"] and "see a clinician" in withheld["book_within_days"]
    assert "held back until the emergency problem" in withheld["keep_walking"]


def test_below_urgent_home_advice_stays(engine: Engine) -> None:
    level, shown, withheld = _shown(engine, {"calf_pain": True, "shortness_of_breath": False})
    assert level < Level.URGENT
    assert {"ice_it", "keep_walking", "calf_raises", "book_within_days"} <= shown
    assert withheld == {}


def test_advice_unsafe_with_a_sign_is_withheld_without_any_diagnosis(engine: Engine) -> None:
    a = engine.assess({"findings": {"calf_pain": True, "absent_foot_pulses": True}})
    assert "ice_it" not in a.recommendation_ids()
    held = {w.id: w.reason for w in a.withheld_recommendations}
    assert held["ice_it"].startswith("not advised with") and "pulses" in held["ice_it"]


def test_the_engine_adds_seek_care_at_the_level_when_no_rule_gave_it(engine: Engine) -> None:
    """The floor raises the level with no rule advising where to go: the engine says it, citing the floor."""
    a = engine.assess({"findings": {"dark_urine": True}})
    assert a.level == Level.EMERGENCY
    own = [r for r in a.recommendations if r.rule == LEVEL_ADVICE_RULE]
    assert [r.id for r in own] == ["level_advice_emergency"]
    assert own[0].kind == "seek_care" and own[0].sources, "the engine's own advice cites a source"
    assert a.recommendations[0] == own[0], "where to go comes first"


def test_no_extra_seek_care_when_a_rule_already_gives_it_at_the_level(engine: Engine) -> None:
    a = engine.assess({"findings": {"calf_pain": True, "shortness_of_breath": True}})
    assert not [r for r in a.recommendations if r.rule == LEVEL_ADVICE_RULE]


def test_avoid_with_a_name_that_matches_nothing_is_an_error() -> None:
    bad = ruleset(
        """
        [[rules]]
        id = "r"
        when = "calf_pain"
        rationale = "test"
        references = ["ref"]

        [[rules.recommend]]
        id = "ice"
        text = "Ice it."
        kind = "treatment"
        avoid_with = ["cold_pale_fot"]
        """,
        "bad_avoid",
    )
    built = engine_with(bad, builtins=False)
    try:
        problems = " ".join(built.problems)
        assert "avoid_with names 'cold_pale_fot'" in problems and "cold_pale_foot" in problems
    finally:
        built.close()
