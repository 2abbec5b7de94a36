"""NEWS2: the RCP 2017 chart (SpO2 scale 1) at every row boundary, honest about what was not
recorded, never lower when a vital sign gets worse, and computed by the core for every engine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calfrules import Engine, load_engine
from calfrules.knowledge import news2
from calfrules.knowledge.builtin import CORE, builtin_ruleset, core_derivers
from calfrules.knowledge.news2 import INPUTS, news2_highest_parameter, news2_score
from calfrules.rules.vocabulary import Value

# (parameter, value, points): the last and first value of each chart row.
CHART_BOUNDARIES = [
    ("respiratory_rate", 8, 3),
    ("respiratory_rate", 9, 1),
    ("respiratory_rate", 11, 1),
    ("respiratory_rate", 12, 0),
    ("respiratory_rate", 20, 0),
    ("respiratory_rate", 21, 2),
    ("respiratory_rate", 24, 2),
    ("respiratory_rate", 25, 3),
    ("oxygen_saturation_pct", 91, 3),
    ("oxygen_saturation_pct", 92, 2),
    ("oxygen_saturation_pct", 93, 2),
    ("oxygen_saturation_pct", 94, 1),
    ("oxygen_saturation_pct", 95, 1),
    ("oxygen_saturation_pct", 96, 0),
    ("oxygen_saturation_pct", 100, 0),
    ("systolic_bp", 90, 3),
    ("systolic_bp", 91, 2),
    ("systolic_bp", 100, 2),
    ("systolic_bp", 101, 1),
    ("systolic_bp", 110, 1),
    ("systolic_bp", 111, 0),
    ("systolic_bp", 219, 0),
    ("systolic_bp", 220, 3),
    ("heart_rate", 40, 3),
    ("heart_rate", 41, 1),
    ("heart_rate", 50, 1),
    ("heart_rate", 51, 0),
    ("heart_rate", 90, 0),
    ("heart_rate", 91, 1),
    ("heart_rate", 110, 1),
    ("heart_rate", 111, 2),
    ("heart_rate", 130, 2),
    ("heart_rate", 131, 3),
    ("temperature_c", 35.0, 3),
    ("temperature_c", 35.1, 1),
    ("temperature_c", 36.0, 1),
    ("temperature_c", 36.1, 0),
    ("temperature_c", 38.0, 0),
    ("temperature_c", 38.1, 1),
    ("temperature_c", 39.0, 1),
    ("temperature_c", 39.1, 2),
]
ALL_NORMAL: dict[str, Value] = {
    "respiratory_rate": 16,
    "oxygen_saturation_pct": 98,
    "supplemental_oxygen": False,
    "systolic_bp": 125,
    "heart_rate": 70,
    "consciousness": "alert",
    "temperature_c": 37.0,
}


def _points(findings: Mapping[str, Value]) -> float:
    score = news2_score(findings)
    assert score is not None
    return score.value


@pytest.mark.parametrize(
    ("name", "value", "points"), CHART_BOUNDARIES, ids=[f"{n}={v}" for n, v, _ in CHART_BOUNDARIES]
)
def test_each_chart_row_boundary(name: str, value: float, points: int) -> None:
    score = news2_score({name: value})
    assert score is not None and score.value == points and score.components == {name: points}


@pytest.mark.parametrize(
    ("name", "value", "points"),
    [("respiratory_rate", 8.5, 3), ("heart_rate", 90.4, 1), ("temperature_c", 38.05, 1), ("temperature_c", 35.05, 3)],
)
def test_a_value_between_two_rows_scores_as_the_worse_row(name: str, value: float, points: int) -> None:
    assert _points({name: value}) == points


@pytest.mark.parametrize(
    ("level", "points"), [("alert", 0), ("new_confusion", 3), ("voice", 3), ("pain", 3), ("unresponsive", 3)]
)
def test_consciousness_acvpu(level: str, points: int) -> None:
    assert _points({"consciousness": level}) == points


def test_supplemental_oxygen_adds_two_points() -> None:
    assert _points({**ALL_NORMAL, "supplemental_oxygen": True}) == 2
    assert _points(ALL_NORMAL) == 0


def test_no_score_without_a_vital_sign() -> None:
    assert news2_score({"calf_pain": True}) is None
    assert news2_highest_parameter({"calf_pain": True}) is None
    assert news2_score({"supplemental_oxygen": True}) is None  # a treatment, not an observation


def test_unrecorded_parameters_are_named_and_the_score_is_a_lower_bound() -> None:
    score = news2_score({"heart_rate": 135})
    assert score is not None and score.value == 3
    assert "not recorded: breathing rate, oxygen saturation" in score.interpretation
    assert "lower bound" in score.interpretation
    complete = news2_score(ALL_NORMAL)
    assert complete is not None and "not recorded" not in complete.interpretation


@pytest.mark.parametrize(
    ("findings", "total", "highest", "says"),
    [
        (
            {**ALL_NORMAL, "respiratory_rate": 22, "systolic_bp": 105, "heart_rate": 105, "temperature_c": 38.3},
            5,
            2,
            "urgent response",
        ),
        (
            {**ALL_NORMAL, "respiratory_rate": 25, "oxygen_saturation_pct": 95, "systolic_bp": 108, "heart_rate": 112},
            7,
            3,
            "emergency response",
        ),
        ({**ALL_NORMAL, "heart_rate": 135}, 3, 3, "urgent response"),
        ({**ALL_NORMAL, "heart_rate": 100, "temperature_c": 38.5}, 2, 1, "low clinical risk"),
    ],
    ids=["total_5", "total_7", "single_3", "low"],
)
def test_the_thresholds_the_floor_uses(findings: dict[str, Value], total: int, highest: int, says: str) -> None:
    score, top = news2_score(findings), news2_highest_parameter(findings)
    assert score is not None and top is not None
    assert (score.value, top.value) == (total, highest)
    assert says in score.interpretation


# --- never lower when a vital sign gets worse -------------------------------------------------

# normal centre of each numeric parameter; "worse" moves further from it on the same side
CENTRE = {
    "respiratory_rate": 16.0,
    "oxygen_saturation_pct": 100.0,
    "systolic_bp": 165.0,
    "heart_rate": 70.0,
    "temperature_c": 37.0,
}
RANGES = {
    "respiratory_rate": (4, 70),
    "oxygen_saturation_pct": (50, 100),
    "systolic_bp": (40, 300),
    "heart_rate": (20, 250),
    "temperature_c": (25, 45),
}


def _number(name: str) -> st.SearchStrategy[float]:
    low, high = RANGES[name]
    return st.floats(low, high, allow_nan=False).map(lambda v: round(v, 1))


cases = st.fixed_dictionaries(
    {},
    optional={
        **{name: _number(name) for name in CENTRE},
        "supplemental_oxygen": st.booleans(),
        "consciousness": st.sampled_from(["alert", "new_confusion", "voice", "pain", "unresponsive"]),
    },
)


@given(case=cases, name=st.sampled_from(sorted(CENTRE)), worse=st.data())
def test_a_worse_vital_sign_never_lowers_the_score(case: dict[str, Any], name: str, worse: st.DataObject) -> None:
    low, high = RANGES[name]
    before = case.get(name, CENTRE[name])
    case = {**case, name: before}
    towards = low if before < CENTRE[name] else high
    # both ends are multiples of 0.1, so rounding keeps the drawn value between them
    after = round(worse.draw(st.floats(min(before, towards), max(before, towards))), 1)
    worse_case = {**case, name: after}
    assert _points(worse_case) >= _points(case)
    top_before, top_after = news2_highest_parameter(case), news2_highest_parameter(worse_case)
    assert top_before is not None and top_after is not None and top_after.value >= top_before.value


@given(case=cases)
def test_oxygen_or_lost_alertness_never_lowers_the_score(case: dict[str, Any]) -> None:
    case = {**case, "heart_rate": case.get("heart_rate", 70.0)}
    assert _points({**case, "supplemental_oxygen": True}) >= _points({**case, "supplemental_oxygen": False})
    assert _points({**case, "consciousness": "new_confusion"}) >= _points({**case, "consciousness": "alert"})


# --- in the engine ------------------------------------------------------------------------------


def test_the_core_computes_news2_whatever_plugins_are_allowed() -> None:
    assert {d.id for d in core_derivers()} >= {"news2_score", "news2_highest_parameter"}
    bare = load_engine(allow=[], isolation="none")
    try:
        assert bare.registry.derivers["news2_score"][1] == CORE
        scores = {s.id: s.value for s in bare.assess({"findings": {"heart_rate": 135}}).scores}
        assert scores == {"news2_score": 3, "news2_highest_parameter": 3}
    finally:
        bare.close()


def test_every_input_is_a_vocabulary_finding_of_the_right_type(engine: Engine) -> None:
    types = {name: engine.vocabulary[name].type for name in INPUTS}
    assert types == {
        "respiratory_rate": "number",
        "oxygen_saturation_pct": "number",
        "supplemental_oxygen": "bool",
        "systolic_bp": "number",
        "heart_rate": "number",
        "consciousness": "choice",
        "temperature_c": "number",
    }
    assert set(engine.vocabulary["consciousness"].choices) == {
        "alert",
        "new_confusion",
        "voice",
        "pain",
        "unresponsive",
    }


GOLDEN = {test.id: test for test in builtin_ruleset("dehydration").tests}


@pytest.mark.parametrize(
    ("case_id", "total", "highest", "components"),
    [
        (
            "news2_total_5_hot_half_marathon",
            5,
            2,
            {
                "respiratory_rate": 2,
                "oxygen_saturation_pct": 0,
                "supplemental_oxygen": 0,
                "systolic_bp": 1,
                "heart_rate": 1,
                "consciousness": 0,
                "temperature_c": 1,
            },
        ),
        (
            "news2_total_7_vomiting_in_the_heat",
            7,
            2,
            {
                "respiratory_rate": 2,
                "oxygen_saturation_pct": 1,
                "supplemental_oxygen": 0,
                "systolic_bp": 2,
                "heart_rate": 1,
                "consciousness": 0,
                "temperature_c": 1,
            },
        ),
        (
            "news2_single_parameter_3_racing_pulse",
            3,
            3,
            {
                "respiratory_rate": 0,
                "oxygen_saturation_pct": 0,
                "supplemental_oxygen": 0,
                "systolic_bp": 0,
                "heart_rate": 3,
                "consciousness": 0,
                "temperature_c": 0,
            },
        ),
    ],
)
def test_golden_runners_scores_and_components(
    engine: Engine, case_id: str, total: int, highest: int, components: dict[str, int]
) -> None:
    scores = {s["id"]: s for s in engine.assess(GOLDEN[case_id].case()).to_dict()["scores"]}
    news2, top = scores["news2_score"], scores["news2_highest_parameter"]
    assert (news2["value"], top["value"]) == (total, highest)
    assert news2["components"] == components and news2["unrecorded"] == []
    assert "lower bound" not in news2["interpretation"]
    assert set(top["components"]) == {name for name, points in components.items() if points == highest}


@given(
    st.dictionaries(
        st.sampled_from(news2.INPUTS),
        st.sampled_from([None, True, False, 0, 8.5, 12, 35.4, 95, "alert", "new_confusion", 131]),
        max_size=7,
    )
)
def test_the_remembered_aggregate_matches_a_fresh_one(vitals: dict[str, Value | None]) -> None:
    findings = {name: value for name, value in vitals.items() if value is not None}
    news2._aggregate.cache_clear()
    fresh = news2.news2_score(findings)
    again = news2.news2_score(findings)  # from the cache
    assert fresh == again
    if fresh is not None:
        points = news2.parameter_points(findings)
        assert fresh.value == sum(points.values()) and dict(fresh.components) == points
