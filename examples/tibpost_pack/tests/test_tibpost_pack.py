"""The pack's own tests. The calfrules_engine fixture comes from calfrules' pytest plugin, which
pytest loads by itself once calfrules is installed: no conftest.py is needed."""

from __future__ import annotations

from calfrules import Engine, Level
from calfrules.testing import (
    assert_golden_cases_pass,
    assert_red_flags_never_lower,
    assert_safety_gate_passes,
    golden_cases,
)


def test_pack_is_loaded_through_its_entry_point(calfrules_engine: Engine) -> None:
    plugins = {p.name: p for p in calfrules_engine.plugins}
    assert plugins["tibpost"].status == "loaded" and plugins["tibpost"].version == "0.1.0"


def test_golden_cases_pass(calfrules_engine: Engine) -> None:
    results = assert_golden_cases_pass(calfrules_engine, "tibpost")
    assert [r.test for r in results] == [case.id for case in golden_cases(calfrules_engine, "tibpost")]
    assert len(results) == 6


def test_tendinopathy_is_explained_and_cited(calfrules_engine: Engine) -> None:
    a = calfrules_engine.assess({"findings": {"medial_ankle_pain": True, "tibpost_tendon_tender": True}})
    assert a.level == Level.SELF_CARE and a.complete
    (condition,) = [c for c in a.conditions if c.id == "tibialis_posterior_tendinopathy"]
    assert condition.because[0].matched["medial_ankle_pain"] is True
    assert all(rec.sources for rec in a.recommendations)
    assert any("doi.org" in (source.url or "") for rec in a.recommendations for source in rec.sources)


def test_safety_gate_passes_with_the_pack(calfrules_engine: Engine) -> None:
    assert_safety_gate_passes(calfrules_engine)


def test_red_flags_never_lower_whatever_the_pack_findings_say(calfrules_engine: Engine) -> None:
    assert_red_flags_never_lower(calfrules_engine, "tibpost")
