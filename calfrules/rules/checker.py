"""Checking a condition against what its names can refer to: the one checker.

The compiler uses it for every rule, floor entry and screen group, and the TUI's
rule form uses it while the physio types, so both give the same message.
"""

from __future__ import annotations

from collections.abc import Iterable

from calfrules.rules import condition
from calfrules.rules.condition import Answer, Atom, Expr, Truthy
from calfrules.rules.errors import ConditionError, RulesetError
from calfrules.rules.model import ConditionInfo, Ruleset
from calfrules.rules.vocabulary import Vocabulary, suggest


class Names:
    """What a name in a condition can refer to."""

    def __init__(self, vocabulary: Vocabulary, scores: Iterable[str], rulesets: Iterable[Ruleset]) -> None:
        self.vocabulary = vocabulary
        self.scores = set(scores)
        self.conditions: dict[str, ConditionInfo] = {}
        self.derived: set[str] = set()
        for ruleset in rulesets:
            for info in ruleset.conditions:
                self.conditions.setdefault(info.id, info)
            for rule in ruleset.rules:
                self.derived.update(rule.derive)

    def all(self) -> list[str]:
        return [*self.vocabulary.findings, *self.scores, *self.conditions, *self.derived]

    def is_known_before_run(self, name: str) -> bool:
        return name in self.vocabulary or name in self.scores


def check_condition(text: str, names: Names, where: str, rule_id: str, *, allow_derived_negation: bool = False) -> Expr:
    try:
        expr = condition.parse(text)
    except ConditionError as exc:
        raise RulesetError(f"in 'when': {exc.message}", source=where, rule=rule_id, column=exc.column) from None
    for atom, negated in condition.atoms(expr):
        problem = atom_problem(atom, negated, names, allow_derived_negation)
        if problem:
            raise RulesetError(f"in 'when': {problem}", source=where, rule=rule_id, column=atom.column)
    return expr


def atom_problem(atom: Atom, negated: bool, names: Names, allow_derived_negation: bool) -> str | None:
    name = atom.name
    finding = names.vocabulary.findings.get(name)
    if isinstance(atom, Answer):
        if finding is None:
            return f"'{atom.key()}': only a finding is recorded or not; {name} is not a finding"
        if atom.answer == "no" and finding.type != "bool":
            return f"'{atom.key()}': {name} is not yes/no; write {name} is recorded, or compare it"
        return None
    if finding is None and name not in names.scores and name not in names.conditions and name not in names.derived:
        hint = suggest(name, names.all())
        tip = f"; did you mean {', '.join(hint)}?" if hint else ""
        return f"unknown id {name!r}{tip}"
    if negated and not allow_derived_negation and not names.is_known_before_run(name):
        return (
            f"'not {name}': {name} is concluded by rules, and 'not' may only test findings "
            "and scores (what is known before the rules run)"
        )
    is_number = (finding is not None and finding.type == "number") or name in names.scores
    if isinstance(atom, Truthy):
        if is_number:
            return f"{name} is a number: compare it, for example {name} >= 1"
        if finding is not None and finding.type == "choice":
            return f"{name} is a choice: compare it, for example {name} == {finding.choices[0]!r}"
        return None
    if finding is None and not is_number:
        return f"{name} is yes/no: write {name}, not {name} or {name} is no, not a comparison"
    if is_number:
        if isinstance(atom.value, str):
            return f"{name} is a number: compare it with a number, not {atom.value!r}"
        return None
    assert finding is not None
    if finding.type == "bool":
        return f"{name} is yes/no: write {name}, not {name} or {name} is no, not a comparison"
    if atom.op not in ("==", "!="):
        return f"{name} is a choice: use == or != (or in [...])"
    if atom.value not in finding.choices:
        return f"{atom.value!r} is not a choice of {name}; use one of {', '.join(finding.choices)}"
    return None
