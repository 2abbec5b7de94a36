"""What a reader sees for a fact: a finding's vocabulary label with its recorded value, a
condition's or score's label, a derived fact as words; never a snake_case id."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from calfrules.engine.assessment import Assessment
from calfrules.rules.numbers import format_number
from calfrules.rules.vocabulary import Value, Vocabulary


def humanise(name: str) -> str:
    """An id as words, for facts nothing labels (derived facts such as ``strain_grade_2``)."""
    return name.replace("_", " ").strip()


class Labels:
    """Names for the facts of one assessment.

    Without a vocabulary (a caller holding only an assessment) findings read as their id in
    words; with one they read as its label.
    """

    def __init__(self, assessment: Assessment, vocabulary: Vocabulary | None = None) -> None:
        self.vocabulary = vocabulary
        self.others: dict[str, str] = {score.id: score.label for score in assessment.scores}
        self.others.update((flag.id, flag.label) for flag in assessment.red_flags)
        self.others.update((condition.id, condition.label) for condition in assessment.conditions)

    def is_finding(self, name: str) -> bool:
        return self.vocabulary is not None and name in self.vocabulary

    def name(self, name: str) -> str:
        if self.vocabulary is not None and name in self.vocabulary:
            return self.vocabulary[name].label
        if name in self.others:
            return self.others[name]
        words = humanise(name)
        return words[:1].upper() + words[1:]

    def value(self, name: str, value: Value) -> str:
        """One fact as recorded: "Pop or snap felt: yes", "Calf circumference difference: 3.5 cm";
        a derived fact or a condition (always true when shown) is just its name."""
        if value is True and not self.is_finding(name) and (self.vocabulary is not None or name in self.others):
            return self.name(name)
        if isinstance(value, bool):
            return f"{self.name(name)}: {'yes' if value else 'no'}"
        if isinstance(value, (int, float)):
            unit = self.vocabulary[name].unit if self.is_finding(name) and self.vocabulary is not None else None
            return f"{self.name(name)}: {format_number(value)}{f' {unit}' if unit else ''}"
        return f"{self.name(name)}: {humanise(value)}"

    def facts(self, matched: Mapping[str, Value], unrecorded: Iterable[str] = ()) -> str:
        """What was recorded, as recorded, then what nobody recorded, named apart (never as a no)."""
        shown = ", ".join(self.value(name, value) for name, value in matched.items())
        missing = self.names(unrecorded)
        if not missing:
            return shown or "nothing recorded"
        return f"{shown}; not recorded: {missing}" if shown else f"not recorded: {missing}"

    def names(self, ids: Iterable[str]) -> str:
        return ", ".join(self.name(name) for name in ids)
