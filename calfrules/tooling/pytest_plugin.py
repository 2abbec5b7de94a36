"""The pytest plugin and the test helpers for rule-pack authors (import them from ``calfrules.testing``).

pytest loads this plugin by itself once calfrules is installed (its ``pytest11`` entry
point): a pack's tests use the ``calfrules_engine`` fixture with no conftest at all. With
plugin autoloading off (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``), put
``pytest_plugins = ["calfrules.testing"]`` in the pack's top-level conftest.py instead.
Never name this module there: it is already registered under the entry point's name::

    from calfrules.testing import assert_golden_cases_pass, assert_red_flags_never_lower

    def test_golden_cases(calfrules_engine):
        assert_golden_cases_pass(calfrules_engine, "my_ruleset_id")

    def test_red_flags_never_lower(calfrules_engine):
        assert_red_flags_never_lower(calfrules_engine, "my_ruleset_id")
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calfrules.engine.engine import Engine, Isolation, load_engine
from calfrules.rules import condition
from calfrules.rules.levels import Level
from calfrules.rules.model import GoldenCase
from calfrules.rules.vocabulary import Finding, Value
from calfrules.tooling.goldens import GoldenResult, run_all

NOT_RECORDED = object()  # a drawn finding left out of the case


def make_engine(
    *,
    plugins: Iterable[object] = (),
    rulesets: Iterable[Any] = (),
    entry_points: bool = True,
    isolation: Isolation = "none",
) -> Engine:
    """An engine that refuses to start with load problems, so a broken pack fails its tests loudly.

    The built-in plugins always load; ``entry_points=False`` leaves installed packs out.
    Rules run in this process by default (quicker for tests; ``isolation="process"`` as in production).
    """
    engine = load_engine(plugins=plugins, rulesets=rulesets, entry_points=entry_points, isolation=isolation)
    if engine.problems:
        engine.close()
        raise AssertionError("calfrules reported load problems:\n" + "\n".join(engine.problems))
    return engine


def golden_cases(engine: Engine, ruleset_id: str) -> tuple[GoldenCase, ...]:
    """A loaded ruleset's golden cases (``[[tests]]``), e.g. to assess them one by one."""
    ruleset = engine.ruleset(ruleset_id)
    if ruleset is None:
        raise AssertionError(f"ruleset {ruleset_id!r} is not loaded; loaded: {[e.ruleset.id for e in engine.rulesets]}")
    return ruleset.tests


def assert_golden_cases_pass(engine: Engine, ruleset_id: str) -> list[GoldenResult]:
    """Run one ruleset's golden cases; fail with every difference listed."""
    if not golden_cases(engine, ruleset_id):
        raise AssertionError(f"ruleset {ruleset_id!r} has no golden cases")
    results = run_all(engine, [ruleset_id])
    failed = [r for r in results if not r.passed]
    if failed:
        lines = [f"{r.ruleset}/{r.test}: {'; '.join(r.differences)}" for r in failed]
        raise AssertionError("golden cases failed:\n" + "\n".join(lines))
    return results


def assert_safety_gate_passes(engine: Engine, *, max_examples: int = 400) -> None:
    """The safety gate of ``calfrules check``: fail with the smallest case where adding a red flag lowers the level."""
    from calfrules.tooling.safety import check_engine

    report = check_engine(engine, max_examples=max_examples)
    if not report.ok:
        lines = [
            f"{v['message']}\n  smallest case: {v['case']}\n  then adding: {v['added']}" for v in report.violations
        ]
        raise AssertionError("the safety gate found under-triage:\n" + "\n".join(lines))


def pack_findings(engine: Engine, ruleset_id: str) -> list[Finding]:
    """The findings a ruleset defines or its rules read: what its own cases are made of."""
    ruleset = engine.ruleset(ruleset_id)
    if ruleset is None:
        raise AssertionError(f"ruleset {ruleset_id!r} is not loaded; loaded: {[e.ruleset.id for e in engine.rulesets]}")
    read: set[str] = {finding.id for finding in ruleset.findings}
    for rule in ruleset.rules:
        read |= condition.names(condition.parse(rule.when))
    return [finding for finding in engine.vocabulary if finding.id in read]


def assert_red_flags_never_lower(engine: Engine, ruleset_id: str, *, max_examples: int = 100) -> None:
    """A hypothesis property: whatever the pack's findings say, a red flag keeps its level.

    Each red-flag sign that raises a red flag on its own is added to random cases made of
    the ruleset's findings (each yes, no, a value, or not recorded); the assessment must
    still raise that sign's red flags and be at least as urgent as they are. Deterministic
    (hypothesis derandomized), so it never flakes in CI.
    """
    findings = pack_findings(engine, ruleset_id)
    alone = _red_flags_alone(engine)
    if not alone:
        raise AssertionError("no red-flag sign raises a red flag on its own: is the core loaded?")
    signs = sorted(alone)

    @settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.fixed_dictionaries({f.id: _values(f) for f in findings}), st.sampled_from(signs))
    def red_flag_keeps_its_level(drawn: dict[str, object], sign: str) -> None:
        case: dict[str, Value] = {k: v for k, v in drawn.items() if v is not NOT_RECORDED}  # type: ignore[misc]
        case[sign] = True
        flags, level = alone[sign]
        assessment = engine.assess({"findings": case}, record=False)
        raised = {flag.id for flag in assessment.red_flags}
        assert flags <= raised, f"{case}: red flag(s) {sorted(flags - raised)} of {sign} not raised"
        assert assessment.level.rank >= level.rank, (
            f"{case}: level {assessment.level.value}, below {level.value}, which {sign} alone guarantees"
        )

    red_flag_keeps_its_level()


def _red_flags_alone(engine: Engine) -> dict[str, tuple[frozenset[str], Level]]:
    """Each yes/no finding the red-flag floor reads that raises red flags on its own: those, and their level."""
    read = {name for entry in engine.program.floor for name in entry.names}
    alone: dict[str, tuple[frozenset[str], Level]] = {}
    for finding in engine.vocabulary:
        if finding.type != "bool" or finding.id not in read:
            continue
        flags = engine.assess({"findings": {finding.id: True}}, record=False).red_flags
        if flags:
            alone[finding.id] = (frozenset(f.id for f in flags), Level.highest(f.level for f in flags))
    return alone


def _values(finding: Finding) -> st.SearchStrategy[object]:
    absent: st.SearchStrategy[object] = st.just(NOT_RECORDED)
    if finding.type == "bool":
        return st.one_of(absent, st.booleans())
    if finding.type == "choice":
        return st.one_of(absent, st.sampled_from(finding.choices))
    low = finding.minimum if finding.minimum is not None else -1000.0
    high = finding.maximum if finding.maximum is not None else 1000.0
    return st.one_of(absent, st.sampled_from([low, high]), st.floats(low, high, allow_nan=False))


@pytest.fixture(scope="session")
def calfrules_engine() -> Iterator[Engine]:
    """The engine with every installed plugin (built-in and packs), checked for load problems."""
    engine = make_engine()
    yield engine
    engine.close()
