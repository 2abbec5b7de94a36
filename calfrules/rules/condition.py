"""The ``when`` condition language: parse safely (never ``eval``) into a small AST.

Grammar, loosest binding first::

    expr    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | atom
    atom    := NAME | NAME CMP value | NAME "in" "[" value ("," value)* "]"
             | NAME "is" ["not"] ("yes" | "no" | "recorded") | "(" expr ")"
    CMP     := ">=" | "<=" | ">" | "<" | "==" | "!="
    value   := NUMBER | "string" | 'string'

A bare NAME is true when that yes/no finding is yes, or when a rule has
concluded or derived that name. A finding has three states: yes, no (asked, and
absent) and not recorded. ``not x`` holds for both "no" and "not recorded";
``x is no`` holds only for a recorded no, and ``x is recorded`` for any recorded
value (``x is not recorded``: nobody recorded it).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from calfrules.rules.condition_messages import describe_char, describe_token
from calfrules.rules.errors import ConditionError
from calfrules.rules.numbers import format_number
from calfrules.rules.private_cache import private_cache_file

if TYPE_CHECKING:  # lark is imported on the first parse that misses the cache (~20 ms of start-up)
    from lark import Lark, Token, Transformer

Scalar = Union[float, str]

_GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr -> negate
         | atom
?atom: NAME -> truthy
     | NAME CMP value -> compare
     | NAME _IN "[" value ("," value)* "]" -> member
     | NAME _IS ANSWER -> answer
     | NAME _IS _NOT ANSWER -> answer_not
     | "(" or_expr ")"
value: SIGNED_NUMBER -> number
     | ESCAPED_STRING -> string
     | SINGLE_STRING -> string
CMP: ">=" | "<=" | "==" | "!=" | ">" | "<"
_OR.2: /or\b/
_AND.2: /and\b/
_NOT.2: /not\b/
_IN.2: /in\b/
_IS.2: /is\b/
ANSWER.3: /(?:yes|no|recorded)\b/
NAME: /(?!(?:and|or|not|in|is)\b)[a-z_][a-z0-9_]*/
SINGLE_STRING: /'[^'\\]*'/
%import common.SIGNED_NUMBER
%import common.ESCAPED_STRING
%import common.WS
%ignore WS
"""

MAX_CONDITION_LENGTH = 4000
MAX_NESTING = 40


@dataclass(frozen=True)
class Truthy:
    """A yes/no finding is yes, or a concluded/derived fact holds."""

    name: str
    column: int

    def key(self) -> str:
        return self.name


@dataclass(frozen=True)
class Compare:
    """A number or choice finding compared with a constant."""

    name: str
    op: str
    value: Scalar
    column: int

    def key(self) -> str:
        return f"{self.name}{self.op}{self.value!r}"


ANSWERS: tuple[str, ...] = ("yes", "no", "recorded")


@dataclass(frozen=True)
class Answer:
    """What was recorded for a finding: ``x is no`` (asked, and absent) or ``x is recorded``.

    Known before the rules run, like a ``not``; ``x is yes`` parses to a plain ``x``.
    """

    name: str
    answer: str  # "no" or "recorded"
    column: int

    def key(self) -> str:
        return f"{self.name} is {self.answer}"


Atom = Union[Truthy, Compare, Answer]


@dataclass(frozen=True)
class Not:
    operand: Expr
    column: int


@dataclass(frozen=True)
class And:
    operands: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Expr, ...]


Expr = Union[Truthy, Compare, Answer, Not, And, Or]


def _col(token: Token) -> int:
    return int(token.column or 1)


def _first_column(expr: Expr) -> int:
    if isinstance(expr, (Truthy, Compare, Answer, Not)):
        return expr.column
    return _first_column(expr.operands[0])


@functools.cache
def _to_ast() -> Transformer[Token, Expr]:
    """The lark tree to our AST; built on first use so importing this module does not import lark."""
    from lark import Token, Transformer

    class _ToAst(Transformer[Token, Expr]):
        def truthy(self, items: list[Token]) -> Expr:
            (name,) = items
            return Truthy(str(name), _col(name))

        def compare(self, items: list[object]) -> Expr:
            name, op, value = items
            assert isinstance(name, Token) and isinstance(op, Token)
            return Compare(str(name), str(op), value, _col(name))  # type: ignore[arg-type]

        def member(self, items: list[object]) -> Expr:
            name = items[0]
            assert isinstance(name, Token)
            options = tuple(Compare(str(name), "==", v, _col(name)) for v in items[1:])  # type: ignore[arg-type]
            return options[0] if len(options) == 1 else Or(options)

        def answer(self, items: list[Token]) -> Expr:
            name, answer = items
            if str(answer) == "yes":
                return Truthy(str(name), _col(name))
            return Answer(str(name), str(answer), _col(name))

        def answer_not(self, items: list[Token]) -> Expr:
            atom = self.answer(items)
            return Not(atom, _first_column(atom))

        def negate(self, items: list[Expr]) -> Expr:
            (operand,) = items
            return Not(operand, _first_column(operand))

        def and_expr(self, items: list[Expr]) -> Expr:
            return And(tuple(items))

        def or_expr(self, items: list[Expr]) -> Expr:
            return Or(tuple(items))

        def number(self, items: list[Token]) -> float:
            return round(float(items[0]), 6)  # as findings are (vocabulary.DECIMALS)

        def string(self, items: list[Token]) -> str:
            return str(items[0])[1:-1]

    return _ToAst()


@functools.cache
def _parser() -> Lark:
    # Building the LALR tables takes ~20 ms of every start-up; lark can keep them in a file it
    # checks against the grammar's hash and lark's version. Only in a private folder of ours:
    # lark's default place is the shared temp folder, where another user could plant one.
    from lark import Lark

    return Lark(
        _GRAMMAR, parser="lalr", maybe_placeholders=False, cache=private_cache_file("condition-grammar.lark") or False
    )


# Every condition parsed is kept (a pack's are parsed to validate it, then again to compile it):
# an LRU thrashed past its size, so 6,500 rules compiled 5x slower. Past the budget (in characters
# of text: a parse takes about 10 bytes per character, so at most ~80 MB, 80,000 typical
# conditions) new texts are parsed each time but nothing is evicted: the cost never jumps.
_PARSED: dict[str, Expr] = {}
PARSED_BUDGET = 8_000_000
_parsed_chars = 0


def parse(text: str) -> Expr:
    """Parse a condition; raises ConditionError with the column of the problem."""
    expr = _PARSED.get(text) if isinstance(text, str) else None
    if expr is None:
        expr = _parse(text)
        remember(text, expr)
    return expr


def remember(text: str, expr: Expr) -> None:
    """Keep a parse (``parse(text)`` gave ``expr``, here or in an earlier process: the ruleset cache)."""
    global _parsed_chars
    if text not in _PARSED and _parsed_chars + len(text) <= PARSED_BUDGET:
        _PARSED[text] = expr
        _parsed_chars += len(text)


def _parse(text: str) -> Expr:
    from lark import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

    if not isinstance(text, str) or not text.strip():
        raise ConditionError("the condition is empty; write for example: calf_pain and swelling")
    if len(text) > MAX_CONDITION_LENGTH:
        raise ConditionError(f"the condition is longer than {MAX_CONDITION_LENGTH} characters", text=text)
    if _max_paren_depth(text) > MAX_NESTING:
        raise ConditionError(f"brackets nest deeper than {MAX_NESTING} levels", text=text)
    try:
        tree = _parser().parse(text)
    except UnexpectedCharacters as exc:
        raise ConditionError(describe_char(text, exc), column=exc.column, text=text) from None
    except UnexpectedToken as exc:
        column = len(text.rstrip()) + 1 if exc.token.type == "$END" else exc.column
        raise ConditionError(describe_token(exc), column=column, text=text) from None
    except UnexpectedInput as exc:  # end of input and other cases
        column = len(text) + 1
        raise ConditionError("the condition ends too early", column=column, text=text) from exc
    except RecursionError:
        raise ConditionError(_TOO_DEEP, text=text) from None
    try:
        expr = _to_ast().transform(tree)
    except RecursionError:
        raise ConditionError(_TOO_DEEP, text=text) from None
    if _depth(expr) > MAX_TREE_DEPTH:
        raise ConditionError(_TOO_DEEP, text=text)
    for atom, _ in atoms(expr):
        if isinstance(atom, Compare) and isinstance(atom.value, float) and not math.isfinite(atom.value):
            raise ConditionError("numbers must be finite", column=atom.column, text=text)
    return expr


# and/or/not levels: room for MAX_NESTING brackets alternating and/or, plus some 'not's
MAX_TREE_DEPTH = 2 * MAX_NESTING + 2
_TOO_DEEP = "the condition nests too deeply (brackets, and/or, repeated 'not'); simplify it"


def _depth(expr: Expr) -> int:
    """How deeply the tree nests, without recursion (a hostile text may nest very deeply)."""
    deepest = 0
    stack: list[tuple[Expr, int]] = [(expr, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(node, Not):
            stack.append((node.operand, level + 1))
        elif isinstance(node, (And, Or)):
            stack.extend((operand, level + 1) for operand in node.operands)
    return deepest


def _max_paren_depth(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth -= 1
    return deepest


def atoms(expr: Expr) -> Iterator[tuple[Atom, bool]]:
    """Every atom with whether it sits under an odd number of ``not``."""
    yield from _atoms(expr, False)


def _atoms(expr: Expr, negated: bool) -> Iterator[tuple[Atom, bool]]:
    if isinstance(expr, (Truthy, Compare, Answer)):
        yield expr, negated
    elif isinstance(expr, Not):
        yield from _atoms(expr.operand, not negated)
    else:
        for operand in expr.operands:
            yield from _atoms(operand, negated)


def names(expr: Expr) -> set[str]:
    return {atom.name for atom, _ in atoms(expr)}


# A literal is an atom and whether it must hold (True) or must not hold (False).
Literal = tuple[Atom, bool]
MAX_BRANCHES = 64


def to_dnf(expr: Expr) -> list[tuple[Literal, ...]]:
    """Disjunctive normal form: a list of conjunctions of literals.

    Raises ConditionError when the expansion passes MAX_BRANCHES alternatives.
    """
    branches = _dnf(expr, True)
    unique: dict[tuple[tuple[str, bool], ...], tuple[Literal, ...]] = {}
    for branch in branches:
        # one literal per (atom, sign) whatever its column; ordered so equal branches compare equal
        by_key = {(atom.key(), positive): (atom, positive) for atom, positive in branch}
        ordered = tuple(by_key[k] for k in sorted(by_key))
        unique.setdefault(tuple(sorted(by_key)), ordered)
    return list(unique.values())


def _dnf(expr: Expr, positive: bool) -> list[tuple[Literal, ...]]:
    if isinstance(expr, (Truthy, Compare, Answer)):
        return [((expr, positive),)]
    if isinstance(expr, Not):
        return _dnf(expr.operand, not positive)
    conjunctive = isinstance(expr, And) == positive  # De Morgan flips and/or under not
    parts = [_dnf(operand, positive) for operand in expr.operands]
    if not conjunctive:
        merged = [branch for part in parts for branch in part]
        _check_branches(len(merged))
        return merged
    product: list[tuple[Literal, ...]] = [()]
    for part in parts:
        _check_branches(len(product) * len(part))
        product = [left + right for left in product for right in part]
    return product


def _check_branches(count: int) -> None:
    if count > MAX_BRANCHES:
        raise ConditionError(
            f"the condition expands to more than {MAX_BRANCHES} alternatives; split it into several rules"
        )


def to_text(expr: Expr) -> str:
    """Canonical text of a condition (used in explanations)."""
    if isinstance(expr, Truthy):
        return expr.name
    if isinstance(expr, Compare):
        value = _format_value(expr.value)
        return f"{expr.name} {expr.op} {value}"
    if isinstance(expr, Answer):
        return expr.key()
    if isinstance(expr, Not):
        if isinstance(expr.operand, Answer):
            return f"{expr.operand.name} is not {expr.operand.answer}"
        inner = to_text(expr.operand)
        return f"not {inner}" if isinstance(expr.operand, (Truthy, Not)) else f"not ({inner})"
    joiner = " and " if isinstance(expr, And) else " or "
    return joiner.join(f"({to_text(op)})" if isinstance(op, (And, Or)) else to_text(op) for op in expr.operands)


def _format_value(value: Scalar) -> str:
    if isinstance(value, str):
        # quoted as the grammar reads it back (repr would escape odd characters with backslashes)
        if "'" not in value and "\\" not in value:
            return f"'{value}'"
        if '"' not in value:
            return f'"{value}"'
        return repr(value)  # both kinds of quote: the grammar has no way to write it
    return format_number(value)
