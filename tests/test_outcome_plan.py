"""What the outcome plan works out once per program may skip work, never a red flag.

The floor and the screen skip an entry whose ``needs`` the case does not meet without
evaluating it; these tests check that such an entry could never have held.
"""

from __future__ import annotations

import dataclasses
import inspect
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calfrules import Engine
from calfrules.engine import advice, assessment
from calfrules.engine.outcome_plan import (
    compile_check,
    compile_on_mapping,
    compile_positions,
    needs,
    plan_for,
    yes_names,
)
from calfrules.rules.condition import And, Answer, Compare, Expr, Not, Or, Truthy
from calfrules.rules.evaluate import evaluate
from calfrules.rules.levels import Level
from calfrules.rules.model import RuleRef
from calfrules.rules.vocabulary import Value
from calfrules.tooling import bench

from condition_strategies import condition_trees

NAMES = ["a", "b", "c", "d", "e"]  # few, so that trees and cases share names often


def leaves() -> st.SearchStrategy[Expr]:
    names = st.sampled_from(NAMES)
    return st.one_of(
        st.builds(Truthy, names, st.just(0)),
        st.builds(
            Compare, names, st.sampled_from([">=", "<", "==", "!="]), st.sampled_from([0.0, 5.0, "x"]), st.just(0)
        ),
        st.builds(Answer, names, st.sampled_from(["no", "recorded"]), st.just(0)),
    )


def trees() -> st.SearchStrategy[Expr]:
    return condition_trees(leaves(), max_leaves=16)


values: st.SearchStrategy[Value] = st.one_of(st.booleans(), st.sampled_from([0.0, 3.0, 7.0]), st.just("x"))


@given(trees(), st.dictionaries(st.sampled_from(NAMES), values))
def test_a_condition_that_holds_meets_its_needs(expr: Expr, known: dict[str, Value]) -> None:
    if evaluate(expr, known.get):
        assert all(not names.isdisjoint(known) for names in needs(expr))


def test_needs_of_a_conjunction_of_alternatives() -> None:
    expr = And((Or((Truthy("a", 0), Truthy("b", 0))), Or((Truthy("c", 0), And((Truthy("d", 0), Truthy("e", 0)))))))
    assert needs(expr) == (frozenset({"a", "b"}), frozenset({"c", "d"}))
    assert needs(Not(Truthy("a", 0), 0)) == () and needs(Or((Truthy("a", 0), Not(Truthy("b", 0), 0)))) == ()


def test_the_planned_floor_and_screen_match_evaluating_every_entry_and_group(engine: Engine) -> None:
    plan = plan_for(engine.program, engine.vocabulary)
    cases = bench.generate_cases(engine.vocabulary, 3000, seed=16, goldens=bench.golden_findings(engine))
    skipped = 0
    for case in cases:
        findings = engine.parse_case(case).findings
        for entry, entry_needs in zip(plan.floor, plan.floor_needs, strict=True):
            if any(names.isdisjoint(findings) for names in entry_needs):
                skipped += 1
                assert entry.direct and not evaluate(entry.expr, findings.get), entry.entry.id
        by_hand = [g for g in engine.program.screen if not g.group.default and evaluate(g.expr, findings.get)]
        screen = plan.screen.evaluate(findings, "prompt")
        assert screen.groups == tuple(
            g.group.id for g in by_hand or [g for g in engine.program.screen if g.group.default]
        )
    assert skipped > len(cases)  # the plan does skip work


@given(trees(), st.dictionaries(st.sampled_from(NAMES), st.one_of(values, st.sampled_from([3, 7]))))
def test_a_compiled_check_decides_as_evaluate(expr: Expr, known: dict[str, Value]) -> None:
    assert compile_check(expr)(known.get) is evaluate(expr, known.get)


def test_evidence_shows_a_recorded_no_and_lists_what_nobody_recorded(engine: Engine) -> None:
    plan = plan_for(engine.program, engine.vocabulary)
    matched: dict[str, Value] = {"calf_pain": True, "not fever": True, "not swelling": True, "not fever >= 38": True}
    # nobody recorded fever or swelling: the usual case, worked out from the labels alone
    assert plan.evidence(matched, {"calf_pain": True}) == ({"calf_pain": True}, ("fever", "swelling"))
    # a recorded no shows as itself, in the place of its label
    shown, unrecorded = plan.evidence(matched, {"calf_pain": True, "swelling": False})
    assert list(shown.items()) == [("calf_pain", True), ("swelling", False)]
    assert unrecorded == ("fever",)
    assert plan.evidence({"not fever": True}, {"fever": False}) == ({"fever": False}, ())


ASSESSMENT_CLASSES = [
    cls
    for cls in vars(assessment).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == assessment.__name__
]


def test_every_assessment_class_is_built_as_dataclasses_would() -> None:
    assert assessment.Assessment in ASSESSMENT_CLASSES and assessment.TraceStep in ASSESSMENT_CLASSES
    ref = RuleRef(rule="r", ruleset="s", plugin=None)
    step = assessment.TraceStep(1, ref, {"a": True}, None, derived=(), escalated=Level.URGENT)
    assert [f.name for f in dataclasses.fields(step)] == list(vars(step))  # every field, in order
    assert step.unrecorded == () and step == assessment.TraceStep(1, ref, {"a": True}, None, (), Level.URGENT, ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        step.step = 2  # type: ignore[misc]
    assert dataclasses.replace(step, step=3).step == 3 and pickle.loads(pickle.dumps(step)) == step
    with pytest.raises(TypeError):
        assessment.LevelReason(Level.URGENT, "why")  # type: ignore[call-arg]
    assert hash(assessment.LevelReason(Level.URGENT, "a", "b")) == hash(assessment.LevelReason(Level.URGENT, "a", "b"))
    first, second = (assessment.Assessment(Level.SELF_CARE, True, *[()] * 8, {}, {}) for _ in range(2))
    assert first.red_flag_screen == assessment.RedFlagScreen() and first.red_flag_screen is not second.red_flag_screen
    assert "red_flag_screen: 'RedFlagScreen' = <factory>" in str(inspect.signature(assessment.Assessment))


@given(
    st.lists(trees(), min_size=1, max_size=3),
    st.dictionaries(st.sampled_from(NAMES), st.one_of(values, st.sampled_from([3, 7]))),
)
def test_conditions_compiled_on_the_known_values_decide_as_evaluate(exprs: list[Expr], known: dict[str, Value]) -> None:
    holds = compile_on_mapping(exprs)
    assert [hold(known, yes_names(known)) for hold in holds] == [evaluate(expr, known.get) for expr in exprs]


def test_odd_values_in_a_compiled_condition_are_kept_as_they_are() -> None:
    # names and text that are not identifiers, and numbers Python cannot write as literals
    odd = Or((Compare("a'\n", "==", 'x"y', 0), Compare("b", ">=", float("inf"), 0), Compare("c", "<", -0.5, 0)))
    (hold,) = compile_on_mapping([odd])
    assert hold({"a'\n": 'x"y'}, set()) and not hold({"b": 1e308}, set()) and hold({"c": -1}, set())
    assert not hold({"c": True}, {"c"})
    assert compile_on_mapping([]) == ()


@given(
    st.lists(trees(), max_size=4),
    st.dictionaries(st.sampled_from(NAMES), st.one_of(values, st.sampled_from([3, 7]))),
)
def test_the_positions_of_the_conditions_that_hold_are_those_evaluate_finds(
    exprs: list[Expr], known: dict[str, Value]
) -> None:
    positions = [2 * i + 1 for i in range(len(exprs))]  # any positions, kept as given
    held = compile_positions(list(zip(positions, exprs, strict=True)))(known, yes_names(known))
    assert held == tuple(p for p, expr in zip(positions, exprs, strict=True) if evaluate(expr, known.get))


def test_advice_worked_out_once_per_rules_and_level_is_what_select_gives(engine: Engine) -> None:
    plan = plan_for(engine.program, engine.vocabulary)
    cases = bench.generate_cases(engine.vocabulary, 1500, seed=17, goldens=bench.golden_findings(engine))
    for case in cases:
        engine.assess(case)
    chosen = {key: found for key, found in plan.advice.known.items() if found[1] is not None}
    assert chosen and len(chosen) < len(plan.advice.known)  # both kinds met: advice that cannot clash, and that can
    levels = {id(level): level for level in Level}
    for (_, level_id), (candidates, choice) in chosen.items():
        assert choice is not None
        level = levels[level_id]
        shown, withheld = advice.select(candidates, {}, level)
        line = advice.level_advice(level, shown, candidates, lambda: ())
        assert choice.shown_copies() == shown and list(choice.withheld) == withheld
        assert choice.needs_level_advice is (line is not None)
    clashing = next(found[0] for found in plan.advice.known.values() if found[1] is None)
    with pytest.raises(ValueError, match="use select"):
        advice.choose(clashing, Level.SELF_CARE)


def test_advice_shown_is_never_shared_between_assessments(engine: Engine) -> None:
    case = {"findings": {"achilles_pain": True, "achilles_stiffness_on_rising": True, "mechanism": "gradual"}}
    first, second = engine.assess(case), engine.assess(case)
    assert any(rec.dose for rec in first.recommendations) and first.recommendations == second.recommendations
    for one, other in zip(first.recommendations, second.recommendations, strict=True):
        assert one is not other and one.dose is not other.dose


def test_the_screen_given_the_yes_findings_answers_as_without(engine: Engine) -> None:
    plan = plan_for(engine.program, engine.vocabulary)
    for findings in bench.golden_findings(engine):
        given_yes = plan.screen.evaluate(findings, "require", yes_names(findings))
        assert given_yes == plan.screen.evaluate(findings, "require")
