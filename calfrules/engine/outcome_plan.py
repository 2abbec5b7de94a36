"""What the outcome of a case needs from a program, worked out once per program.

Each rule's level reason, its advice with the dose text, the plain names of what it
concludes, which floor entries a finding can trigger and what each needs known, the floor's
and the screen's conditions as Python functions, the level texts: none of it depends on the
case, so ``policy`` only fills in what a case matched.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from calfrules.engine import advice
from calfrules.engine.assessment import LevelReason
from calfrules.engine.screening import ScreenPlan
from calfrules.rules.condition import And, Answer, Compare, Expr, Not, Or, Truthy
from calfrules.rules.evaluate import compile_check
from calfrules.rules.levels import Level
from calfrules.rules.model import RuleRef, Source
from calfrules.rules.program import CompiledRule, Program
from calfrules.rules.vocabulary import NEEDS_EXPLANATION, Value, Vocabulary

# a firing's plain labels, the names under its 'not's (as a set, and each once in order), and all it tested
Layout = tuple[tuple[str, ...], frozenset[str], tuple[str, ...], frozenset[str]]


@dataclass(frozen=True)
class RulePlan:
    """One rule's case-independent parts."""

    compiled: CompiledRule
    outputs: tuple[str, ...]
    # the rule's fields the outcome reads for every firing, at hand
    ref: RuleRef
    conclude: str | None
    derive: tuple[str, ...]
    escalate: Level | None
    rationale: str
    sources: tuple[Source, ...]
    negates: bool  # some alternative has a 'not': its firings' evidence needs sorting out
    level_reason: LevelReason | None  # when the rule escalates
    plain_outputs: tuple[tuple[str, str], ...]  # each output with its plain name (what advice can clash with)
    candidates: tuple[advice.Candidate, ...]  # its advice, dose text included
    offers: Mapping[str, advice.Candidate]  # its advice by id, each once (the first to give it)
    escalate_rank: int  # its escalation's rank, -1 when it does not escalate


class Plan:
    """Everything about a program and vocabulary the policy needs, worked out once."""

    def __init__(self, program: Program, vocabulary: Vocabulary) -> None:
        # the parts of the program a case needs, not the program: the cache of plans must not keep it alive
        self.floor, self.conditions, self.producers = program.floor, program.conditions, program.producers
        self.level_source = program.level_source
        self.rules = tuple(_rule_plan(program, rule) for rule in program.rules)
        self.outputs = frozenset(name for rule in self.rules for name in rule.outputs)  # concluded or derived
        # a finding's plain name, and whether a yes needs a condition to explain it
        self.plain_names = {f.id: f.label.lower() for f in vocabulary}
        # a concluded condition's place: red flags first, then by id
        self.condition_order = {cid: (not info.red_flag, cid) for cid, info in self.conditions.items()}
        self.needs_explanation = frozenset(f.id for f in vocabulary if f.kind in NEEDS_EXPLANATION)
        self.always_checked_floor = tuple(i for i, entry in enumerate(self.floor) if entry.holds_when_nothing_is_known)
        feeds: dict[str, list[int]] = {}
        for i, entry in enumerate(self.floor):
            for name in entry.inputs:
                feeds.setdefault(name, []).append(i)
        # a finding or score -> the floor entries it feeds
        self.floor_by_input = {name: tuple(entries) for name, entries in feeds.items()}
        self.floor_needs = tuple(needs(entry.expr) if entry.direct else () for entry in self.floor)
        self.floor_checks = tuple(compile_check(entry.expr) for entry in self.floor)
        # a direct entry's condition straight on the findings and scores, compiled the first time it is
        # tested (compiling all of them would cost more than most runs spend on the floor); None: it
        # needs the rules' conclusions
        self.floor_holds: list[Holds | None] = [
            self._compile_on_first_use(i) if entry.direct else None for i, entry in enumerate(self.floor)
        ]
        self.floor_reasons = tuple(
            LevelReason(e.entry.level, f"red flag: {e.entry.label}", f"floor {e.entry.id} ({e.origin})")
            for e in self.floor
        )
        # (red-flag condition, level) -> why the level: made on first use (levels come from the rules that fired)
        self.condition_reasons: dict[tuple[str, Level], LevelReason] = {}
        # each entry's atoms not under 'not', with their checks: what is shown as evidence when it holds
        self.floor_atoms = tuple(
            tuple((atom.name, compile_check(atom)) for atom in entry.positive_atoms) for entry in self.floor
        )
        # the same for a direct entry, a yes/no atom's check left out: it holds when its name is among the yes
        self.floor_yes_atoms = tuple(
            tuple(
                (atom.name, None if isinstance(atom, Truthy) else compile_check(atom)) for atom in entry.positive_atoms
            )
            for entry in self.floor
        )
        screen = program.screen
        conditional = [(i, group.expr) for i, group in enumerate(screen) if not group.group.default]
        self.screen = ScreenPlan(
            screen, compile_on_mapping([group.expr for group in screen]), compile_positions(conditional)
        )
        self.negated: dict[str, str] = {}  # a firing's "not x ..." label -> x; "" for a plain name
        # a firing's labels -> its plain labels, the names under its 'not's, and those names each once
        # (and everything the firing tested: its plain labels and the names under its 'not's)
        self.layouts: dict[tuple[str, ...], Layout] = {}
        # each set of advice-giving rules' advice, and what it comes to at each level, worked out once
        self.advice = advice.Offers(tuple(rule.offers for rule in self.rules))

    def _compile_on_first_use(self, index: int) -> Holds:
        def first_use(known: Mapping[str, Value], yes: AbstractSet[str]) -> bool:
            (hold,) = compile_on_mapping([self.floor[index].expr])
            self.floor_holds[index] = hold  # another thread may do the same: both compile the same function
            return hold(known, yes)

        return first_use

    def condition_reason(self, condition_id: str, level: Level) -> LevelReason:
        """Why a concluded red-flag condition the floor did not flag raises the level."""
        reason = self.condition_reasons.get((condition_id, level))
        if reason is None:
            label = self.conditions[condition_id].label
            reason = LevelReason(level, f"red-flag condition: {label}", f"condition {condition_id}")
            self.condition_reasons[(condition_id, level)] = reason
        return reason

    def evidence(
        self, matched: Mapping[str, Value], findings: Mapping[str, Value]
    ) -> tuple[dict[str, Value], tuple[str, ...]]:
        """What a firing rests on, as recorded: a ``not x`` shows x's recorded value (a no is
        ``false``), or, when nobody recorded x, goes to the second list instead of counting as a no.
        (A firing of a rule without ``not`` needs none of this: its evidence is ``dict(matched)``.)"""
        plain, negated, all_negated, _ = self.layout_of(tuple(matched))
        if negated.isdisjoint(findings):  # the usual case: nobody recorded any 'not' name
            shown_plain: dict[str, Value] = {}
            for label in plain:  # a loop: cheaper than a comprehension for the few labels a firing has
                shown_plain[label] = matched[label]
            return shown_plain, all_negated
        shown: dict[str, Value] = {}
        unrecorded: list[str] = []
        for label, value in matched.items():
            name = self.negated[label]
            if not name:
                shown[label] = value
            elif name in findings:
                shown[name] = findings[name]
            else:
                unrecorded.append(name)
        return shown, (tuple(dict.fromkeys(unrecorded)) if unrecorded else ())

    def layout_of(self, labels: tuple[str, ...]) -> Layout:
        """A firing's labels sorted out, worked out once per set of labels (they come from the rules'
        alternatives: a bounded set)."""
        layout = self.layouts.get(labels)
        if layout is None:
            for label in labels:
                if label not in self.negated:
                    self.negated[label] = label[4:].split(" ")[0] if label.startswith("not ") else ""
            names = [self.negated[label] for label in labels if self.negated[label]]
            plain = tuple(label for label in labels if not self.negated[label])
            layout = self.layouts[labels] = (
                plain,
                frozenset(names),
                tuple(dict.fromkeys(names)),
                frozenset({*plain, *names}),
            )
        return layout


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


_OPERATORS = frozenset(("==", "!=", ">=", "<=", ">", "<"))


# a condition as a function of the known values and the names among them that are yes (``yes_names``)
Holds = Callable[[Mapping[str, Value], AbstractSet[str]], bool]


def yes_names(known: Mapping[str, Value]) -> set[str]:
    """The names recorded (or scored) yes: what ``Holds`` functions test yes/no atoms against."""
    return {name for name, value in known.items() if value is True}


def compile_on_mapping(exprs: list[Expr]) -> tuple[Holds, ...]:
    """Each condition as a function of the known values and ``yes_names`` of them, deciding as
    ``compile_check(expr)(known.get)`` does: Python source compiled in one go, several yes/no atoms
    under one ``and`` or ``or`` tested as one set operation (the floor tests several conditions on
    every case)."""
    constants: list[object] = []
    sources = [f"lambda k, y: {_source(expr, constants)}" for expr in exprs]
    return tuple(_compiled(f"({', '.join(sources)},)", constants)) if sources else ()


def compile_positions(
    exprs: list[tuple[int, Expr]],
) -> Callable[[Mapping[str, Value], AbstractSet[str]], tuple[int, ...]]:
    """One function of the known values and ``yes_names`` of them: the positions, in order, of the
    conditions that hold (one call where the screen would make one per group)."""
    constants: list[object] = []
    tests = [f"    if {_source(expr, constants)}: held.append({int(position)})" for position, expr in exprs]
    source = "\n".join(["def positions(k, y):", "    held = []", *tests, "    return tuple(held)"])
    scope = _scope(constants)
    exec(compile(source, "<outcome_plan>", "exec"), scope)
    return scope["positions"]  # type: ignore[no-any-return]


def _compiled(source: str, constants: list[object]) -> Any:
    return eval(compile(source, "<outcome_plan>", "eval"), _scope(constants))


def _scope(constants: list[object]) -> dict[str, Any]:
    return {"_c": tuple(constants), "_number": (int, float)}


def _source(expr: Expr, constants: list[object]) -> str:
    if isinstance(expr, Truthy):
        return f"(k.get({_literal(expr.name, constants)}) is True)"
    if isinstance(expr, Answer):
        return f"(k.get({_literal(expr.name, constants)}) is {'False' if expr.answer == 'no' else 'not None'})"
    if isinstance(expr, Compare):
        name, expected = _literal(expr.name, constants), _literal(expr.value, constants)
        if isinstance(expr.value, str):  # as _compare_check: text only against text, and only == and !=
            if expr.op not in ("==", "!="):
                return "False"
            return f"(isinstance(v := k.get({name}), str) and v {expr.op} {expected})"
        if expr.op not in _OPERATORS:
            raise TypeError(f"not a comparison: {expr!r}")
        return f"(isinstance(v := k.get({name}), _number) and v.__class__ is not bool and v {expr.op} {expected})"
    if isinstance(expr, Not):
        return f"(not {_source(expr.operand, constants)})"
    if isinstance(expr, (And, Or)):
        both = isinstance(expr, And)
        yes = [operand.name for operand in expr.operands if isinstance(operand, Truthy)]
        parts = [_source(operand, constants) for operand in expr.operands if not isinstance(operand, Truthy)]
        if len(yes) > 1:  # all of them yes (``and``), or one of them (``or``): one test of the set
            names = _literal(frozenset(yes), constants)
            parts.insert(0, f"({names} <= y)" if both else f"(not {names}.isdisjoint(y))")
        else:
            parts = [_source(operand, constants) for operand in expr.operands]
        return f"({(' and ' if both else ' or ').join(parts)})"
    raise TypeError(f"not a condition: {expr!r}")


def _literal(value: object, constants: list[object]) -> str:
    """A name or value as source: a literal when it reads back as itself, else a constant by position."""
    if isinstance(value, str) or (type(value) in (int, float) and math.isfinite(value)):  # type: ignore[arg-type]
        return repr(value)
    constants.append(value)
    return f"_c[{len(constants) - 1}]"


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
    negates = any(not positive for branch in rule.branches for _, positive in branch)
    return RulePlan(
        rule,
        outputs,
        rule.ref,
        spec.conclude,
        spec.derive,
        spec.escalate,
        spec.rationale,
        rule.sources,
        negates,
        level_reason,
        plain,
        candidates,
        {c.advice.id: c for c in reversed(candidates)},
        -1 if spec.escalate is None else spec.escalate.rank,
    )


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
