"""What the outcome of a case needs from a program, worked out once per program.

Each rule's level reason, its advice with the dose text, the plain names of what it
concludes, which floor entries a finding can trigger and what each needs known: none of
it depends on the case, so ``policy`` only fills in what a case matched.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass

from calfrules.engine import advice
from calfrules.engine.assessment import LevelReason
from calfrules.engine.screening import ScreenPlan
from calfrules.rules.condition import And, Answer, Compare, Expr, Or, Truthy
from calfrules.rules.levels import Level
from calfrules.rules.program import CompiledRule, Program
from calfrules.rules.vocabulary import NEEDS_EXPLANATION, Value, Vocabulary


@dataclass(frozen=True)
class RulePlan:
    """One rule's case-independent parts."""

    compiled: CompiledRule
    outputs: tuple[str, ...]
    level_reason: LevelReason | None  # when the rule escalates
    plain_outputs: tuple[tuple[str, str], ...]  # each output with its plain name (what advice can clash with)
    candidates: tuple[advice.Candidate, ...]  # its advice, dose text included


class Plan:
    """Everything about a program and vocabulary the policy needs, worked out once."""

    def __init__(self, program: Program, vocabulary: Vocabulary) -> None:
        # the parts of the program a case needs, not the program: the cache of plans must not keep it alive
        self.floor, self.conditions, self.producers = program.floor, program.conditions, program.producers
        self.level_source = program.level_source
        self.rules = tuple(_rule_plan(program, rule) for rule in program.rules)
        # a finding's plain name, and whether a yes needs a condition to explain it
        self.plain_names = {f.id: f.label.lower() for f in vocabulary}
        self.needs_explanation = frozenset(f.id for f in vocabulary if f.kind in NEEDS_EXPLANATION)
        self.always_checked_floor = tuple(i for i, entry in enumerate(self.floor) if entry.holds_when_nothing_is_known)
        self.floor_by_input: dict[str, list[int]] = {}  # a finding or score -> the floor entries it feeds
        for i, entry in enumerate(self.floor):
            for name in entry.inputs:
                self.floor_by_input.setdefault(name, []).append(i)
        self.floor_needs = tuple(needs(entry.expr) if entry.direct else () for entry in self.floor)
        self.screen = ScreenPlan(program.screen, tuple(needs(group.expr) for group in program.screen))
        self.negated: dict[str, str] = {}  # a firing's "not x ..." label -> x; "" for a plain name

    def evidence(
        self, matched: Mapping[str, Value], findings: Mapping[str, Value]
    ) -> tuple[dict[str, Value], tuple[str, ...]]:
        """What a firing rests on, as recorded: a ``not x`` shows x's recorded value (a no is
        ``false``), or, when nobody recorded x, goes to the second list instead of counting as a no."""
        shown: dict[str, Value] = {}
        unrecorded: list[str] = []
        for label, value in matched.items():
            name = self.negated.get(label)
            if name is None:  # labels come from the rules' literals: a bounded set, each read once
                name = self.negated[label] = label[4:].split(" ")[0] if label.startswith("not ") else ""
            if not name:
                shown[label] = value
            elif name in findings:
                shown[name] = findings[name]
            else:
                unrecorded.append(name)
        return shown, (tuple(dict.fromkeys(unrecorded)) if unrecorded else ())


def needs(expr: Expr) -> tuple[frozenset[str], ...]:
    """Sets of names of which the case must know at least one each, or ``expr`` cannot hold.

    An atom holds only on a known value; ``and`` needs what each part needs; ``or`` at least
    one name of one set of each alternative; ``not`` can hold on nothing known."""
    if isinstance(expr, (Truthy, Compare, Answer)):
        return (frozenset({expr.name}),)
    if isinstance(expr, And):
        return tuple(names for operand in expr.operands for names in needs(operand))
    if isinstance(expr, Or):
        alternatives = [needs(operand) for operand in expr.operands]
        if all(alternatives):
            return (frozenset().union(*(min(sets, key=len) for sets in alternatives)),)
    return ()


def _rule_plan(program: Program, rule: CompiledRule) -> RulePlan:
    spec = rule.rule
    outputs = rule.outputs
    source = f"rule {spec.id} ({rule.ruleset.id})"
    level_reason = None if spec.escalate is None else LevelReason(spec.escalate, spec.rationale, source)
    plain = tuple(
        (name, program.conditions[name].label.lower() if name in program.conditions else name.replace("_", " "))
        for name in outputs
    )
    red_flag = any(program.conditions[c].red_flag for c in outputs if c in program.conditions) or bool(
        spec.derive and spec.escalate and spec.escalate >= Level.URGENT
    )
    candidates = tuple(
        advice.candidate(rec, sources, rule.ref, spec.escalate or Level.SEE_CLINICIAN, red_flag)
        for rec, sources in zip(rule.recommendations, rule.recommendation_sources, strict=True)
    )
    return RulePlan(rule, outputs, level_reason, plain, candidates)


_PLANS: dict[tuple[int, int], tuple[weakref.ref[Program], weakref.ref[Vocabulary], Plan]] = {}
_PLANS_LOCK = threading.Lock()


def plan_for(program: Program, vocabulary: Vocabulary) -> Plan:
    """The plan of this program and vocabulary, made on first use and kept while both live."""
    key = (id(program), id(vocabulary))
    kept = _PLANS.get(key)
    if kept is not None and kept[0]() is program and kept[1]() is vocabulary:
        return kept[2]
    plan = Plan(program, vocabulary)
    with _PLANS_LOCK:
        _PLANS[key] = (weakref.ref(program), weakref.ref(vocabulary), plan)
    weakref.finalize(program, _PLANS.pop, key, None)
    return plan
