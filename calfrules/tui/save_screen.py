"""Before a save: the diff, the impact on golden cases, and the safety gate; then an atomic write."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Header, Label, LoadingIndicator, Static, TabbedContent, TabPane

from calfrules.tui.dialogs import ConfirmScreen
from calfrules.tui.saving import Conflict, SavePlan, plan_save
from calfrules.tui.workspace import Workspace


def impact_text(plan: SavePlan) -> Text:
    text = Text()
    if not plan.impact:
        text.append(f"No golden case changes its outcome ({plan.golden_total} cases run).\n", style="green")
    else:
        text.append(f"{len(plan.impact)} of {plan.golden_total} golden cases change:\n", style="bold")
        for row in plan.impact:
            text.append(f"  {row.text()}\n")
    if plan.golden_failing:
        text.append(f"\nFailing after this change: {', '.join(plan.golden_failing)}\n", style="yellow")
    return text


def safety_text(plan: SavePlan) -> Text:
    safety = plan.safety
    text = Text()
    if safety is None:
        return text
    if safety.ok:
        text.append(
            f"Safety gate PASSED: no case found where a red flag lowers the level "
            f"({safety.cases_tried} cases in {safety.seconds:.1f} s).\n",
            style="bold green",
        )
    if safety.violations:
        text.append("SAVE REFUSED: ", style="bold white on red")
        text.append("with this change a red flag would lower the level.\n", style="bold red")
        for line in plan.refusal_words:
            text.append(line + "\n")
    for problem in plan.problems:
        text.append(f"problem: {problem}\n", style="red")
    return text


def failing_question(count: int) -> str:
    cases = "golden case" if count == 1 else "golden cases"
    return f"{count} {cases} will FAIL — save anyway?"


class ConflictScreen(ModalScreen[str | None]):
    """The file changed on disk since it was loaded: both changes side by side; reload, merge or cancel."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, path: str, conflict: Conflict) -> None:
        super().__init__()
        self.path, self.conflict = path, conflict

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Static(f"Someone else changed {self.path} since you opened it. Nothing was written.", id="question")
            with Horizontal(id="conflict-diffs"):
                with VerticalScroll():
                    yield Label("Their change (on disk)", classes="section")
                    yield Static(self.conflict.theirs or "(none)", id="theirs", markup=False)
                with VerticalScroll():
                    yield Label("Your change (not saved)", classes="section")
                    yield Static(self.conflict.mine or "(none)", id="mine", markup=False)
            yield Static("Merge keeps their change and puts yours on top; Reload drops yours (ctrl+z brings it back).")
            with Horizontal(classes="buttons"):
                yield Button("Merge", id="merge", variant="primary")
                yield Button("Reload theirs", id="reload", variant="warning")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#merge", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id if event.button.id in ("merge", "reload") else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SaveScreen(Screen[None]):
    """Checks a save and shows the plan; the app writes the file when asked and closes this screen."""

    class SaveRequested(Message):
        """The user confirmed a save the plan allows: the app writes it (and closes the screen) or says why not."""

        def __init__(self, save_screen: SaveScreen, plan: SavePlan) -> None:
            super().__init__()
            self.save_screen = save_screen
            self.plan = plan

    class ConflictAnswered(Message):
        """The file changed on disk: the user chose to merge or reload (the app does it)."""

        def __init__(self, ruleset_id: str, choice: str) -> None:
            super().__init__()
            self.ruleset_id = ruleset_id
            self.choice = choice

    class CounterExampleOpened(Message):
        """The user wants the safety gate's counter-example in the case tester."""

        def __init__(self, findings: dict[str, Any], title: str) -> None:
            super().__init__()
            self.findings = findings
            self.title = title

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Cancel"),
        Binding("ctrl+s", "confirm_save", "Save now", priority=True),
        Binding("f1", "app.help", "Help"),
    ]

    def __init__(self, workspace: Workspace, ruleset_id: str) -> None:
        super().__init__()
        self.workspace = workspace  # read only: the app commits
        self.ruleset_id = ruleset_id
        self.plan: SavePlan | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"Checking {self.ruleset_id}: diff, golden cases, safety gate…", id="save-summary")
        yield LoadingIndicator(id="save-loading")
        with TabbedContent(id="save-tabs"):
            with TabPane("Safety gate", id="tab-safety"), VerticalScroll():
                yield Static("running…", id="save-safety")
            with TabPane("Impact", id="tab-impact"), VerticalScroll():
                yield Static("running…", id="save-impact")
            with TabPane("Diff", id="tab-diff"), VerticalScroll():
                yield Static("", id="save-diff")
        with Horizontal(classes="buttons"):
            yield Button("Save", id="save", variant="success", disabled=True)
            yield Button("Open counter-example", id="open-counter", variant="warning", disabled=True)
            yield Button("Cancel", id="cancel")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"save {self.ruleset_id}"
        self._plan()

    @work(thread=True, exclusive=True, group="save")
    def _plan(self) -> None:
        try:
            plan = plan_save(self.workspace, self.ruleset_id)
        except Exception as exc:  # an engine failure must not lose the edits: report and stay
            self.app.call_from_thread(self._failed, f"{type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._show, plan)

    def _failed(self, message: str) -> None:
        self.query_one("#save-loading").display = False
        self.query_one("#save-summary", Static).update(Text(f"Could not check the save: {message}", style="bold red"))
        self.notify(message, severity="error", title="Save check failed; nothing was written")

    def _show(self, plan: SavePlan) -> None:
        self.plan = plan
        self.query_one("#save-loading").display = False
        if plan.conflict is not None:
            self._ask_conflict(plan)
            return
        refusal = plan.refusal()
        changes = f"{len(plan.impact)} golden case(s) change" if plan.impact else "no golden case changes"
        if refusal:
            summary = Text(f"Save refused: {refusal}. ({changes})", style="bold red")
        else:
            summary = Text(f"Safety gate passed; {changes}. Press Save (ctrl+s) to write {plan.path}.", style="green")
        self.query_one("#save-summary", Static).update(summary)
        self.query_one("#save-safety", Static).update(safety_text(plan))
        self.query_one("#save-impact", Static).update(impact_text(plan))
        diff = plan.diff or "(no change against the file on disk)"
        self.query_one("#save-diff", Static).update(Syntax(diff, "diff", theme="ansi_dark", word_wrap=True))
        self.query_one("#save", Button).disabled = not plan.allowed
        has_counter = plan.safety is not None and bool(plan.safety.violations)
        self.query_one("#open-counter", Button).disabled = not has_counter
        self.query_one("#open-counter" if has_counter else "#save" if plan.allowed else "#cancel", Button).focus()
        self.query_one("#save-tabs", TabbedContent).active = "tab-safety" if refusal else "tab-impact"

    def _ask_conflict(self, plan: SavePlan) -> None:
        assert plan.conflict is not None
        summary = Text(f"Not saved: {plan.path} changed on disk since it was loaded.", style="bold red")
        self.query_one("#save-summary", Static).update(summary)

        def answered(choice: str | None) -> None:
            self.dismiss()
            if choice:
                self.app.post_message(self.ConflictAnswered(self.ruleset_id, choice))

        self.app.push_screen(ConflictScreen(str(plan.path), plan.conflict), answered)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_confirm_save()
        elif event.button.id == "open-counter":
            self.open_counter_example()
        else:
            self.action_close()

    def action_confirm_save(self) -> None:
        plan = self.plan
        if plan is None:
            self.notify("Still checking; wait for the safety gate.", severity="warning")
            return
        if not plan.allowed or not plan.golden_failing:
            self.post_message(self.SaveRequested(self, plan))  # the app refuses what the plan does not allow
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.post_message(self.SaveRequested(self, plan))

        question = failing_question(len(plan.golden_failing))
        self.app.push_screen(ConfirmScreen(question, "Save anyway", "Cancel"), answered)

    def open_counter_example(self) -> None:
        if self.plan is None or self.plan.safety is None or not self.plan.safety.violations:
            return
        violation = self.plan.safety.violations[0]
        findings = {**violation["case"]["findings"], **violation["added"]}
        # a recorded-no violation adds answers of "no", not a red flag
        added = "the answer of no" if all(v is False for v in violation["added"].values()) else "the red flag"
        self.post_message(self.CounterExampleOpened(findings, f"Counter-example (with {added} recorded)"))

    def action_close(self) -> None:
        self.dismiss()
