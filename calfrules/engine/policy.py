"""The clinical decision policy: from rule firings to the level, its reasons and the advice shown.

Here the level is decided: the rules' escalations, the red-flag floor (applied in plain
Python whatever the rule engine did), the screen policy, the fail-safe for incomplete runs
and unexplained symptoms, and which advice is withheld at the level reached.

What does not depend on the case is worked out once per program (``outcome_plan.plan_for``);
a case only fills in what it matched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
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
    WithheldRecommendation,
)
from calfrules.engine.outcome_plan import Plan, RulePlan, plan_for, yes_names
from calfrules.engine.screening import ScreenPolicy
from calfrules.rules.condition import Expr
from calfrules.rules.evaluate import Prover
from calfrules.rules.firing import Firing
from calfrules.rules.levels import Level
from calfrules.rules.model import Source
from calfrules.rules.program import Program
from calfrules.rules.vocabulary import Value, Vocabulary

# a level's rank by its member's identity (members are singletons): hashing a Level runs Python code
_RANK = {id(level): level.rank for level in Level}


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
    fired: list[RulePlan] = []  # the rule of each firing, in firing order
    trace: list[TraceStep] = []
    level_reasons: list[LevelReason] = []
    reasons: dict[str, list[Reason]] = {}  # concluded condition -> the firings that concluded it
    concluded_levels: dict[str, Level] = {}  # a concluded condition's highest escalation
    offering: list[int] = []  # the rules that give advice, in firing order
    used: set[str] = set()  # what the firings tested, recorded or not
    concluding: set[str] = set()  # what the concluding firings matched (labels): what explains a finding
    rules, evidence, layouts = plan.rules, plan.evidence, plan.layouts
    firings = run.firings
    for step, firing in enumerate(firings, start=1):  # one pass over the firings builds every part
        rule = rules[firing.rule_index]
        fired.append(rule)
        matched = firing.matched
        if rule.negates:  # plan.evidence, its usual case written out here: this loop runs for every firing
            keys = tuple(matched)
            layout = layouts.get(keys) or plan.layout_of(keys)
            plain, negated, unrecorded, tested = layout
            if negated.isdisjoint(findings):  # nobody recorded any 'not' name
                shown = {}
                for label in plain:
                    shown[label] = matched[label]
            else:
                shown, unrecorded = evidence(matched, findings)
            used.update(tested)
        else:
            shown, unrecorded = dict(matched), ()
            used.update(matched)
        trace.append(TraceStep(step, rule.ref, shown, rule.conclude, rule.derive, rule.escalate, unrecorded))
        if rule.level_reason is not None:
            level_reasons.append(rule.level_reason)
        conclude = rule.conclude
        if conclude:
            because = Reason(rule.ref, shown, rule.rationale, rule.sources, unrecorded)
            if conclude in reasons:
                reasons[conclude].append(because)
            else:
                reasons[conclude] = [because]
            concluding.update(matched)
            if rule.escalate is not None:
                was = concluded_levels.get(conclude)
                if was is None or rule.escalate_rank > _RANK[id(was)]:
                    concluded_levels[conclude] = rule.escalate
        if rule.offers:
            offering.append(firing.rule_index)
    conditions = _conditions(plan, reasons) if reasons else []

    yes = {name for name, value in findings.items() if value is True}  # the floor, the screen, the advice
    known_yes = yes if run.known is findings else yes_names(run.known)
    red_flags, floor_names = _apply_floor(plan, run, known_yes, fired, level_reasons)
    flagged = {flag.id for flag in red_flags}
    for concluded in conditions:
        if concluded.red_flag and concluded.id not in flagged:
            flag_level = concluded_levels.get(concluded.id, Level.SEE_CLINICIAN)
            red_flags.append(RedFlag(concluded.id, concluded.label, flag_level, {}, concluded.description, "condition"))
            level_reasons.append(plan.condition_reason(concluded.id, flag_level))

    unexplained = _unexplained(plan, fired, firings, yes, concluding)
    if unexplained:
        labels = ", ".join(plan.plain_names[name] for name in unexplained)
        level_reasons.append(
            LevelReason(
                Level.SEE_CLINICIAN, f"no condition here explains: {labels}; a clinician should look", "uncertainty"
            )
        )
    for problem in run.incomplete:
        level_reasons.append(LevelReason(Level.URGENT, f"assessment incomplete: {problem}", "fail-safe"))
    screen = plan.screen.evaluate(findings, run.screen_policy, yes)
    if run.screen_policy == "require" and not screen.complete:
        level_reasons.append(
            LevelReason(
                Level.SEE_CLINICIAN,
                f"red-flag screen not finished: {len(screen.unanswered)} question(s) unanswered, so self-care "
                "cannot stand (screen policy 'require')",
                "screen",
            )
        )

    used |= floor_names
    if run.scores:
        used |= _score_inputs(run)
    unused = tuple(sorted(findings.keys() - used))
    # the highest level any reason gives: the reasons are the one record of what raised the level
    level, top = Level.SELF_CARE, _RANK[id(Level.SELF_CARE)]
    for reason in level_reasons:
        if _RANK[id(reason.level)] > top:
            level, top = reason.level, _RANK[id(reason.level)]
    candidates, choice = plan.advice.at(tuple(offering), level)
    withheld: Sequence[WithheldRecommendation]
    if choice is not None:  # none of the advice can clash: what it comes to at this level is known
        recommendations, withheld = choice.shown_copies(), choice.withheld
        if choice.needs_level_advice:
            recommendations.insert(0, advice.level_line(level, _level_sources(plan.level_source, fired, red_flags)))
    else:  # what advice may clash with
        present = _present(plan, fired, red_flags, yes)
        recommendations, withheld = advice.select(candidates, present, level)
        own = advice.level_advice(
            level, recommendations, candidates, lambda: _level_sources(plan.level_source, fired, red_flags)
        )
        if own is not None:
            recommendations.insert(0, own)
    if len(red_flags) > 1:
        red_flags.sort(key=_flag_order)
    if len(level_reasons) > 1:  # highest level first, in the order given within a level (a stable sort)
        level_reasons.sort(key=_reason_order)
    return Assessment(
        level=level,
        complete=not run.incomplete,
        conditions=tuple(conditions),
        recommendations=tuple(recommendations),
        red_flags=tuple(red_flags),
        level_reasons=tuple(level_reasons),
        trace=tuple(trace),
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


def _flag_order(flag: RedFlag) -> tuple[int, str]:
    return -_RANK[id(flag.level)], flag.id


def _reason_order(reason: LevelReason) -> int:
    return -_RANK[id(reason.level)]


def _present(plan: Plan, fired: list[RulePlan], red_flags: list[RedFlag], yes: AbstractSet[str]) -> dict[str, str]:
    """Everything advice may be contraindicated by, with its plain name (``yes``: the findings recorded yes)."""
    plain_names = plan.plain_names
    present = {name: plain_names[name] for name in yes}
    for rule in fired:
        present.update(rule.plain_outputs)
    for flag in red_flags:
        present[flag.id] = flag.label.lower()
    return present


def _level_sources(level_source: Source | None, fired: list[RulePlan], red_flags: list[RedFlag]) -> tuple[Source, ...]:
    """What the engine's own seek-care line cites: what raised the level, else the urgency levels."""
    top = -1  # the highest rank anything raised the level to (-1: nothing did)
    for flag in red_flags:
        if _RANK[id(flag.level)] > top:
            top = _RANK[id(flag.level)]
    for rule in fired:
        if rule.escalate_rank > top:  # -1 when the rule does not escalate
            top = rule.escalate_rank
    found: dict[str, Source] = {}
    if top >= 0:
        for flag in red_flags:
            if _RANK[id(flag.level)] == top:
                for source in flag.sources:
                    found[source.id] = source
        for rule in fired:
            if rule.escalate_rank == top:
                for source in rule.sources:
                    found[source.id] = source
    if level_source is not None:
        found.setdefault(level_source.id, level_source)
    return tuple(found.values())


def _conditions(plan: Plan, reasons: Mapping[str, list[Reason]]) -> list[ConditionResult]:
    """The concluded conditions, red flags first, then by id."""
    infos = plan.conditions
    results = []
    for condition_id in sorted(reasons, key=plan.condition_order.__getitem__) if len(reasons) > 1 else reasons:
        info = infos[condition_id]
        results.append(
            ConditionResult(condition_id, info.label, info.red_flag, tuple(reasons[condition_id]), info.description)
        )
    return results


def _apply_floor(
    plan: Plan, run: RunInput, yes: AbstractSet[str], fired: list[RulePlan], level_reasons: list[LevelReason]
) -> tuple[list[RedFlag], set[str]]:
    """Plain-Python floor: the rules' own conclusions count, and so do those proved backwards from the findings.
    Each red flag raised adds its reason to ``level_reasons``; ``yes``: the known names that are yes.

    Only the entries that can hold are evaluated: those with a known input, and those that
    hold for an empty case."""
    known = run.known
    flags: list[RedFlag] = []
    names: set[str] = set()
    floor_by_input = plan.floor_by_input
    fed = [entries for name in known if (entries := floor_by_input.get(name)) is not None]
    if plan.always_checked_floor:
        fed.append(plan.always_checked_floor)
    if not fed:
        return flags, names
    chained: _Chained | None = None
    find: Callable[[str], Value | None]
    floor, holds, floor_atoms, yes_atoms = plan.floor, plan.floor_holds, plan.floor_atoms, plan.floor_yes_atoms
    for index in fed[0] if len(fed) == 1 else sorted(set().union(*fed)):  # each tuple is in order already
        hold = holds[index]
        if hold is not None:  # the findings and scores only: a name is known or not
            if not hold(known, yes):
                continue
            # only what holds is evidence: a recorded no or a number below its threshold is not
            matched = {}
            for name, check in yes_atoms[index]:
                if (name in yes) if check is None else (name in known and check(known.get)):
                    matched[name] = known[name]
        else:
            chained = chained or _Chained(plan.producers, known, fired)
            find = chained.lookup
            if not plan.floor_checks[index](find):
                continue
            matched = {
                name: value for name, check in floor_atoms[index] if (value := find(name)) is not None and check(find)
            }
        names.update(matched)
        compiled = floor[index]
        entry = compiled.entry
        flags.append(
            RedFlag(entry.id, entry.label, entry.level, matched, entry.rationale, compiled.origin, compiled.sources)
        )
        level_reasons.append(plan.floor_reasons[index])
    return flags, names


class _Chained:
    """What the floor knows beyond the case: the rules' conclusions, and names proved backwards."""

    def __init__(self, producers: Mapping[str, list[Expr]], known: Mapping[str, Value], fired: list[RulePlan]) -> None:
        self.known = known
        self.concluded = {name for rule in fired for name in rule.outputs}
        self.prover = Prover(producers, known)

    def lookup(self, name: str) -> Value | None:
        if name in self.known:
            return self.known[name]
        if name in self.concluded:
            return True
        return self.prover.lookup(name)


def _unexplained(
    plan: Plan, fired: list[RulePlan], firings: list[Firing], yes: AbstractSet[str], directly: set[str]
) -> tuple[str, ...]:
    """Symptoms and signs recorded yes (``yes``) that no concluded condition rests on; ``directly``: what
    the concluding firings matched, which most often explains every one."""
    suspects = plan.needs_explanation.intersection(yes)
    if not suspects:
        return ()
    unexplained = suspects - directly
    if not unexplained:
        return ()
    if not directly.isdisjoint(plan.outputs):  # they rest on what rules concluded or derived: follow that back
        unexplained = suspects - _explained_names(fired, firings)
    return tuple(sorted(unexplained))


def _explained_names(fired: list[RulePlan], firings: list[Firing]) -> set[str]:
    """Findings that feed, directly or through derived facts, a concluded condition."""
    producers: dict[str, list[Firing]] = {}
    for rule, firing in zip(fired, firings, strict=True):
        for name in rule.outputs:
            if name in producers:
                producers[name].append(firing)
            else:
                producers[name] = [firing]
    explained: set[str] = set()
    stack = [firing for rule, firing in zip(fired, firings, strict=True) if rule.conclude]
    visited: set[int] = set()
    while stack:
        firing = stack.pop()
        if firing.rule_index in visited:
            continue
        visited.add(firing.rule_index)
        explained.update(firing.matched)
        for name in firing.matched:
            if name in producers:
                stack.extend(producers[name])
    return explained


def _score_inputs(run: RunInput) -> set[str]:
    """The findings every computed score was built from, whether or not a rule used the score: a score
    that is shown uses its inputs, a recorded no or a number below a threshold included (unrecorded
    inputs too: the caller only takes the recorded findings out of what is used)."""
    used: set[str] = set()
    for score in run.scores:
        used.update(run.score_inputs.get(score.id, ()))
        used.update(score.components)
    return used
