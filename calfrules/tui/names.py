"""What a ``when`` condition may name, for live validation and completion (headless).

The verdict on a condition comes from ``calfrules.rules.checker``, the checker the
compiler runs on every rule, so the rule form says what ``calfrules check`` would.
"""

from __future__ import annotations

import re

from calfrules.engine.engine import Engine
from calfrules.rules import condition
from calfrules.rules.checker import Names, check_condition
from calfrules.rules.errors import ConditionError, RulesetError
from calfrules.rules.vocabulary import Vocabulary

_LAST_WORD = re.compile(r"[a-z_][a-z0-9_]*$")
_KEYWORDS = ("and", "or", "not", "in", "is", "yes", "no", "recorded")
# check_condition words its problems for a ruleset file; the form shows them under the 'when' box
_IN_WHEN = "in 'when': "


class KnownNames:
    """The checker's names of the engine last built, plus completion of a half-typed id."""

    def __init__(self, names: Names | None = None) -> None:
        self.checker = names if names is not None else Names(Vocabulary(), (), ())

    @classmethod
    def from_engine(cls, engine: Engine) -> KnownNames:
        """The names the compiler checked this engine's rules against."""
        registry = engine.registry
        return cls(Names(registry.vocabulary, registry.derivers, [entry.ruleset for entry in registry.rulesets]))

    @property
    def conditions(self) -> frozenset[str]:
        """Conditions some ruleset declares."""
        return frozenset(self.checker.conditions)

    @property
    def concluded(self) -> frozenset[str]:
        """What rules can conclude or derive: declared conditions and derived facts."""
        return frozenset(self.checker.conditions) | frozenset(self.checker.derived)

    def all(self) -> list[str]:
        return sorted(set(self.checker.all()))

    def complete(self, text: str) -> str | None:
        """``text`` with its last, unfinished word completed to a known id (None: nothing fits)."""
        match = _LAST_WORD.search(text)
        if not match or match.group() in _KEYWORDS:
            return None
        prefix = match.group()
        for name in self.all():
            if name.startswith(prefix) and name != prefix:
                return text[: match.start()] + name
        return None


def check_when(text: str, names: KnownNames) -> ConditionError | None:
    """The first problem in a condition, with its column, or None when the compiler would accept it."""
    try:
        expr = check_condition(text, names.checker, "", "")
        condition.to_dnf(expr)
    except RulesetError as exc:
        return ConditionError(exc.message.removeprefix(_IN_WHEN), column=exc.column, text=text)
    except ConditionError as exc:
        return exc
    return None


_DID_YOU_MEAN = re.compile(r"unknown id '([a-z0-9_]+)'; did you mean ([a-z0-9_]+)")


def suggested_fix(text: str, problem: ConditionError | None) -> str | None:
    """``text`` with the misspelt id the checker found replaced by its first "did you mean" (None: no fix)."""
    match = _DID_YOU_MEAN.search(problem.message) if problem is not None else None
    if match is None:
        return None
    wrong, right = match.groups()
    start = (problem.column or 1) - 1 if problem is not None else 0
    if text[start : start + len(wrong)] != wrong:
        start = text.find(wrong)
    if start < 0:
        return None
    return text[:start] + right + text[start + len(wrong) :]
