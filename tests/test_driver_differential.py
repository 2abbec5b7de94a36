"""The durable_rules driver against the reference evaluator, on generated and mutated rulesets.

The driver asserts a shard only when one of its alternatives could match, sends each shard's
fact only the names those alternatives test, and the engine child sends rule indices and
alternative numbers that the parent turns back into firings. Each of these must leave the
firings exactly as the oracle (plain Python, no durable_rules) finds them.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Mapping

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from calfrules import Engine, load_engine
from calfrules.engine import oracle
from calfrules.knowledge.builtin import BUILTIN_PLUGINS
from calfrules.rules.firing import Firing
from calfrules.rules.vocabulary import Value

from helpers import ruleset

FINDING_ATOMS = [
    "calf_pain",
    "swelling",
    "fever",
    "chest_pain",
    "pain_score >= 5",
    "pain_score < 3",
    "age > 50",
    "pain_side == 'left'",
    "fever is no",
    "swelling is recorded",
    "temperature_c >= 38.0",
]
DERIVED = ["d0", "d1", "d2", "d3"]

literals = st.one_of(
    st.sampled_from(FINDING_ATOMS),
    st.sampled_from(FINDING_ATOMS).map(lambda atom: f"not ({atom})"),
    st.lists(st.sampled_from(FINDING_ATOMS), min_size=2, max_size=3).map(lambda a: f"not ({' or '.join(a)})"),
)


@st.composite
def conditions(draw: st.DrawFn, derived: list[str]) -> str:
    """An 'or' of 'and's over findings, negations and derived names (so DNF has several alternatives)."""
    leaf = st.one_of(literals, st.sampled_from(derived)) if derived else literals
    terms = draw(st.lists(st.lists(leaf, min_size=1, max_size=3), min_size=1, max_size=3))
    return " or ".join("(" + " and ".join(term) + ")" for term in terms)


@st.composite
def generated_rulesets(draw: st.DrawFn) -> str:
    count = draw(st.integers(1, 10))
    outputs = [draw(st.sampled_from(DERIVED)) for _ in range(count)]
    derivable = sorted(set(outputs))
    body = ""
    for index, output in enumerate(outputs):
        # any derived name may be tested, by any rule: chains and cycles both happen
        when = draw(conditions(derivable if draw(st.booleans()) else []))
        body += f'[[rules]]\nid = "r{index}"\nwhen = "{when}"\nderive = ["{output}"]\nrationale = "x"\n'
    return body


case_findings = st.fixed_dictionaries(
    {},
    optional={
        "calf_pain": st.booleans(),
        "swelling": st.booleans(),
        "fever": st.booleans(),
        "chest_pain": st.booleans(),
        "pain_score": st.integers(0, 10),
        "age": st.integers(18, 90),
        "pain_side": st.sampled_from(["left", "right", "both"]),
        "temperature_c": st.floats(35.0, 41.0).map(lambda t: round(t, 1)),
    },
)


def _by_rule(firings: list[Firing]) -> dict[int, dict[str, Value]]:
    indices = [f.rule_index for f in firings]
    assert len(indices) == len(set(indices)), f"a rule fired twice: {indices}"
    return {f.rule_index: f.matched for f in firings}


def _holding_at_the_end(engine: Engine, known: Mapping[str, Value], fired: list[int]) -> dict[int, dict[str, Value]]:
    """Per fired rule, the facts of every alternative that holds once the rules are done."""
    facts = dict(known) | {name: True for index in fired for name in engine.program.rules[index].outputs}
    return {index: oracle._matched(engine.program.rules[index], facts) for index in fired}


def assert_same_as_oracle(engine: Engine, findings: Mapping[str, Value]) -> None:
    pipeline = engine._pipeline
    _, known = pipeline.scores(findings)
    driver, reference = _by_rule(pipeline.durable.run(known)), _by_rule(oracle.run(engine.program, known))
    assert driver.keys() == reference.keys(), findings
    # the oracle shows the alternatives that held when a rule first fired; in a repeated (cyclic)
    # stage the driver also shows those that came to hold later: never fewer, never one that fails
    at_the_end = _holding_at_the_end(engine, known, list(driver))
    for index, matched in driver.items():
        assert reference[index].items() <= matched.items() <= at_the_end[index].items(), (findings, index)
    # what the engine child sends, rebuilt in the parent, is what the driver gives in process
    direct = pipeline.run(findings)
    rebuilt = pipeline.expand(pipeline.run_compact(findings), findings)
    assert rebuilt.scores == direct.scores and rebuilt.problems == direct.problems
    assert [(f.rule_index, f.matched) for f in rebuilt.firings] == [(f.rule_index, f.matched) for f in direct.firings]


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=generated_rulesets(), cases=st.lists(case_findings, min_size=1, max_size=12))
def test_generated_rulesets_fire_as_the_oracle_does(body: str, cases: list[dict[str, Value]]) -> None:
    note(body)
    engine = load_engine(rulesets=[ruleset(body)], allow=[], strict=True, isolation="none")
    try:
        for findings in cases:
            assert_same_as_oracle(engine, findings)
    finally:
        engine.close()


_MUTATIONS = [
    (re.compile(r" and "), " or "),
    (re.compile(r" or "), " and "),
    (re.compile(r"not "), ""),
    (re.compile(r">= (\d+)"), r"> \1"),
    (re.compile(r"^"), "not calf_pain and "),
]


def _mutate(engine: Engine, seed: int) -> list[object]:
    """The built-in rulesets with some rules' conditions changed (and/or swapped, a 'not' dropped...)."""
    rnd = random.Random(seed)
    mutated = []
    for entry in engine.rulesets:
        rules = []
        for rule in entry.ruleset.rules:
            when = rule.when
            if rnd.random() < 0.3:
                pattern, replacement = rnd.choice(_MUTATIONS)
                when = pattern.sub(replacement, when, count=1)
            rules.append(dataclasses.replace(rule, when=when))
        mutated.append(dataclasses.replace(entry.ruleset, rules=tuple(rules)))
    return mutated


@pytest.mark.parametrize("seed", range(3))
def test_mutated_builtin_rulesets_fire_as_the_oracle_does(engine: Engine, seed: int) -> None:
    mutant = load_engine(rulesets=_mutate(engine, seed), isolation="none", allow=list(BUILTIN_PLUGINS))  # type: ignore[arg-type]
    try:
        assert len(mutant.program.rules) > 50  # most mutants still compile (a 'not' over a derived name does not)
        rnd = random.Random(seed)
        bools = [f.id for f in mutant.vocabulary if f.type == "bool"]
        numbers = [f for f in mutant.vocabulary if f.type == "number"]
        for _ in range(150):
            findings: dict[str, Value] = {name: rnd.random() < 0.8 for name in rnd.sample(bools, rnd.randint(1, 12))}
            for finding in rnd.sample(numbers, rnd.randint(0, 3)):
                low = finding.minimum if finding.minimum is not None else 0.0
                findings[finding.id] = round(rnd.uniform(low, low + 40.0), 1)
            assert_same_as_oracle(mutant, findings)
    finally:
        mutant.close()


def test_the_builtin_knowledge_fires_as_the_oracle_does_on_the_bench_cases() -> None:
    from calfrules.tooling.bench import generate_cases, golden_findings

    local = load_engine(isolation="none", allow=list(BUILTIN_PLUGINS))
    try:
        for case in generate_cases(local.vocabulary, 400, 16, golden_findings(local)):
            assert_same_as_oracle(local, local.parse_case(case).findings)
    finally:
        local.close()
