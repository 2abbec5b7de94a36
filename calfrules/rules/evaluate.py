"""Evaluating a condition on what is known: the one evaluator every part shares.

The oracle, the red-flag floor, the screen and the explanation all decide with
``evaluate``; the durable_rules backend decides with its own compiled patterns, and
the property tests check that the two agree. ``compile_check`` turns a condition into a
Python function that decides exactly as ``evaluate`` (for conditions tested on every case).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping

from calfrules.rules.condition import And, Answer, Compare, Expr, Not, Or, Truthy
from calfrules.rules.vocabulary import Value

Lookup = Callable[[str], "Value | None"]
Check = Callable[[Lookup], bool]


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


_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


def compile_check(expr: Expr) -> Check:
    """``expr`` as a function of a lookup that decides as ``evaluate`` does, made once per program."""
    if isinstance(expr, Truthy):
        name = expr.name
        return lambda look: look(name) is True
    if isinstance(expr, Compare):
        return _compare_check(expr)
    if isinstance(expr, Answer):
        name = expr.name
        if expr.answer == "no":
            return lambda look: look(name) is False
        return lambda look: look(name) is not None
    if isinstance(expr, Not):
        operand = compile_check(expr.operand)
        return lambda look: not operand(look)
    if isinstance(expr, (And, Or)):
        parts = tuple(compile_check(op) for op in expr.operands)
        return _all_of(parts) if isinstance(expr, And) else _any_of(parts)
    raise TypeError(f"not a condition: {expr!r}")


# loops rather than all()/any() over a generator: no generator to make on every call


def _all_of(parts: tuple[Check, ...]) -> Check:
    if len(parts) == 2:
        first, second = parts
        return lambda look: first(look) and second(look)

    def check(look: Lookup) -> bool:
        for part in parts:  # noqa: SIM110
            if not part(look):
                return False
        return True

    return check


def _any_of(parts: tuple[Check, ...]) -> Check:
    if len(parts) == 2:
        first, second = parts
        return lambda look: first(look) or second(look)

    def check(look: Lookup) -> bool:
        for part in parts:  # noqa: SIM110
            if part(look):
                return True
        return False

    return check


def _compare_check(expr: Compare) -> Check:
    # as _compare: no value, a yes/no, or text against a number (or the reverse) never holds
    name, expected = expr.name, expr.value
    if isinstance(expected, str):
        if expr.op == "==":
            return lambda look: isinstance(value := look(name), str) and value == expected
        if expr.op == "!=":
            return lambda look: isinstance(value := look(name), str) and value != expected
        return lambda look: False
    compare = _NUMERIC[expr.op]

    def check(look: Lookup) -> bool:
        value = look(name)
        return isinstance(value, (int, float)) and not isinstance(value, bool) and compare(value, expected)

    return check


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
