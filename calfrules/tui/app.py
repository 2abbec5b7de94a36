"""The Textual app: it owns the state (workspace, engine, checks) and acts on what the screens ask.

Screens get what they show as constructor arguments and as reactives bound to the app's
(``data_bind``); they tell the app what the user did with messages, and only the app
changes the workspace. No screen imports this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import var
from textual.screen import Screen

from calfrules.engine.assessment import Assessment
from calfrules.engine.engine import Engine, load_engine
from calfrules.rules.errors import CalfrulesError
from calfrules.rules.model import Expectation, GoldenCase, Rule, Ruleset
from calfrules.rules.vocabulary import Value
from calfrules.tooling.goldens import GoldenResult, run_all
from calfrules.tooling.safety import check_engine
from calfrules.tui.browse import BrowseScreen
from calfrules.tui.case_tester import CaseTester
from calfrules.tui.checks import Checks, by_ruleset
from calfrules.tui.dialogs import ConfirmScreen, GoldenPrompt, HelpScreen, PromptScreen
from calfrules.tui.names import KnownNames
from calfrules.tui.rule_editor import RuleEditor
from calfrules.tui.save_screen import SaveScreen
from calfrules.tui.saving import commit
from calfrules.tui.workspace import DEFAULT_COPY_DIR, Workspace, unique_id


class CalfrulesApp(App[None]):
    """``calfrules tui``: physiotherapists author, test and safely save rulesets."""

    CSS_PATH = "app.tcss"
    TITLE = "calfrules admin"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help"),
        Binding("question_mark", "help", "Help", show=False),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    current: var[str] = var("")  # the ruleset the main screen shows
    engine: var[Engine | None] = var(None)  # rebuilt, in a worker, after every edit
    checks: var[Checks] = var(Checks)  # engine problems, golden results, safety gate
    revision: var[int] = var(0)  # counts edits to the workspace: screens showing it refresh on it

    def __init__(self, files: list[str | Path] | None = None, copy_dir: str | Path = DEFAULT_COPY_DIR) -> None:
        super().__init__()
        self.workspace = Workspace(files or [], copy_dir)
        self.copy_dir = Path(copy_dir)
        self.names = KnownNames()
        current = next((d.id for d in self.workspace.docs.values() if d.editable), "strains")
        if current not in self.workspace.docs:
            current = next(iter(self.workspace.docs))
        self.set_reactive(CalfrulesApp.current, current)

    def on_mount(self) -> None:
        browse = BrowseScreen(self.workspace, self.current)
        self.push_screen(browse.data_bind(CalfrulesApp.current, CalfrulesApp.checks, CalfrulesApp.revision))
        for problem in self.workspace.problems:
            self.notify(problem, severity="warning", title="Ruleset problem", timeout=10)
        self.refresh_engine()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Our actions in the command palette (ctrl+p), after Textual's own."""
        yield from super().get_system_commands(screen)
        commands: list[tuple[str, str, Callable[[], Any]]] = [
            ("Test a case", "open the case tester", self.action_test_case),
            ("Run golden cases", "run this ruleset's golden cases", self.action_run_goldens),
            ("Save ruleset", "diff, impact and safety gate, then save", self.action_save),
            ("New rule", "add a rule to this ruleset", self.action_new_rule),
            ("Edit rule", "edit the highlighted rule", self.action_edit_rule),
            ("Duplicate rule", "copy the highlighted rule", self.action_duplicate_rule),
            ("Delete rule", "delete the highlighted rule", self.action_delete_rule),
            ("Make editable copy", "copy a plugin's ruleset to a file you can edit", self.action_make_copy),
            ("Run safety gate", "search for a case where a red flag lowers the level", self.action_safety_check),
            ("Why not?", "which parts of the highlighted rule a case does not meet", self.action_why_not),
            ("Help", "keys and how saving works", self.action_help),
        ]
        for name, help_text, callback in commands:
            yield SystemCommand(name, help_text, callback)
        for doc in self.workspace.docs.values():
            yield SystemCommand(f"Open ruleset {doc.id}", doc.origin, partial(self.select_ruleset, doc.id))

    def select_ruleset(self, ruleset_id: str) -> None:
        self.current = ruleset_id  # the main screen follows: its ``current`` is bound to this

    @property
    def browse(self) -> BrowseScreen | None:
        return next((s for s in self.screen_stack if isinstance(s, BrowseScreen)), None)

    def edited(self, rule_id: str | None = None) -> None:
        """After any edit: the screens show it (rule ``rule_id`` highlighted), the engine and goldens follow."""
        self.revision += 1
        if rule_id is not None and self.browse is not None:
            self.browse.highlight_rule(rule_id)
        self.refresh_engine()

    # --- the engine (rebuilt after every edit, in a worker) --------------------------------
    def refresh_engine(self) -> None:
        self._build_engine(self.workspace.file_rulesets())

    @work(thread=True, exclusive=True, group="engine")
    def _build_engine(self, rulesets: list[Ruleset]) -> None:
        try:
            engine = load_engine(rulesets=rulesets, isolation="process")
            started = time.perf_counter()
            results = run_all(engine)
            seconds = time.perf_counter() - started
        except Exception as exc:
            self.call_from_thread(self.notify, f"{type(exc).__name__}: {exc}", severity="error", title="Engine")
            return
        self.call_from_thread(self._engine_ready, engine, results, seconds)

    def _engine_ready(self, engine: Engine, results: list[GoldenResult], seconds: float) -> None:
        old, self.engine = self.engine, engine
        self.names = KnownNames.from_engine(engine)
        self.checks = replace(
            self.checks, problems=tuple(engine.problems), golden=by_ruleset(results), golden_seconds=seconds
        )
        if old is not None:
            old.close()

    # --- what the screens ask -------------------------------------------------------------
    @on(BrowseScreen.RulesetChosen)
    def _ruleset_chosen(self, event: BrowseScreen.RulesetChosen) -> None:
        self.current = event.ruleset_id

    @on(BrowseScreen.RuleChosen)
    def _rule_chosen(self, event: BrowseScreen.RuleChosen) -> None:
        rule = self.workspace.doc(event.ruleset_id).ruleset.rule(event.rule_id)
        if rule is not None:
            self._edit(rule)

    @on(BrowseScreen.CopyRequested)
    def _copy_requested(self) -> None:
        self.action_make_copy()

    @on(RuleEditor.RuleSaved)
    def _keep_rule(self, event: RuleEditor.RuleSaved) -> None:
        try:
            self.workspace.put_rule(event.ruleset_id, event.rule, event.replacing)
            if event.condition is not None:
                self.workspace.put_condition(event.ruleset_id, event.condition)
        except CalfrulesError as exc:
            event.editor.show_error(str(exc))
            return
        event.editor.dismiss(event.rule)
        self.notify(f"Rule {event.rule.id} kept; ctrl+s saves {event.ruleset_id} to its file.", title="Rule kept")
        self.edited(event.rule.id)

    @on(SaveScreen.SaveRequested)
    def _commit_save(self, event: SaveScreen.SaveRequested) -> None:
        try:
            path = commit(self.workspace, event.plan)
        except PermissionError as exc:
            self.notify(str(exc), severity="error", title="Not saved")
            return
        except OSError as exc:
            self.notify(f"could not write {event.plan.path}: {exc}", severity="error", title="Not saved")
            return
        self.notify(f"Saved {path} (previous version kept as {path.name}.bak)", title="Saved")
        event.save_screen.dismiss()
        self.edited()

    @on(SaveScreen.CounterExampleOpened)
    def _open_counter_example(self, event: SaveScreen.CounterExampleOpened) -> None:
        self.open_case_tester(event.findings, event.title)

    @on(CaseTester.GoldenRequested)
    def _golden_requested(self, event: CaseTester.GoldenRequested) -> None:
        self._save_case_as_golden(event.assessment)

    # --- actions ------------------------------------------------------------------------------
    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        dirty = [doc.id for doc in self.workspace.dirty]
        if not dirty:
            self.exit()
            return

        def answered(quit_anyway: bool | None) -> None:
            if quit_anyway:
                self.exit()

        self.push_screen(
            ConfirmScreen(f"Unsaved changes in: {', '.join(dirty)}. Quit and lose them?", "Quit without saving"),
            answered,
        )

    def _editable_current(self) -> bool:
        doc = self.workspace.doc(self.current)
        if not doc.editable:
            self.notify(f"{doc.id} ships with plugin {doc.plugin}: press c to make an editable copy first.")
        return doc.editable

    def action_make_copy(self) -> None:
        doc = self.workspace.doc(self.current)
        if doc.editable:
            self.notify(f"{doc.id} is already editable ({doc.path}).")
            return

        def chosen(folder: str | None) -> None:
            if not folder:
                return
            try:
                copy = self.workspace.make_copy(doc.id, folder)
            except (CalfrulesError, OSError) as exc:
                self.notify(str(exc), severity="error", title="No copy made")
                return
            self.notify(f"Editable copy: {copy.path}. It replaces the plugin's {doc.id} here.", title="Copy made")
            self.edited()

        self.push_screen(PromptScreen(f"Folder for the editable copy of {doc.id}:", str(self.copy_dir)), chosen)

    def _selected_rule(self) -> Rule | None:
        rule_id = self.browse.selected_rule() if self.browse else None
        rule = self.workspace.doc(self.current).ruleset.rule(rule_id) if rule_id else None
        if rule is None:
            self.notify("Highlight a rule in the Rules tab first.", severity="warning")
        return rule

    def _edit(self, rule: Rule | None) -> None:
        """Open the rule form on ``rule`` of the current ruleset (None: a new rule)."""
        if not self._editable_current():
            return
        doc = self.workspace.doc(self.current)
        refs = [ref.id for ref in doc.ruleset.references]
        self.push_screen(RuleEditor(doc.id, rule, self.names, refs))

    def action_new_rule(self) -> None:
        self._edit(None)

    def action_edit_rule(self) -> None:
        rule = self._selected_rule()
        if rule is not None:
            self._edit(rule)

    def action_duplicate_rule(self) -> None:
        rule = self._selected_rule()
        if rule is None or not self._editable_current():
            return
        copy = self.workspace.duplicate_rule(self.current, rule.id)
        self.notify(f"Duplicated as {copy.id}.")
        self.edited(copy.id)

    def action_delete_rule(self) -> None:
        """x: deletes the highlighted rule, or the highlighted golden case when that table has focus."""
        test_id = self.browse.selected_golden() if self.browse else None
        if test_id is not None:
            self._delete_golden(test_id)
            return
        rule = self._selected_rule()
        if rule is None or not self._editable_current():
            return
        ruleset_id = self.current

        def answered(yes: bool | None) -> None:
            if yes:
                self.workspace.delete_rule(ruleset_id, rule.id)
                self.notify(f"Rule {rule.id} deleted (not yet saved).")
                self.edited()

        self.push_screen(ConfirmScreen(f"Delete rule {rule.id} from {ruleset_id}?", "Delete"), answered)

    def _delete_golden(self, test_id: str) -> None:
        if not self._editable_current():
            return
        ruleset_id = self.current

        def answered(yes: bool | None) -> None:
            if yes:
                self.workspace.delete_golden(ruleset_id, test_id)
                self.notify(f"Golden case {test_id} deleted (not yet saved).")
                self.edited()

        self.push_screen(ConfirmScreen(f"Delete golden case {test_id} from {ruleset_id}?", "Delete"), answered)

    def open_case_tester(
        self,
        findings: Mapping[str, Value] | None = None,
        title: str = "Test a case",
        why_not: tuple[str, str] | None = None,
    ) -> CaseTester:
        """Push the case tester, filled in with ``findings`` (run at once) or showing "why not?" for a rule."""
        tester = CaseTester(self.engine, self.workspace, findings, title, why_not)
        self.push_screen(tester.data_bind(CalfrulesApp.engine))
        return tester

    def action_test_case(self) -> None:
        self.open_case_tester()

    def action_why_not(self) -> None:
        rule = self._selected_rule()
        if rule is not None:
            self.open_case_tester(why_not=(self.current, rule.id))

    def action_run_goldens(self) -> None:
        if self.engine is None:
            self.notify("The engine is still loading.", severity="warning")
            return
        self._run_goldens(self.engine)

    @work(thread=True, exclusive=True, group="goldens")
    def _run_goldens(self, engine: Engine) -> None:
        started = time.perf_counter()
        try:
            results = run_all(engine)
        except Exception as exc:
            self.call_from_thread(self.notify, f"{type(exc).__name__}: {exc}", severity="error")
            return
        seconds = time.perf_counter() - started
        self.call_from_thread(self._goldens_done, results, seconds)

    def _goldens_done(self, results: list[GoldenResult], seconds: float) -> None:
        self.checks = replace(self.checks, golden=by_ruleset(results), golden_seconds=seconds)
        if self.browse is not None:
            self.browse.show_tab("tab-golden")
        mine = self.checks.golden.get(self.current, ())
        failed = sum(not r.passed for r in mine)
        self.notify(
            f"{self.current}: {len(mine) - failed} pass, {failed} fail ({seconds * 1000:.0f} ms, all rulesets)",
            severity="error" if failed else "information",
            title="Golden cases",
        )

    def action_safety_check(self) -> None:
        if self.engine is None:
            return
        self.checks = replace(self.checks, safety="running…")
        self._run_safety(self.engine)

    @work(thread=True, exclusive=True, group="safety")
    def _run_safety(self, engine: Engine) -> None:
        try:
            report = check_engine(engine)
        except Exception as exc:
            self.call_from_thread(self._safety_done, f"could not run: {type(exc).__name__}: {exc}")
            return
        if report.ok:
            status = f"passed ({report.cases_tried} cases, {report.seconds:.1f} s)"
        else:
            status = "FAILED: " + report.violations[0]["message"]
        self.call_from_thread(self._safety_done, status)

    def _safety_done(self, status: str) -> None:
        self.checks = replace(self.checks, safety=status)
        self.notify(status, title="Safety gate", severity="information" if status.startswith("passed") else "error")

    def action_save(self) -> None:
        if self._editable_current():
            self.push_screen(SaveScreen(self.workspace, self.current))

    def _save_case_as_golden(self, assessment: Assessment) -> None:
        editable = [d.id for d in self.workspace.docs.values() if d.editable]
        if not editable:
            self.notify("No editable ruleset: make an editable copy first (c on the main screen).")
            return
        conditions = tuple(sorted(assessment.condition_ids()))
        expected = f"{assessment.level.value}" + (f", {', '.join(conditions)}" if conditions else "")
        taken = {t.id for t in self.workspace.doc(self.current).ruleset.tests}
        suggested = unique_id(f"case_{len(taken) + 1}", taken)

        def answered(answer: tuple[str, str, str] | None) -> None:
            if answer is None:
                return
            ruleset_id, test_id, description = answer
            test = GoldenCase(
                test_id,
                tuple(assessment.findings.items()),
                Expectation(level=assessment.level, conditions=conditions),
                description,
            )
            try:
                self.workspace.put_golden(ruleset_id, test)
            except CalfrulesError as exc:
                self.notify(str(exc), severity="error", title="Golden case not added")
                return
            self.current = ruleset_id
            self.notify(f"Golden case {test_id} added to {ruleset_id} (not yet saved).", title="Golden case")
            self.edited()

        self.push_screen(GoldenPrompt(editable, self.current, expected, suggested), answered)
