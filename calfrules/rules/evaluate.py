"""Evaluating a condition on what is known: the one evaluator every part shares.

The oracle, the red-flag floor, the screen and the explanation all decide with
``evaluate``; the durable_rules backend decides with its own compiled patterns, and
the property tests check that the two agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from calfrules.rules.condition import And, Answer, Compare, Expr, Not, Or, Truthy
from calfrules.rules.vocabulary import Value

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
