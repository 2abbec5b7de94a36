"""Hypothesis strategies for condition trees, shared by the condition, fuzz and outcome-plan tests."""

from __future__ import annotations

from hypothesis import strategies as st

from calfrules.rules.condition import And, Expr, Not, Or


def condition_trees(
    leaves: st.SearchStrategy[Expr], *, max_leaves: int, max_operands: int = 4, line: int = 0
) -> st.SearchStrategy[Expr]:
    """Trees of ``not``, ``and`` and ``or`` (2 to ``max_operands`` operands) over ``leaves``."""
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.builds(Not, inner, st.just(line)),
            st.builds(And, st.lists(inner, min_size=2, max_size=max_operands).map(tuple)),
            st.builds(Or, st.lists(inner, min_size=2, max_size=max_operands).map(tuple)),
        ),
        max_leaves=max_leaves,
    )
