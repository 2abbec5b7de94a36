"""Applying the red-flag screen to a case: which groups apply, and what is still unanswered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from calfrules.engine.assessment import RedFlagScreen
from calfrules.rules.evaluate import evaluate
from calfrules.rules.model import ScreenQuestion
from calfrules.rules.program import CompiledScreenGroup
from calfrules.rules.vocabulary import Value

# "prompt": list the unanswered questions and leave the level as it is (clinician use);
# "require": unanswered questions keep the level at see_clinician or above (self-triage).
ScreenPolicy = Literal["prompt", "require"]
SCREEN_POLICIES: tuple[str, ...] = ("prompt", "require")


def evaluate_screen(
    groups: tuple[CompiledScreenGroup, ...],
    findings: Mapping[str, Value],
    policy: ScreenPolicy,
) -> RedFlagScreen:
    """Which groups apply to the case, their questions, and which are still unanswered."""
    return ScreenPlan(groups).evaluate(findings, policy)


class ScreenPlan:
    """The screen groups of a program, with the questions of each set of groups worked out once."""

    def __init__(
        self, groups: tuple[CompiledScreenGroup, ...], needs: tuple[tuple[frozenset[str], ...], ...] = ()
    ) -> None:
        self.groups = groups
        # for each group, sets of findings of which the case must have one each for its `when` to hold
        self.needs = needs or tuple(() for _ in groups)
        self.conditional = tuple(i for i, g in enumerate(groups) if not g.group.default)
        self.default = tuple(i for i, g in enumerate(groups) if g.group.default)
        # the applied groups' positions -> their ids, and their questions in order, each once
        self._asked: dict[tuple[int, ...], tuple[tuple[str, ...], tuple[ScreenQuestion, ...]]] = {}

    def evaluate(self, findings: Mapping[str, Value], policy: ScreenPolicy) -> RedFlagScreen:
        groups = self.groups
        applied = tuple(
            i
            for i in self.conditional
            if not any(names.isdisjoint(findings) for names in self.needs[i]) and evaluate(groups[i].expr, findings.get)
        )
        applied = applied or self.default
        asked = self._asked.get(applied)
        if asked is None:
            chosen = tuple(groups[i] for i in applied)
            asked = self._asked[applied] = (tuple(g.group.id for g in chosen), _questions(chosen))
        group_ids, questions = asked
        unanswered = tuple(q.id for q in questions if q.id not in findings)
        return RedFlagScreen(
            complete=not unanswered,
            unanswered=unanswered,
            questions=questions,
            groups=group_ids,
            policy=policy,
        )


def _questions(applied: tuple[CompiledScreenGroup, ...]) -> tuple[ScreenQuestion, ...]:
    """The groups' questions in order, each once."""
    if len(applied) == 1:
        return applied[0].questions
    return tuple({q.id: q for g in applied for q in g.questions}.values())
