"""The safety gate: search for a case where the rules under-triage a red flag.

``calfrules check`` and the TUI's save run :func:`check_engine` before a ruleset is
accepted. It searches two properties and reports the smallest counter-example it finds.

``monotonic``: raising a red flag never lowers the level. Adding to a case, in one step,
    either one red-flag literal (a finding value that satisfies an atom of a floor entry:
    ``numbness``, ``calf_circumference_diff_cm >= 3``) or all the findings one alternative
    of a floor entry needs when it needs two or more (``skin_redness and fever and
    calf_pain``) must not lower the level when it raises a red flag the case did not have.
    A finding that raises no new flag may lower it (``calf_pain`` next to a sudden sharp
    pain explains the pain as a strain).

``recorded_no``: "no" is never less safe than "not recorded". For a case ``c`` and a
    yes/no red-flag finding or screen question ``f`` that ``c`` leaves unrecorded, let

    - ``firm(c)``: the highest level the rules, the red-flag floor and the red-flag
      conditions give ``c`` (every level reason but uncertainty, the screen and the
      fail-safe);
    - ``screen``: ``see_clinician`` when the engine's screen policy is ``"require"`` and
      the screen of ``c`` with ``f`` recorded as no is still unfinished, else ``self_care``.

    Then ``level(c + {f: no}) >= max(firm(c), screen)``. Recording a no may take away
    only what a missing answer adds by itself: the ``require`` policy's see_clinician
    once the screen is finished, and the uncertainty see_clinician once a condition
    (perhaps one that needs ``f is no``) explains the symptoms. A rule that escalates
    only while ``f`` is unrecorded (``f is not recorded``, ``not (f is no)``) is refused:
    waiting for an answer is the screen's job. Under ``"prompt"`` the screen promises
    nothing, so ``firm(c)`` is the bound. The gate records a no only for findings the
    rules or floor can tell from unrecorded (named in an ``is no``/``is recorded`` test,
    or a score's input); tests/test_red_flag_properties.py checks every finding.

Deterministic searches run first: every rule's smallest supporting case with each
single addition that could stop a rule holding the level up there, then each
combination, then each recorded no. Then hypothesis searches random mixes, for each
property up to ``seconds`` or ``max_examples`` (a shrinking search, so the case
reported is small).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from hypothesis import strategies as st

from calfrules.engine.assessment import Assessment
from calfrules.engine.engine import Engine
from calfrules.rules.condition import Answer, Compare, atoms
from calfrules.rules.levels import Level
from calfrules.rules.vocabulary import Value
from calfrules.tooling.safety_search import (
    Addition,
    RedFlagLiteral,
    answer_sensitive,
    combination_additions,
    find_counterexample,
    fragile_chain,
    fragile_findings,
    negated_partners,
    red_flag_findings,
    red_flag_literals,
    satisfying_value,
    score_inputs,
    single_additions,
    supporting_cases,
)
from calfrules.tooling.safety_words import describe_findings, findings_in_words, refusal_lines

__all__ = [
    "Addition",
    "RedFlagLiteral",
    "SafetyReport",
    "check_engine",
    "combination_additions",
    "findings_in_words",
    "firm_level",
    "red_flag_findings",
    "red_flag_literals",
    "refusal_lines",
    "satisfying_value",
    "search_additions",
    "search_recorded_no",
    "single_additions",
]

# level reasons that a missing answer adds by itself (see the module docstring)
NOT_FIRM: frozenset[str] = frozenset({"uncertainty", "screen", "fail-safe"})

Violation = dict[str, Any]
Case = dict[str, Value]


@dataclass
class SafetyReport:
    ok: bool
    violations: list[Violation] = field(default_factory=list)
    cases_tried: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "violations": self.violations, "cases_tried": self.cases_tried, "seconds": self.seconds}


def firm_level(assessment: Assessment) -> Level:
    """The level the rules, the floor and red-flag conditions give (not uncertainty, screen or fail-safe)."""
    return Level.highest(r.level for r in assessment.level_reasons if r.source not in NOT_FIRM)


class Outcome(NamedTuple):
    level: Level
    flags: frozenset[str]
    firm: Level
    screen_complete: bool


class _Probe:
    """Assesses cases for the searches, each distinct case once."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.cases = 0
        self._outcomes: dict[tuple[tuple[str, Value], ...], Outcome] = {}
        self._supported: list[tuple[Case, set[str], frozenset[str]]] | None = None

    def assess(self, findings: Mapping[str, Value]) -> Assessment:
        self.cases += 1
        return self.engine.assess({"findings": dict(findings)}, record=False)

    def outcome(self, findings: Mapping[str, Value]) -> Outcome:
        key = tuple(sorted(findings.items(), key=lambda item: item[0]))
        known = self._outcomes.get(key)
        if known is None:
            known = self._outcomes[key] = _outcome(self.assess(findings))
        return known

    def lowered_by(self, case: Mapping[str, Value], added: Mapping[str, Value]) -> bool:
        """Adding these findings raises a new red flag, yet the level goes down."""
        if not added or not case:
            return False
        before = self.outcome(case)
        after = self.outcome({**case, **added})
        return after.level < before.level and bool(after.flags - before.flags)

    def promised(self, case: Mapping[str, Value], finding: str) -> tuple[Level, Outcome]:
        """What recording ``finding`` as no must keep (see the module docstring), and the outcome."""
        before = self.outcome(case)
        after = self.outcome({**case, finding: False})
        unfinished = self.engine.screen == "require" and not after.screen_complete
        screen = Level.SEE_CLINICIAN if unfinished else Level.SELF_CARE
        return max(before.firm, screen), after

    def no_lowers(self, case: Mapping[str, Value], finding: str) -> bool:
        if not case or finding in case:
            return False
        promised, after = self.promised(case, finding)
        return after.level < promised

    def supported(self) -> list[tuple[Case, set[str], frozenset[str]]]:
        """Every rule's smallest supporting case, with the names that could stop a rule holding
        its level up (see ``fragile_chain``) and the red flags it raises."""
        if self._supported is None:
            program = self.engine.program
            rules_by_ref = {(c.ruleset.id, c.rule.id): c for c in program.rules}
            floor_names = {name for entry in program.floor for name in entry.names}
            red_flag_conditions = {c for c, info in program.conditions.items() if info.red_flag}
            self._supported = []
            for case in supporting_cases(self.engine):
                base = self.assess(case)
                self._outcomes[tuple(sorted(case.items(), key=lambda item: item[0]))] = _outcome(base)
                fired = [rules_by_ref[(step.rule.ruleset, step.rule.rule)] for step in base.trace]
                at_risk = fragile_chain(fired, floor_names, red_flag_conditions)
                self._supported.append((case, at_risk, frozenset(flag.id for flag in base.red_flags)))
        return self._supported


def _outcome(a: Assessment) -> Outcome:
    return Outcome(a.level, frozenset(flag.id for flag in a.red_flags), firm_level(a), a.red_flag_screen.complete)


def search_additions(engine: Engine, additions: Iterable[Addition], *, probe: _Probe | None = None) -> Violation | None:
    """Deterministic: each rule's supporting case with each addition that could stop a rule
    holding its level up there, fewest new findings first. Returns the first violation, shrunk."""
    probe = probe or _Probe(engine)
    fragile = fragile_findings(engine.program)
    useful = [a for a in additions if a.names & fragile]
    if not useful:
        return None
    supported = probe.supported()
    for case, at_risk, _ in supported:
        violation = _try_additions(probe, case, at_risk, useful)
        if violation is not None:
            return violation
    # A rule under ``not (a and b and c)`` stops only when all of them hold: try each
    # supporting case again with one of them recorded yes, then the rest added.
    partners = negated_partners(engine.program)
    for case, at_risk, _ in supported:
        for name in sorted(at_risk & partners):
            if name in case or name not in engine.vocabulary or engine.vocabulary[name].type != "bool":
                continue
            violation = _try_additions(probe, {**case, name: True}, at_risk, useful)
            if violation is not None:
                return violation
    return None


def _try_additions(probe: _Probe, case: Case, at_risk: set[str], useful: list[Addition]) -> Violation | None:
    """The first addition (fewest new findings first) that lowers the level of ``case``."""
    tries = []
    for n, addition in enumerate(useful):
        added = addition.new_in(case)
        if added and not added.keys().isdisjoint(at_risk):
            tries.append((len(added), n, added))
    for _, _, added in sorted(tries, key=lambda t: (t[0], t[1])):
        if probe.lowered_by(case, added):
            return _monotonic_violation(probe, case, added)
    return None


def search_recorded_no(engine: Engine, *, probe: _Probe | None = None) -> Violation | None:
    """Deterministic: each rule's supporting case with each red-flag or screen finding it leaves
    unrecorded recorded as no, where that can change what the rules or the floor see."""
    probe = probe or _Probe(engine)
    candidates = recorded_no_candidates(engine)
    if not candidates:
        return None
    scores = score_inputs(engine)
    floor_tests = {
        entry.entry.id: {atom.name for atom, _ in atoms(entry.expr) if isinstance(atom, (Answer, Compare))}
        for entry in engine.program.floor
    }
    for case, at_risk, flags in probe.supported():
        watched = at_risk.union(*(floor_tests.get(flag, set()) for flag in flags))
        for finding in candidates:
            if finding in case or (finding not in watched and watched.isdisjoint(scores.get(finding, ()))):
                continue
            if probe.no_lowers(case, finding):
                return _recorded_no_violation(probe, case, finding)
    return None


def recorded_no_candidates(engine: Engine) -> list[str]:
    """Red-flag findings and screen questions whose recorded no the rules or floor can tell from unrecorded."""
    sensitive = answer_sensitive(engine)
    return [name for name in red_flag_findings(engine.program, engine.vocabulary) if name in sensitive]


def check_engine(engine: Engine, *, max_examples: int = 400, seconds: float = 1.0) -> SafetyReport:
    """Search for under-triage; returns the first counter-example found, shrunk, if any."""
    started = time.monotonic()
    probe = _Probe(engine)
    report = SafetyReport(ok=True)
    program, vocabulary = engine.program, engine.vocabulary
    singles = single_additions(red_flag_literals(program, vocabulary))
    combinations = combination_additions(program, vocabulary)
    searches: list[Callable[[], Violation | None]] = [
        lambda: search_additions(engine, singles, probe=probe),
        lambda: search_additions(engine, combinations, probe=probe),
        lambda: search_recorded_no(engine, probe=probe),
        lambda: _random_additions(probe, singles + combinations, max_examples, seconds),
        lambda: _random_recorded_no(probe, max_examples, seconds),
    ]
    for search in searches:
        violation = search()
        if violation is not None:
            report.ok = False
            report.violations.append(violation)
            break
    report.cases_tried = probe.cases
    report.seconds = time.monotonic() - started
    return report


def _random_additions(probe: _Probe, additions: list[Addition], max_examples: int, seconds: float) -> Violation | None:
    fragile = fragile_findings(probe.engine.program)
    useful = [a for a in additions if a.names & fragile]
    if not useful:
        return None

    def lowers(case: Case, addition: Addition) -> bool:
        return probe.lowered_by(case, addition.new_in(case))

    found = find_counterexample(probe.engine, st.sampled_from(useful), lowers, max_examples, seconds)
    if found is None:
        return None
    case, addition = found
    return _monotonic_violation(probe, case, addition.new_in(case))


def _random_recorded_no(probe: _Probe, max_examples: int, seconds: float) -> Violation | None:
    candidates = recorded_no_candidates(probe.engine)
    if not candidates:
        return None
    found = find_counterexample(probe.engine, st.sampled_from(candidates), probe.no_lowers, max_examples, seconds)
    return None if found is None else _recorded_no_violation(probe, *found)


# --- counter-examples, in words ------------------------------------------------------------


def _shrink(case: Case, violates: Callable[[Case], bool]) -> Case:
    """Greedy final shrink: remove each finding the violation does not need."""
    for name in sorted(case):
        smaller = {k: v for k, v in case.items() if k != name}
        if smaller and violates(smaller):
            case = smaller
    return case


def _monotonic_violation(probe: _Probe, case: Case, added: dict[str, Value]) -> Violation:
    case = _shrink(case, lambda smaller: probe.lowered_by(smaller, added))
    engine = probe.engine
    before = probe.assess(case)
    after = probe.assess({**case, **added})
    old = {flag.id for flag in before.red_flags}
    raised = [{"id": f.id, "label": f.label, "level": f.level.value} for f in after.red_flags if f.id not in old]
    flags = " and ".join(f"'{flag['label']}' ({flag['level']})" for flag in raised)
    return {
        "property": "monotonic",
        "message": (
            f"Adding {describe_findings(added, engine.vocabulary)} raises {flags}, yet the level falls: "
            f"before {before.level.value} -> after {after.level.value}"
        ),
        "case": {"findings": case},
        "added": dict(sorted(added.items())),
        "rules_lost": _rules_lost(before, after),
        "raised": raised,
        "before": before.level.value,
        "after": after.level.value,
    }


def _recorded_no_violation(probe: _Probe, case: Case, finding: str) -> Violation:
    case = _shrink(case, lambda smaller: probe.no_lowers(smaller, finding))
    engine = probe.engine
    promised, _ = probe.promised(case, finding)
    before = probe.assess(case)
    after = probe.assess({**case, finding: False})
    why = (
        "what the rules and the red-flag floor give with it unrecorded"
        if firm_level(before) >= promised
        else "what the unfinished red-flag screen promises"
    )
    return {
        "property": "recorded_no",
        "message": (
            f"Recording {describe_findings({finding: True}, engine.vocabulary)} as no instead of leaving it "
            f"unrecorded lowers the level below {promised.value} ({why}): "
            f"before {before.level.value} -> after {after.level.value}"
        ),
        "case": {"findings": case},
        "added": {finding: False},
        "rules_lost": _rules_lost(before, after),
        "raised": [],
        "before": before.level.value,
        "after": after.level.value,
        "promised": promised.value,
    }


def _rules_lost(before: Assessment, after: Assessment) -> list[str]:
    return sorted({s.rule.rule for s in before.trace} - {s.rule.rule for s in after.trace})
