"""The Textual app: state (workspace, engine, test results) and every action the screens offer."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, cast

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider

from calfrules.engine.engine import Engine, load_engine
from calfrules.rules.errors import CalfrulesError
from calfrules.rules.model import ConditionInfo, Expectation, GoldenCase, Rule, Ruleset
from calfrules.rules.vocabulary import Value
from calfrules.tooling.goldens import GoldenResult, run_all
from calfrules.tooling.safety import check_engine
from calfrules.tui.browse import BrowseScreen
from calfrules.tui.case_tester import CaseTester
from calfrules.tui.dialogs import ConfirmScreen, GoldenPrompt, HelpScreen, PromptScreen
from calfrules.tui.names import KnownNames
from calfrules.tui.rule_editor import RuleEditor
from calfrules.tui.save_screen import SaveScreen
from calfrules.tui.workspace import DEFAULT_COPY_DIR, Workspace, unique_id


class CalfrulesCommands(Provider):
    """Our actions in the command palette (ctrl+p)."""

    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        app = cast("CalfrulesApp", self.app)
        commands: list[tuple[str, str, Callable[[], Any]]] = [
            ("Test a case", "open the case tester", app.action_test_case),
            ("Run golden cases", "run this ruleset's golden cases", app.action_run_goldens),
            ("Save ruleset", "diff, impact and safety gate, then save", app.action_save),
            ("New rule", "add a rule to this ruleset", app.action_new_rule),
            ("Edit rule", "edit the highlighted rule", app.action_edit_rule),
            ("Duplicate rule", "copy the highlighted rule", app.action_duplicate_rule),
            ("Delete rule", "delete the highlighted rule", app.action_delete_rule),
            ("Make editable copy", "copy a plugin's ruleset to a file you can edit", app.action_make_copy),
            ("Run safety gate", "search for a case where a red flag lowers the level", app.action_safety_check),
            ("Why not?", "which parts of the highlighted rule a case does not meet", app.action_why_not),
            ("Help", "keys and how saving works", app.action_help),
        ]
        for doc in app.workspace.docs.values():
            commands.append((f"Open ruleset {doc.id}", doc.origin, partial(app.select_ruleset, doc.id)))
        return commands

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)


class CalfrulesApp(App[None]):
    """``calfrules tui``: physiotherapists author, test and safely save rulesets."""

    CSS_PATH = "app.tcss"
    TITLE = "calfrules admin"
    COMMANDS = App.COMMANDS | {CalfrulesCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help"),
        Binding("question_mark", "help", "Help", show=False),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, files: list[str | Path] | None = None, copy_dir: str | Path = DEFAULT_COPY_DIR) -> None:
        super().__init__()
        self.workspace = Workspace(files or [], copy_dir)
        self.copy_dir = Path(copy_dir)
        self.engine: Engine | None = None
        self.names = KnownNames()
        self.current = next((d.id for d in self.workspace.docs.values() if d.editable), "strains")
        if self.current not in self.workspace.docs:
            self.current = next(iter(self.workspace.docs))
        self.golden_results: dict[str, list[GoldenResult]] = {}
        self.golden_seconds = 0.0
        self.safety_status = "not run yet (k)"
        self.focus_rule: str | None = None  # the rules table moves to it on its next refresh

    def on_mount(self) -> None:
        self.push_screen(BrowseScreen())
        for problem in self.workspace.problems:
            self.notify(problem, severity="warning", title="Ruleset problem", timeout=10)
        self.refresh_engine()

    # --- state shown on screens ------------------------------------------------------------
    @property
    def browse(self) -> BrowseScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, BrowseScreen):
                return screen
        return None

    def refresh_browse(self) -> None:
        if self.browse is not None:
            self.browse.refresh_all()

    def ruleset_problems(self, ruleset_id: str) -> list[str]:
        if self.engine is None:
            return []
        doc = self.workspace.docs.get(ruleset_id)
        keys = [ruleset_id] + ([str(doc.path)] if doc and doc.path else [])
        return [p for p in self.engine.problems if any(k in p for k in keys)]

    def select_ruleset(self, ruleset_id: str) -> None:
        self.current = ruleset_id
        self.refresh_browse()

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
        self._store_goldens(results, seconds)
        if old is not None:
            old.close()

    def _store_goldens(self, results: list[GoldenResult], seconds: float) -> None:
        self.golden_results = {}
        for result in results:
            self.golden_results.setdefault(result.ruleset, []).append(result)
        self.golden_seconds = seconds
        self.refresh_browse()

    def edited(self) -> None:
        """After any edit: the list shows ●, the engine and the golden results follow."""
        self.refresh_browse()
        self.refresh_engine()

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

    def _open_editor(self, rule: Rule | None, replacing: str | None) -> None:
        doc = self.workspace.doc(self.current)
        ruleset_id = doc.id

        def apply(new: Rule, condition: ConditionInfo | None) -> str | None:
            try:
                self.workspace.put_rule(ruleset_id, new, replacing)
                if condition is not None:
                    self.workspace.put_condition(ruleset_id, condition)
            except CalfrulesError as exc:
                return str(exc)
            return None

        def done(result: Rule | None) -> None:
            if result is not None:
                self.focus_rule = result.id
                self.notify(f"Rule {result.id} kept; ctrl+s saves {ruleset_id} to its file.", title="Rule kept")
                self.edited()

        refs = [ref.id for ref in doc.ruleset.references]
        self.push_screen(RuleEditor(ruleset_id, rule, self.names, refs, apply), done)

    def _selected_rule(self) -> Rule | None:
        rule_id = self.browse.selected_rule() if self.browse else None
        rule = self.workspace.doc(self.current).ruleset.rule(rule_id) if rule_id else None
        if rule is None:
            self.notify("Highlight a rule in the Rules tab first.", severity="warning")
        return rule

    def action_new_rule(self) -> None:
        if self._editable_current():
            self._open_editor(None, None)

    def action_edit_rule(self) -> None:
        rule = self._selected_rule()
        if rule is None:
            return
        if not self.workspace.doc(self.current).editable:
            self._editable_current()
            return
        self._open_editor(rule, rule.id)

    def action_duplicate_rule(self) -> None:
        rule = self._selected_rule()
        if rule is None or not self._editable_current():
            return
        copy = self.workspace.duplicate_rule(self.current, rule.id)
        self.focus_rule = copy.id
        self.notify(f"Duplicated as {copy.id}.")
        self.edited()

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

    def open_case_tester(self, findings: Mapping[str, Value] | None = None, title: str = "Test a case") -> CaseTester:
        tester = CaseTester(findings, title)
        self.push_screen(tester)
        return tester

    def action_test_case(self) -> None:
        self.open_case_tester()

    def action_why_not(self) -> None:
        rule = self._selected_rule()
        if rule is not None:
            tester = self.open_case_tester()
            self.call_after_refresh(tester.show_why_not, self.current, rule.id)

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
        self._store_goldens(results, seconds)
        if self.browse is not None:
            self.browse.show_tab("tab-golden")
        mine = self.golden_results.get(self.current, [])
        failed = sum(not r.passed for r in mine)
        self.notify(
            f"{self.current}: {len(mine) - failed} pass, {failed} fail ({seconds * 1000:.0f} ms, all rulesets)",
            severity="error" if failed else "information",
            title="Golden cases",
        )

    def action_safety_check(self) -> None:
        if self.engine is None:
            return
        self.safety_status = "running…"
        self.refresh_browse()
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
        self.safety_status = status
        self.notify(status, title="Safety gate", severity="information" if status.startswith("passed") else "error")
        self.refresh_browse()

    def action_save(self) -> None:
        doc = self.workspace.doc(self.current)
        if not doc.editable:
            self._editable_current()
            return

        def done(saved: bool | None) -> None:
            if saved:
                self.edited()

        self.push_screen(SaveScreen(doc.id), done)

    def save_case_as_golden(self, tester: CaseTester) -> None:
        assessment = tester.assessment
        editable = [d.id for d in self.workspace.docs.values() if d.editable]
        if assessment is None:
            self.notify("Run the case first (ctrl+r).", severity="warning")
            return
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
