"""The safety gate: search for a case where the rules under-triage a red flag.

Two properties are searched with hypothesis (a shrinking search, so the case
reported is the smallest it finds):

- floor: a case where a floor entry's condition holds gets at least its level;
- monotonic: adding a red-flag finding to a case never lowers the level. A finding counts
  as a red-flag finding in a case when adding it raises a red flag the case did not have
  (``chest_pain`` next to a swollen calf; ``calf_pain`` next to a sudden sharp pain is
  not one, and may rightly lower the level by explaining the pain as a strain).

``calfrules check`` and the TUI's save run this before a ruleset is accepted.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from .compiler import CompiledRule, Program
from .condition import Atom, Compare, Truthy, atoms, to_text
from .engine import Engine
from .levels import Level
from .vocabulary import Finding, Value, Vocabulary


@dataclass(frozen=True)
class RedFlagLiteral:
    """A finding value that makes one atom of a floor entry true (``chest_pain``, ``wells_score >= 2``)."""

    floor_id: str
    finding: str
    value: Value
    text: str


@dataclass
class SafetyReport:
    ok: bool
    violations: list[dict[str, Any]] = field(default_factory=list)
    cases_tried: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "violations": self.violations, "cases_tried": self.cases_tried, "seconds": self.seconds}


def red_flag_literals(program: Program, vocabulary: Vocabulary) -> list[RedFlagLiteral]:
    """Findings that, set to the given value, satisfy an atom of some floor entry."""
    found: dict[tuple[str, object], RedFlagLiteral] = {}
    for compiled in program.floor:
        for atom, negated in atoms(compiled.expr):
            if negated or atom.name not in vocabulary:
                continue
            value = satisfying_value(atom, vocabulary[atom.name])
            if value is not None:
                found.setdefault((atom.name, value), RedFlagLiteral(compiled.entry.id, atom.name, value, to_text(atom)))
    return sorted(found.values(), key=lambda lit: (lit.finding, str(lit.value)))


def satisfying_value(atom: Atom, finding: Finding) -> Value | None:
    if isinstance(atom, Truthy):
        return True if finding.type == "bool" else None
    assert isinstance(atom, Compare)
    if isinstance(atom.value, str):
        return atom.value if atom.op == "==" else None
    step = {">=": 0.0, ">": 1.0, "<=": 0.0, "<": -1.0, "==": 0.0}.get(atom.op)
    if step is None:
        return None
    value = float(atom.value) + step
    if (finding.minimum is not None and value < finding.minimum) or (
        finding.maximum is not None and value > finding.maximum
    ):
        return None
    return value


def case_strategy(engine: Engine) -> st.SearchStrategy[dict[str, Value]]:
    """Cases built from the findings the rules and the floor actually test, values near their thresholds."""
    program = engine.program
    tested: dict[str, set[Value]] = {}
    exprs = [rule.expr for rule in program.rules] + [entry.expr for entry in program.floor]
    for expr in exprs:
        for atom, _ in atoms(expr):
            if atom.name in engine.vocabulary:
                values = tested.setdefault(atom.name, set())
                if isinstance(atom, Compare) and not isinstance(atom.value, str):
                    values.update(_near(float(atom.value), engine.vocabulary[atom.name]))
                elif isinstance(atom, Compare):
                    values.add(atom.value)
    per_finding: dict[str, st.SearchStrategy[Value]] = {}
    for name in sorted(tested):
        finding = engine.vocabulary[name]
        if finding.type == "bool":
            per_finding[name] = st.just(True) | st.just(False)
        elif finding.type == "choice":
            per_finding[name] = st.sampled_from(finding.choices)
        else:
            per_finding[name] = st.sampled_from(sorted(tested[name]) or [finding.minimum or 0.0])
    if not per_finding:
        return st.just({})
    # optional keys shrink by dropping findings, so counter-examples come out small
    return st.fixed_dictionaries({}, optional=per_finding)


def _near(value: float, finding: Finding) -> set[Value]:
    options = {value - 1, value - 0.5, value, value + 0.5, value + 1}
    low = finding.minimum if finding.minimum is not None else float("-inf")
    high = finding.maximum if finding.maximum is not None else float("inf")
    return {v for v in options if low <= v <= high}


def _drop_what_does_not_matter(case: dict[str, Value], literal: RedFlagLiteral, violates: Any) -> dict[str, Value]:
    """Greedy final shrink: remove each finding the violation does not need."""
    for name in sorted(case):
        smaller = {k: v for k, v in case.items() if k != name}
        if smaller and violates((smaller, literal)):
            case = smaller
    return case


class _Probe:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.cases = 0

    def level(self, findings: Mapping[str, Value]) -> Level:
        return self.outcome(findings)[0]

    def outcome(self, findings: Mapping[str, Value]) -> tuple[Level, frozenset[str]]:
        self.cases += 1
        a = self.engine.assess({"findings": dict(findings)})
        return a.level, frozenset(flag.id for flag in a.red_flags)

    def lowered_by(self, case: Mapping[str, Value], literal: RedFlagLiteral) -> bool:
        """Adding the literal raises a new red flag, yet the level goes down."""
        before, flags_before = self.outcome(case)
        after, flags_after = self.outcome({**case, literal.finding: literal.value})
        return after < before and bool(flags_after - flags_before)


def fragile_findings(program: Program) -> set[str]:
    """Findings whose new value can make some rule stop firing.

    Everything else in an assessment only ever rises as findings are added (rules
    without ``not`` fire on more, the floor and the uncertainty check only raise), so
    only a finding under ``not``, or compared with a number (its value may change), can
    lower a level. Red-flag findings outside this set cannot break monotonicity.
    """
    fragile: set[str] = set()
    for compiled in program.rules:
        for branch in compiled.branches:
            for atom, positive in branch:
                if not positive or isinstance(atom, Compare):
                    fragile.add(atom.name)
    return fragile


def supporting_cases(engine: Engine, depth: int = 4) -> list[dict[str, Value]]:
    """For every alternative of every rule, the smallest case that makes it fire.

    Derived facts are satisfied through a rule that produces them; ``not`` is satisfied
    by leaving the finding out. Alternatives that contradict themselves are skipped.
    """
    program = engine.program
    producers: dict[str, list[int]] = {}
    for compiled in program.rules:
        for name in compiled.outputs:
            producers.setdefault(name, []).append(compiled.index)

    def satisfy(branch: tuple[tuple[Atom, bool], ...], case: dict[str, Value], absent: set[str], left: int) -> bool:
        for atom, positive in branch:
            name = atom.name
            if name in engine.vocabulary:
                if not positive:
                    if name in case:
                        return False
                    absent.add(name)
                    continue
                value = satisfying_value(atom, engine.vocabulary[name])
                if value is None or name in absent or case.get(name, value) != value:
                    return False
                case[name] = value
            elif positive and left > 0:
                for index in producers.get(name, []):
                    trial, trial_absent = dict(case), set(absent)
                    if satisfy(program.rules[index].branches[0], trial, trial_absent, left - 1):
                        case.update(trial)
                        absent.update(trial_absent)
                        break
                else:
                    return False
            elif positive:
                return False
        return True

    cases: dict[str, dict[str, Value]] = {}
    for compiled in program.rules:
        for branch in compiled.branches:
            case: dict[str, Value] = {}
            if satisfy(branch, case, set(), depth) and case:
                cases.setdefault(repr(sorted(case.items())), case)
    return list(cases.values())


def _fragile_chain(fired: list[CompiledRule], floor_names: set[str]) -> set[str]:
    producers: dict[str, list[CompiledRule]] = {}
    for rule in fired:
        for name in rule.outputs:
            producers.setdefault(name, []).append(rule)
    roots = [
        r for r in fired if (r.rule.escalate and r.rule.escalate > Level.SELF_CARE) or floor_names & set(r.outputs)
    ]
    names: set[str] = set()
    seen: set[int] = set()
    while roots:
        rule = roots.pop()
        if rule.index in seen:
            continue
        seen.add(rule.index)
        for branch in rule.branches:
            for atom, positive in branch:
                if not positive or isinstance(atom, Compare):
                    names.add(atom.name)
                elif atom.name in producers:
                    roots.extend(producers[atom.name])
    return names


def check_engine(engine: Engine, *, max_examples: int = 400, seconds: float = 1.0) -> SafetyReport:
    """Search for under-triage; returns the smallest counter-example per property, if any.

    First every rule's smallest supporting case is tried with each red-flag finding that
    could stop an escalating rule firing there (deterministic, and finds the usual
    mistake: a ``not`` on a red-flag finding); then hypothesis searches random mixes
    for ``seconds``.
    """
    started = time.monotonic()
    probe = _Probe(engine)
    fragile = fragile_findings(engine.program)
    literals = [lit for lit in red_flag_literals(engine.program, engine.vocabulary) if lit.finding in fragile]
    report = SafetyReport(ok=True)
    if not literals:
        report.seconds = time.monotonic() - started
        return report
    rules_by_ref = {(c.ruleset.id, c.rule.id): c for c in engine.program.rules}
    floor_names = {name for entry in engine.program.floor for name in entry.names}
    for case in supporting_cases(engine):
        # The level can only drop if an escalating rule (or one feeding the floor) stops firing,
        # and only a finding tested under `not` or in a comparison, somewhere up its chain, can stop it.
        base = probe.engine.assess({"findings": case})
        probe.cases += 1
        fired = [rules_by_ref[(step.rule.ruleset, step.rule.rule)] for step in base.trace]
        at_risk = _fragile_chain(fired, floor_names)
        for literal in literals:
            if literal.finding not in at_risk or case.get(literal.finding) == literal.value:
                continue
            if probe.lowered_by(case, literal):
                report.ok = False
                report.violations.append(_violation(engine, case, literal, probe))
                break
        if not report.ok:
            report.cases_tried = probe.cases
            report.seconds = time.monotonic() - started
            return report
    budget = settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    cases = case_strategy(engine)

    random_started = time.monotonic()

    def lowers(example: tuple[dict[str, Value], RedFlagLiteral]) -> bool:
        if time.monotonic() - random_started > seconds:
            return False
        case, literal = example
        if not case or case.get(literal.finding) == literal.value:
            return False
        return probe.lowered_by(case, literal)

    try:
        case, literal = find(st.tuples(cases, st.sampled_from(literals)), lowers, settings=budget)
    except NoSuchExample:
        pass
    else:
        report.ok = False
        report.violations.append(_violation(engine, case, literal, probe))
    report.cases_tried = probe.cases
    report.seconds = time.monotonic() - started
    return report


def _violation(engine: Engine, case: dict[str, Value], literal: RedFlagLiteral, probe: _Probe) -> dict[str, Any]:
    def lowers(example: tuple[dict[str, Value], RedFlagLiteral]) -> bool:
        smaller, lit = example
        return probe.lowered_by(smaller, lit)

    case = _drop_what_does_not_matter(case, literal, lowers)
    before = engine.assess({"findings": case})
    after = engine.assess({"findings": {**case, literal.finding: literal.value}})
    return {
        "property": "monotonic",
        "message": (
            f"adding the red-flag finding {literal.text} (floor entry {literal.floor_id}) lowers the level "
            f"from {before.level.value} to {after.level.value}"
        ),
        "case": {"findings": case},
        "added": {literal.finding: literal.value},
        "rules_lost": sorted({s.rule.rule for s in before.trace} - {s.rule.rule for s in after.trace}),
    }
