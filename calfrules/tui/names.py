"""What a ``when`` condition may name, for live validation and completion (headless)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from calfrules.engine.engine import Engine
from calfrules.rules import condition
from calfrules.rules.errors import ConditionError
from calfrules.rules.vocabulary import suggest

_LAST_WORD = re.compile(r"[a-z_][a-z0-9_]*$")
_KEYWORDS = ("and", "or", "not", "in")


@dataclass(frozen=True)
class KnownNames:
    findings: dict[str, str] = field(default_factory=dict)  # id -> type (bool, number, choice)
    scores: frozenset[str] = frozenset()
    derived: frozenset[str] = frozenset()  # conditions and derived facts
    conditions: frozenset[str] = frozenset()  # conditions some ruleset declares

    @classmethod
    def from_engine(cls, engine: Engine) -> KnownNames:
        return cls(
            {f.id: f.type for f in engine.vocabulary},
            frozenset(engine.registry.derivers),
            frozenset(engine.program.derived_names),
            frozenset(engine.program.conditions),
        )

    def all(self) -> list[str]:
        return sorted({*self.findings, *self.scores, *self.derived})

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
    """The first problem in a condition, with its column, or None when it is fine."""
    try:
        expr = condition.parse(text)
        condition.to_dnf(expr)
    except ConditionError as exc:
        return exc
    for atom, negated in condition.atoms(expr):
        problem = _atom_problem(atom, negated, names)
        if problem:
            return ConditionError(problem, column=atom.column, text=text)
    return None


def _atom_problem(atom: condition.Atom, negated: bool, names: KnownNames) -> str | None:
    name = atom.name
    kind = names.findings.get(name) or ("number" if name in names.scores else None)
    if kind is None and name not in names.derived:
        hint = suggest(name, names.all())
        return f"unknown id {name!r}" + (f"; did you mean {', '.join(hint)}?" if hint else "")
    if negated and kind is None:
        return f"'not {name}': {name} is concluded by rules; 'not' may only test findings and scores"
    if isinstance(atom, condition.Truthy) and kind in ("number", "choice"):
        return f"{name} is a {kind}: compare it, for example {name} {'>= 1' if kind == 'number' else '== ...'}"
    if isinstance(atom, condition.Compare) and kind in (None, "bool"):
        return f"{name} is yes/no: write {name} or not {name}, not a comparison"
    return None
