"""The clinical decision policy: from rule firings to the level, its reasons and the advice shown.

Here the level is decided: the rules' escalations, the red-flag floor (applied in plain
Python whatever the rule engine did), the screen policy, the fail-safe for incomplete runs
and unexplained symptoms, and which advice is withheld at the level reached.

What does not depend on the case is worked out once per program (``outcome_plan.plan_for``);
a case only fills in what it matched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from calfrules.engine import advice
from calfrules.engine.assessment import (
    Assessment,
    ConditionResult,
    LevelReason,
    Reason,
    RedFlag,
    ScoreResult,
    TraceStep,
)
from calfrules.engine.outcome_plan import Plan, RulePlan, plan_for
from calfrules.engine.screening import ScreenPolicy
from calfrules.rules.condition import Expr
from calfrules.rules.evaluate import Prover, evaluate
from calfrules.rules.firing import Firing
from calfrules.rules.levels import Level
from calfrules.rules.model import ConditionInfo, Source
from calfrules.rules.program import CompiledFloorEntry, Program
from calfrules.rules.vocabulary import Value, Vocabulary

# a level's rank by its member's identity (members are singletons): hashing a Level runs Python code
_RANK = {id(level): level.rank for level in Level}


def _rank(level: Level) -> int:
    return _RANK[id(level)]


@dataclass
class RunInput:
    """What an assessment is built from."""

    findings: Mapping[str, Value]
    known: Mapping[str, Value]  # findings plus scores
    scores: list[ScoreResult]
    firings: list[Firing]
    incomplete: list[str]
    warnings: list[str]
    case_id: str | None
    provenance: dict[str, Any]
    screen_policy: ScreenPolicy = "prompt"
    # each deriver's inputs by score id: a computed score uses every input the case recorded
    score_inputs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def build(program: Program, vocabulary: Vocabulary, run: RunInput) -> Assessment:
    return assess(plan_for(program, vocabulary), run)


def assess(plan: Plan, run: RunInput) -> Assessment:
    """The assessment of one run: the level, its reasons, the explanation and the advice."""
    findings = run.findings
    fired = [(plan.rules[f.rule_index], f) for f in run.firings]
    shown_by_step = [plan.evidence(firing.matched, findings) for _, firing in fired]  # once per firing
    level_reasons = [rule.level_reason for rule, _ in fired if rule.level_reason is not None]
    trace = tuple(
        TraceStep(
            n,
            rule.compiled.ref,
            shown,
            rule.compiled.rule.conclude,
            rule.compiled.rule.derive,
            rule.compiled.rule.escalate,
            unrecorded,
        )
        for n, ((rule, _), (shown, unrecorded)) in enumerate(zip(fired, shown_by_step, strict=True), start=1)
    )
    conditions = _conditions(plan.conditions, fired, shown_by_step)

    red_flags, floor_names = _apply_floor(plan, run, fired)
    for flag in red_flags:
        level_reasons.append(LevelReason(flag.level, f"red flag: {flag.label}", f"floor {flag.id} ({flag.origin})"))
    flagged = {flag.id for flag in red_flags}
    concluded_levels = _condition_levels(fired)
    for concluded in conditions:
        if concluded.red_flag and concluded.id not in flagged:
            flag_level = concluded_levels.get(concluded.id, Level.SEE_CLINICIAN)
            red_flags.append(RedFlag(concluded.id, concluded.label, flag_level, {}, concluded.description, "condition"))
            level_reasons.append(
                LevelReason(flag_level, f"red-flag condition: {concluded.label}", f"condition {concluded.id}")
            )

    unexplained = _unexplained(plan, fired, findings)
    if unexplained:
        labels = ", ".join(plan.plain_names[name] for name in unexplained)
        level_reasons.append(
            LevelReason(
                Level.SEE_CLINICIAN, f"no condition here explains: {labels}; a clinician should look", "uncertainty"
            )
        )
    for problem in run.incomplete:
        level_reasons.append(LevelReason(Level.URGENT, f"assessment incomplete: {problem}", "fail-safe"))
    screen = plan.screen.evaluate(findings, run.screen_policy)
    if run.screen_policy == "require" and not screen.complete:
        level_reasons.append(
            LevelReason(
                Level.SEE_CLINICIAN,
                f"red-flag screen not finished: {len(screen.unanswered)} question(s) unanswered, so self-care "
                "cannot stand (screen policy 'require')",
                "screen",
            )
        )

    used = floor_names | _score_inputs(run)
    for shown, unrecorded in shown_by_step:  # what the firings tested, recorded or not
        used.update(shown, unrecorded)
    unused = tuple(sorted(name for name in findings if name not in used))
    level = max((reason.level for reason in level_reasons), key=_rank, default=Level.SELF_CARE)
    candidates = _candidates(fired)
    present = _present(plan, fired, red_flags, findings)
    recommendations, withheld = advice.select(candidates, present, level)
    own = advice.level_advice(
        level, recommendations, candidates, lambda: _level_sources(plan.level_source, fired, red_flags)
    )
    if own is not None:
        recommendations.insert(0, own)
    return Assessment(
        level=level,
        complete=not run.incomplete,
        conditions=tuple(conditions),
        recommendations=tuple(recommendations),
        red_flags=tuple(sorted(red_flags, key=lambda f: (-_rank(f.level), f.id))),
        level_reasons=tuple(sorted(level_reasons, key=lambda r: -_rank(r.level))),
        trace=trace,
        scores=tuple(run.scores),
        unused_findings=unused,
        unexplained_findings=unexplained,
        findings=dict(findings),
        provenance=run.provenance,
        incomplete_reasons=tuple(run.incomplete),
        case_id=run.case_id,
        warnings=tuple(run.warnings),
        withheld_recommendations=tuple(withheld),
        red_flag_screen=screen,
    )


Fired = list[tuple[RulePlan, Firing]]


def _condition_levels(fired: Fired) -> dict[str, Level]:
    """Each concluded condition's level: the highest escalation of the rules that concluded it."""
    levels: dict[str, Level] = {}
    for spec in (rule.compiled.rule for rule, _ in fired):
        if spec.conclude and spec.escalate is not None:
            levels[spec.conclude] = max(levels.get(spec.conclude, Level.SELF_CARE), spec.escalate, key=_rank)
    return levels


def _present(plan: Plan, fired: Fired, red_flags: list[RedFlag], findings: Mapping[str, Value]) -> dict[str, str]:
    """Everything advice may be contraindicated by, with its plain name."""
    plain_names = plan.plain_names
    present = {name: plain_names[name] for name, value in findings.items() if value is True}
    for rule, _ in fired:
        present.update(rule.plain_outputs)
    for flag in red_flags:
        present[flag.id] = flag.label.lower()
    return present


def _level_sources(level_source: Source | None, fired: Fired, red_flags: list[RedFlag]) -> tuple[Source, ...]:
    """What the engine's own seek-care line cites: what raised the level, else the urgency levels."""
    found: dict[str, Source] = {}
    raised = [flag.level for flag in red_flags] + [
        r.compiled.rule.escalate for r, _ in fired if r.compiled.rule.escalate
    ]
    top = max(raised, key=_rank, default=None)
    for flag in red_flags:
        if flag.level == top:
            found.update((s.id, s) for s in flag.sources)
    for rule, _ in fired:
        if rule.compiled.rule.escalate is not None and rule.compiled.rule.escalate == top:
            found.update((s.id, s) for s in rule.compiled.sources)
    if level_source is not None:
        found.setdefault(level_source.id, level_source)
    return tuple(found.values())


def _conditions(
    infos: Mapping[str, ConditionInfo], fired: Fired, shown_by_step: list[tuple[dict[str, Value], tuple[str, ...]]]
) -> list[ConditionResult]:
    reasons: dict[str, list[Reason]] = {}
    for (rule, _), (shown, unrecorded) in zip(fired, shown_by_step, strict=True):
        compiled = rule.compiled
        if compiled.rule.conclude:
            reasons.setdefault(compiled.rule.conclude, []).append(
                Reason(compiled.ref, shown, compiled.rule.rationale, compiled.sources, unrecorded)
            )
    results = []
    for condition_id, because in reasons.items():
        info = infos[condition_id]
        results.append(ConditionResult(condition_id, info.label, info.red_flag, tuple(because), info.description))
    return sorted(results, key=lambda c: (not c.red_flag, c.id))


def _candidates(fired: Fired) -> list[advice.Candidate]:
    """The fired rules' advice, each once (the first rule to give it), most important first."""
    seen: dict[str, advice.Candidate] = {}
    for rule, _ in fired:
        for candidate in rule.candidates:
            seen.setdefault(candidate.advice.id, candidate)
    return sorted(seen.values(), key=advice.Candidate.order)


def _apply_floor(plan: Plan, run: RunInput, fired: Fired) -> tuple[list[RedFlag], set[str]]:
    """Plain-Python floor: the rules' own conclusions count, and so do those proved backwards from the findings.

    Only the entries that can hold are evaluated: those with a known input, and those that
    hold for an empty case."""
    known = run.known
    checked = set(plan.always_checked_floor)
    for name in known:
        checked.update(plan.floor_by_input.get(name, ()))
    flags: list[RedFlag] = []
    names: set[str] = set()
    chained: _Chained | None = None
    for index in sorted(checked):
        if any(names.isdisjoint(known) for names in plan.floor_needs[index]):
            continue  # a part of it tests only what the case does not know: it cannot hold
        compiled = plan.floor[index]
        find: Callable[[str], Value | None]
        if compiled.direct:
            find = known.get
        else:
            chained = chained or _Chained(plan.producers, known, fired)
            find = chained.lookup
        if evaluate(compiled.expr, find):
            flags.append(_red_flag(compiled, find, names))
    return flags, names


def _red_flag(compiled: CompiledFloorEntry, find: Callable[[str], Value | None], names: set[str]) -> RedFlag:
    entry = compiled.entry
    # only what holds is evidence: a recorded no or a number below its threshold is not
    matched = {
        atom.name: value
        for atom in compiled.positive_atoms
        if (value := find(atom.name)) is not None and evaluate(atom, find)
    }
    names.update(matched)
    return RedFlag(entry.id, entry.label, entry.level, matched, entry.rationale, compiled.origin, compiled.sources)


class _Chained:
    """What the floor knows beyond the case: the rules' conclusions, and names proved backwards."""

    def __init__(self, producers: Mapping[str, list[Expr]], known: Mapping[str, Value], fired: Fired) -> None:
        self.known = known
        self.concluded = {name for rule, _ in fired for name in rule.outputs}
        self.prover = Prover(producers, known)

    def lookup(self, name: str) -> Value | None:
        if name in self.known:
            return self.known[name]
        if name in self.concluded:
            return True
        return self.prover.lookup(name)


def _unexplained(plan: Plan, fired: Fired, findings: Mapping[str, Value]) -> tuple[str, ...]:
    """Symptoms and signs recorded yes that no concluded condition rests on."""
    suspects = [name for name, value in findings.items() if value is True and name in plan.needs_explanation]
    if not suspects:
        return ()
    explained = _explained_names(fired)
    return tuple(sorted(name for name in suspects if name not in explained))


def _explained_names(fired: Fired) -> set[str]:
    """Findings that feed, directly or through derived facts, a concluded condition."""
    producers: dict[str, list[Firing]] = {}
    for rule, firing in fired:
        for name in rule.outputs:
            producers.setdefault(name, []).append(firing)
    explained: set[str] = set()
    stack = [firing for rule, firing in fired if rule.compiled.rule.conclude]
    visited: set[int] = set()
    while stack:
        firing = stack.pop()
        if firing.rule_index in visited:
            continue
        visited.add(firing.rule_index)
        for name in firing.matched:
            explained.add(name)
            stack.extend(producers.get(name, ()))
    return explained


def _score_inputs(run: RunInput) -> set[str]:
    """The recorded findings every computed score was built from, whether or not a rule used the score:
    a score that is shown uses its inputs, a recorded no or a number below a threshold included."""
    used: set[str] = set()
    for score in run.scores:
        inputs = (*run.score_inputs.get(score.id, ()), *score.components)
        used.update(name for name in inputs if name in run.findings)
    return used
