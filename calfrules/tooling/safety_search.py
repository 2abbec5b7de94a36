"""What the safety gate searches over: red-flag findings, their combinations, and the cases to try.

Everything here is derived from the loaded program (its floor, rules, screen and
derivers) and the vocabulary, never from a list of entries, so a ruleset that adds
floor entries or screen questions is searched over them too.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from calfrules.engine.engine import Engine
from calfrules.rules.condition import Answer, Atom, Compare, Truthy, atoms, to_dnf, to_text
from calfrules.rules.levels import Level
from calfrules.rules.private_cache import private_cache_file
from calfrules.rules.program import CompiledRule, Program
from calfrules.rules.vocabulary import Finding, Value, Vocabulary

Case = dict[str, Value]
T = TypeVar("T")


@dataclass(frozen=True)
class RedFlagLiteral:
    """A finding value that makes one atom of a floor entry true (``chest_pain``, ``wells_score >= 2``)."""

    floor_id: str
    finding: str
    value: Value
    text: str


@dataclass(frozen=True)
class Addition:
    """Findings added to a case in one step: one red-flag literal, or every finding one
    alternative of a floor entry needs (``skin_redness and fever and calf_pain``)."""

    floor_id: str
    findings: tuple[tuple[str, Value], ...]
    text: str

    def new_in(self, case: Mapping[str, Value]) -> dict[str, Value]:
        """What adding this to ``case`` records or changes (empty: the case already has it all).
        A number already recorded stays: replacing a measurement (41 °C by 38 °C) adds nothing."""
        return {
            name: value
            for name, value in self.findings
            if name not in case or (case[name] != value and not _is_number(case[name]))
        }

    @property
    def names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.findings)


def _is_number(value: Value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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
    if isinstance(atom, Answer):  # a recorded no (or, for "is recorded", the plainest recorded value)
        if atom.answer == "no" or finding.type == "bool":
            return atom.answer != "no"
        return finding.choices[0] if finding.choices else (finding.minimum or 0.0)
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


def single_additions(literals: Iterable[RedFlagLiteral]) -> list[Addition]:
    return [Addition(lit.floor_id, ((lit.finding, lit.value),), lit.text) for lit in literals]


def combination_additions(program: Program, vocabulary: Vocabulary) -> list[Addition]:
    """For every floor entry alternative (DNF branch) that needs two or more findings, the
    findings that satisfy its positive literals, added as one step.

    Literals over derived facts or scores are left to the rules; branches that contradict
    themselves (one finding, two values) are skipped, and so is a branch whose findings
    include another branch's of the same entry (the smaller one is tried).
    """
    found: dict[tuple[tuple[str, Value], ...], Addition] = {}
    for compiled in program.floor:
        sets: dict[tuple[tuple[str, Value], ...], str] = {}
        for branch in to_dnf(compiled.expr):
            values: dict[str, Value] = {}
            texts: list[str] = []
            consistent = True
            for atom, positive in branch:
                if not positive or atom.name not in vocabulary:
                    continue
                value = satisfying_value(atom, vocabulary[atom.name])
                if value is None or values.get(atom.name, value) != value:
                    consistent = False
                    break
                values[atom.name] = value
                texts.append(to_text(atom))
            if consistent and len(values) >= 2:
                sets.setdefault(tuple(sorted(values.items(), key=lambda item: item[0])), " and ".join(texts))
        for items, text in sets.items():
            if any(other != items and set(other) < set(items) for other in sets):
                continue  # not minimal
            found.setdefault(items, Addition(compiled.entry.id, items, text))
    return sorted(found.values(), key=lambda a: (len(a.findings), a.floor_id, a.text))


def red_flag_findings(program: Program, vocabulary: Vocabulary) -> list[str]:
    """Yes/no findings a floor entry asks to be yes, and every red-flag screen question."""
    names = {lit.finding for lit in red_flag_literals(program, vocabulary) if lit.value is True}
    names.update(q for group in program.screen for q in group.group.ask)
    return sorted(n for n in names if n in vocabulary and vocabulary[n].type == "bool")


def answer_sensitive(engine: Engine) -> set[str]:
    """Findings for which a recorded no can differ from leaving them unrecorded in what the
    rules and the floor see: named in an ``is no`` / ``is recorded`` test, or an input of
    a score (a score computed from a recorded no is 0, not missing). For any other
    finding ``x`` and ``not x`` read a no and an unrecorded finding alike."""
    program = engine.program
    names: set[str] = set()
    for expr in [rule.expr for rule in program.rules] + [entry.expr for entry in program.floor]:
        names.update(atom.name for atom, _ in atoms(expr) if isinstance(atom, Answer))
    for deriver, _ in engine.registry.derivers.values():
        names.update(deriver.inputs)
    return names


def score_inputs(engine: Engine) -> dict[str, set[str]]:
    """Finding -> the scores computed from it."""
    found: dict[str, set[str]] = {}
    for deriver, _ in engine.registry.derivers.values():
        for name in deriver.inputs:
            found.setdefault(name, set()).add(deriver.id)
    return found


def case_strategy(engine: Engine, max_findings: int = 16) -> st.SearchStrategy[dict[str, Value]]:
    """Cases built from the findings the rules, floor and screen actually test, values near
    their thresholds; a yes/no finding may be yes, no or left out (unrecorded)."""
    program = engine.program
    tested: dict[str, set[Value]] = {}
    exprs = [rule.expr for rule in program.rules] + [entry.expr for entry in program.floor]
    exprs += [group.expr for group in program.screen]
    for expr in exprs:
        for atom, _ in atoms(expr):
            if atom.name in engine.vocabulary:
                values = tested.setdefault(atom.name, set())
                if isinstance(atom, Compare) and not isinstance(atom.value, str):
                    values.update(near(float(atom.value), engine.vocabulary[atom.name]))
                elif isinstance(atom, Compare):
                    values.add(atom.value)
    for group in program.screen:
        for name in group.group.ask:
            if name in engine.vocabulary:
                tested.setdefault(name, set())
    items: list[st.SearchStrategy[tuple[str, Value]]] = []
    for name in sorted(tested):
        finding = engine.vocabulary[name]
        drawn: st.SearchStrategy[Value]
        if finding.type == "bool":
            drawn = st.booleans()
        elif finding.type == "choice":
            drawn = st.sampled_from(finding.choices)
        else:
            drawn = st.sampled_from(sorted(tested[name]) or [finding.minimum or 0.0])
        items.append(st.tuples(st.just(name), drawn))
    if not items:
        return st.just({})
    # a list of (finding, value) shrinks by dropping findings, so counter-examples come out
    # small; far quicker to draw than a dictionary with every finding optional
    pairs = st.lists(st.one_of(items), max_size=max_findings, unique_by=lambda item: item[0])
    return pairs.map(dict)


def near(value: float, finding: Finding) -> set[Value]:
    options = {value - 1, value - 0.5, value, value + 0.5, value + 1}
    low = finding.minimum if finding.minimum is not None else float("-inf")
    high = finding.maximum if finding.maximum is not None else float("inf")
    return {v for v in options if low <= v <= high}


def fragile_findings(program: Program) -> set[str]:
    """Findings whose new value can make some rule stop firing.

    Everything else in an assessment only ever rises as findings are added (rules
    without ``not`` fire on more, the floor and the uncertainty check only raise), so
    only a finding under ``not``, in an ``is no``/``is recorded`` test, or compared with
    a number (its value may change), can lower a level. Red-flag findings outside this
    set cannot break monotonicity.
    """
    fragile: set[str] = set()
    for compiled in program.rules:
        for branch in compiled.branches:
            for atom, positive in branch:
                if not positive or isinstance(atom, (Compare, Answer)):
                    fragile.add(atom.name)
    return fragile


def negated_partners(program: Program) -> set[str]:
    """Findings a rule tests under one ``not`` with others (``not (a and b)``): the rule keeps
    firing until all of them hold, so one addition of a red flag may stop it only when the
    case already has the others. Read from the rule's alternatives: two with the same
    positive part that differ in what they need absent."""
    partners: set[str] = set()
    for compiled in program.rules:
        absent_by_positive: dict[frozenset[str], list[frozenset[str]]] = {}
        for branch in compiled.branches:
            positive = frozenset(to_text(atom) for atom, is_positive in branch if is_positive)
            negated = frozenset(atom.name for atom, is_positive in branch if not is_positive)
            absent_by_positive.setdefault(positive, []).append(negated)
        for alternatives in absent_by_positive.values():
            if len(alternatives) >= 2:  # ``not a and not b`` is one alternative: either stops it
                partners.update(frozenset.union(*alternatives) - frozenset.intersection(*alternatives))
    return partners


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


def fragile_chain(fired: list[CompiledRule], floor_names: set[str], red_flag_conditions: set[str]) -> set[str]:
    """Names that, changed, could stop a fired rule that holds the level up: an escalating
    rule, one concluding a red-flag condition, or one feeding the floor, and the rules
    that derive what those test."""
    producers: dict[str, list[CompiledRule]] = {}
    for rule in fired:
        for name in rule.outputs:
            producers.setdefault(name, []).append(rule)
    roots = [
        r
        for r in fired
        if (r.rule.escalate and r.rule.escalate > Level.SELF_CARE)
        or (floor_names | red_flag_conditions) & set(r.outputs)
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
                if not positive or isinstance(atom, (Compare, Answer)):
                    names.add(atom.name)
                elif atom.name in producers:
                    roots.extend(producers[atom.name])
    return names


def find_counterexample(
    engine: Engine, extra: st.SearchStrategy[T], bad: Callable[[Case, T], bool], max_examples: int, seconds: float
) -> tuple[Case, T] | None:
    """Hypothesis's shrinking search for a case (and an extra drawn with it) where ``bad`` holds,
    within ``max_examples`` and ``seconds``."""
    budget = settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    started = time.monotonic()

    def holds(example: tuple[Case, T]) -> bool:
        case, other = example
        return bool(case) and time.monotonic() - started <= seconds and bad(case, other)

    try:
        with _storage_outside_the_current_folder():
            return find(st.tuples(case_strategy(engine), extra), holds, settings=budget)
    except NoSuchExample:
        return None


@contextmanager
def _storage_outside_the_current_folder() -> Iterator[None]:
    """Hypothesis caches what it learns in ``./.hypothesis`` unless told otherwise: while the gate
    searches, its cache is the user's calfrules cache (or a temporary folder), never the folder the
    app or the CLI was started from. A folder set by the user or a test run is left alone."""
    from hypothesis import configuration

    chosen = getattr(configuration, "__hypothesis_home_directory", None)
    default = Path.cwd() / ".hypothesis"
    if os.getenv("HYPOTHESIS_STORAGE_DIRECTORY") or (chosen is not None and Path(chosen) != default):
        yield
        return
    configuration.set_hypothesis_home_dir(private_cache_file("hypothesis") or tempfile.mkdtemp(prefix="calfrules-"))
    try:
        yield
    finally:
        configuration.set_hypothesis_home_dir(chosen)
