"""Run rulesets' golden cases against a loaded engine and report differences.

A golden case that cannot run is a failure, never a silent skip: one of a ruleset none of
whose rules compiled, or one of a plugin that failed to load (its ruleset files are read
as plain TOML to name the cases that went missing with it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from calfrules.engine.assessment import Assessment
from calfrules.engine.engine import Engine
from calfrules.knowledge.plugin_host import FAILED, declared_rulesets
from calfrules.rules.errors import CaseError
from calfrules.rules.model import GoldenCase, Ruleset


@dataclass
class GoldenResult:
    ruleset: str
    test: str
    description: str
    passed: bool
    differences: list[str] = field(default_factory=list)
    level: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "ruleset": self.ruleset,
            "test": self.test,
            "description": self.description,
            "passed": self.passed,
            "differences": self.differences,
            "level": self.level,
        }


def compare(test: GoldenCase, assessment: Assessment) -> list[str]:
    """What differs between the expectation and the assessment, in words."""
    expect = test.expect
    diffs = []
    if expect.level is not None and assessment.level != expect.level:
        diffs.append(f"level: expected {expect.level.value}, got {assessment.level.value}")
    got_conditions = set(assessment.condition_ids())
    for missing in [c for c in expect.conditions if c not in got_conditions]:
        diffs.append(f"condition {missing} expected but not concluded")
    for present in [c for c in expect.absent_conditions if c in got_conditions]:
        diffs.append(f"condition {present} concluded but expected absent")
    got_recs = set(assessment.recommendation_ids())
    for missing in [r for r in expect.recommendations if r not in got_recs]:
        diffs.append(f"recommendation {missing} expected but not given")
    got_flags = {flag.id for flag in assessment.red_flags}
    for missing in [f for f in expect.red_flags if f not in got_flags]:
        diffs.append(f"red flag {missing} expected but not raised")
    screen = assessment.red_flag_screen
    if expect.screen_complete is not None and screen.complete != expect.screen_complete:
        unanswered = ", ".join(screen.unanswered) or "none"
        diffs.append(f"red-flag screen: expected complete={expect.screen_complete}, unanswered: {unanswered}")
    for missing in [g for g in expect.screen_groups if g not in screen.groups]:
        diffs.append(f"screen group {missing} expected but not applied (applied: {', '.join(screen.groups)})")
    if not assessment.complete:
        diffs.append("assessment incomplete: " + "; ".join(assessment.incomplete_reasons))
    return diffs


def run_ruleset_tests(engine: Engine, ruleset: Ruleset) -> list[GoldenResult]:
    refused = engine.refused_rulesets().get(ruleset.id)
    if refused is not None:
        why = f"could not run: ruleset {ruleset.id} was refused ({refused})"
        return [GoldenResult(ruleset.id, test.id, test.description, False, [why]) for test in ruleset.tests]
    results = []
    for test in ruleset.tests:
        try:
            assessment = engine.assess(test.case())
        except CaseError as exc:
            results.append(GoldenResult(ruleset.id, test.id, test.description, False, [f"invalid case: {exc}"]))
            continue
        diffs = compare(test, assessment)
        results.append(GoldenResult(ruleset.id, test.id, test.description, not diffs, diffs, assessment.level.value))
    return results


def run_all(engine: Engine, ruleset_ids: list[str] | None = None) -> list[GoldenResult]:
    """Every loaded ruleset's golden cases (or those of ``ruleset_ids``), then those that could not load."""
    results = []
    for entry in engine.rulesets:
        if ruleset_ids and entry.ruleset.id not in ruleset_ids:
            continue
        results.extend(run_ruleset_tests(engine, entry.ruleset))
    return results + [r for r in unloaded(engine) if not ruleset_ids or r.ruleset in ruleset_ids]


def unloaded(engine: Engine) -> list[GoldenResult]:
    """The golden cases of plugins that failed to load, each a failure saying why."""
    loaded = {entry.ruleset.id for entry in engine.rulesets}
    results: list[GoldenResult] = []
    for plugin in engine.plugins:
        if plugin.status != FAILED:
            continue
        for declared in declared_rulesets(plugin):
            if declared.id in loaded:
                continue
            why = f"could not run: plugin {plugin.name} failed to load ({plugin.error})"
            results.extend(GoldenResult(declared.id, test, "", False, [why]) for test in declared.tests)
    return results
