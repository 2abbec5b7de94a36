"""The published JSON Schemas hold for real cases and real assessments, and are not vacuous."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from calfrules import CaseError, Deriver, Engine, Finding, hookimpl, load_engine
from calfrules.cli import cli
from calfrules.formats.json_schema import (
    SCHEMA_NAMES,
    assessment_schema,
    case_schema,
    load_schema,
    schema_file,
    schema_file_text,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "cases"


@pytest.fixture(scope="module")
def case_validator(engine: Engine) -> Draft202012Validator:
    return Draft202012Validator(case_schema(engine.vocabulary))


@pytest.fixture(scope="module")
def assessment_validator() -> Draft202012Validator:
    return Draft202012Validator(assessment_schema())


def _golden_cases(engine: Engine) -> list[dict[str, Any]]:
    return [test.case() for entry in engine.rulesets for test in entry.ruleset.tests]


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_the_schemas_are_valid_draft_2020_12(name: str) -> None:
    Draft202012Validator.check_schema(load_schema(name))


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_the_published_files_are_what_the_description_generates(name: str) -> None:
    on_disk = schema_file(name).read_text(encoding="utf-8")
    assert on_disk == schema_file_text(name), (
        f"{schema_file(name)} drifted: run python -m calfrules.formats.json_schema"
    )


def test_every_field_of_the_descriptions_is_in_the_schemas() -> None:
    import dataclasses

    from calfrules.engine.assessment import Assessment, RedFlagScreen, TraceStep
    from calfrules.knowledge.case import CASE_FIELDS

    assert list(case_schema()["properties"]) == list(CASE_FIELDS)
    published = assessment_schema()
    for cls, properties in (
        (Assessment, published["properties"]),
        (TraceStep, published["$defs"]["TraceStep"]["properties"]),
        (RedFlagScreen, published["$defs"]["RedFlagScreen"]["properties"]),
    ):
        assert list(properties) == [f.name for f in dataclasses.fields(cls)]


@pytest.mark.parametrize("case_id", [7, 7.0, "x", None])
def test_the_case_schema_and_the_engine_agree_on_the_id(
    engine: Engine, case_validator: Draft202012Validator, case_id: object
) -> None:
    case = {"findings": {"calf_pain": True}, "id": case_id}
    assert case_validator.is_valid(case)
    assert engine.parse_case(case).id == (None if case_id is None else str(case_id).removesuffix(".0"))


def test_every_golden_and_example_case_and_its_assessment_match_the_schemas(
    engine: Engine, case_validator: Draft202012Validator, assessment_validator: Draft202012Validator
) -> None:
    from calfrules.knowledge.case import read_case_source

    cases = [*_golden_cases(engine), *(read_case_source(str(path)) for path in sorted(EXAMPLES.iterdir()))]
    assert len(cases) > 20
    for case in cases:
        case_validator.validate(case)
        assessment_validator.validate(engine.assess(case).to_dict())  # type: ignore[arg-type]


def _value(finding: Finding) -> st.SearchStrategy[Any]:
    if finding.type == "bool":
        return st.booleans()
    if finding.type == "choice":
        return st.sampled_from(finding.choices)
    low = finding.minimum if finding.minimum is not None else -1e6
    high = finding.maximum if finding.maximum is not None else 1e6
    return st.one_of(st.integers(int(low) + 1, int(high)) if high - low >= 2 else st.just(low), st.floats(low, high))


@given(data=st.data())
def test_random_cases_and_their_assessments_match_the_schemas(
    engine: Engine, case_validator: Draft202012Validator, assessment_validator: Draft202012Validator, data: Any
) -> None:
    findings = list(engine.vocabulary)
    chosen = data.draw(st.lists(st.sampled_from(findings), min_size=1, max_size=8, unique_by=lambda f: f.id))
    case = {"findings": {f.id: data.draw(_value(f)) for f in chosen}}
    case_validator.validate(case)
    assessment_validator.validate(engine.assess(case).to_dict())


def test_an_incomplete_assessment_matches_the_schema(assessment_validator: Draft202012Validator) -> None:
    class Broken:
        calfrules_plugin_name = "broken"

        @hookimpl
        def calfrules_register_derivers(self, register):  # type: ignore[no-untyped-def]
            register(Deriver(id="bad_score", label="Bad", inputs=(), compute=lambda f: 1 / 0))

    broken = load_engine(plugins=[Broken()], isolation="none")
    try:
        assessment = broken.assess({"findings": {"calf_pain": True}})
        assert not assessment.complete
        assessment_validator.validate(assessment.to_dict())
    finally:
        broken.close()


@pytest.mark.parametrize(
    "case",
    [
        {"findings": {"calf_pian": True}},
        {"findings": {"pain_score": 11}},
        {"findings": {"calf_pain": "yes"}},
        {"findings": {}},
        {"findings": {"calf_pain": True}, "patient": "x"},
        {"note": "no findings"},
    ],
)
def test_the_case_schema_refuses_what_the_engine_refuses(
    engine: Engine, case_validator: Draft202012Validator, case: dict[str, Any]
) -> None:
    assert not case_validator.is_valid(case)
    with pytest.raises(CaseError):
        engine.parse_case(case)


def test_the_assessment_schema_is_not_vacuous(engine: Engine, assessment_validator: Draft202012Validator) -> None:
    good = engine.assess({"findings": {"calf_pain": True}}).to_dict()
    for broken in (
        {**good, "level": "whenever"},
        {key: value for key, value in good.items() if key != "trace"},
        {**good, "extra": 1},
        {**good, "recommendations": [{"id": "r"}]},
    ):
        assert not assessment_validator.is_valid(broken)


def test_the_screen_and_unrecorded_findings_are_in_the_schema_and_checked(
    engine: Engine, assessment_validator: Draft202012Validator
) -> None:
    # a DVT case: an incomplete screen, Wells items not recorded, rules that needed "not yes"
    good = engine.assess(json.loads((EXAMPLES / "suspected_dvt.json").read_text())).to_dict()
    screen = good["red_flag_screen"]
    assert not screen["complete"] and screen["unanswered"] and screen["questions"]
    assert good["scores"][0]["unrecorded"]
    step = next(s for s in good["trace"] if s["unrecorded"])
    assessment_validator.validate(good)

    def without(item: dict[str, Any], key: str) -> dict[str, Any]:
        return {k: v for k, v in item.items() if k != key}

    def with_step(changed: dict[str, Any]) -> dict[str, Any]:
        return {**good, "trace": [changed if s is step else s for s in good["trace"]]}

    for broken in (
        without(good, "red_flag_screen"),
        {**good, "red_flag_screen": {**screen, "policy": "sometimes"}},
        {**good, "red_flag_screen": {**screen, "extra": 1}},
        {**good, "red_flag_screen": without(screen, "unanswered")},
        {**good, "red_flag_screen": {**screen, "questions": [{"id": "fever"}]}},
        {**good, "red_flag_screen": {**screen, "unanswered": ["fever", "fever"]}},
        {**good, "scores": [without(good["scores"][0], "unrecorded")]},
        with_step(without(step, "unrecorded")),
        with_step({**step, "unrecorded": [True]}),
    ):
        assert not assessment_validator.is_valid(broken)


def test_a_condition_reason_keeps_recorded_values_and_unrecorded_findings_apart(
    engine: Engine, assessment_validator: Draft202012Validator
) -> None:
    data = engine.assess({"findings": {"pain_on_hop": True, "sudden_sharp_pain": False}}).to_dict()
    reason = next(r for c in data["conditions"] for r in c["because"] if r["unrecorded"])
    assert reason["matched"].get("sudden_sharp_pain") is False  # a recorded no, as false
    assert not any(key.startswith("not ") for key in reason["matched"])
    assert "sudden_sharp_pain" not in reason["unrecorded"]
    assessment_validator.validate(data)
    assert not assessment_validator.is_valid(
        {
            **data,
            "conditions": [
                {**c, "because": [{k: v for k, v in r.items() if k != "unrecorded"} for r in c["because"]]}
                for c in data["conditions"]
            ],
        }
    )


def test_an_assessment_under_the_require_policy_matches_the_schema(assessment_validator: Draft202012Validator) -> None:
    from conftest import BUILTIN_PLUGINS

    strict = load_engine(allow=BUILTIN_PLUGINS, screen="require", isolation="none")
    try:
        data = strict.assess({"findings": {"calf_soreness_after_run": True, "returning_after_layoff": True}}).to_dict()
    finally:
        strict.close()
    assert data["red_flag_screen"]["policy"] == "require" and data["provenance"]["screen"] == "require"
    assert not data["red_flag_screen"]["complete"] and data["level"] == "see_clinician"
    assessment_validator.validate(data)


def test_the_generic_case_schema_accepts_any_finding_id() -> None:
    generic = Draft202012Validator(case_schema())
    assert generic.is_valid({"findings": {"pack_specific_finding": 3}})
    assert not generic.is_valid({"findings": {"x": [1]}})


def test_the_schema_command_prints_and_writes_the_schemas(tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(cli, ["schema", "case"])
    assert printed.exit_code == 0, printed.output
    schema = json.loads(printed.output)
    assert schema["$defs"]["Findings"]["properties"]["pain_score"]["maximum"] == 10
    target = tmp_path / "assessment.schema.json"
    written = runner.invoke(cli, ["schema", "assessment", "-o", str(target)])
    assert written.exit_code == 0 and json.loads(target.read_text()) == assessment_schema()
    wrong = runner.invoke(cli, ["schema", "patient"])
    assert wrong.exit_code == 2 and "error" in wrong.output


# --- the ruleset file (issue 17) ----------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
RULESET_FILES = sorted((ROOT / "rulesets").glob("*.toml")) + sorted((ROOT / "examples").glob("*_pack/*/*.toml"))


@pytest.fixture(scope="module")
def ruleset_validator() -> Draft202012Validator:
    return Draft202012Validator(load_schema("ruleset"))


@pytest.mark.parametrize("path", RULESET_FILES, ids=lambda p: p.name)
def test_every_built_in_ruleset_and_the_example_pack_fit_the_ruleset_schema(
    ruleset_validator: Draft202012Validator, path: Path
) -> None:
    import tomllib

    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in ruleset_validator.iter_errors(tomllib.loads(path.read_text()))
    ]
    assert errors == []


def test_the_cli_prints_the_ruleset_schema_and_it_checks_a_file_as_the_reader_does(
    ruleset_validator: Draft202012Validator,
) -> None:
    result = CliRunner().invoke(cli, ["schema", "ruleset"])
    assert result.exit_code == 0 and json.loads(result.stdout) == load_schema("ruleset")
    rule = {"id": "r", "when": "calf_pain", "rationale": "x", "escalate": "urgent"}
    good = {"id": "t", "version": "1", "title": "T", "authors": "one author", "rules": [rule]}
    assert ruleset_validator.is_valid(good)
    for bad in (
        {**good, "rules": [{**rule, "escalte": "urgent"}]},  # an unknown key
        {**good, "rules": [{**rule, "escalate": "soon"}]},  # not a level
        {**good, "id": "Not-an-id"},
        {**good, "tests": [{"id": "g", "findings": {"calf_pain": True}, "expect": {"levl": "urgent"}}]},
        {**good, "rules": [{**rule, "recommend": [{"id": "a", "text": "t", "dose": {"set": 3}}]}]},
        {**good, "findings": {"x": {"id": "x", "type": "bool", "label": "X", "question": "X?"}}},  # id is the key
        {key: value for key, value in good.items() if key != "title"},
    ):
        assert not ruleset_validator.is_valid(bad), bad


def test_the_ruleset_schema_names_every_expect_key_and_dose_field() -> None:
    import dataclasses

    from calfrules.rules.model import DOSE_FIELDS, Expectation

    defs = load_schema("ruleset")["$defs"]
    assert list(defs["Expectation"]["properties"]) == [f.name for f in dataclasses.fields(Expectation)]
    dose = defs["Recommendation"]["properties"]["dose"]
    assert all(Draft202012Validator(dose).is_valid({name: 1}) for name in DOSE_FIELDS)
