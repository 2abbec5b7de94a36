from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calfrules.rules import condition
from calfrules.rules.condition import And, Answer, Compare, Not, Or, Truthy
from calfrules.rules.errors import ConditionError
from calfrules.rules.private_cache import private_cache_file

from condition_strategies import condition_trees


def test_parses_the_example_from_the_design() -> None:
    expr = condition.parse("swelling_unilateral and calf_circumference_diff_cm >= 3")
    assert isinstance(expr, And)
    assert expr.operands[0] == Truthy("swelling_unilateral", 1)
    assert expr.operands[1] == Compare("calf_circumference_diff_cm", ">=", 3.0, 25)


def test_precedence_not_binds_tighter_than_and_than_or() -> None:
    expr = condition.parse("a or not b and c")
    assert isinstance(expr, Or)
    right = expr.operands[1]
    assert isinstance(right, And) and isinstance(right.operands[0], Not)


def test_keywords_inside_names_are_names() -> None:
    expr = condition.parse("notable and android or index")
    assert condition.names(expr) == {"notable", "android", "index"}


def test_three_states_yes_no_and_not_recorded() -> None:
    from calfrules.rules.evaluate import evaluate

    recorded_no = condition.parse("fever is no")
    unrecorded = condition.parse("fever is not recorded")
    not_yes = condition.parse("not fever")
    assert recorded_no == Answer("fever", "no", 1)
    assert condition.parse("fever is yes") == Truthy("fever", 1)
    for findings, expected in (
        ({}, (False, True, True)),
        ({"fever": False}, (True, False, True)),
        ({"fever": True}, (False, False, False)),
    ):
        got = tuple(evaluate(e, findings.get) for e in (recorded_no, unrecorded, not_yes))
        assert got == expected, findings
    assert condition.to_text(unrecorded) == "fever is not recorded"


def test_an_answer_word_must_follow_is() -> None:
    with pytest.raises(ConditionError, match="yes, no or recorded"):
        condition.parse("fever is maybe")


def test_membership_expands_to_alternatives() -> None:
    expr = condition.parse("side in ['left', 'right']")
    assert condition.to_dnf(expr) == [
        ((Compare("side", "==", "left", 1), True),),
        ((Compare("side", "==", "right", 1), True),),
    ]


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("calf_pain and", 14, "ends too early"),
        ("Calf_pain", 1, "lower case"),
        ("pain_score = 3", 12, "=="),
        ("a && b", 3, "and, or, not"),
        ("a and (b or c", 14, "ends too early"),
        ("a b", 3, "unexpected 'b'"),
    ],
)
def test_errors_point_at_the_column(text: str, column: int, words: str) -> None:
    with pytest.raises(ConditionError) as info:
        condition.parse(text)
    assert words in str(info.value)
    assert info.value.column is not None
    assert abs(info.value.column - column) <= 1
    assert "^" in info.value.pointer()


def test_never_evaluates_python() -> None:
    with pytest.raises(ConditionError):
        condition.parse("__import__('os').system('true')")


def test_empty_and_huge_conditions_are_refused_clearly() -> None:
    with pytest.raises(ConditionError, match="empty"):
        condition.parse("   ")
    with pytest.raises(ConditionError, match="nest deeper"):
        condition.parse("(" * 100 + "a" + ")" * 100)


def test_dnf_of_negated_conjunction_uses_de_morgan() -> None:
    branches = condition.to_dnf(condition.parse("not (a and b)"))
    assert branches == [((Truthy("a", 6), False),), ((Truthy("b", 12), False),)]


def test_dnf_explosion_is_refused_with_advice() -> None:
    text = " and ".join(f"(a{i} or b{i})" for i in range(8))  # 256 alternatives
    with pytest.raises(ConditionError, match="split it"):
        condition.to_dnf(condition.parse(text))


NAMES = st.sampled_from(["a", "b", "c", "pain_score", "swelling"])


def exprs() -> st.SearchStrategy[condition.Expr]:
    leaves = st.one_of(
        NAMES.map(lambda n: Truthy(n, 1)),
        st.builds(lambda n, answer: Answer(n, answer, 1), NAMES, st.sampled_from(["no", "recorded"])),
        st.builds(
            lambda n, op, v: Compare(n, op, float(v), 1),
            NAMES,
            st.sampled_from([">=", "<=", ">", "<", "==", "!="]),
            st.integers(0, 10),
        ),
    )
    return condition_trees(leaves, max_leaves=8, max_operands=3, line=1)


def _truth(expr: condition.Expr, env: dict[str, object]) -> bool:
    from calfrules.rules.evaluate import evaluate

    return evaluate(expr, env.get)  # type: ignore[arg-type]


@given(exprs(), st.dictionaries(NAMES, st.one_of(st.booleans(), st.integers(0, 10).map(float))))
def test_text_round_trip_and_dnf_keep_the_meaning(expr: condition.Expr, env: dict[str, object]) -> None:
    reparsed = condition.parse(condition.to_text(expr))
    assert _truth(reparsed, env) == _truth(expr, env)
    try:
        branches = condition.to_dnf(expr)
    except ConditionError:
        return
    from calfrules.rules.evaluate import evaluate

    def literal_holds(atom: condition.Atom, positive: bool) -> bool:
        return evaluate(atom, env.get) == positive  # type: ignore[arg-type]

    dnf_truth = any(all(literal_holds(a, p) for a, p in branch) for branch in branches)
    assert dnf_truth == _truth(expr, env)


def test_the_grammar_cache_lives_only_in_a_folder_of_ours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = private_cache_file("condition-grammar.lark")
    assert path == str(tmp_path / "calfrules" / "condition-grammar.lark")
    assert (tmp_path / "calfrules").stat().st_mode & 0o777 == 0o700
    (tmp_path / "calfrules").chmod(0o777)  # a folder others may write to: no cache at all
    assert private_cache_file("condition-grammar.lark") is None


def test_a_parser_read_from_the_grammar_cache_parses_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    text = "calf_pain and not (pain_score >= 7 or swelling is no) and sex in ['female']"
    condition._parser.cache_clear()
    try:
        first = condition._parser().parse(text)  # builds the tables and writes the cache
        assert (tmp_path / "calfrules" / "condition-grammar.lark").stat().st_size > 0
        condition._parser.cache_clear()
        assert condition._parser().parse(text) == first  # read back from the cache
    finally:
        condition._parser.cache_clear()
