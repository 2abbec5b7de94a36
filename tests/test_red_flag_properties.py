"""Red flags escalate on their own, unrecorded is not "no", and advice never contradicts the level.

Everything is derived from the loaded engine (its floor, screen, rules and vocabulary),
never from a list of entries, so the properties follow the knowledge as it changes.
Cases draw each finding yes, no or unrecorded (left out), numbers near the thresholds
the rules, floor and screen test. Examples per property: ``PROPERTY_EXAMPLES``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from case_counter import CASES
from hypothesis import given, settings
from hypothesis import strategies as st

from calfrules import Engine, Level, load_engine
from calfrules.engine.advice import LEVEL_ADVICE_RULE, SERVES_ANY_LEVEL
from calfrules.engine.assessment import Assessment
from calfrules.knowledge.ruleset_io import loads
from calfrules.rules.condition import Answer, Compare, atoms, to_dnf
from calfrules.rules.vocabulary import Value
from calfrules.tooling.safety import red_flag_findings, red_flag_literals, satisfying_value
from calfrules.tooling.safety_search import supporting_cases

from conftest import BUILTIN_PLUGINS, PROPERTY_EXAMPLES

property_settings = settings(max_examples=PROPERTY_EXAMPLES, deadline=None)

# level reasons a missing answer adds by itself (calfrules.tooling.safety, "recorded_no")
NOT_FIRM = {"uncertainty", "screen", "fail-safe"}


@pytest.fixture(scope="module")
def require_engine() -> Iterator[Engine]:
    """The built-in knowledge under the self-triage screen policy."""
    built = load_engine(allow=BUILTIN_PLUGINS, isolation="none", screen="require")
    yield built
    built.close()


def engine_for(policy: str, engine: Engine, require_engine: Engine) -> Engine:
    chosen = require_engine if policy == "require" else engine
    assert chosen.screen == policy
    return chosen


def assess(engine: Engine, findings: dict[str, Value], counter: str) -> Assessment:
    CASES[counter] += 1
    return engine.assess({"findings": findings})


@dataclass(frozen=True)
class Sign:
    """A finding value that alone makes some floor entry hold, and the highest such level."""

    finding: str
    value: Value
    floor: Level
    entries: tuple[str, ...]


@functools.cache
def signs(engine: Engine) -> list[Sign]:
    """Every finding that alone satisfies some floor entry, evaluated through the engine."""
    found: dict[tuple[str, Value], Sign] = {}
    for literal in red_flag_literals(engine.program, engine.vocabulary):
        alone = engine.assess({"findings": {literal.finding: literal.value}})
        held = [flag for flag in alone.red_flags if flag.origin != "condition"]
        if held:
            found[(literal.finding, literal.value)] = Sign(
                literal.finding, literal.value, max(f.level for f in held), tuple(sorted(f.id for f in held))
            )
    return sorted(found.values(), key=lambda s: (s.finding, str(s.value)))


@functools.cache
def cases(engine: Engine) -> st.SearchStrategy[dict[str, Value]]:
    """Up to 14 findings, each yes or no (or a number near a threshold); the rest unrecorded."""
    program, vocabulary = engine.program, engine.vocabulary
    thresholds: dict[str, set[float]] = {}
    exprs = [r.expr for r in program.rules] + [e.expr for e in program.floor] + [g.expr for g in program.screen]
    for expr in exprs:
        for atom, _ in atoms(expr):
            if isinstance(atom, Compare) and not isinstance(atom.value, str) and atom.name in vocabulary:
                v = float(atom.value)
                thresholds.setdefault(atom.name, set()).update({v - 1, v - 0.5, v, v + 0.5, v + 1})
    per: list[st.SearchStrategy[tuple[str, Value]]] = []
    for finding in vocabulary:
        values: st.SearchStrategy[Value]
        if finding.type == "bool":
            values = st.booleans()
        elif finding.type == "choice":
            values = st.sampled_from(finding.choices)
        else:
            low, high = finding.minimum or 0.0, finding.maximum if finding.maximum is not None else 100.0
            near = sorted(v for v in thresholds.get(finding.id, set()) | {low, high} if low <= v <= high)
            values = st.sampled_from(near)
        per.append(st.tuples(st.just(finding.id), values))
    return st.lists(st.one_of(per), max_size=14, unique_by=lambda item: item[0]).map(dict)


# --- a sign never waits for a second box ---------------------------------------------------


def test_every_single_finding_alternative_of_the_floor_is_a_sign(engine: Engine) -> None:
    """A floor alternative that names one finding and nothing else holds on that finding alone."""
    derived = {(s.finding, s.value): s for s in signs(engine)}
    assert derived, "no finding raises a floor entry alone"
    checked = 0
    for compiled in engine.program.floor:
        for branch in to_dnf(compiled.expr):
            if len(branch) != 1 or not branch[0][1] or branch[0][0].name not in engine.vocabulary:
                continue
            atom = branch[0][0]
            value = satisfying_value(atom, engine.vocabulary[atom.name])
            if value is None:
                continue
            checked += 1
            sign = derived.get((atom.name, value))
            assert sign is not None and compiled.entry.id in sign.entries, (compiled.entry.id, atom.name)
            assert sign.floor >= compiled.entry.level
    assert checked > 0


@property_settings
@given(data=st.data())
def test_a_red_flag_sign_escalates_whatever_else_is_recorded(engine: Engine, data: st.DataObject) -> None:
    """level(c with f) >= floor(f): no other finding, recorded yes or no, holds a sign down."""
    sign = data.draw(st.sampled_from(signs(engine)), label="sign")
    case = data.draw(cases(engine), label="case")
    findings = {**case, sign.finding: sign.value}
    a = assess(engine, findings, "sign_alone")
    assert a.level >= sign.floor, (sign, findings, [r.reason for r in a.level_reasons])
    # an entry over findings only, with no 'not' and no 'is no', cannot be undone by other
    # findings (a score or a derived fact could): it is raised too
    raised = {flag.id for flag in a.red_flags if flag.origin != "condition"}
    assert raised >= {e for e in sign.entries if e in monotone_entries(engine)}, (sign, findings)


@functools.cache
def monotone_entries(engine: Engine) -> frozenset[str]:
    return frozenset(
        c.entry.id
        for c in engine.program.floor
        if all(
            not negated and not isinstance(atom, Answer) and atom.name in engine.vocabulary
            for atom, negated in atoms(c.expr)
        )
    )


# --- advice never contradicts the level ----------------------------------------------------


@functools.cache
def advice_cases(engine: Engine) -> list[tuple[dict[str, Value], tuple[str, ...]]]:
    """The smallest case firing each rule that gives advice, with the yes/no findings its
    advice must be avoided with."""
    rules = {(r.ref.ruleset, r.ref.rule): r for r in engine.program.rules if r.recommendations}
    found = []
    for case in supporting_cases(engine):
        fired = [
            rules[key]
            for s in engine.assess({"findings": case}).trace
            if (key := (s.rule.ruleset, s.rule.rule)) in rules
        ]
        avoid = {n for r in fired for rec in r.recommendations for n in rec.avoid_with if n in engine.vocabulary}
        if fired:
            found.append((case, tuple(sorted(n for n in avoid if engine.vocabulary[n].type == "bool"))))
    return found


@property_settings
@given(data=st.data())
def test_advice_never_contradicts_the_level_or_a_present_sign(engine: Engine, data: st.DataObject) -> None:
    """Any case, usually built on a rule that gives advice, with one of the signs that advice
    must be avoided with, or any red-flag sign, or neither."""
    nothing: tuple[dict[str, Value], tuple[str, ...]] = ({}, ())
    base, avoid = data.draw(st.just(nothing) | st.sampled_from(advice_cases(engine)), label="advice case")
    extra = data.draw(cases(engine), label="other findings")
    findings = {**extra, **base}
    sign = data.draw(st.none() | st.sampled_from(signs(engine)), label="sign")
    if sign:
        findings[sign.finding] = sign.value
    if avoid and data.draw(st.booleans(), label="with an avoid_with sign"):
        findings[data.draw(st.sampled_from(avoid), label="avoid_with sign")] = True
    if not findings:
        return
    a = assess(engine, findings, "advice")
    program = engine.program
    rules = {(r.ref.ruleset, r.ref.rule): r for r in program.rules}
    present = {name for name, value in findings.items() if value is True}
    present |= {step.concluded for step in a.trace if step.concluded}
    present |= {name for step in a.trace for name in step.derived}
    present |= {flag.id for flag in a.red_flags}
    seek_care = 0
    for rec in a.recommendations:
        if rec.rule == LEVEL_ADVICE_RULE:  # the engine's own line says where to go at this level
            assert rec.kind == "seek_care" and rec.id == f"level_advice_{a.level.value}", rec.id
            seek_care += 1
            continue
        rule = rules[(rec.rule.ruleset, rec.rule.rule)]
        declared = next(r for r in rule.recommendations if r.id == rec.id)
        clash = set(declared.avoid_with) & present
        assert not clash, f"{rec.id} is shown next to {clash} it must be avoided with ({findings})"
        if a.level < Level.URGENT:
            continue
        rule_level = rule.rule.escalate or Level.SEE_CLINICIAN
        if rec.kind == "seek_care":
            assert rule_level == a.level, f"{rec.id} ({rule_level.value}) shown at {a.level.value}"
            seek_care += 1
        elif rec.kind not in SERVES_ANY_LEVEL:
            red_flag = any(program.conditions[c].red_flag for c in rule.outputs if c in program.conditions) or bool(
                rule.rule.derive and rule.rule.escalate and rule.rule.escalate >= Level.URGENT
            )
            assert red_flag and rule_level >= Level.URGENT, f"{rec.kind} advice {rec.id} shown at {a.level.value}"
    if a.level >= Level.URGENT:
        assert seek_care >= 1, f"no advice says where to go at {a.level.value} ({findings})"


# --- unrecorded is not "no" ----------------------------------------------------------------


def firm(a: Assessment) -> Level:
    """The level the rules, the floor and red-flag conditions give."""
    return Level.highest(r.level for r in a.level_reasons if r.source not in NOT_FIRM)


@pytest.mark.parametrize("policy", ["prompt", "require"])
@property_settings
@given(data=st.data())
def test_recording_no_never_lowers_the_level_below_the_screen_policy_promise(
    engine: Engine, require_engine: Engine, policy: str, data: st.DataObject
) -> None:
    """level(c + {f: no}) >= max(firm(c), see_clinician if "require" and the screen is still
    unfinished): a recorded no may only finish the screen or let a condition explain a symptom."""
    chosen = engine_for(policy, engine, require_engine)
    questions = red_flag_findings(chosen.program, chosen.vocabulary)
    finding = data.draw(st.sampled_from(questions), label="finding")
    case = data.draw(cases(chosen).filter(lambda c: bool(c) and finding not in c), label="case")
    before = assess(chosen, case, f"recorded_no_{policy}")
    after = assess(chosen, {**case, finding: False}, f"recorded_no_{policy}")
    promised = firm(before)
    if policy == "require":
        for a in (before, after):
            assert a.red_flag_screen.policy == "require"
            if not a.red_flag_screen.complete:
                assert a.level >= Level.SEE_CLINICIAN, (a.findings, a.red_flag_screen.unanswered)
        if not after.red_flag_screen.complete:
            promised = max(promised, Level.SEE_CLINICIAN)
    assert after.level >= promised, (
        f"recording {finding} as no lowers {before.level.value} to {after.level.value} "
        f"(promised {promised.value}) for {case}"
    )


def test_red_flag_findings_cover_the_screen_and_the_signs(engine: Engine) -> None:
    questions = set(red_flag_findings(engine.program, engine.vocabulary))
    asked = {q for group in engine.program.screen for q in group.group.ask}
    assert asked <= questions
    assert {s.finding for s in signs(engine) if s.value is True} <= questions


def test_under_require_a_recorded_no_may_finish_the_screen_and_lower_the_level() -> None:
    """What the promise allows: the last screen answer, a no, drops the screen's see_clinician
    (a condition explains the presenting finding), and nothing firm is lost."""
    core = load_engine(allow=[], isolation="none", screen="require")
    try:
        group, presenting = next(
            (g, atom.name)
            for g in core.program.screen
            if not g.group.default
            for branch in to_dnf(g.expr)
            for atom, positive in branch
            if positive
            and atom.name in core.vocabulary
            and core.vocabulary[atom.name].type == "bool"
            and atom.name not in g.group.ask
            and not core.assess({"findings": {atom.name: True}}).red_flags
        )
    finally:
        core.close()
    explains = (
        'id = "explains"\nversion = "1"\ntitle = "t"\n[conditions.test_explained]\nlabel = "Explained"\n'
        f'[[rules]]\nid = "r"\nwhen = "{presenting}"\nconclude = "test_explained"\nrationale = "test"\n'
    )
    engine = load_engine(rulesets=[loads(explains)], allow=[], isolation="none", screen="require")
    try:
        *answered, last = group.group.ask
        case: dict[str, Value] = {presenting: True, **{q: False for q in answered}}
        before = engine.assess({"findings": case})
        after = engine.assess({"findings": {**case, last: False}})
    finally:
        engine.close()
    assert not before.red_flag_screen.complete and before.red_flag_screen.unanswered == (last,)
    assert before.level == Level.SEE_CLINICIAN and firm(before) == Level.SELF_CARE
    assert after.red_flag_screen.complete and after.level == Level.SELF_CARE  # lower, and allowed
