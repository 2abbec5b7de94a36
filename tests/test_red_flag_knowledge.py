"""The red-flag knowledge of issue 11: new signs, a measured fever, NEWS2 thresholds, and golden coverage.

The golden cases in the rulesets check each story; these tests check the promises that
hold across them: every new sign escalates alone (and no further), a temperature of
38 °C counts wherever the fever box does, and each new condition is pinned by golden
cases that include a look-alike and a benign story.
"""

from __future__ import annotations

import pytest

from calfrules import Engine, Level
from calfrules.rules.condition import Compare, Truthy, atoms

NEW_CONDITIONS = (
    "superficial_thrombophlebitis",
    "lumbar_radiculopathy",
    "neurogenic_claudication",
    "tibial_fracture",
    "bone_tumour_or_infection",
    "high_risk_stress_fracture",
)


@pytest.mark.parametrize(
    ("finding", "level", "flag"),
    [
        ("red_streaks", Level.URGENT, "lymphangitis"),
        ("cord_long_or_near_groin", Level.URGENT, "superficial_thrombophlebitis_near_deep_veins"),
        ("tender_cord_superficial_vein", Level.SEE_CLINICIAN, "superficial_thrombophlebitis"),
        ("anterior_tibial_cortex_tenderness", Level.URGENT, "high_risk_stress_fracture"),
        ("leg_deformity_or_bone_exposed", Level.EMERGENCY, "open_or_deformed_fracture"),
        ("persistent_unexplained_bone_pain", Level.SEE_CLINICIAN, "unexplained_bone_pain"),
        ("bone_swelling_or_lump", Level.SEE_CLINICIAN, "unexplained_bone_pain"),
        ("numbness_new", Level.URGENT, "neurological_deficit"),
    ],
)
def test_each_new_sign_escalates_alone_to_its_level(engine: Engine, finding: str, level: Level, flag: str) -> None:
    a = engine.assess({"findings": {finding: True}})
    assert a.level == level, [r.reason for r in a.level_reasons]
    assert flag in {f.id for f in a.red_flags}


def test_long_standing_numbness_is_urgent_not_an_emergency(engine: Engine) -> None:
    a = engine.assess({"findings": {"numbness": True, "numbness_new": False, "back_pain": True}})
    assert a.level == Level.URGENT


def _when_texts(engine: Engine) -> list[tuple[str, object]]:
    program = engine.program
    rules = [(f"rule {r.rule.id}", r.expr) for r in program.rules if r.ruleset.id == "red_flags"]
    floor = [(f"floor {e.entry.id}", e.expr) for e in program.floor]
    return rules + floor


def test_a_measured_temperature_of_38_is_tested_wherever_the_fever_box_is(engine: Engine) -> None:
    missing = []
    for name, expr in _when_texts(engine):
        found = [atom for atom, _ in atoms(expr)]  # type: ignore[arg-type]
        names_fever = any(isinstance(a, Truthy) and a.name == "fever" for a in found)
        measured = any(
            isinstance(a, Compare) and a.name == "temperature_c" and a.op == ">=" and a.value == 38 for a in found
        )
        if names_fever and not measured:
            missing.append(name)
    assert not missing, f"these test fever but not temperature_c >= 38: {missing}"


@pytest.mark.parametrize(
    "leg",
    [
        {"skin_redness": True, "calf_warmth": True, "swelling": True},
        {"focal_bone_tenderness": True, "shin_pain_focal": True},
        {"pain_out_of_proportion": True},
        {},
    ],
    ids=["cellulitis", "bone", "out_of_proportion", "alone"],
)
def test_a_measured_fever_raises_the_same_red_flags_as_the_fever_box(engine: Engine, leg: dict[str, bool]) -> None:
    ticked = engine.assess({"findings": {**leg, "fever": True}})
    measured = engine.assess({"findings": {**leg, "temperature_c": 38.0}})
    assert measured.level == ticked.level
    assert {f.id for f in measured.red_flags} == {f.id for f in ticked.red_flags}


# NEWS2 points: pulse 115 -> 2, breathing 22 -> 2, breathing 26 -> 3, systolic 105 -> 1, 100 -> 2, SpO2 90 -> 3
@pytest.mark.parametrize(
    ("vitals", "at_least", "below"),
    [
        ({"heart_rate": 115, "respiratory_rate": 22}, Level.SELF_CARE, Level.URGENT),  # 4
        ({"heart_rate": 115, "respiratory_rate": 22, "systolic_bp": 105}, Level.URGENT, Level.EMERGENCY),  # 5
        ({"oxygen_saturation_pct": 90}, Level.URGENT, Level.EMERGENCY),  # 3 in one parameter
        ({"heart_rate": 115, "respiratory_rate": 26, "systolic_bp": 100}, Level.EMERGENCY, None),  # 7
    ],
    ids=["news2_4", "news2_5", "single_3", "news2_7"],
)
def test_news2_thresholds(engine: Engine, vitals: dict[str, float], at_least: Level, below: Level | None) -> None:
    a = engine.assess({"findings": {"calf_pain": True, **vitals}})
    assert a.level >= at_least
    if below is not None:
        assert a.level < below


@pytest.mark.parametrize(
    "source",
    [{"fever": True}, {"temperature_c": 38.5}, {"wound_or_entry_point": True}, {"red_streaks": True}],
    ids=["fever", "temperature", "wound", "red_streaks"],
)
def test_a_possible_infection_with_news2_five_is_an_emergency(engine: Engine, source: dict[str, object]) -> None:
    vitals = {"heart_rate": 115, "respiratory_rate": 22, "systolic_bp": 105}
    a = engine.assess({"findings": {"calf_pain": True, **vitals, **source}})
    assert a.level == Level.EMERGENCY
    assert "sepsis_suspected_infection" in {f.id for f in a.red_flags}


@pytest.mark.parametrize("condition", NEW_CONDITIONS)
def test_each_new_condition_has_golden_cases_with_a_lookalike_and_a_benign_story(
    engine: Engine, condition: str
) -> None:
    cases = [test for entry in engine.registry.rulesets for test in entry.ruleset.tests]
    expected = [t for t in cases if condition in t.expect.conditions]
    ruled_out = [t for t in cases if condition in t.expect.absent_conditions]
    assert len(expected) + len(ruled_out) >= 4, condition
    assert expected, f"no golden case concludes {condition}"
    low = {Level.SELF_CARE, Level.SEE_CLINICIAN}
    assert any(t.expect.level in low for t in ruled_out), f"no benign or low look-alike rules out {condition}"
