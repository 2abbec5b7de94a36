"""The main screen: rulesets on the left; their rules, golden cases and status on the right."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, OptionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from calfrules.rules.model import Rule
from calfrules.tui.checks import Checks
from calfrules.tui.workspace import RulesetDoc, Workspace

SHOWN_ID = 32  # characters of a rule id the table shows (the rule view shows all of it)
NARROW = 100  # below this many columns the ruleset list folds away (ctrl+b or the palette shows it)


def shown_id(rule_id: str) -> str:
    return rule_id if len(rule_id) <= SHOWN_ID else rule_id[: SHOWN_ID - 1] + "…"


class RulesTable(DataTable[str | Text]):
    """Enter opens the highlighted rule; a click only highlights (a second click opens nothing)."""

    class Opened(Message):
        def __init__(self, rule_id: str) -> None:
            super().__init__()
            self.rule_id = rule_id

    def action_select_cursor(self) -> None:
        if self.row_count:
            row_key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
            if row_key.value is not None:
                self.post_message(self.Opened(str(row_key.value)))


def rule_action(rule: Rule) -> str:
    parts = []
    if rule.escalate:
        parts.append(f"↑{rule.escalate.value}")
    if rule.conclude:
        parts.append(rule.conclude)
    if rule.derive:
        parts.append("+" + ",".join(rule.derive))
    if rule.recommend:
        parts.append(f"{len(rule.recommend)} advice")
    return " ".join(parts)


class BrowseScreen(Screen[None]):
    """Shows the workspace; the app binds ``current``, ``checks`` and ``revision`` to its own.

    What the user does here goes to the app as messages (or as the app's actions, by key);
    the app owns the state and the screen only shows it.
    """

    class RulesetChosen(Message):
        """The user highlighted a ruleset in the list."""

        def __init__(self, ruleset_id: str) -> None:
            super().__init__()
            self.ruleset_id = ruleset_id

    class RuleChosen(Message):
        """The user chose a rule (enter or a click on its row) to edit it."""

        def __init__(self, ruleset_id: str, rule_id: str) -> None:
            super().__init__()
            self.ruleset_id = ruleset_id
            self.rule_id = rule_id

    class CopyRequested(Message):
        """The user pressed the button that makes an editable copy of the shown ruleset."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "app.make_copy", "Copy"),
        Binding("n", "app.new_rule", "New"),
        Binding("e", "app.edit_rule", "Edit"),
        Binding("d", "app.duplicate_rule", "Duplicate", show=False),
        Binding("x", "app.delete_rule", "Delete", show=False),
        Binding("t", "app.test_case", "Test"),
        Binding("w", "app.why_not", "Why not?", show=False),
        Binding("g", "app.run_goldens", "Goldens"),
        Binding("k", "app.safety_check", "Safety", show=False),
        Binding("ctrl+s", "app.save", "Save", priority=True),
        Binding("q", "app.quit", "Quit"),
        Binding("ctrl+b", "toggle_list", "Rulesets"),
    ]

    current: var[str] = var("")  # the ruleset shown
    checks: var[Checks] = var(Checks)
    revision: var[int] = var(0)  # the workspace changed: show it again

    def __init__(self, workspace: Workspace, current: str) -> None:
        super().__init__()
        self.workspace = workspace  # read only: edits go through the app
        self.set_reactive(BrowseScreen.current, current)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield OptionList(id="rulesets")
            with Vertical(id="detail"):
                yield Static("", id="ruleset-title")
                with TabbedContent(id="detail-tabs"):
                    with TabPane("Rules", id="tab-rules"):
                        yield RulesTable(id="rules-table", cursor_type="row", zebra_stripes=True)
                        yield Static("", id="rule-detail")
                    with TabPane("Golden cases", id="tab-golden"):
                        yield DataTable(id="golden-table", cursor_type="row")
                        yield Static("", id="golden-detail")
                    with TabPane("Status", id="tab-status"), VerticalScroll():
                        yield Static("", id="status-text")
                        yield Button("Make an editable copy (c)", id="make-copy", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#rules-table", DataTable).add_columns("rule", "does", "when")
        self.query_one("#golden-table", DataTable).add_columns("case", "expected", "result")
        self.refresh_all()
        self.query_one("#rulesets", OptionList).focus()

    # --- filling the widgets -----------------------------------------------------------
    def _marker(self, doc: RulesetDoc) -> str:
        results = self.checks.golden.get(doc.id)
        status = "" if results is None else ("✓" if all(r.passed for r in results) else "✗")
        if self.checks.problems_of(doc):
            status = "✗"
        return f"{'✎' if doc.editable else '🔒'} {doc.id} {status}{' ●' if doc.dirty else ''}"

    def watch_current(self) -> None:
        if self.is_mounted:
            self._highlight_current()
            self.show_ruleset()

    def watch_checks(self) -> None:
        if self.is_mounted:
            self.refresh_all()

    def watch_revision(self) -> None:
        if self.is_mounted:
            self.refresh_all()

    def refresh_all(self) -> None:
        options = self.query_one("#rulesets", OptionList)
        options.clear_options()
        docs = list(self.workspace.docs.values())
        options.add_options([Option(self._marker(doc), id=doc.id) for doc in docs])
        self._highlight_current()
        self.show_ruleset()

    def _highlight_current(self) -> None:
        ids = list(self.workspace.docs)
        if self.current in ids:
            self.query_one("#rulesets", OptionList).highlighted = ids.index(self.current)

    def show_ruleset(self) -> None:
        doc = self.workspace.docs.get(self.current)
        if doc is None:
            return
        title = Text()
        title.append(doc.ruleset.title, style="bold")
        title.append(f"\n{doc.origin}", style="dim")
        if not doc.editable:
            title.append("  read-only (c: copy)", style="yellow")
        if doc.dirty:
            title.append("  ● unsaved (ctrl+s)", style="bold yellow")
        self.query_one("#ruleset-title", Static).update(title)
        self._fill_rules(doc)
        self._fill_golden(doc)
        self._fill_status(doc)

    def _fill_rules(self, doc: RulesetDoc) -> None:
        table = self.query_one("#rules-table", DataTable)
        row = table.cursor_row
        table.clear()
        for rule in doc.ruleset.rules:
            table.add_row(shown_id(rule.id), rule_action(rule), rule.when, key=rule.id)
        if doc.ruleset.rules:
            table.move_cursor(row=min(row, len(doc.ruleset.rules) - 1))
        self._show_rule_detail()

    def _fill_golden(self, doc: RulesetDoc) -> None:
        table = self.query_one("#golden-table", DataTable)
        table.clear()
        results = {r.test: r for r in self.checks.golden.get(doc.id, ())}
        for test in doc.ruleset.tests:
            result = results.get(test.id)
            shown: str | Text = "not run (g)"
            if result is not None:
                shown = Text("PASS", style="bold green") if result.passed else Text("FAIL", style="bold red")
            expected = test.expect.level.value if test.expect.level else "-"
            table.add_row(test.id, expected, shown, key=test.id)
        self._show_golden_detail()

    def _fill_status(self, doc: RulesetDoc) -> None:
        text = Text()
        problems = self.checks.problems_of(doc)
        text.append("valid: ", style="bold")
        text.append("yes\n" if not problems else f"NO ({len(problems)} problem(s))\n", style="red" if problems else "")
        for problem in problems:
            text.append(f"  {problem}\n", style="red")
        results = self.checks.golden.get(doc.id)
        text.append("golden cases: ", style="bold")
        if results is None:
            text.append(f"{len(doc.ruleset.tests)}, not run yet (g)\n")
        else:
            failed = [r for r in results if not r.passed]
            text.append(f"{len(results) - len(failed)} pass, {len(failed)} fail", style="red" if failed else "green")
            text.append(f" ({self.checks.golden_seconds * 1000:.0f} ms for all rulesets)\n")
        text.append("safety gate (all rulesets): ", style="bold")
        text.append(f"{self.checks.safety}\n")
        text.append(f"\n{len(doc.ruleset.rules)} rules, {len(doc.ruleset.tests)} golden cases, ")
        text.append(f"{len(doc.ruleset.floor)} floor entries, version {doc.ruleset.version}\n")
        text.append(f"from {doc.origin}\n", style="dim")
        self.query_one("#status-text", Static).update(text)
        self.query_one("#make-copy", Button).display = not doc.editable

    def show_tab(self, pane: str) -> None:
        """Switch tab and move the focus into it (a focus left behind would pull the old tab back)."""
        self.query_one("#detail-tabs", TabbedContent).active = pane
        target = {"tab-rules": "#rules-table", "tab-golden": "#golden-table"}.get(pane)
        if target:
            self.query_one(target).focus()

    def highlight_rule(self, rule_id: str) -> None:
        """Move the rules table to this rule (one just added or duplicated)."""
        table = self.query_one("#rules-table", DataTable)
        doc = self.workspace.docs.get(self.current)
        ids = [rule.id for rule in doc.ruleset.rules] if doc else []
        if rule_id in ids:
            table.move_cursor(row=ids.index(rule_id))

    def selected_rule(self) -> str | None:
        table = self.query_one("#rules-table", DataTable)
        if table.row_count == 0:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def selected_golden(self) -> str | None:
        """The highlighted golden case, when the golden-case table has the focus."""
        table = self.query_one("#golden-table", DataTable)
        if not table.has_focus or table.row_count == 0:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def _show_golden_detail(self) -> None:
        table = self.query_one("#golden-table", DataTable)
        detail = self.query_one("#golden-detail", Static)
        if table.row_count == 0:
            detail.update("No golden cases yet: test a case (t) and save it as one (ctrl+g).")
            return
        test_id = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        doc = self.workspace.docs[self.current]
        test = next((t for t in doc.ruleset.tests if t.id == test_id), None)
        result = next((r for r in self.checks.golden.get(doc.id, ()) if r.test == test_id), None)
        text = Text()
        if test is not None:
            findings = ", ".join(k if v is True else f"{k}={v}" for k, v in test.findings)
            if test.description:
                text.append(f"{test.description}\n")
            text.append(f"findings: {findings}\n")
        if result is not None and not result.passed:
            text.append(f"got {result.level}:\n", style="bold red")
            for diff in result.differences:
                text.append(f"  {diff}\n", style="red")
        detail.update(text)

    # --- events ---------------------------------------------------------------------------
    @on(OptionList.OptionHighlighted, "#rulesets")
    def _ruleset_chosen(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id and event.option.id != self.current:
            # the app makes it current; ``current``, bound to the app's, then shows it here
            self.post_message(self.RulesetChosen(event.option.id))

    @on(DataTable.RowHighlighted, "#rules-table")
    def _rule_row(self, event: DataTable.RowHighlighted) -> None:
        self._show_rule_detail()

    def _show_rule_detail(self) -> None:
        rule_id = self.selected_rule()
        doc = self.workspace.docs.get(self.current)
        rule = doc.ruleset.rule(rule_id) if doc and rule_id else None
        detail = self.query_one("#rule-detail", Static)
        if rule is None:
            detail.update("No rules yet: press n to add one.")
            return
        text = Text()
        text.append("when ", style="bold")
        text.append(f"{rule.when}\n")
        text.append(rule.rationale, style="dim")
        detail.update(text)

    @on(DataTable.RowHighlighted, "#golden-table")
    def _golden_row(self, event: DataTable.RowHighlighted) -> None:
        self._show_golden_detail()

    @on(RulesTable.Opened)
    def _rule_selected(self, event: RulesTable.Opened) -> None:
        self.post_message(self.RuleChosen(self.current, event.rule_id))

    def on_resize(self) -> None:
        self.query_one("#rulesets", OptionList).display = self.size.width >= NARROW or self.show_list

    show_list = False

    def action_toggle_list(self) -> None:
        """ctrl+b: show or fold the ruleset list (folded by itself on a narrow screen)."""
        options = self.query_one("#rulesets", OptionList)
        self.show_list = not options.display
        options.display = self.show_list
        if self.show_list:
            options.focus()

    @on(Button.Pressed, "#make-copy")
    def _copy_pressed(self) -> None:
        self.post_message(self.CopyRequested())
