"""Fluids, heat, cramps and statins (issue 11): current evidence, primary sources, the emergencies
escalate on their own, the advice shown never contradicts them, and every new condition has the
golden cases a clinician would ask for."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calfrules import Engine, Level
from calfrules.knowledge.builtin import builtin_ruleset
from calfrules.rules.model import Ruleset
from calfrules.rules.vocabulary import Value

MINE = ("cramps", "dehydration")
NEW_CONDITIONS = {
    "exercise_associated_hyponatraemia": "dehydration",
    "heat_illness": "dehydration",
    "statin_myopathy": "cramps",
    "nocturnal_leg_cramps": "cramps",
}
INTERNAL = re.compile(r"clinical-references|shared[ /_-]?notes|\bnotes?\b", re.IGNORECASE)


def _ruleset(name: str) -> Ruleset:
    return builtin_ruleset(name)


def _level(engine: Engine, findings: dict[str, Value]) -> Level:
    return engine.assess({"findings": findings}).level


# --- sources and evidence ---------------------------------------------------------------------


@pytest.mark.parametrize("name", MINE)
def test_citations_are_published_and_every_recommendation_has_one(name: str) -> None:
    ruleset = _ruleset(name)
    assert not [ref.id for ref in ruleset.references if INTERNAL.search(ref.id) or INTERNAL.search(ref.citation)]
    with_url = {ref.id for ref in ruleset.references if ref.url}
    unsourced = [
        rec.id
        for rule in ruleset.rules
        for rec in rule.recommend
        if not with_url & set(rec.references or rule.references)
    ]
    assert unsourced == []


@pytest.mark.parametrize("name", MINE)
def test_no_fixed_daily_volume_and_no_salt_or_fluid_cure_for_cramps(name: str) -> None:
    ruleset = _ruleset(name)
    for rule in ruleset.rules:
        for rec in rule.recommend:
            assert not re.search(r"\boz\b|ounces|litres? a day|electrolyte tablet|pinch of salt", rec.text), rec.id
            assert "ounces_per_day" not in dict(rec.dose), rec.id
    cramp = {c.id: c for c in ruleset.conditions}.get("exercise_associated_cramp")
    if cramp is not None:
        assert "dehydrat" not in cramp.description and "salt" not in cramp.description


# --- dehydration needs real signs ---------------------------------------------------------------

calf_and_intake = st.fixed_dictionaries(
    {"low_fluid_intake": st.just(True)},
    optional={
        "calf_tightness": st.booleans(),
        "calf_soreness_after_run": st.booleans(),
        "cramp_during_run": st.booleans(),
        "hot_weather": st.booleans(),
        "run_duration_min": st.sampled_from([20.0, 60.0, 61.0, 180.0]),
    },
)


@given(findings=calf_and_intake)
def test_low_intake_with_calf_symptoms_is_never_dehydration(engine: Engine, findings: dict[str, Value]) -> None:
    conditions = {c.id for c in engine.assess({"findings": findings}).conditions}
    assert "dehydration" not in conditions


def test_thirst_after_a_hot_run_is_dehydration(engine: Engine) -> None:
    conditions = {c.id for c in engine.assess({"findings": {"thirst": True, "hot_weather": True}}).conditions}
    assert "dehydration" in conditions


# --- the emergencies escalate on their own -------------------------------------------------------


@pytest.mark.parametrize(
    "findings",
    [
        {"overdrinking": True, "confusion_or_vomiting": True},
        {"overdrinking": True, "consciousness": "pain"},
        {"temperature_c": 40.5, "consciousness": "new_confusion"},
        {"hot_weather": True, "consciousness": "voice"},
        {"hot_weather": True, "confusion_or_vomiting": True},
        {"consciousness": "unresponsive"},
        {"statin_use": True, "dark_urine": True},
    ],
)
def test_emergency(engine: Engine, findings: dict[str, Value]) -> None:
    assert _level(engine, findings) == Level.EMERGENCY


def test_being_recorded_alert_separates_heat_exhaustion_from_heat_stroke(engine: Engine) -> None:
    findings: dict[str, Value] = {"hot_weather": True, "confusion_or_vomiting": True, "temperature_c": 39.5}
    assert _level(engine, findings) == Level.EMERGENCY
    assert _level(engine, {**findings, "consciousness": "alert"}) == Level.URGENT
    assert _level(engine, {**findings, "consciousness": "new_confusion"}) == Level.EMERGENCY


def test_dizziness_after_overdrinking_is_urgent_not_self_care(engine: Engine) -> None:
    assert _level(engine, {"overdrinking": True, "dizzy_on_standing": True}) == Level.URGENT


def test_over_40_with_headache_is_at_least_urgent_and_cooled(engine: Engine) -> None:
    a = engine.assess({"findings": {"temperature_c": 40.5, "confusion_or_vomiting": True}})
    assert a.level >= Level.URGENT and "heat_over_40_cool_and_assess" in {r.id for r in a.recommendations}


def test_statin_muscle_pain_goes_to_a_gp_not_self_care(engine: Engine) -> None:
    assert _level(engine, {"statin_use": True, "calf_pain": True, "days_since_onset": 5}) == Level.SEE_CLINICIAN


# --- advice at the emergency ---------------------------------------------------------------------


def test_no_drinking_advice_is_shown_with_hyponatraemia(engine: Engine) -> None:
    findings: dict[str, Value] = {
        "overdrinking": True,
        "confusion_or_vomiting": True,
        "dizzy_on_standing": True,
        "hot_weather": True,
        "low_fluid_intake": True,
        "cramp_during_run": True,
        "run_duration_min": 240,
    }
    shown = {r.id for r in engine.assess({"findings": findings}).recommendations}
    assert {"eah_no_more_fluids", "eah_call_emergency"} <= shown
    assert not shown & {"fluids_drink_to_thirst", "hydration_long_or_hot_run", "heat_exhaustion_rest_and_cool"}


def test_heat_stroke_shows_cool_first_at_the_emergency(engine: Engine) -> None:
    a = engine.assess({"findings": {"hot_weather": True, "consciousness": "new_confusion", "temperature_c": 41.0}})
    shown = [r.id for r in a.recommendations]
    assert a.level == Level.EMERGENCY and "heat_stroke_cool_first" in shown
    assert "heat_exhaustion_rest_and_cool" not in shown


# --- golden cases for each new condition ----------------------------------------------------------


@pytest.mark.parametrize("condition", sorted(NEW_CONDITIONS))
def test_each_new_condition_has_typical_lookalike_and_benign_golden_cases(condition: str) -> None:
    tests = _ruleset(NEW_CONDITIONS[condition]).tests
    about = [t for t in tests if condition in t.expect.conditions or condition in t.expect.absent_conditions]
    concluded = [t for t in about if condition in t.expect.conditions]
    lookalikes = [t for t in about if condition in t.expect.absent_conditions and t.expect.level != Level.SELF_CARE]
    lookalikes += [t for t in about if condition in t.expect.absent_conditions and t.expect.conditions]
    benign = [t for t in about if condition in t.expect.absent_conditions and t.expect.level == Level.SELF_CARE]
    assert len(about) >= 4 and len(concluded) >= 2, [t.id for t in about]
    assert lookalikes and benign, [t.id for t in about]
