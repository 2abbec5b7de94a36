"""Fuzz TOML rulesets: any text, and well-formed rulesets full of junk, load or fail with a RulesetError.

Whatever loads must compile into an engine that assesses and runs its golden cases without
any other exception. (600 rules sharing a first condition: tests/test_durable_hazards.py.)
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from calfrules import CaseError, Level, load_engine
from calfrules.knowledge.ruleset_io import dumps, loads
from calfrules.rules.errors import RulesetError
from calfrules.tooling.goldens import run_all

from helpers import ruleset

texts = st.text(max_size=30)
# TOML can hold these; junk on purpose: NaN, infinities, huge integers, wrong types
toml_scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    texts,
)
junk = st.recursive(toml_scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=6)
WHENS = [
    "calf_pain",
    "calf_pain and not swelling",
    "pain_score >= 7 or fever",
    "wells_score >= 2",
    "not (calf_pain or fever) and pain_score < 3",
    "my_finding",
    "my_number > 1e300",
    "unknown_thing",
    "calf_pain and",
    "fever == 'yes'",
    "not my_condition",
    "my_condition and calf_pain",
]
CONDITIONS = ["my_condition", "calf_strain", "dvt", "nonexistent"]


valid_ids = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)


@st.composite
def rulesets(draw: st.DrawFn) -> dict[str, Any]:
    # half the examples are well-formed (so they reach the compiler and the engine), half carry junk
    clean = draw(st.booleans())

    def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return strategy if clean else st.one_of(strategy, junk)

    ids = valid_ids if clean else st.one_of(valid_ids, st.text(max_size=12))
    data: dict[str, Any] = {
        "id": draw(st.sampled_from(["fz", "cramps", "core"]) | valid_ids),
        "version": draw(maybe(st.just("1.0.0"))),
        "title": draw(maybe(texts)),
        "references": [{"id": "ref", "citation": "fuzz"}],
    }
    finding: dict[str, Any] = {
        "type": draw(maybe(st.sampled_from(["bool", "number", "choice"]))),
        "label": "My finding",
        "question": "?",
    }
    if finding["type"] == "choice":
        finding["choices"] = draw(maybe(st.lists(texts, min_size=1, max_size=3)))
    if finding["type"] == "number":
        for key in draw(st.lists(st.sampled_from(["minimum", "maximum"]), max_size=2, unique=True)):
            finding[key] = draw(maybe(st.floats(-1e6, 1e6)))
    if not clean:
        finding[draw(st.sampled_from(["minimum", "maximum", "choices", "kind", "unit", "junk"]))] = draw(junk)
    data["findings"] = {draw(st.sampled_from(["my_finding", "my_number", "calf_pain"]) | ids): finding}
    data["conditions"] = {"my_condition": {"label": "Mine", "red_flag": draw(maybe(st.booleans()))}}
    rules = []
    for _ in range(draw(st.integers(0, 4))):
        rule: dict[str, Any] = {
            "id": draw(ids),
            "when": draw(st.sampled_from(WHENS) | texts),
            "rationale": "fuzz",
            "references": ["ref"],
        }
        if draw(st.booleans()):
            rule["conclude"] = draw(st.sampled_from(CONDITIONS))
        if draw(st.booleans()):
            rule["escalate"] = draw(maybe(st.sampled_from([level.value for level in Level])))
        if draw(st.booleans()):
            rule["derive"] = draw(st.lists(ids, max_size=2))
        if draw(st.booleans()):
            rule["recommend"] = [
                {
                    "id": draw(ids),
                    "text": draw(texts),
                    "kind": draw(maybe(st.sampled_from(["treatment", "exercise"]))),
                    "dose": {
                        draw(st.sampled_from(["weeks", "reps"] if clean else ["weeks", "bogus"])): draw(
                            maybe(st.integers(1, 12))
                        )
                    },
                    "avoid_with": draw(st.lists(st.sampled_from(CONDITIONS), max_size=2)),
                }
            ]
        rules.append(rule)
    data["rules"] = rules
    if draw(st.booleans()):
        data["floor"] = [{"id": draw(ids), "when": draw(st.sampled_from(WHENS)), "level": "urgent", "label": "x"}]
    if draw(st.booleans()):
        data["tests"] = [
            {
                "id": draw(ids),
                "findings": {draw(st.sampled_from(["calf_pain", "my_finding", "pain_score"]) | ids): draw(junk)},
                "expect": {"level": draw(maybe(st.sampled_from(["urgent", "self_care"])))},
            }
        ]
    if not clean and draw(st.booleans()):
        data[draw(st.sampled_from(["extra", "rules_", "Title"]))] = draw(junk)
    return data


@given(st.text(max_size=500))
@example("a = " + "[" * 100_000)
@example("a = " + "9" * 5000)
@example('id = "x"\nversion = "1"\ntitle = "t"\n[[rules]]\nid = "r"\nwhen = "' + "not " * 900 + 'x"\nrationale = "r"')
@example("\x00")
def test_any_text_loads_or_fails_with_a_ruleset_error(text: str) -> None:
    try:
        loaded = loads(text, "fuzz.toml")
    except RulesetError as exc:
        assert str(exc).startswith("fuzz.toml: ")
        return
    assert loads(dumps(loaded), "again.toml") == loaded


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(rulesets())
def test_rulesets_full_of_junk_load_compile_and_assess_or_fail_clearly(data: dict[str, Any]) -> None:
    try:
        text = tomli_w.dumps(data)
    except (TypeError, ValueError):  # not expressible in TOML (e.g. a huge integer): not a ruleset file
        event("not TOML")
        return
    try:
        loaded = loads(text, "fuzz.toml")
    except RulesetError as exc:
        assert str(exc).startswith("fuzz.toml: ")
        event("refused")
        return
    event("loaded")
    assert loads(dumps(loaded), "again.toml") == loaded
    engine = load_engine(rulesets=[loaded], allow=[], isolation="none")
    try:
        assert all(isinstance(problem, str) and problem for problem in engine.problems)
        for finding in list(engine.vocabulary)[:20]:
            value: object = True if finding.type == "bool" else (finding.choices or (0,))[0]
            if finding.type == "number":
                value = finding.minimum if finding.minimum is not None else 0
            try:
                engine.assess({"findings": {finding.id: value}})
            except CaseError:
                pass  # e.g. a range the fuzzer made empty: refused clearly
        run_all(engine)
    finally:
        engine.close()


NUMBER_FINDING = """
[findings.my_number]
type = "number"
label = "N"
question = "?"
{bounds}

[[rules]]
id = "r"
when = "my_number > 1"
escalate = "see_clinician"
rationale = "r"
references = ["ref"]
"""


@pytest.mark.parametrize(
    ("bounds", "message"),
    [
        ("minimum = nan", "finite"),  # was accepted: every comparison with NaN is false, so any value passed
        ("maximum = inf", "finite"),
        ("minimum = 5\nmaximum = 1", "minimum"),  # was accepted: no value could ever be recorded
        ("maximum = 1" + "0" * 400, "finite"),  # was an OverflowError turning it into a float
    ],
)
def test_number_bounds_regressions_found_by_fuzzing(bounds: str, message: str) -> None:
    with pytest.raises(RulesetError, match=message):
        ruleset(NUMBER_FINDING.format(bounds=bounds))


@pytest.mark.parametrize("dose", ["inf", "[1, inf]", "nan"])
def test_an_infinite_dose_is_refused(dose: str) -> None:
    body = f"""
    [[rules]]
    id = "r"
    when = "calf_pain"
    rationale = "r"
    references = ["ref"]

    [[rules.recommend]]
    id = "rest"
    text = "Rest."
    dose = {{ weeks = {dose} }}
    """
    with pytest.raises(RulesetError, match="dose"):
        ruleset(body)


def test_a_ruleset_with_320_findings_and_a_case_recording_them_all() -> None:
    # durable_rules walks matching alpha nodes on a 64-entry stack (error 303 past it); shards of
    # at most 60 rules keep below it however many findings a case records
    count = 320
    findings = "\n".join(
        f'[findings.f{i}]\ntype = "bool"\nlabel = "F{i}"\nquestion = "?"\nkind = "history"' for i in range(count)
    )
    rules = "\n".join(
        f'[[rules]]\nid = "r{i}"\nwhen = "f{i} and f{i + 1} and not calf_pain"\nderive = ["d{i}"]\n'
        f'rationale = "r"\nreferences = ["ref"]'
        for i in range(0, count - 1, 2)
    )
    last = '[[rules]]\nid = "all"\nwhen = "d0 and d158"\nescalate = "urgent"\nrationale = "r"\nreferences = ["ref"]'
    engine = load_engine(rulesets=[ruleset(findings + "\n" + rules + "\n" + last)], allow=[])
    try:
        assert engine.problems == []
        case = {"findings": {f"f{i}": True for i in range(count)}}
        assessment = engine.assess(case)
        reference = engine.assess(case, evaluator="oracle")
        assert assessment.complete and assessment.level == Level.URGENT == reference.level
        assert len(assessment.trace) == count // 2 + 1
        assert math.isclose(len(assessment.findings), count)
    finally:
        engine.close()
