"""A safe save: the diff, the impact on every golden case, the safety gate, then an atomic write.

Headless: the TUI's save screen shows a SavePlan and calls commit() only when the
plan allows it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from calfrules.engine.engine import Engine
from calfrules.knowledge import ruleset_io
from calfrules.rules.errors import CaseError
from calfrules.tooling.goldens import compare
from calfrules.tooling.safety import SafetyReport, check_engine
from calfrules.tui.workspace import Workspace


@dataclass(frozen=True)
class Outcome:
    """How one golden case came out: its level, conditions and whether it passed."""

    level: str
    conditions: tuple[str, ...]
    passed: bool
    differences: tuple[str, ...] = ()

    def summary(self) -> str:
        conditions = ", ".join(self.conditions) or "no condition"
        return f"{self.level} ({conditions}) {'PASS' if self.passed else 'FAIL'}"


@dataclass(frozen=True)
class ImpactRow:
    ruleset: str
    test: str
    before: Outcome | None  # None: the case is new
    after: Outcome | None  # None: the case was removed

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def text(self) -> str:
        before = self.before.summary() if self.before else "(new case)"
        after = self.after.summary() if self.after else "(removed)"
        return f"{self.ruleset}/{self.test}: {before} -> {after}"


def golden_outcomes(engine: Engine) -> dict[tuple[str, str], Outcome]:
    """Every golden case of every loaded ruleset, run on this engine."""
    outcomes: dict[tuple[str, str], Outcome] = {}
    for entry in engine.rulesets:
        for test in entry.ruleset.tests:
            key = (entry.ruleset.id, test.id)
            try:
                assessment = engine.assess(test.case())
            except CaseError as exc:
                outcomes[key] = Outcome("invalid", (), False, (f"invalid case: {exc}",))
                continue
            diffs = compare(test, assessment)
            outcomes[key] = Outcome(
                assessment.level.value, tuple(sorted(assessment.condition_ids())), not diffs, tuple(diffs)
            )
    return outcomes


def impact(before: Engine, after: Engine) -> list[ImpactRow]:
    """Golden cases whose outcome differs between two engines (new and removed ones too)."""
    old, new = golden_outcomes(before), golden_outcomes(after)
    rows = [ImpactRow(key[0], key[1], old.get(key), new.get(key)) for key in dict.fromkeys([*old, *new])]
    return [row for row in rows if row.changed]


@dataclass
class SavePlan:
    ruleset_id: str
    path: Path
    text: str  # what would be written
    diff: str
    impact: list[ImpactRow] = field(default_factory=list)
    golden_total: int = 0
    golden_failing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    safety: SafetyReport | None = None

    @property
    def allowed(self) -> bool:
        return not self.problems and self.safety is not None and self.safety.ok

    def refusal(self) -> str | None:
        if self.problems:
            return "the rulesets do not load cleanly: " + "; ".join(self.problems[:3])
        if self.safety is None:
            return "the safety gate has not run"
        if not self.safety.ok:
            return "the safety gate found a case where a red flag lowers the level"
        return None


def unified_diff(old: str, new: str, path: Path) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"{path} (on disk)", f"{path} (edited)"
    )
    return "".join(lines)


def plan_save(workspace: Workspace, ruleset_id: str, *, safety_examples: int = 400) -> SavePlan:
    """Everything the save screen shows; slow (the safety gate takes seconds): run it in a worker."""
    doc = workspace.doc(ruleset_id)
    if doc.path is None:
        raise ValueError(f"{ruleset_id} is read-only")
    text = ruleset_io.dumps(doc.ruleset)
    on_disk = doc.path.read_text(encoding="utf-8") if doc.path.exists() else ""
    plan = SavePlan(ruleset_id, doc.path, text, unified_diff(on_disk, text, doc.path))
    with workspace.build_engine(saved=ruleset_id) as before, workspace.build_engine() as after:
        plan.problems = [p for p in after.problems if p not in before.problems]
        plan.impact = impact(before, after)
        outcomes = golden_outcomes(after)
        plan.golden_total = len(outcomes)
        plan.golden_failing = [f"{r}/{t}" for (r, t), o in outcomes.items() if not o.passed]
        plan.safety = check_engine(after, max_examples=safety_examples)
    return plan


def commit(workspace: Workspace, plan: SavePlan) -> Path:
    """Write the file atomically, keeping the previous one as ``<file>.bak``."""
    refusal = plan.refusal()
    if refusal:
        raise PermissionError(f"save refused: {refusal}")
    doc = workspace.doc(plan.ruleset_id)
    if ruleset_io.dumps(doc.ruleset) != plan.text:
        raise PermissionError("save refused: the ruleset changed after the preview; preview the save again")
    path = ruleset_io.save(doc.ruleset, plan.path, backup=True)
    workspace.mark_saved(plan.ruleset_id, path.read_text(encoding="utf-8"))
    return path
