"""The main screen: rulesets on the left; their rules, golden cases and status on the right."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, OptionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from calfrules.rules.model import Rule
from calfrules.tui.workspace import RulesetDoc

if TYPE_CHECKING:
    from calfrules.tui.app import CalfrulesApp


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
    ]

    @property
    def tui(self) -> CalfrulesApp:
        return cast("CalfrulesApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield OptionList(id="rulesets")
            with Vertical(id="detail"):
                yield Static("", id="ruleset-title")
                with TabbedContent(id="detail-tabs"):
                    with TabPane("Rules", id="tab-rules"):
                        yield DataTable(id="rules-table", cursor_type="row", zebra_stripes=True)
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
        results = self.tui.golden_results.get(doc.id)
        status = "" if results is None else ("✓" if all(r.passed for r in results) else "✗")
        if self.tui.ruleset_problems(doc.id):
            status = "✗"
        return f"{'✎' if doc.editable else '🔒'} {doc.id} {status}{' ●' if doc.dirty else ''}"

    def refresh_all(self) -> None:
        options = self.query_one("#rulesets", OptionList)
        current = self.tui.current
        options.clear_options()
        docs = list(self.tui.workspace.docs.values())
        options.add_options([Option(self._marker(doc), id=doc.id) for doc in docs])
        if current in self.tui.workspace.docs:
            options.highlighted = [d.id for d in docs].index(current)
        self.show_ruleset()

    def show_ruleset(self) -> None:
        doc = self.tui.workspace.docs.get(self.tui.current)
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
            table.add_row(rule.id, rule_action(rule), rule.when, key=rule.id)
        ids = [rule.id for rule in doc.ruleset.rules]
        if self.tui.focus_rule in ids:  # a rule just added or duplicated
            row = ids.index(self.tui.focus_rule)
            self.tui.focus_rule = None
        if doc.ruleset.rules:
            table.move_cursor(row=min(row, len(doc.ruleset.rules) - 1))
        self._show_rule_detail()

    def _fill_golden(self, doc: RulesetDoc) -> None:
        table = self.query_one("#golden-table", DataTable)
        table.clear()
        results = {r.test: r for r in self.tui.golden_results.get(doc.id, [])}
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
        problems = self.tui.ruleset_problems(doc.id)
        text.append("valid: ", style="bold")
        text.append("yes\n" if not problems else f"NO ({len(problems)} problem(s))\n", style="red" if problems else "")
        for problem in problems:
            text.append(f"  {problem}\n", style="red")
        results = self.tui.golden_results.get(doc.id)
        text.append("golden cases: ", style="bold")
        if results is None:
            text.append(f"{len(doc.ruleset.tests)}, not run yet (g)\n")
        else:
            failed = [r for r in results if not r.passed]
            text.append(f"{len(results) - len(failed)} pass, {len(failed)} fail", style="red" if failed else "green")
            text.append(f" ({self.tui.golden_seconds * 1000:.0f} ms for all rulesets)\n")
        text.append("safety gate (all rulesets): ", style="bold")
        text.append(f"{self.tui.safety_status}\n")
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
        doc = self.tui.workspace.docs[self.tui.current]
        test = next((t for t in doc.ruleset.tests if t.id == test_id), None)
        result = next((r for r in self.tui.golden_results.get(doc.id, []) if r.test == test_id), None)
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
        if event.option.id and event.option.id != self.tui.current:
            self.tui.current = event.option.id
            self.show_ruleset()

    @on(DataTable.RowHighlighted, "#rules-table")
    def _rule_row(self, event: DataTable.RowHighlighted) -> None:
        self._show_rule_detail()

    def _show_rule_detail(self) -> None:
        rule_id = self.selected_rule()
        doc = self.tui.workspace.docs.get(self.tui.current)
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

    @on(DataTable.RowSelected, "#rules-table")
    def _rule_selected(self, event: DataTable.RowSelected) -> None:
        self.tui.action_edit_rule()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "make-copy":
            self.tui.action_make_copy()
