"""Red flags always escalate: properties checked by hypothesis over the whole input space.

Each example assesses several cases; the number of cases per property is printed at the
end of the run ("safety properties: N cases"). The `ci` profile draws over 100,000 in all.
"""

from __future__ import annotations

import functools
import random
from pathlib import Path

import pytest
from case_counter import CASES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from calfrules import Engine, Level, Ruleset, load_engine, save_ruleset
from calfrules.knowledge.ruleset_io import dumps, loads
from calfrules.rules.condition import And, Answer, Compare, Not, Or, Truthy, to_text
from calfrules.rules.model import Rule
from calfrules.tooling.safety import (
    check_engine,
    combination_additions,
    red_flag_findings,
    red_flag_literals,
    satisfying_value,
    search_additions,
    search_recorded_no,
    single_additions,
)

from conftest import BUILTIN_PLUGINS, PROPERTY_EXAMPLES

property_settings = settings(max_examples=PROPERTY_EXAMPLES, deadline=None)


@functools.cache
def fast_engine(plugins: tuple[str, ...] = tuple(BUILTIN_PLUGINS)) -> Engine:
    # in-process: the properties assess many cases; isolation is tested in test_fail_safe
    return load_engine(allow=list(plugins), isolation="none")


def vocabulary_cases(engine: Engine) -> st.SearchStrategy[dict[str, object]]:
    """Any mix of findings from the vocabulary, values across their whole ranges (noise included)."""
    per: dict[str, st.SearchStrategy[object]] = {}
    for f in engine.vocabulary:
        if f.type == "bool":
            per[f.id] = st.booleans()
        elif f.type == "number":
            low, high = f.minimum or 0.0, f.maximum or 100.0
            per[f.id] = st.one_of(
                st.floats(low, high, allow_nan=False), st.integers(int(low), int(min(high, 50))).map(float)
            )
        else:
            per[f.id] = st.sampled_from(f.choices)
    names = sorted(per)
    return st.lists(st.sampled_from(names), min_size=1, max_size=12, unique=True).flatmap(
        lambda chosen: st.fixed_dictionaries({n: per[n] for n in chosen})
    )


def assess(engine: Engine, findings: dict[str, object], counter: str) -> object:
    CASES[counter] += 1
    return engine.assess({"findings": findings})


BUILTIN = fast_engine()
LITERALS = red_flag_literals(BUILTIN.program, BUILTIN.vocabulary)


def test_the_floor_is_populated() -> None:
    assert len(BUILTIN.program.floor) >= 13 and len(LITERALS) >= 13


@property_settings
@given(case=vocabulary_cases(BUILTIN), entry_index=st.integers(0, 10_000))
def test_a_red_flag_present_means_at_least_its_floor(case: dict[str, object], entry_index: int) -> None:
    """Force one floor entry's condition true on top of any case: the level is at least its floor."""
    from calfrules.rules.condition import to_dnf

    entry = BUILTIN.program.floor[entry_index % len(BUILTIN.program.floor)]
    findings = dict(case)
    for atom, positive in to_dnf(entry.expr)[0]:
        if atom.name in BUILTIN.vocabulary:
            value = satisfying_value(atom, BUILTIN.vocabulary[atom.name]) if positive else None
            if positive and value is not None:
                findings[atom.name] = value
            elif not positive:
                findings.pop(atom.name, None)
    a = assess(BUILTIN, findings, "floor")
    holds = entry.entry.id in {f.id for f in a.red_flags}
    if holds:
        assert a.level >= entry.entry.level, (entry.entry.id, findings)
    for flag in a.red_flags:
        assert a.level >= flag.level


@property_settings
@given(case=vocabulary_cases(BUILTIN))
def test_adding_any_red_flag_finding_never_lowers_the_level(case: dict[str, object]) -> None:
    """A finding that raises a new red flag never lowers the level (see calfrules.tooling.safety for why
    findings that raise no flag, such as calf_pain explaining a sudden sharp pain, may)."""
    before = assess(BUILTIN, case, "monotonic")
    flags_before = {f.id for f in before.red_flags}  # type: ignore[attr-defined]
    for literal in LITERALS:
        recorded = case.get(literal.finding)
        # a measurement already recorded is not added by replacing it (25 °C by 38 °C swaps hypothermia for fever)
        if recorded == literal.value or (isinstance(recorded, (int, float)) and not isinstance(recorded, bool)):
            continue
        after = assess(BUILTIN, {**case, literal.finding: literal.value}, "monotonic")
        if {f.id for f in after.red_flags} - flags_before:  # type: ignore[attr-defined]
            assert after.level >= before.level, f"adding {literal.text} lowered the level for {case}"  # type: ignore[attr-defined]


@property_settings
@given(case=vocabulary_cases(BUILTIN), seed=st.integers(0, 2**32))
def test_shuffling_findings_changes_nothing(case: dict[str, object], seed: int) -> None:
    items = list(case.items())
    random.Random(seed).shuffle(items)
    first = assess(BUILTIN, case, "order").to_dict()  # type: ignore[attr-defined]
    second = assess(BUILTIN, dict(items), "order").to_dict()  # type: ignore[attr-defined]
    first.pop("findings"), second.pop("findings")
    for step in first["trace"] + second["trace"]:
        step.pop("step")
    first["trace"].sort(key=lambda s: s["rule"]["rule"])
    second["trace"].sort(key=lambda s: s["rule"]["rule"])
    assert first == second


PLUGIN_MODULES = {name: f"calfrules.plugins.{name}" for name in BUILTIN_PLUGINS}


@functools.cache
def engine_from(order: tuple[str, ...]) -> Engine:
    import importlib

    modules = [importlib.import_module(PLUGIN_MODULES[name]) for name in order]
    return load_engine(plugins=modules, entry_points=False, allow=[], isolation="none")


@settings(max_examples=max(20, PROPERTY_EXAMPLES // 10), deadline=None)
@given(
    subset=st.sets(st.sampled_from([p for p in BUILTIN_PLUGINS if p != "red_flags"])),
    seed=st.integers(0, 2**32),
    case=vocabulary_cases(BUILTIN),
)
def test_any_subset_and_order_of_plugins_keeps_the_floor_and_the_answer(
    subset: set[str], seed: int, case: dict[str, object]
) -> None:
    names = ["red_flags", *sorted(subset)]
    shuffled = list(names)
    random.Random(seed).shuffle(shuffled)
    one = assess(engine_from(tuple(names)), case, "plugin_order")
    two = assess(engine_from(tuple(shuffled)), case, "plugin_order")
    assert one.level == two.level  # type: ignore[attr-defined]
    assert one.condition_ids() == two.condition_ids()  # type: ignore[attr-defined]
    assert sorted(one.recommendation_ids()) == sorted(two.recommendation_ids())  # type: ignore[attr-defined]
    full = assess(BUILTIN, case, "plugin_order")
    assert {f.id for f in one.red_flags} == {f.id for f in full.red_flags}  # type: ignore[attr-defined]
    assert one.level >= max((f.level for f in full.red_flags), default=Level.SELF_CARE)  # type: ignore[attr-defined]


@property_settings
@given(case=vocabulary_cases(BUILTIN))
def test_durable_rules_and_the_oracle_agree_on_the_builtin_knowledge(case: dict[str, object]) -> None:
    CASES["oracle_builtin"] += 2
    fast = BUILTIN.assess({"findings": case})
    slow = BUILTIN.assess({"findings": case}, evaluator="oracle")
    assert fast.level == slow.level
    assert fast.condition_ids() == slow.condition_ids()
    assert fast.recommendation_ids() == slow.recommendation_ids()


# --- generated and mutated rulesets --------------------------------------------------------

BOOLS = ["calf_pain", "swelling", "fever", "night_pain", "bruising", "chest_pain", "calf_warmth", "numbness"]
NUMBERS = {"pain_score": (0, 10), "calf_circumference_diff_cm": (0, 30)}
DERIVED = ["d_one", "d_two", "d_three"]
CONDITIONS = ["g_alpha", "g_beta"]


def finding_atoms() -> st.SearchStrategy[object]:
    return st.one_of(
        st.sampled_from(BOOLS).map(lambda n: Truthy(n, 1)),
        # the three states: a recorded no, and recorded at all (bools and numbers)
        st.sampled_from(BOOLS).map(lambda n: Answer(n, "no", 1)),
        st.sampled_from(BOOLS + sorted(NUMBERS)).map(lambda n: Answer(n, "recorded", 1)),
        st.builds(
            lambda n, op, v: Compare(n, op, float(v), 1),
            st.sampled_from(sorted(NUMBERS)),
            st.sampled_from([">=", "<=", ">", "<", "==", "!="]),
            st.integers(0, 10),
        ),
    )


def when_exprs() -> st.SearchStrategy[object]:
    positive = st.one_of(finding_atoms(), st.sampled_from(DERIVED + CONDITIONS).map(lambda n: Truthy(n, 1)))
    leaf = st.one_of(positive, finding_atoms().map(lambda a: Not(a, 1)))
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
            st.lists(inner, min_size=2, max_size=2).map(lambda xs: Or(tuple(xs))),
        ),
        max_leaves=5,
    )


@st.composite
def generated_rulesets(draw: st.DrawFn) -> Ruleset:
    rules = []
    for i in range(draw(st.integers(1, 8))):
        action = draw(st.sampled_from(["conclude", "derive", "escalate", "recommend"]))
        body: dict[str, object] = {
            "id": f"g{i}",
            "when": to_text(draw(when_exprs())),
            "rationale": "generated",
            "references": ["ref"],
        }
        if action == "conclude":
            body["conclude"] = draw(st.sampled_from(CONDITIONS))
        elif action == "derive":
            body["derive"] = [draw(st.sampled_from(DERIVED))]
        elif action == "escalate":
            body["escalate"] = draw(st.sampled_from([lv.value for lv in Level]))
        else:
            body["recommend"] = [{"id": f"rec{i}", "text": "Generated advice."}]
        if draw(st.booleans()):
            body["escalate"] = draw(st.sampled_from([lv.value for lv in Level]))
        rules.append(body)
    # every derived name is produced by some rule, so conditions may test any of them
    rules.append({"id": "defs", "when": "fever and numbness and bruising", "derive": DERIVED, "rationale": "x"})
    data = {
        "id": "generated",
        "version": "1",
        "title": "generated",
        "references": [{"id": "ref", "citation": "generated"}],
        "conditions": {c: {"label": c} for c in CONDITIONS},
        "rules": rules,
    }
    import tomli_w

    return loads(tomli_w.dumps(data), "generated.toml")


def small_cases() -> st.SearchStrategy[dict[str, object]]:
    numbers = {n: st.integers(lo, hi).map(float) for n, (lo, hi) in NUMBERS.items()}
    bools = {n: st.booleans() for n in BOOLS}
    return st.fixed_dictionaries({}, optional={**bools, **numbers}).filter(bool)


@settings(max_examples=max(20, PROPERTY_EXAMPLES // 5), deadline=None)
@given(ruleset=generated_rulesets(), cases=st.lists(small_cases(), min_size=1, max_size=10))
def test_durable_rules_and_the_oracle_agree_on_generated_rulesets(
    ruleset: Ruleset, cases: list[dict[str, object]]
) -> None:
    engine = load_engine(rulesets=[ruleset], allow=["red_flags"], isolation="none", strict=True)
    again = load_engine(rulesets=[loads(dumps(ruleset))], allow=["red_flags"], isolation="none")
    try:
        for case in cases:
            CASES["oracle_generated"] += 3
            fast = engine.assess({"findings": case})
            slow = engine.assess({"findings": case}, evaluator="oracle")
            assert (fast.level, fast.condition_ids(), fast.recommendation_ids()) == (
                slow.level,
                slow.condition_ids(),
                slow.recommendation_ids(),
            ), f"{case}\n{dumps(ruleset)}"
            assert again.assess({"findings": case}).to_dict()["level"] == fast.level.value  # round trip
    finally:
        engine.close()
        again.close()


def mutate(ruleset: Ruleset, choice: int, level: Level) -> Ruleset:
    """A physio-style edit: drop a rule, change a rule's level, or drop its condition's last part."""
    rules = list(ruleset.rules)
    if not rules:
        return ruleset
    index = choice % len(rules)
    target = rules[index]
    kind = (choice // len(rules)) % 3
    if kind == 0:
        del rules[index]
    elif kind == 1:
        rules[index] = Rule(**{**vars(target), "escalate": level})
    else:
        shorter = target.when.rsplit(" and ", 1)[0] if " and " in target.when else target.when
        rules[index] = Rule(**{**vars(target), "when": shorter})
    return Ruleset(**{**vars(ruleset), "rules": tuple(rules), "tests": ()})


@settings(max_examples=max(10, PROPERTY_EXAMPLES // 25), deadline=None)
@given(
    choice=st.integers(0, 10_000),
    level=st.sampled_from(list(Level)),
    cases=st.lists(vocabulary_cases(BUILTIN), min_size=1, max_size=10),
)
def test_a_mutated_red_flags_ruleset_still_cannot_under_triage(
    choice: int, level: Level, cases: list[dict[str, object]]
) -> None:
    original = BUILTIN.ruleset("red_flags")
    assert original is not None
    edited = mutate(original, choice, level)
    engine = load_engine(rulesets=[edited], allow=BUILTIN_PLUGINS, isolation="none")
    try:
        for case in cases:
            a = assess(engine, case, "mutated")
            for flag in a.red_flags:  # type: ignore[attr-defined]
                assert a.level >= flag.level  # type: ignore[attr-defined]
            reference = BUILTIN.assess({"findings": case})
            assert {f.id for f in a.red_flags} >= {f.id for f in reference.red_flags if f.origin != "condition"}  # type: ignore[attr-defined]
    finally:
        engine.close()


# --- hostile plugins -----------------------------------------------------------------------


class Hostile:
    """Tries everything: raises, lowers and rewrites the floor, floods the engine with facts."""

    calfrules_plugin_name = "hostile"

    from calfrules import hookimpl

    @hookimpl
    def calfrules_register_floor(self, register):  # type: ignore[no-untyped-def]
        from calfrules import FloorEntry

        for entry in list(BUILTIN.program.floor):
            register(FloorEntry(id=entry.entry.id, when=entry.entry.when, level=Level.SELF_CARE, label="lowered"))
            register(FloorEntry(id=entry.entry.id, when="fever", level=entry.entry.level, label="rewritten"))

    @hookimpl
    def calfrules_register_rulesets(self, register):  # type: ignore[no-untyped-def]
        body = 'id = "flood"\nversion = "1"\ntitle = "flood"\n'
        body += '[[rules]]\nid = "calm"\nwhen = "calf_pain or chest_pain or swelling"\nescalate = "self_care"\n'
        body += 'rationale = "tries to calm everything down"\n'
        for i in range(1500):  # a huge number of derived facts from any pain
            body += (
                f'[[rules]]\nid = "f{i}"\nwhen = "calf_pain or f{i - 1}"\nderive = ["f{i}"]\nrationale = "x"\n'.replace(
                    " or f-1", ""
                )
            )
        register(loads(body, "flood.toml"))

    @hookimpl
    def calfrules_register_vocabulary(self, register):  # type: ignore[no-untyped-def]
        raise RuntimeError("hostile plugin raising on purpose")


@functools.cache
def hostile_engine() -> Engine:
    return load_engine(plugins=[Hostile()], allow=BUILTIN_PLUGINS, timeout=10)


def test_hostile_plugin_is_refused_and_reported() -> None:
    problems = "\n".join(hostile_engine().problems)
    assert (
        "plugin hostile: register_vocabulary raised" in problems or "calfrules_register_vocabulary raised" in problems
    )
    assert "can only go up" in problems and "cannot change" in problems
    assert len(hostile_engine().program.floor) == len(BUILTIN.program.floor)


@settings(max_examples=max(10, PROPERTY_EXAMPLES // 25), deadline=None)
@given(cases=st.lists(vocabulary_cases(BUILTIN), min_size=1, max_size=5), extra=st.sampled_from(LITERALS))
def test_hostile_plugins_never_break_the_floor(cases: list[dict[str, object]], extra: object) -> None:
    for case in cases:
        findings = {**case, "calf_pain": True, extra.finding: extra.value}  # type: ignore[attr-defined]
        a = assess(hostile_engine(), findings, "hostile")
        reference = BUILTIN.assess({"findings": findings})
        assert a.level >= reference.level  # type: ignore[attr-defined]
        assert {f.id for f in a.red_flags} >= {f.id for f in reference.red_flags}  # type: ignore[attr-defined]


# --- a physio's sequence of edits, with the save gate ---------------------------------------


class PhysioEdits(RuleBasedStateMachine):
    """Edits to the strains ruleset, saved only through the gate; what is saved never breaks the floor."""

    def __init__(self) -> None:
        super().__init__()
        original = BUILTIN.ruleset("strains")
        assert original is not None
        self.ruleset = Ruleset(**{**vars(original), "tests": ()})
        self.saved: Ruleset | None = None
        import tempfile

        self.path = Path(tempfile.mkdtemp()) / "strains.toml"

    @rule(when=when_exprs(), level=st.sampled_from(list(Level)))
    def add_rule(self, when: object, level: Level) -> None:
        new = Rule(id=f"edit{len(self.ruleset.rules)}", when=to_text(when), rationale="edit", escalate=level)
        self.ruleset = Ruleset(**{**vars(self.ruleset), "rules": (*self.ruleset.rules, new)})

    @precondition(lambda self: len(self.ruleset.rules) > 0)
    @rule(choice=st.integers(0, 1000), level=st.sampled_from(list(Level)))
    def edit_rule(self, choice: int, level: Level) -> None:
        self.ruleset = mutate(self.ruleset, choice, level)

    @rule()
    def save(self) -> None:
        try:
            engine = load_engine(rulesets=[self.ruleset], allow=BUILTIN_PLUGINS, isolation="none", strict=True)
        except Exception:
            return  # an invalid edit cannot be saved (the TUI shows the error)
        try:
            report = check_engine(engine, max_examples=150, seconds=2.0)
            CASES["stateful"] += report.cases_tried
        finally:
            engine.close()
        if report.ok:
            save_ruleset(self.ruleset, self.path)
            self.saved = self.ruleset

    @invariant()
    def what_is_saved_keeps_the_floor(self) -> None:
        if self.saved is None:
            return
        from calfrules import load_ruleset

        reloaded = load_ruleset(self.path)
        assert reloaded == self.saved
        engine = load_engine(rulesets=[self.path], allow=BUILTIN_PLUGINS, isolation="none")
        try:
            for literal in LITERALS[:: max(1, len(LITERALS) // 8)]:
                a = assess(engine, {literal.finding: literal.value, "calf_pain": True}, "stateful")
                for flag in a.red_flags:  # type: ignore[attr-defined]
                    assert a.level >= flag.level  # type: ignore[attr-defined]
        finally:
            engine.close()


TestPhysioEdits = PhysioEdits.TestCase
TestPhysioEdits.settings = settings(
    max_examples=max(5, PROPERTY_EXAMPLES // 250),
    stateful_step_count=6,
    deadline=None,
    suppress_health_check=[HealthCheck.nested_given],  # the save gate runs its own search inside
)


def alone_raises_floor(lit: object) -> bool:
    """The literal alone raises a floor entry (a sign that waits for no second box)."""
    a = BUILTIN.assess({"findings": {lit.finding: lit.value}})  # type: ignore[attr-defined]
    return any(flag.origin != "condition" for flag in a.red_flags)


def test_the_gate_refuses_an_edit_that_hides_a_red_flag() -> None:
    # a red-flag sign whose level, next to calf pain, is below emergency
    literal = next(
        lit
        for lit in LITERALS
        if lit.value is True
        and lit.finding != "calf_pain"
        and alone_raises_floor(lit)
        and BUILTIN.assess({"findings": {"calf_pain": True, lit.finding: True}}).level < Level.EMERGENCY
    )
    unsafe = loads(
        'id = "unsafe"\nversion = "1"\ntitle = "t"\n'
        f'[[rules]]\nid = "r"\nwhen = "calf_pain and not {literal.finding}"\nescalate = "emergency"\n'
        'rationale = "an edit that forgets what the red flag means"\n'
    )
    engine = load_engine(rulesets=[unsafe], allow=[], isolation="none")
    report = check_engine(engine)
    assert not report.ok
    violation = report.violations[0]
    assert violation["property"] == "monotonic"
    assert violation["case"] == {"findings": {"calf_pain": True}}
    assert violation["added"] == {literal.finding: True} and violation["rules_lost"] == ["r"]
    assert violation["before"] == "emergency" and violation["after"] != "emergency"
    label = engine.vocabulary[literal.finding].label
    raised = violation["raised"]
    assert raised and all(set(flag) == {"id", "label", "level"} for flag in raised)
    message = violation["message"]
    named = f"adding {label} raises '{raised[0]['label']}' ({raised[0]['level']})"
    assert message.lower().startswith(named.lower())
    assert message.endswith(f"yet the level falls: before emergency -> after {violation['after']}")


# The example: emergency "unless fever", where fever raises an infection red flag.
UNLESS_FEVER = (
    'id = "unless_fever"\nversion = "1"\ntitle = "t"\n'
    '[[rules]]\nid = "swollen_calf_emergency_unless_fever"\n'
    'when = "calf_pain and swelling_unilateral and not fever"\nescalate = "emergency"\n'
    'rationale = "forgets that fever with a swollen leg is an infection red flag"\n'
)


def test_the_gate_refuses_emergency_unless_fever() -> None:
    engine = load_engine(rulesets=[loads(UNLESS_FEVER)], allow=BUILTIN_PLUGINS, isolation="none")
    try:
        report = check_engine(engine, max_examples=100)
    finally:
        engine.close()
    assert not report.ok
    violation = report.violations[0]
    assert violation["rules_lost"] == ["swollen_calf_emergency_unless_fever"]
    assert violation["added"].get("fever") is True and violation["raised"]
    assert violation["before"] == "emergency" and Level(violation["after"]) < Level.EMERGENCY


def test_the_combination_search_alone_finds_emergency_unless_fever() -> None:
    """Only floor alternatives needing two or more findings: fever comes in with its partner."""
    from calfrules.tooling.red_flag_table import floor_kind

    engine = load_engine(rulesets=[loads(UNLESS_FEVER)], allow=BUILTIN_PLUGINS, isolation="none")
    try:
        combinations = combination_additions(engine.program, engine.vocabulary)
        assert combinations and all(len(c.findings) >= 2 for c in combinations)
        violation = search_additions(engine, combinations)
        kinds = {c.entry.id: floor_kind(c) for c in engine.program.floor}
    finally:
        engine.close()
    assert violation is not None
    assert violation["rules_lost"] == ["swollen_calf_emergency_unless_fever"]
    assert violation["added"].get("fever") is True
    assert violation["case"]["findings"] == {"calf_pain": True, "swelling_unilateral": True}
    assert any(kinds[flag["id"]] == "combination" for flag in violation["raised"] if flag["id"] in kinds)


def test_the_combination_search_adds_a_pair_in_one_step() -> None:
    """A floor entry over two findings neither of which raises anything alone: only adding the
    pair together shows that the rule's 'not' hides it."""
    pair = loads(
        'id = "pair"\nversion = "1"\ntitle = "t"\n'
        '[[floor]]\nid = "test_pair"\nwhen = "recent_trauma and hot_weather"\nlevel = "urgent"\n'
        'label = "Injured in the heat"\nrationale = "test"\n'
        '[[rules]]\nid = "r"\nwhen = "calf_pain and not hot_weather"\nescalate = "emergency"\nrationale = "x"\n'
    )
    engine = load_engine(rulesets=[pair], allow=[], isolation="none")
    try:
        assert not engine.problems, engine.problems
        singles = single_additions(red_flag_literals(engine.program, engine.vocabulary))
        assert search_additions(engine, singles) is None  # neither finding raises a flag alone
        violation = search_additions(engine, combination_additions(engine.program, engine.vocabulary))
        report = check_engine(engine, max_examples=50)
    finally:
        engine.close()
    assert violation is not None
    assert violation["case"] == {"findings": {"calf_pain": True}}
    assert violation["added"] == {"hot_weather": True, "recent_trauma": True}
    assert [flag["id"] for flag in violation["raised"]] == ["test_pair"]
    assert violation["message"] == (
        "Adding hot weather and recent injury to the leg raises 'Injured in the heat' (urgent), "
        "yet the level falls: before emergency -> after urgent"
    )
    assert not report.ok and report.violations[0]["added"] == violation["added"]


@pytest.mark.parametrize(
    ("when", "gate_finds"),
    [
        ("calf_pain and {f} is not recorded", "monotonic"),  # recording a yes stops it as well
        ("calf_pain and not ({f} is no)", "recorded_no"),
    ],
)
def test_the_gate_refuses_a_rule_that_escalates_only_while_a_red_flag_is_unrecorded(when: str, gate_finds: str) -> None:
    """Waiting for an answer is the screen's job: recording the no must not lower the level."""
    finding = red_flag_findings(BUILTIN.program, BUILTIN.vocabulary)[0]
    waits = loads(
        'id = "waits"\nversion = "1"\ntitle = "t"\n'
        f'[[rules]]\nid = "r"\nwhen = "{when.format(f=finding)}"\nescalate = "urgent"\n'
        'rationale = "urgent until asked"\n'
    )
    engine = load_engine(rulesets=[waits], allow=[], isolation="none")
    try:
        violation = search_recorded_no(engine)
        report = check_engine(engine, max_examples=50)
    finally:
        engine.close()
    assert violation is not None and violation["property"] == "recorded_no"
    assert violation["case"] == {"findings": {"calf_pain": True}} and violation["added"] == {finding: False}
    assert violation["rules_lost"] == ["r"] and violation["promised"] == "urgent"
    assert violation["before"] == "urgent" and Level(violation["after"]) < Level.URGENT
    assert "as no instead of leaving it unrecorded lowers the level below urgent" in violation["message"]
    assert not report.ok and report.violations[0]["property"] == gate_finds


def test_a_recorded_no_may_let_a_condition_explain_the_pain() -> None:
    """Uncertainty is not firm: a condition that needs a recorded no may explain a symptom."""
    finding = red_flag_findings(BUILTIN.program, BUILTIN.vocabulary)[0]
    explains = loads(
        'id = "explains"\nversion = "1"\ntitle = "t"\n'
        '[conditions.test_soreness]\nlabel = "Soreness"\n'
        f'[[rules]]\nid = "r"\nwhen = "calf_pain and {finding} is no"\nconclude = "test_soreness"\n'
        'rationale = "explained once the red flag is ruled out"\n'
    )
    engine = load_engine(rulesets=[explains], allow=[], isolation="none")
    try:
        unrecorded = engine.assess({"findings": {"calf_pain": True}})
        recorded_no = engine.assess({"findings": {"calf_pain": True, finding: False}})
        violation = search_recorded_no(engine)
    finally:
        engine.close()
    assert recorded_no.condition_ids() == ["test_soreness"] and recorded_no.level < unrecorded.level
    assert violation is None


def test_the_gate_passes_the_builtin_knowledge_quickly() -> None:
    report = check_engine(load_engine(allow=BUILTIN_PLUGINS))
    assert report.ok, report.violations
    assert report.cases_tried > 100


@pytest.mark.parametrize("literal", LITERALS, ids=lambda lit: lit.text)
def test_each_red_flag_alone_reaches_its_floor(literal: object) -> None:
    entry = next(e for e in BUILTIN.program.floor if e.entry.id == literal.floor_id)  # type: ignore[attr-defined]
    a = BUILTIN.assess({"findings": {literal.finding: literal.value}})  # type: ignore[attr-defined]
    if entry.entry.id in {f.id for f in a.red_flags}:
        assert a.level >= entry.entry.level
