"""What a reader sees for a fact: a finding's vocabulary label with its recorded value, a
condition's or score's label, a derived fact as words; never a snake_case id. And the short
forms one screen uses: an advice item's name, a reason's gist, which advice is for now."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from calfrules.engine.assessment import Assessment, RecommendationResult
from calfrules.rules.levels import Level
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


# advice for a later stage of recovery: named in passing by default, in full with --full
LATER_KINDS = frozenset({"exercise", "prevention", "return_to_run"})
_NAME_LENGTH = 40  # an advice item named in passing, the whole of it in the full view
_CLAUSE = re.compile(r"(, |; |: )")
# a clause opening with one of these says when, not what: "Once the calf no longer hurts, stretch..."
_WHEN_WORDS = ("once", "before", "after", "when", "from", "until", "if", "while", "unless", "as soon as")


def short_name(text: str) -> str:
    """A few words naming a piece of advice, from its first sentence: the clauses that say what to
    do ("Once the calf no longer hurts, stretch both calves..." -> "Stretch both calves slowly
    after runs"), with a short lead such as "Stage 2" kept, cut at a word if still long."""
    sentence = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0].rstrip(".!?")
    sentence = re.sub(r"\s*\([^)]*\)", "", sentence)  # an aside is for the full text
    parts = _CLAUSE.split(sentence)
    clauses = [clause for clause in parts[::2] if not _says_when(clause)] or parts[:1]
    name = clauses[0]
    for clause in clauses[1:]:
        if len(name) >= 12 or len(name) + len(clause) + 3 > _NAME_LENGTH:
            break  # the name already says what: "Test yourself", not "Test yourself: stand on..."
        name = f"{name}: {clause}"
    if len(name) > _NAME_LENGTH:
        name = name[: _NAME_LENGTH - 1].rsplit(" ", 1)[0].rstrip(",;:-") + "…"
    return name[:1].upper() + name[1:]


def _says_when(clause: str) -> bool:
    words = clause.lower().removeprefix("and ").removeprefix("but ").removeprefix("only ")
    return any(words == word or words.startswith(f"{word} ") for word in _WHEN_WORDS)


def gist(text: str) -> str:
    """A reason's first sentence, or its first part before a semicolon (the rest in --full)."""
    cut = re.search(r"[.;] ", text)
    return text if cut is None else text[: cut.start()] + " (…)"


def now_and_later(
    recs: Iterable[RecommendationResult], level: Level
) -> tuple[list[RecommendationResult], list[RecommendationResult]]:
    """Advice for now (getting care, stopping, first aid, warnings; self-care at the self-care
    level) and for later stages (exercises, prevention, return to running, and self-care while a
    clinician is awaited). With nothing for now, everything is now."""
    later_kinds = LATER_KINDS if level == Level.SELF_CARE else LATER_KINDS | {"self_care"}
    now = [rec for rec in recs if rec.kind not in later_kinds]
    later = [rec for rec in recs if rec.kind in later_kinds]
    return (now, later) if now else (later, [])
