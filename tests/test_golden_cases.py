"""Every golden case of every built-in ruleset, one test each, against the whole built-in knowledge."""

from __future__ import annotations

import pytest

from calfrules import Engine, load_engine
from calfrules.rules.model import GoldenCase
from calfrules.tooling.goldens import compare

from conftest import BUILTIN_PLUGINS

_ENGINE = load_engine(allow=BUILTIN_PLUGINS)
CASES = [(entry.ruleset.id, test) for entry in _ENGINE.rulesets for test in entry.ruleset.tests]


def test_builtin_knowledge_loads_without_problems() -> None:
    assert _ENGINE.problems == []


@pytest.mark.parametrize(("ruleset_id", "test"), CASES, ids=[f"{r}/{t.id}" for r, t in CASES])
def test_golden_case(engine: Engine, ruleset_id: str, test: GoldenCase) -> None:
    differences = compare(test, engine.assess(test.case()))
    assert differences == [], f"{ruleset_id}/{test.id}: {test.description}"
