"""Rules run in stages: after every rule whose output they test; cycles repeat until settled."""

from __future__ import annotations

from calfrules import load_engine
from calfrules.engine.durable.stages import Stage, order_stages

from helpers import durable_plan, ruleset


def test_a_rule_runs_after_the_rules_it_depends_on() -> None:
    tested = [["b"], ["calf_pain"], ["a"]]  # rule 0 needs b (rule 2), rule 2 needs a (rule 1)
    outputs = [["c"], ["a"], ["b"]]
    assert order_stages(tested, outputs) == [Stage((1,), False), Stage((2,), False), Stage((0,), False)]


def test_rules_in_a_cycle_share_a_repeated_stage() -> None:
    tested = [["y"], ["x"], ["calf_pain"], ["z"]]
    outputs = [["x"], ["y"], ["x"], ["z"]]  # 0 and 1 feed each other; 3 tests its own output
    stages = order_stages(tested, outputs)
    assert stages[0] == Stage((2, 3), False)  # 3 can never be the first to derive z
    assert stages[1] == Stage((0, 1), True)


def test_a_chain_of_thousands_of_rules_is_ordered_without_recursion() -> None:
    count = 5000
    tested = [["calf_pain"]] + [[f"d{i - 1}"] for i in range(1, count)]
    outputs = [[f"d{i}"] for i in range(count)]
    stages = order_stages(tested, outputs)
    assert [stage.rules for stage in stages] == [(i,) for i in range(count)]


def test_a_long_chain_fires_every_rule_once_in_order() -> None:
    body = '[[rules]]\nid = "r0"\nwhen = "calf_pain"\nderive = ["d0"]\nrationale = "x"\n'
    for i in range(1, 300):
        body += f'[[rules]]\nid = "r{i}"\nwhen = "d{i - 1}"\nderive = ["d{i}"]\nrationale = "x"\n'
    engine = load_engine(rulesets=[ruleset(body)], allow=[], strict=True, isolation="none")
    a = engine.assess({"findings": {"calf_pain": True}})
    assert a.complete and [step.rule.rule for step in a.trace] == [f"r{i}" for i in range(300)]
    assert (
        a.to_dict()["trace"] == engine.assess({"findings": {"calf_pain": True}}, evaluator="oracle").to_dict()["trace"]
    )


def test_a_rule_adding_reasons_to_its_own_conclusion_fires_after_the_first_one() -> None:
    body = (
        '[conditions.c]\nlabel = "C"\n'
        '[[rules]]\nid = "more"\nwhen = "c and swelling"\nconclude = "c"\nrationale = "x"\n'
        '[[rules]]\nid = "first"\nwhen = "calf_pain"\nconclude = "c"\nrationale = "x"\n'
    )
    engine = load_engine(rulesets=[ruleset(body)], allow=[], strict=True, isolation="none")
    a = engine.assess({"findings": {"calf_pain": True, "swelling": True}})
    assert [step.rule.rule for step in a.trace] == ["first", "more"]
    assert [r.rule.rule for r in a.conditions[0].because] == ["first", "more"]


def test_rules_that_add_reasons_to_a_conclusion_do_not_wait_for_each_other() -> None:
    tested = [["calf_pain"], ["x", "swelling"], ["x", "fever"]]
    outputs = [["x"], ["x"], ["x"]]  # 1 and 2 require x and derive it again
    required = [["calf_pain"], ["x", "swelling"], ["x", "fever"]]
    assert order_stages(tested, outputs, required) == [Stage((0,), False), Stage((1, 2), False)]
    assert order_stages(tested, outputs)[1] == Stage((1, 2), True)  # without knowing: a cycle


def test_a_shard_is_skipped_only_when_none_of_its_rules_can_fire() -> None:
    body = (
        '[[rules]]\nid = "absent"\nwhen = "not fever"\nderive = ["afebrile"]\nrationale = "x"\n'
        '[[rules]]\nid = "present"\nwhen = "calf_pain"\nderive = ["pain"]\nrationale = "x"\n'
    )
    engine = load_engine(rulesets=[ruleset(body)], allow=[], strict=True, isolation="none")
    shard = durable_plan(engine).shards[0]
    assert shard.unconditional and shard.triggers == {"calf_pain"}
    assert [s.rule.rule for s in engine.assess({"findings": {"swelling": True}}).trace] == ["absent"]
    both = engine.assess({"findings": {"calf_pain": True}}).trace
    assert sorted(s.rule.rule for s in both) == ["absent", "present"]
