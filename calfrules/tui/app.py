"""The Textual app: it owns the state (workspace, engine, checks) and acts on what the screens ask.

Screens get what they show as constructor arguments and as reactives bound to the app's
(``data_bind``); they tell the app what the user did with messages, and only the app
changes the workspace. No screen imports this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from calfrules.engine.assessment import Assessment
from calfrules.rules.errors import CalfrulesError
from calfrules.rules.model import Expectation, GoldenCase, Rule
from calfrules.rules.vocabulary import Value
from calfrules.tui.app_checks import CheckingApp
from calfrules.tui.browse import BrowseScreen
from calfrules.tui.case_tester import CaseTester
from calfrules.tui.dialogs import ConfirmScreen, GoldenPrompt, HelpScreen, MessageScreen, PromptScreen
from calfrules.tui.rule_editor import RuleEditor
from calfrules.tui.rule_view import RuleView
from calfrules.tui.save_screen import SaveScreen
from calfrules.tui.saving import backup_numbers, commit
from calfrules.tui.workspace import DEFAULT_COPY_DIR, Workspace, unique_id


class CalfrulesApp(CheckingApp):
    """``calfrules tui``: physiotherapists author, test and safely save rulesets."""

    CSS_PATH = "app.tcss"
    TITLE = "calfrules admin"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help"),
        Binding("question_mark", "help", "Help", show=False),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        Binding("ctrl+z", "undo", "Undo", show=False),
    ]

    def __init__(self, files: list[str | Path] | None = None, copy_dir: str | Path = DEFAULT_COPY_DIR) -> None:
        super().__init__(Workspace(files or [], copy_dir))
        self.copy_dir = Path(copy_dir)
        self.case: dict[str, Value] = {}  # the case tester's findings, kept while it is closed
        self.case_saved_as_golden: dict[str, Value] = {}
        current = next((d.id for d in self.workspace.docs.values() if d.editable), "strains")
        if current not in self.workspace.docs:
            current = next(iter(self.workspace.docs))
        self.set_reactive(CalfrulesApp.current, current)

    def on_mount(self) -> None:
        browse = BrowseScreen(self.workspace, self.current)
        self.push_screen(browse.data_bind(CalfrulesApp.current, CalfrulesApp.checks, CalfrulesApp.revision))
        broken = self.workspace.broken
        for problem in self.workspace.problems:
            if not any(problem == b for b in broken):
                self.notify(problem, severity="warning", title="Ruleset problem", timeout=10)
        if broken:
            self.push_screen(
                MessageScreen(
                    "A ruleset file could not be read",
                    "\n\n".join(broken)
                    + "\n\nThe app shows the shipped ruleset in its place, read-only, and will not overwrite "
                    "the file. Fix the file in a text editor (or move it away) and open the app again.",
                )
            )
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

    def edited(self, rule_id: str | None = None) -> None:
        """After any edit: the screens show it (rule ``rule_id`` highlighted), the engine and goldens follow."""
        self.revision += 1
        if rule_id is not None and self.browse is not None:
            self.browse.highlight_rule(rule_id)
        self.refresh_engine()

    # --- what the screens ask -------------------------------------------------------------
    @on(BrowseScreen.RulesetChosen)
    def _ruleset_chosen(self, event: BrowseScreen.RulesetChosen) -> None:
        self.current = event.ruleset_id

    @on(BrowseScreen.RuleChosen)
    def _rule_chosen(self, event: BrowseScreen.RuleChosen) -> None:
        doc = self.workspace.doc(event.ruleset_id)
        rule = doc.ruleset.rule(event.rule_id)
        if rule is None:
            return
        if doc.editable:
            self._edit(rule)
        else:
            references = {ref.id: ref for d in self.workspace.docs.values() for ref in d.ruleset.references}
            self.push_screen(RuleView(rule, references, editable=False))

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
            event.editor.show_error(str(exc), "rule-id" if "already exists" in str(exc) else None)
            return
        event.editor.dismiss(event.rule)
        self.notify(f"Rule {event.rule.id} kept; ctrl+s saves {event.ruleset_id} to its file.", title="Rule kept")
        self.edited(event.rule.id)

    @on(SaveScreen.SaveRequested)
    def _commit_save(self, event: SaveScreen.SaveRequested) -> None:
        try:
            path = commit(self.workspace, event.plan)
        except CalfrulesError as exc:
            self.notify(str(exc), severity="error", title="Not saved", timeout=15)
            return
        kept = (
            f"; the previous version is kept as {path.name}.~{max(backup_numbers(path))}~"
            if backup_numbers(path)
            else ""
        )
        self.notify(f"Saved {path}{kept}.", title="Saved")
        event.save_screen.dismiss()
        self.edited()

    @on(SaveScreen.ConflictAnswered)
    def _resolve_conflict(self, event: SaveScreen.ConflictAnswered) -> None:
        try:
            if event.choice == "merge":
                self.workspace.merge_from_disk(event.ruleset_id)
                done = "Merged: their change is kept and yours is on top. Press ctrl+s to check and save."
            else:
                self.workspace.reload_doc(event.ruleset_id)
                done = "Reloaded the file; your edits are gone (ctrl+z brings them back)."
        except CalfrulesError as exc:
            self.notify(str(exc), severity="error", title="Not merged", timeout=15)
            return
        self.notify(done, title=event.ruleset_id)
        self.edited()

    @on(SaveScreen.CounterExampleOpened)
    def _open_counter_example(self, event: SaveScreen.CounterExampleOpened) -> None:
        self.open_case_tester(event.findings, event.title)

    @on(CaseTester.GoldenRequested)
    def _golden_requested(self, event: CaseTester.GoldenRequested) -> None:
        self._save_case_as_golden(event.assessment)

    @on(CaseTester.CaseLeft)
    def _case_left(self, event: CaseTester.CaseLeft) -> None:
        self.case = dict(event.findings)

    # --- actions ------------------------------------------------------------------------------
    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def unsaved_work(self) -> list[str]:
        """Everything quitting now would lose: unsaved rulesets, a rule form with changes, a case."""
        lost = [f"unsaved changes in {doc.id}" for doc in self.workspace.dirty]
        for screen in self.screen_stack:
            if isinstance(screen, RuleEditor) and screen.has_changes():
                lost.append(f"the rule form ({screen.rule.id if screen.rule else 'new rule'})")
            if isinstance(screen, CaseTester):
                self.case = screen.findings()
        if self.case and self.case != self.case_saved_as_golden:
            lost.append(f"the case in the case tester ({len(self.case)} findings, not saved as a golden case)")
        return lost

    async def action_quit(self) -> None:
        lost = self.unsaved_work()
        if not lost:
            self.exit()
            return

        def answered(quit_anyway: bool | None) -> None:
            if quit_anyway:
                self.exit()

        question = "Quit and lose " + "; ".join(lost) + "?"
        self.push_screen(ConfirmScreen(question, "Quit without saving", "Keep working"), answered)

    def action_undo(self) -> None:
        what = self.workspace.undo()
        if what is None:
            self.notify("Nothing to undo.")
            return
        self.notify(f"Undone: {what} (not yet saved).", title="Undo")
        self.edited()

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
        if findings is None and why_not is None:
            findings = self.case  # the case left in the tester, back as it was
        tester = CaseTester(self.engine, self.workspace, findings, title, why_not)
        self.push_screen(tester.data_bind(CalfrulesApp.engine))
        return tester

    def action_test_case(self) -> None:
        self.open_case_tester()

    def action_why_not(self) -> None:
        rule = self._selected_rule()
        if rule is not None:
            self.open_case_tester(why_not=(self.current, rule.id))

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
            self.case_saved_as_golden = dict(assessment.findings)
            self.notify(f"Golden case {test_id} added to {ruleset_id} (not yet saved).", title="Golden case")
            self.edited()

        self.push_screen(GoldenPrompt(editable, self.current, expected, suggested), answered)
