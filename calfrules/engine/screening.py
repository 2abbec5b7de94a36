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
    applied = tuple(g for g in groups if not g.group.default and evaluate(g.expr, findings.get))
    if not applied:
        applied = tuple(g for g in groups if g.group.default)
    questions = _questions(applied)
    unanswered = tuple(q.id for q in questions if q.id not in findings)
    return RedFlagScreen(
        complete=not unanswered,
        unanswered=unanswered,
        questions=questions,
        groups=tuple(g.group.id for g in applied),
        policy=policy,
    )


def _questions(applied: tuple[CompiledScreenGroup, ...]) -> tuple[ScreenQuestion, ...]:
    """The groups' questions in order, each once."""
    if len(applied) == 1:
        return applied[0].questions
    return tuple({q.id: q for g in applied for q in g.questions}.values())
