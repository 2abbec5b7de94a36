"""The two-level Wells score: honest about items nobody recorded, and only for a suspected DVT."""

from __future__ import annotations

from calfrules.knowledge.wells import INPUTS, wells_score


def test_risk_factors_without_a_leg_symptom_make_no_score() -> None:
    assert wells_score({"previous_dvt": True, "active_cancer": True}) is None


def test_a_low_score_with_items_unrecorded_does_not_say_unlikely() -> None:
    score = wells_score({"calf_pain": True, "previous_dvt": True})
    assert score is not None and score.value == 1
    assert "not complete" in score.interpretation and "unlikely" not in score.interpretation.split(";")[0]


def test_a_low_score_with_every_item_answered_says_unlikely() -> None:
    answered = {name: False for name in INPUTS if name != "calf_circumference_diff_cm"}
    score = wells_score({**answered, "calf_pain": True, "previous_dvt": True, "calf_circumference_diff_cm": 1})
    assert score is not None and score.value == 1
    assert score.interpretation.startswith("DVT unlikely")


def test_two_points_is_likely_whatever_is_unrecorded() -> None:
    score = wells_score({"calf_pain": True, "previous_dvt": True, "active_cancer": True})
    assert score is not None and score.value == 2 and score.interpretation.startswith("DVT likely")
