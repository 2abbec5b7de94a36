"""Calf and tendon knowledge (issue 11): the look-alikes, staged loading, PEACE & LOVE and the Thompson prompt.

The golden cases in strains.toml and achilles_tendon.toml pin single stories; these tests hold the
rules that must stay true across a family of cases.
"""

from __future__ import annotations

from typing import Any

import pytest

from calfrules import Assessment, Engine
from calfrules.rules.levels import Level

CLOT_RISKS = [
    "recent_long_travel",
    "recent_surgery",
    "bedridden_recently",
    "leg_immobilised",
    "previous_dvt",
    "active_cancer",
    "pregnant_or_postpartum",
    "oestrogen_therapy",
    "thrombophilia_or_family_vte",
    "swelling_unilateral",
]
TENNIS_LEG = {"calf_pain": True, "pop_or_snap_felt": True, "mechanism": "push_off_or_lunge"}
GRADE_2 = {"calf_pain": True, "sudden_sharp_pain": True, "bruising": True, "difficulty_tiptoe": True}
SINGLE_LEG_STAGE = "strain_load_stage_3_single_leg"


def assess(engine: Engine, **findings: Any) -> Assessment:
    return engine.assess({"findings": findings})


def given_or_withheld(assessment: Assessment) -> set[str]:
    return set(assessment.recommendation_ids()) | {w.id for w in assessment.withheld_recommendations}


@pytest.mark.parametrize("risk", CLOT_RISKS)
def test_tennis_leg_never_hides_a_clot(engine: Engine, risk: str) -> None:
    a = assess(engine, **TENNIS_LEG, **{risk: True})
    assert a.level >= Level.URGENT, f"tennis leg with {risk} must get a same-day check"


def test_tennis_leg_with_a_likely_wells_score_is_urgent(engine: Engine) -> None:
    a = assess(engine, **TENNIS_LEG, active_cancer=True, swelling=True, entire_leg_swollen=True)
    assert a.level >= Level.URGENT and "plantaris_rupture" in a.condition_ids()


@pytest.mark.parametrize("days", [0, 1, 2, 3, 6, 13])
def test_no_single_leg_volume_in_the_first_two_weeks_of_a_grade_2_tear(engine: Engine, days: int) -> None:
    a = assess(engine, **GRADE_2, days_since_onset=days, positive_thompson_test=False)
    assert "calf_strain" in a.condition_ids()
    assert SINGLE_LEG_STAGE not in given_or_withheld(a)
    assert "strain_load_stage_1_holds" in a.recommendation_ids()


def test_single_leg_stage_arrives_after_two_weeks_of_a_grade_2_tear(engine: Engine) -> None:
    a = assess(engine, **GRADE_2, days_since_onset=14, positive_thompson_test=False)
    assert SINGLE_LEG_STAGE in a.recommendation_ids()


def test_single_leg_stage_waits_for_days_since_onset_to_be_recorded(engine: Engine) -> None:
    a = assess(engine, calf_pain=True, sudden_sharp_pain=True)
    assert "calf_strain" in a.condition_ids() and SINGLE_LEG_STAGE not in given_or_withheld(a)


@pytest.mark.parametrize(
    "story",
    [
        {"calf_pain": True, "sudden_sharp_pain": True},
        {**GRADE_2},
        {**TENNIS_LEG},
        {"calf_pain": True, "bruising": True, "mechanism": "direct_blow"},
        {"calf_pain": True, "pain_on_bent_knee_raise": True, "pain_side": "left"},
    ],
)
def test_no_early_anti_inflammatories_for_calf_injuries(engine: Engine, story: dict[str, Any]) -> None:
    a = assess(engine, **story)
    assert "peace_no_anti_inflammatories" in given_or_withheld(a)
    for rec in a.recommendations:
        text = rec.text.lower()
        assert "ibuprofen" not in text or "leave out" in text, rec.id


@pytest.mark.parametrize("where", [{"calf_pain": True}, {"achilles_pain": True}, {"pain_location": "achilles"}])
@pytest.mark.parametrize("onset", ["sudden_sharp_pain", "pop_or_snap_felt"])
def test_sudden_pain_with_tiptoe_weakness_prompts_the_squeeze_test(
    engine: Engine, where: dict[str, Any], onset: str
) -> None:
    a = assess(engine, **where, **{onset: True}, difficulty_tiptoe=True)
    assert "examine_thompson_test" in a.recommendation_ids()


@pytest.mark.parametrize("result", [True, False])
def test_no_squeeze_test_prompt_once_it_is_recorded(engine: Engine, result: bool) -> None:
    a = assess(engine, calf_pain=True, sudden_sharp_pain=True, difficulty_tiptoe=True, positive_thompson_test=result)
    assert "examine_thompson_test" not in given_or_withheld(a)


def test_no_squeeze_test_prompt_without_tiptoe_weakness(engine: Engine) -> None:
    a = assess(engine, calf_pain=True, sudden_sharp_pain=True)
    assert "examine_thompson_test" not in given_or_withheld(a)


def test_bent_knee_raise_pain_separates_soleus_from_gastrocnemius(engine: Engine) -> None:
    story = {"calf_pain": True, "sudden_sharp_pain": True, "pain_side": "right"}
    soleus = assess(engine, **story, pain_on_bent_knee_raise=True)
    gastrocnemius = assess(engine, **story, pain_on_bent_knee_raise=False)
    assert "soleus_strain" in soleus.condition_ids() and "calf_strain" not in soleus.condition_ids()
    assert "calf_strain" in gastrocnemius.condition_ids() and "soleus_strain" not in gastrocnemius.condition_ids()
    assert soleus.level == Level.SEE_CLINICIAN and gastrocnemius.level == Level.SELF_CARE


@pytest.mark.parametrize("risk", CLOT_RISKS)
def test_soleus_is_not_concluded_next_to_a_clot_risk(engine: Engine, risk: str) -> None:
    a = assess(engine, calf_pain=True, pain_on_bent_knee_raise=True, pain_side="left", **{risk: True})
    assert "soleus_strain" not in a.condition_ids()
    assert a.level >= Level.SEE_CLINICIAN


@pytest.mark.parametrize("sign", ["tense_compartment", "pain_on_passive_stretch", "pain_out_of_proportion"])
def test_compartment_signs_after_a_blow_outrank_the_contusion(engine: Engine, sign: str) -> None:
    a = assess(engine, calf_pain=True, mechanism="direct_blow", **{sign: True})
    assert a.level >= Level.URGENT
    assert "contusion_what_to_expect" not in a.recommendation_ids()


def test_a_blood_thinner_lifts_a_contusion_off_self_care(engine: Engine) -> None:
    story = {"calf_pain": True, "bruising": True, "mechanism": "direct_blow"}
    assert assess(engine, **story).level == Level.SELF_CARE
    assert assess(engine, **story, anticoagulant_use=True).level == Level.SEE_CLINICIAN
    assert assess(engine, **story, anticoagulant_use=True, swelling=True).level == Level.URGENT


@pytest.mark.parametrize(
    "rupture_sign",
    [
        {"pop_or_snap_felt": True},
        {"sudden_sharp_pain": True},
        {"difficulty_tiptoe": True},
        {"palpable_gap": True},
        {"positive_thompson_test": True},
    ],
)
@pytest.mark.parametrize("where", [{"achilles_pain": True}, {"pain_location": "achilles"}])
def test_a_rupture_sign_is_never_tendinopathy(
    engine: Engine, where: dict[str, Any], rupture_sign: dict[str, Any]
) -> None:
    a = assess(engine, **where, **rupture_sign, achilles_stiffness_on_rising=True, mechanism="gradual")
    assert "achilles_tendinopathy" not in a.condition_ids()
    assert a.level >= Level.URGENT


@pytest.mark.parametrize("medicine", ["fluoroquinolone_use", "corticosteroid_use"])
def test_tendon_weakening_medicines_lift_tendinopathy_off_self_care(engine: Engine, medicine: str) -> None:
    story = {"achilles_pain": True, "achilles_stiffness_on_rising": True}
    assert assess(engine, **story).level == Level.SELF_CARE
    a = assess(engine, **story, **{medicine: True})
    assert a.level == Level.SEE_CLINICIAN and "tendon_medicine_review" in a.recommendation_ids()
