"""A safe save: the diff, the impact on every golden case, the safety gate, then an atomic write.

Headless: the TUI's save screen shows a SavePlan and calls commit() only when the
plan allows it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from calfrules.engine.engine import Engine
from calfrules.files import atomic_write_text
from calfrules.rules.errors import CalfrulesError, CaseError
from calfrules.tooling.goldens import compare
from calfrules.tooling.safety import SafetyReport, check_engine, refusal_lines
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


BACKUPS_KEPT = 5  # numbered backups of a saved file: <file>.~1~, .~2~, ... (the oldest go)


class SaveRefused(CalfrulesError):
    """A save the plan does not allow, or a file that changed since the plan: nothing was written."""


@dataclass(frozen=True)
class Conflict:
    """The file changed on disk since it was loaded: both changes, as diffs against what was loaded."""

    theirs: str
    mine: str


@dataclass
class SavePlan:
    ruleset_id: str
    path: Path
    text: str  # what would be written
    diff: str
    on_disk: str = ""  # the file when the plan was made: the save checks it is still the same
    conflict: Conflict | None = None
    impact: list[ImpactRow] = field(default_factory=list)
    golden_total: int = 0
    golden_failing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    safety: SafetyReport | None = None
    refusal_words: list[str] = field(default_factory=list)  # the gate's counter-example, in plain words

    @property
    def allowed(self) -> bool:
        return self.conflict is None and not self.problems and self.safety is not None and self.safety.ok

    def refusal(self) -> str | None:
        if self.conflict is not None:
            return "someone else changed the file since it was loaded; reload or merge first"
        if self.problems:
            return "the rulesets do not load cleanly: " + "; ".join(self.problems[:3])
        if self.safety is None:
            return "the safety gate has not run"
        if not self.safety.ok:
            return "the safety gate found a case where a red flag lowers the level"
        return None


def unified_diff(old: str, new: str, path: Path, before: str = "on disk", after: str = "edited") -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"{path} ({before})", f"{path} ({after})"
    )
    return "".join(lines)


def plan_save(workspace: Workspace, ruleset_id: str, *, safety_examples: int = 400) -> SavePlan:
    """Everything the save screen shows; slow (the safety gate takes seconds): run it in a worker.

    A file changed on disk since it was loaded gives a plan with only the conflict in it.
    """
    doc = workspace.doc(ruleset_id)
    if doc.path is None:
        raise ValueError(f"{ruleset_id} is read-only")
    on_disk = doc.disk_text()
    text = doc.text_to_save()
    plan = SavePlan(ruleset_id, doc.path, text, unified_diff(on_disk, text, doc.path), on_disk=on_disk)
    if on_disk != doc.saved_text:
        plan.conflict = Conflict(
            unified_diff(doc.saved_text, on_disk, doc.path, "as loaded", "on disk now"),
            unified_diff(doc.saved_text, text, doc.path, "as loaded", "edited here"),
        )
        return plan
    with workspace.build_engine(saved=ruleset_id) as before, workspace.build_engine() as after:
        plan.problems = [p for p in after.problems if p not in before.problems]
        plan.impact = impact(before, after)
        outcomes = golden_outcomes(after)
        plan.golden_total = len(outcomes)
        plan.golden_failing = [f"{r}/{t}" for (r, t), o in outcomes.items() if not o.passed]
        plan.safety = check_engine(after, max_examples=safety_examples)
        if plan.safety.violations:
            plan.refusal_words = refusal_lines(plan.safety.violations[0], after.vocabulary)
    return plan


def commit(workspace: Workspace, plan: SavePlan) -> Path:
    """Write the file atomically, after keeping the one on disk as a numbered backup.

    Refuses (SaveRefused, nothing written) a plan that does not allow the save, edits made
    after the plan, and a file someone changed after the plan.
    """
    refusal = plan.refusal()
    if refusal:
        raise SaveRefused(f"save refused: {refusal}")
    doc = workspace.doc(plan.ruleset_id)
    if doc.text_to_save() != plan.text:
        raise SaveRefused("save refused: the ruleset changed after the preview; preview the save again")
    if doc.disk_text() != plan.on_disk:
        raise SaveRefused(f"save refused: {plan.path} changed on disk after the preview; save again to see how")
    if plan.on_disk:
        keep_backup(plan.path, plan.on_disk)
    atomic_write_text(plan.path, plan.text, error=SaveRefused)
    workspace.mark_saved(plan.ruleset_id, plan.text)
    return plan.path


def keep_backup(path: Path, text: str, keep: int = BACKUPS_KEPT) -> Path:
    """Write ``text`` as the next numbered backup of ``path`` (``strains.toml.~3~``); keep the newest few."""
    numbers = sorted(backup_numbers(path))
    backup = path.with_name(f"{path.name}.~{(numbers[-1] if numbers else 0) + 1}~")
    atomic_write_text(backup, text, error=SaveRefused)
    for old in numbers[: max(0, len(numbers) + 1 - keep)]:
        path.with_name(f"{path.name}.~{old}~").unlink(missing_ok=True)
    return backup


def backup_numbers(path: Path) -> list[int]:
    found = []
    for candidate in path.parent.glob(f"{path.name}.~*~"):
        number = candidate.name[len(path.name) + 2 : -1]
        if number.isdigit():
            found.append(int(number))
    return found
