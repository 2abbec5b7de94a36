"""Helpers and pytest fixtures for rule-pack authors.

In a pack's ``conftest.py``::

    pytest_plugins = ["calfrules.testing"]

then in tests::

    def test_my_pack(calfrules_engine):
        a = calfrules_engine.assess({"findings": {"achilles_pain": True}})
        assert "achilles_tendinopathy" in a.condition_ids()

    def test_golden_cases(calfrules_engine):
        assert_golden_cases_pass(calfrules_engine, "my_ruleset_id")
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from calfrules.engine.engine import Engine, load_engine
from calfrules.tooling.goldens import GoldenResult, run_all


def make_engine(*, plugins: Iterable[object] = (), rulesets: Iterable[Any] = (), entry_points: bool = True) -> Engine:
    """An engine that refuses to start with load problems, so a broken pack fails its tests loudly.

    The built-in plugins always load; ``entry_points=False`` leaves installed packs out.
    """
    engine = load_engine(plugins=plugins, rulesets=rulesets, entry_points=entry_points)
    if engine.problems:
        engine.close()
        raise AssertionError("calfrules reported load problems:\n" + "\n".join(engine.problems))
    return engine


def assert_golden_cases_pass(engine: Engine, ruleset_id: str) -> list[GoldenResult]:
    """Run one ruleset's golden cases; fail with every difference listed."""
    if engine.ruleset(ruleset_id) is None:
        raise AssertionError(f"ruleset {ruleset_id!r} is not loaded; loaded: {[e.ruleset.id for e in engine.rulesets]}")
    results = run_all(engine, [ruleset_id])
    if not results:
        raise AssertionError(f"ruleset {ruleset_id!r} has no golden cases")
    failed = [r for r in results if not r.passed]
    if failed:
        lines = [f"{r.ruleset}/{r.test}: {'; '.join(r.differences)}" for r in failed]
        raise AssertionError("golden cases failed:\n" + "\n".join(lines))
    return results


@pytest.fixture(scope="session")
def calfrules_engine() -> Iterator[Engine]:
    """The engine with every installed plugin (built-in and packs), checked for load problems."""
    engine = make_engine()
    yield engine
    engine.close()
