"""How a lark parse error of a ``when`` condition is worded for a ruleset author."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lark import UnexpectedCharacters, UnexpectedToken


def describe_char(text: str, exc: UnexpectedCharacters) -> str:
    pos = exc.pos_in_stream or 0
    char = text[pos] if 0 <= pos < len(text) else "?"
    if char.isupper():
        return f"unexpected {char!r}: ids are lower case (letters, digits and _)"
    if char == "=":
        return "unexpected '=': compare with == (two equals signs)"
    if char in "&|!":
        return f"unexpected {char!r}: write and, or, not"
    return f"unexpected character {char!r}"


def describe_token(exc: UnexpectedToken) -> str:
    token = exc.token
    if token.type == "$END":
        return "the condition ends too early: something is missing at the end"
    shown = str(token)
    expected = sorted(_friendly(e) for e in exc.expected)
    hint = f"; expected {', '.join(dict.fromkeys(expected))}" if expected else ""
    return f"unexpected {shown!r}{hint}"


_FRIENDLY = {
    "NAME": "a finding id",
    "CMP": "a comparison (>=, <=, ==, !=, >, <)",
    "_AND": "and",
    "_OR": "or",
    "_NOT": "not",
    "_IN": "in",
    "_IS": "is",
    "ANSWER": "yes, no or recorded",
    "LPAR": "(",
    "RPAR": ")",
    "LSQB": "[",
    "RSQB": "]",
    "COMMA": ",",
    "SIGNED_NUMBER": "a number",
    "ESCAPED_STRING": "a quoted value",
    "SINGLE_STRING": "a quoted value",
}


def _friendly(terminal: str) -> str:
    return _FRIENDLY.get(terminal, terminal.lower())
