"""Applying the red-flag screen to a case: which groups apply, and what is still unanswered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from . import condition, oracle
from .assessment import RedFlagScreen, ScreenQuestion
from .model import ScreenGroup
from .vocabulary import Value, Vocabulary

# "prompt": list the unanswered questions and leave the level as it is (clinician use);
# "require": unanswered questions keep the level at see_clinician or above (self-triage).
ScreenPolicy = Literal["prompt", "require"]
SCREEN_POLICIES: tuple[str, ...] = ("prompt", "require")


@dataclass(frozen=True)
class CompiledScreenGroup:
    group: ScreenGroup
    expr: condition.Expr


def evaluate_screen(
    groups: tuple[CompiledScreenGroup, ...],
    findings: Mapping[str, Value],
    vocabulary: Vocabulary,
    policy: ScreenPolicy,
) -> RedFlagScreen:
    """Which groups apply to the case, their questions, and which are still unanswered."""
    applied = [g for g in groups if not g.group.default and oracle.evaluate(g.expr, findings.get)]
    if not applied:
        applied = [g for g in groups if g.group.default]
    asked = list(dict.fromkeys(q for g in applied for q in g.group.ask))
    questions = tuple(ScreenQuestion(q, vocabulary[q].question) for q in asked if q in vocabulary)
    unanswered = tuple(q.id for q in questions if q.id not in findings)
    return RedFlagScreen(
        complete=not unanswered,
        unanswered=unanswered,
        questions=questions,
        groups=tuple(g.group.id for g in applied),
        policy=policy,
    )
