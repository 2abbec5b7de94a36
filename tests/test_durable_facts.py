"""What the driver sends durable_rules, and the compiled checks it decides complements with.

The driver works out each stage fact with int masks (calfrules/engine/durable/driver.py).
Here the same facts are worked out from the plan with plain sets, as the driver once did,
and every fact asserted must be that text exactly: the names of the alternatives that could
match, complements first in name order, then what is known in the order it became known.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

import durable_rules_engine as core
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calfrules import Engine, load_engine
from calfrules.engine.durable.definitions import to_json
from calfrules.engine.durable.driver import SESSION_ID, DurableRunner
from calfrules.knowledge.builtin import BUILTIN_PLUGINS
from calfrules.rules.condition import Answer, Compare, Expr, Not, Truthy
from calfrules.rules.evaluate import compile_check, evaluate
from calfrules.rules.vocabulary import Value
from calfrules.tooling.bench import generate_cases, golden_findings

from helpers import durable_plan


def expected_facts(engine: Engine, known: Mapping[str, Value]) -> list[tuple[int, str]]:
    """(shard, message) of every fact the driver should assert for ``known``, in order."""
    plan = durable_plan(engine)
    runner = engine._pipeline.durable
    falsified = {name for name, atoms in plan.complements.items() if any(evaluate(a, known.get) for a in atoms)}
    holding = {name for name, atom in plan.answers.items() if evaluate(atom, known.get)}

    def part(name: str, value: Value) -> str:
        return json.dumps(plan.fact_keys[name]) + ":" + to_json(value)

    parts = [
        (name, part(name, known.get(name, True)))
        for name in [*known, *sorted(holding)]
        if known.get(name, True) is not False and name in plan.fact_keys
    ]
    fired = dict(runner.run_fired(known))
    expected = []
    derived: set[str] = set()
    for stage in plan.stages:
        assert not stage.cyclic  # the builtin knowledge has no cycle; this reference does not repeat a stage
        present = {name for name, _ in parts}
        outputs: set[str] = set()
        for shard in stage.shards:
            carried: set[str] = set()
            for durable_name in plan.shards[shard].rules:
                positives, complements = plan.needs[plan.durable_names[durable_name]]
                if positives <= present and not complements & falsified:
                    carried |= positives | complements
            if carried:
                body = [part(name, True) for name in sorted(carried) if name.startswith("!")]
                body += [text for name, text in parts if name in carried]
                expected.append((shard, "{" + ",".join(body) + ',"sid":' + json.dumps(SESSION_ID) + "}"))
            for durable_name in plan.shards[shard].rules:
                rule_index, branch = plan.durable_names[durable_name]
                if branch in fired.get(rule_index, ()):
                    outputs.update(engine.program.rules[rule_index].outputs)
        for name in sorted(outputs - derived):
            if name in plan.fact_keys:
                parts.append((name, part(name, True)))
        derived |= outputs
    return expected


def test_every_fact_is_what_the_alternatives_that_could_match_test(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = load_engine(isolation="none", allow=list(BUILTIN_PLUGINS))
    try:
        runner = engine._pipeline.durable
        runner.warm_up()
        sent: list[tuple[int, str]] = []
        real_assert = core.assert_fact

        def spy(handle: int, message: str) -> tuple[int, int]:
            sent.append((handle, message))
            return real_assert(handle, message)  # type: ignore[no-any-return]

        monkeypatch.setattr(core, "assert_fact", spy)
        cases = generate_cases(engine.vocabulary, 300, 16, golden_findings(engine))
        checked = 0
        for case in cases:
            known = engine._pipeline.scores(engine.parse_case(case).findings)[1]
            expected = expected_facts(engine, known)  # runs the case once, for what fired
            sent.clear()
            runner.run_fired(known)
            handles = runner._handles
            assert handles is not None
            assert [(handles.index(handle), message) for handle, message in sent] == expected, known
            checked += len(expected)
        assert checked > len(cases)  # most cases assert several facts
    finally:
        engine.close()


def test_complements_take_the_lowest_bits_in_name_order(engine: Engine) -> None:
    tables = engine._pipeline.durable.tables
    plan = durable_plan(engine)
    assert [tables.bits[name] for name in sorted(plan.complements)] == [1 << i for i in range(len(plan.complements))]
    assert tables.complements == (1 << len(plan.complements)) - 1
    assert len(set(tables.bits.values())) == len(tables.bits)  # one bit per name


def test_a_rule_fired_by_an_unknown_durable_name_fails_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    local = load_engine(isolation="none", allow=list(BUILTIN_PLUGINS))
    try:
        case = {"findings": {"calf_pain": True, "swelling": True}}
        healthy = local.assess(case)
        runner = local._pipeline.durable
        with monkeypatch.context() as patch:  # a plan that no longer knows what fired
            patch.setattr(runner, "_tables", dataclasses.replace(runner.tables, fire_info={}))
            failed = local.assess(case)
        assert not failed.complete and "rule engine failed" in failed.incomplete_reasons[0]
        assert failed.level >= healthy.level
        again = local.assess(case)
        assert again.complete and again.to_dict()["conditions"] == healthy.to_dict()["conditions"]
    finally:
        local.close()


NAMES = ["a", "b", "c"]
atoms = st.one_of(
    st.builds(Truthy, st.sampled_from(NAMES), st.just(0)),
    st.builds(
        Compare,
        st.sampled_from(NAMES),
        st.sampled_from([">=", "<=", ">", "<", "==", "!="]),
        st.sampled_from([0.0, 5.0, 2, "x"]),
        st.just(0),
    ),
    st.builds(Answer, st.sampled_from(NAMES), st.sampled_from(["no", "recorded"]), st.just(0)),
)
values: st.SearchStrategy[Value] = st.one_of(st.booleans(), st.sampled_from([0.0, 2, 5.0, 7.5, -1]), st.just("x"))


@given(atoms, st.booleans(), st.dictionaries(st.sampled_from(NAMES), values))
def test_a_compiled_check_decides_as_evaluate(atom: Expr, negated: bool, known: dict[str, Value]) -> None:
    expr: Expr = Not(atom, 0) if negated else atom
    assert compile_check(expr)(known.get) is evaluate(expr, known.get)


def test_the_plan_is_built_on_first_use_and_firings_never_need_it(engine: Engine) -> None:
    runner = DurableRunner(engine.program)
    try:
        known: dict[str, Value] = {"calf_pain": True, "swelling": True}
        fired = engine._pipeline.durable.run_fired(known)
        assert fired and runner.firings(fired, known) == engine._pipeline.durable.firings(fired, known)
        assert runner._tables is None  # rebuilding firings (as a parent of an engine child does) built nothing
        assert runner.run_fired(known) == fired and runner._tables is not None
    finally:
        runner.close()


def test_each_firing_gets_its_own_matched_dict(engine: Engine) -> None:
    # the driver remembers what a firing shows when it cannot depend on the case; a consumer
    # that changed one firing's dict must not change what the next case shows
    runner = engine._pipeline.durable
    known: dict[str, Value] = {"calf_pain": True, "swelling": True}
    fired = runner.run_fired(known)
    first = runner.firings(fired, known)
    for firing in first:
        firing.matched["tampered"] = True
    again = runner.firings(fired, known)
    assert again and all("tampered" not in firing.matched for firing in again)
    assert [f.rule_index for f in again] == [f.rule_index for f in first]


def test_every_name_bit_lies_below_the_shard_numbers(engine: Engine) -> None:
    tables = engine._pipeline.durable.tables
    assert max(tables.bits.values()) < 1 << tables.shard_shift
    shards = len(durable_plan(engine).shards)
    needs = [need for entry in tables.names.values() for _, filed in entry[3] for need in filed]
    needs += [need for stage in tables.stages for need in stage.unanchored]
    assert needs and {need >> tables.shard_shift for need in needs} <= set(range(shards))
