"""The clinical decision policy: from rule firings to the level, its reasons and the advice shown.

Here the level is decided: the rules' escalations, the red-flag floor (applied in plain
Python whatever the rule engine did), the screen policy, the fail-safe for incomplete runs
and unexplained symptoms, and which advice is withheld at the level reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from calfrules.engine import advice
from calfrules.engine.assessment import (
    Assessment,
    ConditionResult,
    LevelReason,
    Reason,
    RecommendationResult,
    RedFlag,
    ScoreResult,
    TraceStep,
)
from calfrules.engine.screening import ScreenPolicy, evaluate_screen
from calfrules.rules.evaluate import Prover, evaluate
from calfrules.rules.firing import Firing
from calfrules.rules.levels import Level
from calfrules.rules.model import RECOMMENDATION_KINDS, Source
from calfrules.rules.program import CompiledRule, Program
from calfrules.rules.vocabulary import NEEDS_EXPLANATION, Value, Vocabulary

_KIND_ORDER = {kind: rank for rank, kind in enumerate(RECOMMENDATION_KINDS)}


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
    fired = [(program.rules[f.rule_index], f) for f in run.firings]
    level_reasons: list[LevelReason] = []

    shown_by_step = [evidence(firing.matched, run.findings) for _, firing in fired]  # once per firing
    conditions = _conditions(fired, shown_by_step, program)
    trace = tuple(
        TraceStep(
            step=n,
            rule=rule.ref,
            matched=shown,
            concluded=rule.rule.conclude,
            derived=rule.rule.derive,
            escalated=rule.rule.escalate,
            unrecorded=unrecorded,
        )
        for n, ((rule, _), (shown, unrecorded)) in enumerate(zip(fired, shown_by_step, strict=True), start=1)
    )
    for rule, _ in fired:
        if rule.rule.escalate is not None:
            level_reasons.append(
                LevelReason(rule.rule.escalate, rule.rule.rationale, f"rule {rule.rule.id} ({rule.ruleset.id})")
            )

    red_flags, floor_names = _apply_floor(program, run, fired)
    for flag in red_flags:
        level_reasons.append(LevelReason(flag.level, f"red flag: {flag.label}", f"floor {flag.id} ({flag.origin})"))
    concluded_levels = _condition_levels(fired)
    for concluded in conditions:
        if concluded.red_flag and not any(f.id == concluded.id for f in red_flags):
            flag_level = concluded_levels.get(concluded.id, Level.SEE_CLINICIAN)
            red_flags.append(RedFlag(concluded.id, concluded.label, flag_level, {}, concluded.description, "condition"))
            level_reasons.append(
                LevelReason(flag_level, f"red-flag condition: {concluded.label}", f"condition {concluded.id}")
            )

    explained = _explained_names(program, fired)
    unexplained = tuple(
        name
        for name, value in sorted(run.findings.items())
        if value is True and vocabulary[name].kind in NEEDS_EXPLANATION and name not in explained
    )
    if unexplained:
        labels = ", ".join(vocabulary[name].label.lower() for name in unexplained)
        level_reasons.append(
            LevelReason(
                Level.SEE_CLINICIAN,
                f"no condition here explains: {labels}; a clinician should look",
                "uncertainty",
            )
        )
    for problem in run.incomplete:
        level_reasons.append(LevelReason(Level.URGENT, f"assessment incomplete: {problem}", "fail-safe"))
    screen = evaluate_screen(program.screen, run.findings, run.screen_policy)
    if run.screen_policy == "require" and not screen.complete:
        level_reasons.append(
            LevelReason(
                Level.SEE_CLINICIAN,
                f"red-flag screen not finished: {len(screen.unanswered)} question(s) unanswered, so self-care "
                "cannot stand (screen policy 'require')",
                "screen",
            )
        )

    used = _used_names(fired) | floor_names | _score_inputs(run)
    unused = tuple(sorted(name for name in run.findings if name not in used))
    level = Level.highest(reason.level for reason in level_reasons)
    candidates = _recommendations(program, fired)
    present = _present(program, vocabulary, fired, red_flags, run.findings)
    recommendations, withheld = advice.select(candidates, present, level)
    own = advice.level_advice(level, recommendations, candidates, lambda: _level_sources(program, fired, red_flags))
    if own is not None:
        recommendations.insert(0, own)
    return Assessment(
        level=level,
        complete=not run.incomplete,
        conditions=tuple(conditions),
        recommendations=tuple(recommendations),
        red_flags=tuple(sorted(red_flags, key=lambda f: (-f.level.rank, f.id))),
        level_reasons=tuple(sorted(level_reasons, key=lambda r: -r.level.rank)),
        trace=trace,
        scores=tuple(run.scores),
        unused_findings=unused,
        unexplained_findings=unexplained,
        findings=dict(run.findings),
        provenance=run.provenance,
        incomplete_reasons=tuple(run.incomplete),
        case_id=run.case_id,
        warnings=tuple(run.warnings),
        withheld_recommendations=tuple(withheld),
        red_flag_screen=screen,
    )


def evidence(matched: Mapping[str, Value], findings: Mapping[str, Value]) -> tuple[dict[str, Value], tuple[str, ...]]:
    """What a firing rests on, as recorded: a ``not x`` shows x's recorded value (a no is
    ``false``), or, when nobody recorded x, goes to the second list instead of counting as a no."""
    shown: dict[str, Value] = {}
    unrecorded: list[str] = []
    for label, value in matched.items():
        if not label.startswith("not "):
            shown[label] = value
            continue
        name = label[4:].split(" ")[0]
        if name in findings:
            shown[name] = findings[name]
        else:
            unrecorded.append(name)
    return shown, tuple(dict.fromkeys(unrecorded))


def _condition_levels(fired: list[tuple[CompiledRule, Firing]]) -> dict[str, Level]:
    """Each concluded condition's level: the highest escalation of the rules that concluded it."""
    levels: dict[str, Level] = {}
    for rule, _ in fired:
        if rule.rule.conclude and rule.rule.escalate is not None:
            levels[rule.rule.conclude] = max(levels.get(rule.rule.conclude, Level.SELF_CARE), rule.rule.escalate)
    return levels


def _present(
    program: Program,
    vocabulary: Vocabulary,
    fired: list[tuple[CompiledRule, Firing]],
    red_flags: list[RedFlag],
    findings: Mapping[str, Value],
) -> dict[str, str]:
    """Everything advice may be contraindicated by, with its plain name."""
    present: dict[str, str] = {}
    for name, value in findings.items():
        if value is True:
            present[name] = vocabulary[name].label.lower()
    for rule, _ in fired:
        for name in rule.outputs:
            info = program.conditions.get(name)
            present[name] = info.label.lower() if info else name.replace("_", " ")
    for flag in red_flags:
        present[flag.id] = flag.label.lower()
    return present


def _level_sources(
    program: Program, fired: list[tuple[CompiledRule, Firing]], red_flags: list[RedFlag]
) -> tuple[Source, ...]:
    """What the engine's own seek-care line cites: what raised the level, else the urgency levels."""
    found: dict[str, Source] = {}
    top = max([flag.level for flag in red_flags] + [r.rule.escalate for r, _ in fired if r.rule.escalate], default=None)
    for flag in red_flags:
        if flag.level == top:
            found.update((s.id, s) for s in flag.sources)
    for rule, _ in fired:
        if rule.rule.escalate is not None and rule.rule.escalate == top:
            found.update((s.id, s) for s in rule.sources)
    if program.level_source is not None:
        found.setdefault(program.level_source.id, program.level_source)
    return tuple(found.values())


def _conditions(
    fired: list[tuple[CompiledRule, Firing]],
    shown_by_step: list[tuple[dict[str, Value], tuple[str, ...]]],
    program: Program,
) -> list[ConditionResult]:
    reasons: dict[str, list[Reason]] = {}
    for (rule, _), (shown, unrecorded) in zip(fired, shown_by_step, strict=True):
        if rule.rule.conclude:
            reasons.setdefault(rule.rule.conclude, []).append(
                Reason(rule.ref, shown, rule.rule.rationale, rule.sources, unrecorded)
            )
    results = []
    for condition_id, because in reasons.items():
        info = program.conditions[condition_id]
        results.append(ConditionResult(condition_id, info.label, info.red_flag, tuple(because), info.description))
    return sorted(results, key=lambda c: (not c.red_flag, c.id))


def _recommendations(program: Program, fired: list[tuple[CompiledRule, Firing]]) -> list[advice.Candidate]:
    seen: dict[str, advice.Candidate] = {}
    for rule, _ in fired:
        red_flag = any(program.conditions[c].red_flag for c in rule.outputs if c in program.conditions) or bool(
            rule.rule.derive and rule.rule.escalate and rule.rule.escalate >= Level.URGENT
        )
        for rec, rec_sources in zip(rule.recommendations, rule.recommendation_sources, strict=True):
            if rec.id in seen:
                continue
            seen[rec.id] = advice.Candidate(
                RecommendationResult(
                    id=rec.id,
                    text=rec.text,
                    kind=rec.kind,
                    priority=rec.priority,
                    dose={k: list(v) if isinstance(v, tuple) else v for k, v in rec.dose},
                    dose_text=rec.dose_text(),
                    rule=rule.ref,
                    sources=rec_sources,
                    return_if=rec.return_if,
                ),
                rec.avoid_with,
                rule.rule.escalate or Level.SEE_CLINICIAN,
                red_flag,
            )
    return sorted(seen.values(), key=lambda c: (_KIND_ORDER.get(c.advice.kind, 99), c.advice.priority, c.advice.id))


def _apply_floor(
    program: Program, run: RunInput, fired: list[tuple[CompiledRule, Firing]]
) -> tuple[list[RedFlag], set[str]]:
    """Plain-Python floor: the rules' own conclusions count, and so do those proved backwards from the findings."""
    concluded: dict[str, Value] = {name: True for rule, _ in fired for name in rule.outputs}
    prover = Prover(program.producers, run.known)

    def lookup(name: str) -> Value | None:
        if name in run.known:
            return run.known[name]
        if name in concluded:
            return True
        return prover.lookup(name)

    flags: list[RedFlag] = []
    names: set[str] = set()
    for compiled in program.floor:
        if not compiled.holds_when_nothing_is_known and compiled.inputs.isdisjoint(run.known):
            continue  # none of its inputs is known: it cannot hold
        find = run.known.get if compiled.direct else lookup
        if evaluate(compiled.expr, find):
            entry = compiled.entry
            # only what holds is evidence: a recorded no or a number below its threshold is not
            matched = {
                atom.name: value
                for atom in compiled.positive_atoms
                if (value := find(atom.name)) is not None and evaluate(atom, find)
            }
            names.update(matched)
            flags.append(
                RedFlag(entry.id, entry.label, entry.level, matched, entry.rationale, compiled.origin, compiled.sources)
            )
    return flags, names


def _explained_names(program: Program, fired: list[tuple[CompiledRule, Firing]]) -> set[str]:
    """Findings that feed, directly or through derived facts, a concluded condition."""
    producers: dict[str, list[Firing]] = {}
    for rule, firing in fired:
        for name in rule.outputs:
            producers.setdefault(name, []).append(firing)
    explained: set[str] = set()
    stack = [firing for rule, firing in fired if rule.rule.conclude]
    visited: set[int] = set()
    while stack:
        firing = stack.pop()
        if firing.rule_index in visited:
            continue
        visited.add(firing.rule_index)
        for name in firing.matched:
            explained.add(name)
            stack.extend(producers.get(name, []))
    return explained


def _used_names(fired: list[tuple[CompiledRule, Firing]]) -> set[str]:
    used = set()
    for _, firing in fired:
        for name in firing.matched:
            used.add(name[4:].split(" ")[0] if name.startswith("not ") else name)
    return used


def _score_inputs(run: RunInput) -> set[str]:
    """The recorded findings every computed score was built from, whether or not a rule used the score:
    a score that is shown uses its inputs, a recorded no or a number below a threshold included."""
    used: set[str] = set()
    for score in run.scores:
        inputs = (*run.score_inputs.get(score.id, ()), *score.components)
        used.update(name for name in inputs if name in run.findings)
    return used
