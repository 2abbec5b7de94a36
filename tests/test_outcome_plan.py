"""What the outcome plan works out once per program may skip work, never a red flag.

The floor and the screen skip an entry whose ``needs`` the case does not meet without
evaluating it; these tests check that such an entry could never have held.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from calfrules import Engine
from calfrules.engine.outcome_plan import needs, plan_for
from calfrules.rules.condition import And, Answer, Compare, Expr, Not, Or, Truthy
from calfrules.rules.evaluate import evaluate
from calfrules.rules.vocabulary import Value
from calfrules.tooling import bench

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
    return st.recursive(
        leaves(),
        lambda inner: st.one_of(
            st.builds(Not, inner, st.just(0)),
            st.builds(And, st.lists(inner, min_size=2, max_size=4).map(tuple)),
            st.builds(Or, st.lists(inner, min_size=2, max_size=4).map(tuple)),
        ),
        max_leaves=16,
    )


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
