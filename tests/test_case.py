from __future__ import annotations

import math
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calfrules import CaseError, Engine
from calfrules.knowledge.case import Case, _plain_case, parse_case, parse_case_text
from calfrules.rules.vocabulary import Finding, Vocabulary


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


# The one-pass check of a plain dict must read a case exactly as the full check does: the same
# case, or no answer at all (then the full check gives the error).
_ids = st.sampled_from(["calf_pain", "pain_score", "age", "pain_location", "fever", "unknown_thing", 7])
_values = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.integers(min_value=10**300, max_value=10**301),
    st.floats(),
    st.sampled_from(["anterior_shin", "calf", "yes", ""]),
    st.none(),
)


@given(
    findings=st.dictionaries(_ids, _values, max_size=6),
    case_id=st.one_of(st.none(), st.text(max_size=5), st.integers(), st.floats(), st.booleans()),
    note=st.one_of(st.none(), st.text(max_size=5), st.integers()),
)
def test_a_plain_dict_is_read_as_the_full_check_reads_it(
    engine: Engine, findings: dict[object, object], case_id: object, note: object
) -> None:
    data: dict[str, object] = {"findings": findings, "id": case_id, "note": note}
    try:
        expected: object = parse_case(MappingProxyType(data), engine.vocabulary)  # not a dict: the full check
    except CaseError as exc:
        expected = str(exc)
    try:
        read: object = parse_case(data, engine.vocabulary)
    except CaseError as exc:
        read = str(exc)
    assert read == expected
    if isinstance(read, Case):
        assert isinstance(expected, Case) and list(read.findings.items()) == list(expected.findings.items())
        assert all(type(value) is type(expected.findings[name]) for name, value in read.findings.items())


def test_the_one_pass_check_answers_for_plain_cases(engine: Engine) -> None:
    data = {"findings": {"calf_pain": True, "pain_score": 4, "pain_location": "anterior_shin"}, "id": 12}
    assert _plain_case(data, engine.vocabulary) == Case(
        {"calf_pain": True, "pain_score": 4.0, "pain_location": "anterior_shin"}, "12"
    )
    assert (
        _plain_case({"findings": {"pain_score": 11}}, engine.vocabulary) is None
    )  # out of range: the full check says why


@given(findings=st.dictionaries(_ids, _values, max_size=6))
def test_the_one_pass_check_of_findings_agrees_with_the_full_check(
    engine: Engine, findings: dict[object, object]
) -> None:
    vocabulary = engine.vocabulary
    try:
        expected: object = vocabulary._validate(findings)  # type: ignore[arg-type]
    except CaseError as exc:
        expected = str(exc)
    try:
        checked: object = vocabulary.validate(findings)  # type: ignore[arg-type]
    except CaseError as exc:
        checked = str(exc)
    assert checked == expected
    if isinstance(checked, dict) and isinstance(expected, dict):
        assert [(k, type(v)) for k, v in checked.items()] == [(k, type(v)) for k, v in expected.items()]


def test_a_finding_added_later_is_checked_too() -> None:
    vocabulary = Vocabulary()
    vocabulary.add(Finding("a", "bool", "A", "A?"), "here")
    assert vocabulary.validate({"a": True}) == {"a": True}
    vocabulary.add(Finding("b", "number", "B", "B?", minimum=0, maximum=5), "here")
    assert vocabulary.validate({"a": False, "b": 2}) == {"a": False, "b": 2.0}
    with pytest.raises(CaseError, match="b: 7 is out of range"):
        vocabulary.validate({"b": 7})
