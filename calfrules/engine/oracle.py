"""The reference evaluator: fires the same rules by brute force, with no durable_rules.

It loops over every rule, deciding each with ``calfrules.rules.evaluate``, until
nothing changes. It shares no matching code with the durable_rules backend, so the
property tests can check one against the other (``evaluator="oracle"``).
"""

from __future__ import annotations

from collections.abc import Mapping

from calfrules.rules.condition import to_text
from calfrules.rules.evaluate import evaluate
from calfrules.rules.firing import Firing
from calfrules.rules.program import CompiledRule, Program
from calfrules.rules.vocabulary import Value


def run(program: Program, known: Mapping[str, Value]) -> list[Firing]:
    """Fire rules to a fixpoint by brute force; returns firings in the order found."""
    facts: dict[str, Value] = dict(known)
    fired: list[Firing] = []
    done: set[int] = set()
    changed = True
    while changed:
        changed = False
        for rule in program.rules:
            if rule.index in done or not evaluate(rule.expr, facts.get):
                continue
            done.add(rule.index)
            fired.append(Firing(rule.index, _matched(rule, facts)))
            for name in rule.outputs:
                facts[name] = True
            changed = True
    return fired


def _matched(rule: CompiledRule, facts: Mapping[str, Value]) -> dict[str, Value]:
    """The facts behind a firing: every literal of every alternative that holds.

    (The decision to fire came from the condition tree itself; the alternatives only say
    which facts to show, and must agree with that decision.)
    """
    matched: dict[str, Value] = {}
    for branch in rule.branches:
        if all(evaluate(atom, facts.get) == positive for atom, positive in branch):
            for atom, positive in branch:
                if positive:
                    matched[atom.name] = facts[atom.name]
                else:
                    matched["not " + to_text(atom)] = True
    if not matched and rule.branches:
        raise AssertionError(f"rule {rule.rule.id} fired but none of its alternatives holds")
    return matched
