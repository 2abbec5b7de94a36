"""Turn rule firings into an Assessment: conditions, advice, red flags, level and its reasons."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import oracle
from .assessment import (
    Assessment,
    ConditionResult,
    LevelReason,
    Reason,
    RecommendationResult,
    RedFlag,
    ScoreResult,
    TraceStep,
    WithheldRecommendation,
)
from .compiler import CompiledRule, Program
from .firing import Firing
from .levels import Level
from .model import DEFERRED_WHEN_URGENT, RECOMMENDATION_KINDS
from .vocabulary import NEEDS_EXPLANATION, Value, Vocabulary

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


def build(program: Program, vocabulary: Vocabulary, run: RunInput) -> Assessment:
    fired = [(program.rules[f.rule_index], f) for f in run.firings]
    level_reasons: list[LevelReason] = []

    conditions = _conditions(program, fired)
    candidates = _recommendations(fired)
    trace = tuple(
        TraceStep(
            step=n,
            rule=rule.ref,
            matched=dict(firing.matched),
            concluded=rule.rule.conclude,
            derived=rule.rule.derive,
            escalated=rule.rule.escalate,
        )
        for n, (rule, firing) in enumerate(fired, start=1)
    )
    for rule, _ in fired:
        if rule.rule.escalate is not None:
            level_reasons.append(
                LevelReason(rule.rule.escalate, rule.rule.rationale, f"rule {rule.rule.id} ({rule.ruleset.id})")
            )

    red_flags, floor_names = _apply_floor(program, run, fired)
    for flag in red_flags:
        level_reasons.append(LevelReason(flag.level, f"red flag: {flag.label}", f"floor {flag.id} ({flag.origin})"))
    for condition in conditions:
        if condition.red_flag and not any(f.id == condition.id for f in red_flags):
            red_flags.append(
                RedFlag(condition.id, condition.label, Level.SEE_CLINICIAN, {}, condition.description, "condition")
            )
            level_reasons.append(
                LevelReason(Level.SEE_CLINICIAN, f"red-flag condition: {condition.label}", f"condition {condition.id}")
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

    used = _used_names(fired) | floor_names
    for score in run.scores:
        if score.id in used:
            used.update(_deriver_inputs(run, score.id))
    unused = tuple(sorted(name for name in run.findings if name not in used))
    level = Level.highest(reason.level for reason in level_reasons)
    present = {name for rule, _ in fired for name in rule.outputs} | {flag.id for flag in red_flags}
    recommendations, withheld = _withhold(candidates, present, level)
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
    )


def _conditions(program: Program, fired: list[tuple[CompiledRule, Firing]]) -> list[ConditionResult]:
    reasons: dict[str, list[Reason]] = {}
    for rule, firing in fired:
        if rule.rule.conclude:
            reasons.setdefault(rule.rule.conclude, []).append(
                Reason(
                    rule.ref,
                    dict(firing.matched),
                    rule.rule.rationale,
                    rule.sources,
                )
            )
    results = []
    for condition_id, because in reasons.items():
        info = program.conditions[condition_id]
        results.append(ConditionResult(condition_id, info.label, info.red_flag, tuple(because), info.description))
    return sorted(results, key=lambda c: (not c.red_flag, c.id))


def _recommendations(fired: list[tuple[CompiledRule, Firing]]) -> list[tuple[RecommendationResult, tuple[str, ...]]]:
    seen: dict[str, tuple[RecommendationResult, tuple[str, ...]]] = {}
    for rule, _ in fired:
        for rec, rec_sources in zip(rule.recommendations, rule.recommendation_sources, strict=True):
            if rec.id in seen:
                continue
            seen[rec.id] = (
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
            )
    return sorted(seen.values(), key=lambda pair: (_KIND_ORDER.get(pair[0].kind, 99), pair[0].priority, pair[0].id))


def _withhold(
    candidates: list[tuple[RecommendationResult, tuple[str, ...]]], present: set[str], level: Level
) -> tuple[list[RecommendationResult], list[WithheldRecommendation]]:
    """Drop advice that is contraindicated here, or that must wait for a red flag to be assessed."""
    shown: list[RecommendationResult] = []
    withheld: list[WithheldRecommendation] = []
    for rec, avoid_with in candidates:
        clash = sorted(present.intersection(avoid_with))
        if clash:
            reason = f"not advised with {', '.join(clash)}"
        elif level >= Level.URGENT and rec.kind in DEFERRED_WHEN_URGENT:
            reason = f"held back until the {level.value} problem has been assessed"
        else:
            shown.append(rec)
            continue
        withheld.append(WithheldRecommendation(rec.id, rec.text, rec.rule, reason))
    return shown, withheld


def _apply_floor(
    program: Program, run: RunInput, fired: list[tuple[CompiledRule, Firing]]
) -> tuple[list[RedFlag], set[str]]:
    """Plain-Python floor: the rules' own conclusions count, and so do the oracle's."""
    concluded: dict[str, Value] = {name: True for rule, _ in fired for name in rule.outputs}
    prover = oracle.Prover(program.producers, run.known)

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
        if oracle.evaluate(compiled.expr, lookup):
            entry = compiled.entry
            matched = {n: v for n in compiled.names if (v := lookup(n)) is not None}
            names.update(matched)
            flags.append(RedFlag(entry.id, entry.label, entry.level, matched, entry.rationale, compiled.origin))
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


def _deriver_inputs(run: RunInput, score_id: str) -> set[str]:
    for score in run.scores:
        if score.id == score_id:
            return set(score.components)
    return set()
