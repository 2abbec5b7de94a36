"""Fuzz cases: hostile JSON/TOML text and values end in one clear CaseError or a correct assessment."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from calfrules import CaseError, Engine
from calfrules.engine.assessment import Assessment
from calfrules.knowledge.case import MAX_FINDINGS, parse_case_text

# Every kind of value JSON or TOML can carry, hostile ones weighted in.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(),  # NaN and the infinities included
    st.text(),  # odd unicode, lone surrogates included
    st.sampled_from(["", "\ud800", "\u202e", "\x00", "true", "NaN", "1e400", "🦵" * 50]),
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=20
)


def assert_correct(engine: Engine, case: object, assessment: Assessment) -> None:
    """An assessment that came back agrees with the independent oracle evaluator."""
    reference = engine.assess(case, evaluator="oracle")  # type: ignore[arg-type]
    assert assessment.complete
    assert assessment.level == reference.level
    assert assessment.condition_ids() == reference.condition_ids()
    assert [f.id for f in assessment.red_flags] == [f.id for f in reference.red_flags]


def assess_or_refuse(engine: Engine, case: object) -> Assessment | None:
    try:
        assessment = engine.assess(case)  # type: ignore[arg-type]
    except CaseError as exc:
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message
        return None
    assert_correct(engine, case, assessment)
    return assessment


@st.composite
def hostile_findings(draw: st.DrawFn, engine: Engine) -> dict[object, object]:
    ids = sorted(f.id for f in engine.vocabulary)
    keys = draw(st.lists(st.sampled_from(ids) | st.text(max_size=40), min_size=0, max_size=12, unique=True))
    return {key: draw(values) for key in keys}


@st.composite
def valid_findings(draw: st.DrawFn, engine: Engine) -> dict[str, object]:
    chosen = draw(st.lists(st.sampled_from(list(engine.vocabulary)), min_size=1, max_size=20, unique=True))
    case: dict[str, object] = {}
    for finding in chosen:
        if finding.type == "bool":
            case[finding.id] = draw(st.booleans())
        elif finding.type == "choice":
            case[finding.id] = draw(st.sampled_from(finding.choices))
        else:
            low = finding.minimum if finding.minimum is not None else -1e9
            high = finding.maximum if finding.maximum is not None else 1e9
            case[finding.id] = draw(st.floats(low, high) | st.integers(math.ceil(low), math.floor(high)))
    return case


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_values_are_refused_clearly_or_assessed_correctly(engine: Engine, data: st.DataObject) -> None:
    assess_or_refuse(engine, {"findings": data.draw(hostile_findings(engine))})


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_valid_cases_are_assessed_correctly(engine: Engine, data: st.DataObject) -> None:
    case = {"findings": data.draw(valid_findings(engine)), "id": data.draw(st.text() | st.integers(-(10**17), 10**17))}
    assert assess_or_refuse(engine, case) is not None


@given(case=values)
@example(case={"findings": {"calf_pain": True}, "id": 10**5000})
@example(case={"findings": {"calf_pain": True}, "id": True})
@example(case={"findings": {"pain_score": 10**400}})
@example(case={"findings": {"pain_score": -(10**400)}})
@example(case={"findings": {"calf_pain": True}, "note": "\ud800"})
@example(case={"findings": {f"f{i}": True for i in range(MAX_FINDINGS + 1)}})
@example(case=[{"findings": {"calf_pain": True}}])
def test_any_shape_is_refused_clearly_or_assessed(engine: Engine, case: object) -> None:
    assess_or_refuse(engine, case)


@given(text=st.text(max_size=400), toml=st.booleans())
@example(text="[" * 100_000, toml=False)
@example(text="a = " + "[" * 100_000, toml=False)
@example(text="a = " + "[" * 100_000, toml=True)
@example(text='{"a":' * 100_000, toml=False)
@example(text='{"findings": {"pain_score": ' + "9" * 5000 + "}}", toml=False)
@example(text="[findings]\npain_score = " + "9" * 5000, toml=True)
@example(text="\ufeff" + '{"findings": {"calf_pain": true}}', toml=False)
@example(text='{"findings": {"pain_score": NaN}}', toml=False)
@example(text='{"findings": {"pain_score": Infinity}}', toml=False)
@example(text="[findings]\npain_score = nan", toml=True)
@example(text="[findings]\npain_score = -inf", toml=True)
@example(text="[findings]\npain_score = 1979-05-27T07:32:00Z", toml=True)
@example(text='{"findings": {"calf_pain": true}, "findings": {"fever": true}}', toml=False)
def test_any_text_is_refused_clearly_or_assessed(engine: Engine, text: str, toml: bool) -> None:
    try:
        data = parse_case_text(text, "case.toml" if toml else "case.json", toml=toml)
    except CaseError as exc:
        assert "\n" not in str(exc).strip() or "TOML" in str(exc)
        return
    assess_or_refuse(engine, data)


@pytest.mark.parametrize(
    ("text", "toml", "message"),
    [
        ("a = " + "[" * 100_000, True, "nested too deeply"),  # was a RecursionError
        ('{"findings": {"pain_score": ' + "9" * 5000 + "}}", False, "too many digits"),  # was a ValueError
        ("[findings]\npain_score = " + "9" * 5000, True, "too many digits"),
    ],
)
def test_text_regressions_found_by_fuzzing(text: str, toml: bool, message: str) -> None:
    with pytest.raises(CaseError, match=message):
        parse_case_text(text, toml=toml)


def test_a_byte_order_mark_is_ignored() -> None:
    assert parse_case_text('\ufeff{"findings": {"calf_pain": true}}') == {"findings": {"calf_pain": True}}


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ({"findings": {"pain_score": 10**400}}, "out of range"),  # was an OverflowError
        ({"findings": {"calf_pain": True}, "id": 10**5000}, "too large"),  # was a ValueError from str()
        ({"findings": {"calf_pain": True}, "id": True}, "text or a number"),  # was accepted as "True"
    ],
)
def test_value_regressions_found_by_fuzzing(engine: Engine, case: dict[str, Any], message: str) -> None:
    with pytest.raises(CaseError, match=message):
        engine.assess(case)


def test_an_unknown_field_with_a_newline_stays_one_line(engine: Engine) -> None:
    with pytest.raises(CaseError) as caught:
        engine.assess({"findings": {"calf_pain": True}, "a\nb": 1})  # type: ignore[dict-item]
    assert "\n" not in str(caught.value) and "'a\\nb'" in str(caught.value)


def test_thousands_of_unknown_ids_name_five_with_suggestions_and_count_the_rest(engine: Engine) -> None:
    """Suggestions used to be computed for every unknown id (2000 here), shown or not."""
    with pytest.raises(CaseError) as caught:
        engine.assess({"findings": {f"calf_pai{i}": True for i in range(MAX_FINDINGS)}})
    message = str(caught.value)
    assert message.count("did you mean calf_pain") == 5 and message.endswith(f"and {MAX_FINDINGS - 5} more")
