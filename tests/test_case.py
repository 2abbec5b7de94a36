from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calfrules import CaseError, Engine
from calfrules.knowledge.case import parse_case_text


def test_unknown_id_suggests_close_known_ids(engine: Engine) -> None:
    with pytest.raises(CaseError, match=r"unknown finding 'calf_pian' \(did you mean calf_pain"):
        engine.assess({"findings": {"calf_pian": True}})


@pytest.mark.parametrize(
    ("findings", "message"),
    [
        ({"calf_pain": "yes"}, "calf_pain: expected true or false, got 'yes'"),
        ({"calf_pain": None}, "leave it out when it was not recorded"),
        ({"calf_pain": 1}, "calf_pain: expected true or false, got 1"),
        ({"pain_score": True}, "pain_score: expected a number in points"),
        ({"pain_score": 11}, "pain_score: 11 is out of range; use 0 to 10 points"),
        ({"age": -1}, "age: -1 is out of range"),
        ({"pain_score": math.nan}, "pain_score: expected a finite number"),
        ({"pain_score": math.inf}, "pain_score: expected a finite number"),
    ],
)
def test_wrong_values_say_what_to_fix(engine: Engine, findings: dict[str, object], message: str) -> None:
    with pytest.raises(CaseError) as info:
        engine.assess({"findings": findings})
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ({"findings": {}}, "the case is empty"),
        ({}, 'has no "findings"'),
        ([], "a case must be an object"),
        ({"findings": [1]}, '"findings" must be an object'),
        ({"findings": {"calf_pain": True}, "finding": 1}, "unknown case field(s): finding"),
    ],
)
def test_malformed_cases_are_refused(engine: Engine, case: object, message: str) -> None:
    with pytest.raises(CaseError) as info:
        engine.assess(case)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_all_problems_are_reported_at_once(engine: Engine) -> None:
    with pytest.raises(CaseError) as info:
        engine.assess({"findings": {"calf_pian": True, "pain_score": 99}})
    assert "calf_pian" in str(info.value) and "pain_score" in str(info.value)


def test_json_nan_constants_and_bad_json_are_refused() -> None:
    with pytest.raises(CaseError, match="NaN"):
        parse_case_text('{"findings": {"pain_score": NaN}}')
    with pytest.raises(CaseError, match="not valid JSON"):
        parse_case_text('{"findings": ')


def test_toml_cases_are_read() -> None:
    data = parse_case_text('id = "x"\n[findings]\ncalf_pain = true\n', toml=True)
    assert data == {"id": "x", "findings": {"calf_pain": True}}


@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.text(max_size=5),
        lambda c: st.lists(c) | st.dictionaries(st.text(max_size=5), c),
        max_leaves=10,
    )
)
def test_any_json_value_is_assessed_or_refused_with_case_error(engine: Engine, junk: object) -> None:
    for case in (junk, {"findings": junk}, {"findings": {"calf_pain": junk}}):
        try:
            engine.assess(case)  # type: ignore[arg-type]
        except CaseError as exc:
            assert str(exc)
