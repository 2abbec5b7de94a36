"""A deliberately simple pure-Python evaluator of the same rules: the oracle.

It walks the condition tree directly and loops over every rule until nothing
changes. It shares no matching code with the durable_rules path, so the two can
check each other, and the red-flag floor uses it to stay independent of
durable_rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .compiler import CompiledRule, Program
from .condition import And, Answer, Compare, Expr, Not, Or, Truthy, to_text
from .firing import Firing
from .vocabulary import Value

Lookup = Callable[[str], "Value | None"]


def evaluate(expr: Expr, lookup: Lookup) -> bool:
    if isinstance(expr, Truthy):
        return lookup(expr.name) is True
    if isinstance(expr, Compare):
        return _compare(lookup(expr.name), expr.op, expr.value)
    if isinstance(expr, Answer):
        value = lookup(expr.name)
        return value is False if expr.answer == "no" else value is not None
    if isinstance(expr, Not):
        return not evaluate(expr.operand, lookup)
    if isinstance(expr, And):
        return all(evaluate(op, lookup) for op in expr.operands)
    if isinstance(expr, Or):
        return any(evaluate(op, lookup) for op in expr.operands)
    raise TypeError(f"not a condition: {expr!r}")


def _compare(actual: Value | None, op: str, expected: float | str) -> bool:
    if actual is None or isinstance(actual, bool):
        return False
    if isinstance(actual, str) != isinstance(expected, str):
        return False
    if op == "==":
        return actual == expected
    if op == "!=":
        return actual != expected
    if isinstance(actual, str) or isinstance(expected, str):
        return False
    if op == ">=":
        return actual >= expected
    if op == "<=":
        return actual <= expected
    if op == ">":
        return actual > expected
    return actual < expected


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


class Prover:
    """Backward chaining for the floor: is this name concluded, starting from the findings?"""

    def __init__(self, producers: Mapping[str, list[Expr]], known: Mapping[str, Value]) -> None:
        self.known = known
        self.memo: dict[str, bool] = {}
        self.producers = producers  # derived name -> the conditions of the rules that derive it

    def lookup(self, name: str) -> Value | None:
        if name in self.known:
            return self.known[name]
        if name not in self.producers:
            return None
        if name not in self.memo:
            self.memo[name] = False  # breaks cycles: a name cannot prove itself
            self.memo[name] = any(evaluate(expr, self.lookup) for expr in self.producers[name])
        return True if self.memo[name] else None
