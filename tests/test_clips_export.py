"""The CLIPS export reaches what the oracle and the engine reach: same rules fired, same conclusions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import clips
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from calfrules import Engine
from calfrules.cli import cli
from calfrules.tooling.bench import generate_cases, golden_findings
from calfrules.tooling.clips_export import ClipsOutcome, ClipsRunner, export_program, known_values, oracle_outcome

from helpers import engine_with, ruleset


@pytest.fixture(scope="module")
def runner(engine: Engine) -> ClipsRunner:
    return ClipsRunner(engine.program)


def _outcomes(engine: Engine, runner: ClipsRunner, case: dict[str, Any]) -> tuple[ClipsOutcome, ClipsOutcome]:
    known = known_values(engine.registry.derivers, engine.parse_case(case).findings)
    return runner.run(known), oracle_outcome(engine.program, known)


def _engine_outcome(engine: Engine, case: dict[str, Any]) -> tuple[frozenset[tuple[str, str]], frozenset[str]]:
    assessment = engine.assess(case)
    fired = frozenset((step.rule.ruleset, step.rule.rule) for step in assessment.trace)
    return fired, frozenset(assessment.condition_ids())


def _concluded(engine: Engine, outcome: ClipsOutcome) -> frozenset[str]:
    return frozenset(name for name in outcome.outputs if name in engine.program.conditions)


def test_the_export_loads_into_clips_with_one_defrule_per_alternative(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "calfrules.clp"
    path.write_text(export_program(engine.program), encoding="utf-8")
    env = clips.Environment()
    env.load(str(path))
    alternatives = sum(len(rule.branches) for rule in engine.program.rules)
    assert len(list(env.rules())) == alternatives
    env.reset()
    env.eval("(assert-findings calf_pain TRUE sudden_sharp_pain TRUE)")
    env.run()
    assert "calf_strain" in {str(name) for name in env.eval("(true-names)")}


def test_golden_cases_reach_the_same_rules_and_conclusions(engine: Engine, runner: ClipsRunner) -> None:
    goldens = golden_findings(engine)
    assert len(goldens) >= 20
    for findings in goldens:
        case = {"findings": findings}
        from_clips, from_oracle = _outcomes(engine, runner, case)
        assert from_clips == from_oracle, findings
        fired, concluded = _engine_outcome(engine, case)
        assert from_clips.fired == fired, findings
        assert _concluded(engine, from_clips) == concluded, findings


def test_generated_cases_reach_the_same_rules_and_conclusions(engine: Engine, runner: ClipsRunner) -> None:
    cases = generate_cases(engine.vocabulary, 300, seed=7, goldens=golden_findings(engine))
    fired_somewhere: set[tuple[str, str]] = set()
    for case in cases:
        from_clips, from_oracle = _outcomes(engine, runner, case)
        assert from_clips == from_oracle, case
        assert from_clips.fired == _engine_outcome(engine, case)[0], case
        fired_somewhere |= from_clips.fired
    # the cases exercise most of the knowledge, or this test would prove little
    assert len(fired_somewhere) >= len(engine.program.rules) // 2


@given(st.data())
def test_random_cases_agree_with_the_oracle(engine: Engine, runner: ClipsRunner, data: st.DataObject) -> None:
    findings = {f.id: f for f in engine.vocabulary}
    chosen = data.draw(st.lists(st.sampled_from(sorted(findings)), min_size=1, max_size=12, unique=True))
    case: dict[str, object] = {}
    for name in chosen:
        finding = findings[name]
        if finding.type == "bool":
            case[name] = data.draw(st.booleans())
        elif finding.type == "choice":
            case[name] = data.draw(st.sampled_from(finding.choices))
        else:
            low = finding.minimum if finding.minimum is not None else -1e6
            high = finding.maximum if finding.maximum is not None else 1e6
            case[name] = data.draw(st.floats(low, high, allow_nan=False))
    from_clips, from_oracle = _outcomes(engine, runner, {"findings": case})
    assert from_clips == from_oracle


SEMANTICS = """
[findings.side]
type = "choice"
label = "Side"
question = "Which side?"
choices = ["left", "right", 'the "other" one']
kind = "context"

[conditions.c]
label = "C"

[[rules]]
id = "not_high_pain"
when = "calf_pain and not pain_score >= 7"
derive = ["low_or_missing_pain"]
rationale = "missing number: 'not' holds"
references = ["ref"]

[[rules]]
id = "pain_not_three"
when = "pain_score != 3"
derive = ["pain_not_three_fact"]
rationale = "missing number: != is false"
references = ["ref"]

[[rules]]
id = "odd_side"
when = "side == 'the \\"other\\" one' or side in ['left']"
derive = ["odd_side_fact"]
rationale = "choices with quotes"
references = ["ref"]

[[rules]]
id = "chained"
when = "low_or_missing_pain and not swelling"
conclude = "c"
escalate = "see_clinician"
rationale = "chains on a derived fact"
references = ["ref"]
"""


@pytest.mark.parametrize(
    ("findings", "expected"),
    [
        ({"calf_pain": True}, {"not_high_pain", "chained"}),
        ({"calf_pain": True, "pain_score": 8}, {"pain_not_three"}),
        ({"calf_pain": True, "pain_score": 3, "swelling": True}, {"not_high_pain"}),
        ({"calf_pain": False}, set()),
        ({"side": 'the "other" one'}, {"odd_side"}),
        ({"side": "left"}, {"odd_side"}),
        ({"side": "right"}, set()),
    ],
)
def test_missing_findings_negation_and_choices_mean_the_same(findings: dict[str, Any], expected: set[str]) -> None:
    engine = engine_with(ruleset(SEMANTICS), builtins=False)
    try:
        runner = ClipsRunner(engine.program)
        from_clips, from_oracle = _outcomes(engine, runner, {"findings": findings})
        assert from_clips == from_oracle
        assert {rule for _, rule in from_clips.fired} == expected
        assert from_clips.escalations == ({"see_clinician"} if "chained" in expected else set())
    finally:
        engine.close()


def test_cli_export_writes_a_clips_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "rules.clp"
    result = CliRunner().invoke(cli, ["export", "--clips", "-o", str(target)])
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    assert text.startswith(";; calfrules") and "(defrule " in text
    assert "wrote" in result.stderr


def test_cli_export_to_stdout_and_bad_arguments() -> None:
    result = CliRunner().invoke(cli, ["export", "--clips"])
    assert result.exit_code == 0 and "(deftemplate finding" in result.stdout
    result = CliRunner().invoke(cli, ["export"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "--clips" in result.stderr


def test_cli_export_to_a_folder_is_one_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["export", "--clips", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("calfrules: error: ")
