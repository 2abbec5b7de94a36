"""Applying the red-flag screen to a case: which groups apply, and what is still unanswered."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from typing import Literal

from calfrules.engine.assessment import RedFlagScreen
from calfrules.rules.condition import Expr
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
        self,
        groups: tuple[CompiledScreenGroup, ...],
        holds: tuple[Callable[[Mapping[str, Value], AbstractSet[str]], bool], ...] = (),
        applied: Callable[[Mapping[str, Value], AbstractSet[str]], tuple[int, ...]] | None = None,
    ) -> None:
        self.groups = groups
        # for each group, whether its `when` holds for the findings and those recorded yes
        # (outcome_plan.compile_on_mapping)
        self.holds = holds or tuple(_evaluator(g.expr) for g in groups)
        self.conditional = tuple(i for i, g in enumerate(groups) if not g.group.default)
        self.default = tuple(i for i, g in enumerate(groups) if g.group.default)
        # the conditional groups that apply, in order (outcome_plan.compile_positions: one call for all)
        self.applied = applied or self._applied
        # the applied groups' positions -> their ids, and their questions in order, each once (and their ids)
        self._asked: dict[
            tuple[int, ...], tuple[tuple[str, ...], tuple[ScreenQuestion, ...], tuple[str, ...], frozenset[str]]
        ] = {}

    def evaluate(
        self, findings: Mapping[str, Value], policy: ScreenPolicy, yes: AbstractSet[str] | None = None
    ) -> RedFlagScreen:
        """``yes``: the findings recorded yes, when the caller has them already."""
        if yes is None:
            yes = {name for name, value in findings.items() if value is True}
        applied = self.applied(findings, yes) or self.default
        asked = self._asked.get(applied)
        if asked is None:
            chosen = tuple(self.groups[i] for i in applied)
            questions = _questions(chosen)
            ids = tuple(q.id for q in questions)
            asked = self._asked[applied] = (tuple(g.group.id for g in chosen), questions, ids, frozenset(ids))
        group_ids, questions, question_ids, id_set = asked
        if id_set.isdisjoint(findings):  # none of them asked yet
            unanswered = question_ids
        else:
            unanswered = tuple([question for question in question_ids if question not in findings])
        return RedFlagScreen(
            complete=not unanswered,
            unanswered=unanswered,
            questions=questions,
            groups=group_ids,
            policy=policy,
        )

    def _applied(self, findings: Mapping[str, Value], yes: AbstractSet[str]) -> tuple[int, ...]:
        holds = self.holds
        return tuple([i for i in self.conditional if holds[i](findings, yes)])


def _evaluator(expr: Expr) -> Callable[[Mapping[str, Value], AbstractSet[str]], bool]:
    return lambda findings, _: evaluate(expr, findings.get)


def _questions(applied: tuple[CompiledScreenGroup, ...]) -> tuple[ScreenQuestion, ...]:
    """The groups' questions in order, each once."""
    if len(applied) == 1:
        return applied[0].questions
    return tuple({q.id: q for g in applied for q in g.questions}.values())
