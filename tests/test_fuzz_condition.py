"""Fuzz the `when` language: any text parses or fails with one clear ConditionError; ASTs round-trip."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from calfrules.rules.condition import (
    MAX_BRANCHES,
    MAX_CONDITION_LENGTH,
    Compare,
    Expr,
    Not,
    Truthy,
    parse,
    to_dnf,
    to_text,
)
from calfrules.rules.errors import ConditionError

from condition_strategies import condition_trees

KEYWORDS = {"and", "or", "not", "in"}
names = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True).filter(lambda n: n not in KEYWORDS)
numbers = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12).map(lambda v: round(v, 6))
# choice values as a ruleset would hold them: no backslash, and not both kinds of quote
choice_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12).filter(
    lambda t: "\\" not in t and not ("'" in t and '"' in t)
)
OPS = [">=", "<=", ">", "<", "==", "!="]


def leaves() -> st.SearchStrategy[Expr]:
    truthy = st.builds(Truthy, names, st.just(0))
    number = st.builds(Compare, names, st.sampled_from(OPS), numbers, st.just(0))
    choice = st.builds(Compare, names, st.sampled_from(["==", "!="]), choice_text, st.just(0))
    return st.one_of(truthy, number, choice)


def trees() -> st.SearchStrategy[Expr]:
    return condition_trees(leaves(), max_leaves=24)


def without_columns(expr: Expr) -> Expr:
    if isinstance(expr, (Truthy, Compare)):
        return dataclasses.replace(expr, column=0)
    if isinstance(expr, Not):
        return Not(without_columns(expr.operand), 0)
    return type(expr)(tuple(without_columns(op) for op in expr.operands))


@given(st.text(max_size=300))
@example("not " * 2000 + "x")
@example("(" * 41 + "x" + ")" * 41)
@example("x >= 1e400")
@example("x >= " + "9" * 3000)
@example("x in [" + ", ".join(["1"] * 600) + "]")
@example("\x00")
@example("é and ü")
@example("x == '\ud800'")
def test_any_text_parses_or_fails_clearly(text: str) -> None:
    try:
        expr = parse(text)
    except ConditionError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    # what parses can be printed and parsed again (an `in` list printed as `or`s may grow too long)
    text_again = to_text(expr)
    if len(text_again) <= MAX_CONDITION_LENGTH:
        assert without_columns(parse(text_again)) == without_columns(expr)
    try:
        to_dnf(expr)
    except ConditionError as exc:
        assert str(MAX_BRANCHES) in str(exc)


@given(trees())
def test_valid_trees_round_trip_through_text(expr: Expr) -> None:
    text = to_text(expr)
    try:
        parsed = parse(text)
    except ConditionError as exc:  # only the documented limits may refuse a valid tree
        assert "longer than" in str(exc) or "nests too deeply" in str(exc), (text, exc)
        return
    assert without_columns(parsed) == without_columns(expr), text
    assert to_text(parsed) == text


@pytest.mark.parametrize("value", ["\ud800", "a\tb", "it's", "é", 'say "hi"', "back\\slash"])
def test_choice_values_print_as_the_grammar_reads_them(value: str) -> None:
    expr = Compare("side", "==", value, 1)
    assert parse(to_text(expr)) == expr  # repr() used to print '\\ud800', which does not parse


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not " * 900 + "x", "nests too deeply"),  # was a RecursionError
        ("x >= 1e400", "numbers must be finite"),  # was accepted as infinity
        ("x < -1e999", "numbers must be finite"),
    ],
)
def test_regressions_found_by_fuzzing(text: str, message: str) -> None:
    with pytest.raises(ConditionError, match=message):
        parse(text)
