"""The pack's own tests, using the fixtures calfrules.testing provides (installed as a pytest plugin)."""

from __future__ import annotations

from calfrules import Engine, Level
from calfrules.tooling.pytest_plugin import assert_golden_cases_pass


def test_pack_is_loaded_through_its_entry_point(calfrules_engine: Engine) -> None:
    plugins = {p.name: p for p in calfrules_engine.plugins}
    assert plugins["achilles"].status == "loaded" and plugins["achilles"].version == "0.1.0"


def test_golden_cases_pass(calfrules_engine: Engine) -> None:
    assert len(assert_golden_cases_pass(calfrules_engine, "achilles")) == 2


def test_tendinopathy_is_explained_and_cited(calfrules_engine: Engine) -> None:
    a = calfrules_engine.assess({"findings": {"achilles_pain": True, "achilles_morning_stiffness": True}})
    assert a.level == Level.SEE_CLINICIAN
    (condition,) = [c for c in a.conditions if c.id == "achilles_tendinopathy"]
    assert condition.because[0].matched["achilles_pain"] is True
    assert all(rec.sources for rec in a.recommendations)
