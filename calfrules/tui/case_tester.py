"""Test a case: a form built from the vocabulary, the assessment, its explanation, and "why not?"."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar, cast

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.reactive import var
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import (
    Button,
    Footer,
    Header,
    Input,
    Label,
    Select,
    Static,
    TabbedContent,
    TabPane,
    Tree,
)

from calfrules.engine.assessment import Assessment
from calfrules.engine.engine import Engine
from calfrules.engine.screening import evaluate_screen
from calfrules.engine.why_not import CaseFacts, why_not
from calfrules.rules.errors import CaseError
from calfrules.rules.vocabulary import Value
from calfrules.tui.case_words import number_problem, screen_title, why_not_words
from calfrules.tui.explanation import assessment_text, fill_explanation
from calfrules.tui.form_fields import finding_row, row_home, shown
from calfrules.tui.workspace import Workspace
from calfrules.tui.yes_no import YesNo


class CaseTester(Screen[None]):
    """The case form and what the engine makes of it; the app binds ``engine`` to its own."""

    class GoldenRequested(Message):
        """The user wants the case on screen, as assessed, kept as a golden case."""

        def __init__(self, assessment: Assessment) -> None:
            super().__init__()
            self.assessment = assessment

    class CaseLeft(Message):
        """The user left the case tester: the app keeps the case for the next time it opens."""

        def __init__(self, findings: dict[str, Value]) -> None:
            super().__init__()
            self.findings = findings

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "run_case", "Run", priority=True),
        Binding("ctrl+g", "save_golden", "Save golden", priority=True),
        Binding("ctrl+f", "search", "Search", priority=True),
        Binding("ctrl+l", "clear_case", "Clear", show=False),
        Binding("f2", "tab('tab-case', '#finding-search')", "Case", show=False),
        Binding("f3", "tab('tab-assessment', '#assessment-scroll')", "Assessment", show=False),
        Binding("f4", "tab('tab-explain', '#explain-tree')", "Explanation", show=False),
        Binding("f5", "tab('tab-whynot', '#whynot-rule')", "Why not?", show=False),
        Binding("escape", "close", "Back"),
        Binding("f1", "app.help", "Help"),
    ]

    engine: var[Engine | None] = var(None)  # None while the first engine is still loading

    def __init__(
        self,
        engine: Engine | None,
        workspace: Workspace,
        findings: Mapping[str, Value] | None = None,
        title: str = "Test a case",
        why_not: tuple[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.set_reactive(CaseTester.engine, engine)
        self.workspace = workspace  # read only: the rules "why not?" can explain
        self.initial = dict(findings or {})
        self.title_text = title
        self.why_not_first = why_not  # (ruleset id, rule id) to explain on opening
        self.assessment: Assessment | None = None
        self._first: list[str] = []  # the red-flag questions now at the top of the form, in order

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="case-tabs"):
            with TabPane("Case", id="tab-case"):
                with Horizontal(classes="toolbar"):
                    yield Input(placeholder="search findings (id, words of the question)", id="finding-search")
                    yield Button("Run", id="run-case", variant="primary")
                yield Static("Nothing recorded yet.", id="recorded")
                # not focusable itself, so tab goes straight from field to field
                with VerticalScroll(id="finding-form", can_focus=False):
                    yield from self._finding_rows()
            with TabPane("Assessment", id="tab-assessment"), VerticalScroll(id="assessment-scroll"):
                yield Static("Run the case (ctrl+r) to see the assessment.", id="assessment-text")
            with TabPane("Explanation", id="tab-explain"):
                yield Tree("Run the case first", id="explain-tree")
            with TabPane("Why not?", id="tab-whynot"):
                yield Select(self._rule_options(), prompt="choose a rule", id="whynot-rule")
                with VerticalScroll(id="whynot-scroll"):
                    yield Static("Choose a rule to see which parts of its condition this case meets.", id="whynot-text")
        yield Footer()

    def _finding_rows(self) -> ComposeResult:
        engine = self.engine
        if engine is None:
            yield Label("the engine is still loading; close and open the case tester again")
            return
        yield Label("", classes="screen-title", id="screen-title")
        group = None
        for finding in engine.vocabulary:
            if finding.group != group:
                group = finding.group
                yield Label(group.replace("_", " ").upper(), classes="group-title", id=f"group-{group}")
            yield finding_row(finding, self.initial.get(finding.id))

    def _rule_options(self) -> list[tuple[str, tuple[str, str]]]:
        options = []
        for doc in self.workspace.docs.values():
            for rule in doc.ruleset.rules:
                options.append((f"{doc.id}: {rule.id}", (doc.id, rule.id)))
        return options

    def on_mount(self) -> None:
        self.sub_title = self.title_text
        # keyboard users run with ctrl+r; tab goes from the search box to the findings
        self.query_one("#run-case", Button).can_focus = False
        self.query_one("#finding-search", Input).focus()
        self.show_recorded()
        if self.initial:
            self.action_run_case()
        if self.why_not_first is not None:
            self.call_after_refresh(self.show_why_not, *self.why_not_first)

    # --- the case ----------------------------------------------------------------------
    def findings(self) -> dict[str, Any]:
        """What the form holds: yes/no answers (yes or a recorded no), filled numbers, chosen choices."""
        engine = self.engine
        found: dict[str, Any] = {}
        if engine is None:
            return found
        for finding in engine.vocabulary:
            widgets = self.query(f"#f-{finding.id}")
            if not widgets:
                continue
            widget = widgets.first()
            if isinstance(widget, YesNo):
                if widget.answer is not None:
                    found[finding.id] = widget.answer
            elif isinstance(widget, Input) and widget.value.strip():
                try:
                    found[finding.id] = float(widget.value)
                except ValueError:
                    found[finding.id] = widget.value  # the engine says what is wrong with it
            elif isinstance(widget, Select) and isinstance(widget.value, str):
                found[finding.id] = widget.value
        return found

    @on(YesNo.Changed)
    @on(Select.Changed, ".finding-choice")
    def _recorded_changed(self) -> None:
        self.show_recorded()

    @on(Input.Changed, ".finding-number")
    def _number_changed(self, event: Input.Changed) -> None:
        """A number is checked against its range as it is typed, the problem said beside it."""
        engine = self.engine
        finding_id = (event.input.id or "").removeprefix("f-")
        if engine is None or finding_id not in engine.vocabulary:
            return
        problem = number_problem(event.value, engine.vocabulary[finding_id])
        event.input.set_class(problem is not None, "-invalid")
        event.input.tooltip = problem
        label = self.query_one(f"#row-{finding_id} .finding-label", Label)
        finding = engine.vocabulary[finding_id]
        label.update(
            Text(f"{finding.label} ({finding.id})") + (Text(f"  ✗ {problem}", style="bold red") if problem else Text())
        )
        self.show_recorded()

    def show_recorded(self) -> None:
        """The running list of what the case records, by label: what the engine will be given."""
        engine = self.engine
        found = self.findings()
        self._ask_first(found)
        if engine is None or not found:
            self.query_one("#recorded", Static).update("Nothing recorded yet.")
            return
        words = [f"{engine.vocabulary[n].label}: {shown(v)}" for n, v in found.items() if n in engine.vocabulary]
        text = Text(f"Recorded ({len(words)}): ", style="bold")
        text.append("; ".join(words), style="")
        self.query_one("#recorded", Static).update(text)

    # --- the red-flag screen, asked first -----------------------------------------------------
    def _ask_first(self, found: dict[str, Any]) -> None:
        """The screen's unanswered questions for the case's group(s), as the engine counts them, go to the
        top of the form; the question being answered stays put until the focus leaves it."""
        engine = self.engine
        titles = self.query("#screen-title")
        if engine is None or not titles:
            return
        try:
            given = engine.parse_case({"findings": found}).findings
        except CaseError:  # an empty case, or a bad number (flagged beside it): the answers still count
            given = {name: value for name, value in found.items() if isinstance(value, bool)}
        screen = evaluate_screen(engine.program.screen, given, engine.screen)
        focused = self.focused
        held = focused.id.removeprefix("f-") if isinstance(focused, YesNo) and focused.id else None
        unanswered = set(screen.unanswered)
        first = [
            q.id
            for q in screen.questions
            if (q.id in unanswered and q.id != held) or (q.id == held and held in self._first)
        ]
        titles.first(Label).update(screen_title(screen))
        form = self.query_one("#finding-form", VerticalScroll)
        for finding in engine.vocabulary:  # in vocabulary order, so each row's home is already back
            if finding.id in self._first and finding.id not in first:
                self._move(form, finding.id, self._home(finding.id, first), asked_first=False)
        after: Widget = titles.first()
        for question in first:
            after = self._move(form, question, after, asked_first=True) or after
        self._first = first
        self._show_screen_title()

    def _home(self, finding_id: str, first: list[str]) -> Widget | None:
        assert self.engine is not None
        found = self.query(f"#{row_home(self.engine.vocabulary, finding_id, first)}")
        return found.first() if found else None

    def _move(self, form: VerticalScroll, finding_id: str, after: Widget | None, asked_first: bool) -> Widget | None:
        rows = self.query(f"#row-{finding_id}")
        if not rows or after is None:
            return None  # a finding the engine gained after the form was built
        row = rows.first()
        row.set_class(asked_first, "-ask-first")
        if form.children.index(row) != form.children.index(after) + 1:
            form.move_child(row, after=after)
        return row

    def _show_screen_title(self) -> None:
        shown_rows = (self.query_one(f"#row-{q}").display for q in self._first)
        self.query_one("#screen-title").display = any(shown_rows)

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        if isinstance(event.widget, YesNo):  # a question answered at the top leaves it with the focus
            self._ask_first(self.findings())

    @on(Input.Changed, "#finding-search")
    def _filter(self, event: Input.Changed) -> None:
        words = event.value.lower().split()
        engine = self.engine
        if engine is None:
            return
        visible_groups: set[str] = set()
        for finding in engine.vocabulary:
            haystack = f"{finding.id} {finding.label} {finding.question} {finding.group}".lower()
            show = all(word in haystack for word in words)
            self.query_one(f"#row-{finding.id}").display = show
            if show:
                visible_groups.add(finding.group)
        for title in self.query(".group-title"):
            title.display = (title.id or "").removeprefix("group-") in visible_groups
        self._show_screen_title()

    @on(Input.Submitted, "#finding-search")
    def _to_first_match(self, event: Input.Submitted) -> None:
        for row in self.query(".finding-row"):
            if row.display:
                row.children[-1].focus()
                return

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "run-case":
            self.action_run_case()

    def action_run_case(self) -> None:
        engine = self.engine
        if engine is None:
            self.notify("The engine is still loading; try again in a moment.", severity="warning")
            return
        for field in self.query(".finding-number.-invalid"):
            field.focus()
            self.notify(f"Fix this number first: {field.tooltip}", severity="error", title="Case not run")
            return
        self._assess(engine, self.findings())

    @work(thread=True, exclusive=True, group="assess")
    def _assess(self, engine: Engine, findings: dict[str, Any]) -> None:
        started = time.perf_counter()
        try:
            assessment = engine.assess({"findings": findings})
        except CaseError as exc:
            self.app.call_from_thread(self._show_error, str(exc))
            return
        except Exception as exc:  # the engine failed outside its own fail-safe: say so, keep every edit
            self.app.call_from_thread(self._show_error, f"the rule engine failed: {type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._show_assessment, assessment, time.perf_counter() - started)

    def action_tab(self, pane: str, focus: str) -> None:
        self._show_tab(pane, focus)

    def _show_tab(self, pane: str, focus: str) -> None:
        # move the focus too: a focused widget left on a hidden pane would pull its tab back
        self.query_one("#case-tabs", TabbedContent).active = pane
        self.query_one(focus).focus()

    def _show_error(self, message: str) -> None:
        self.query_one("#assessment-text", Static).update(Text(f"Cannot assess this case: {message}", style="bold red"))
        self._show_tab("tab-assessment", "#assessment-scroll")
        self.notify(message, severity="error", title="Case not assessed")

    def _show_assessment(self, assessment: Assessment, seconds: float) -> None:
        self.assessment = assessment
        vocabulary = self.engine.vocabulary if self.engine is not None else None
        self.query_one("#assessment-text", Static).update(assessment_text(assessment, vocabulary))
        fill_explanation(self.query_one("#explain-tree", Tree), assessment)
        if self.query_one("#case-tabs", TabbedContent).active == "tab-case":
            self._show_tab("tab-assessment", "#assessment-scroll")
        self.sub_title = f"{self.title_text}: {assessment.level.value}"
        self.log(f"assessed in {seconds * 1000:.0f} ms")
        if not assessment.complete:
            self.notify("; ".join(assessment.incomplete_reasons), severity="error", title="Assessment incomplete")
        self._update_why_not()

    # --- why not? -------------------------------------------------------------------------
    @on(Select.Changed, "#whynot-rule")
    def _rule_chosen(self, event: Select.Changed) -> None:
        self._update_why_not()

    def _update_why_not(self) -> None:
        chosen = self.query_one("#whynot-rule", Select).value
        out = self.query_one("#whynot-text", Static)
        if not isinstance(chosen, tuple):
            return
        if self.assessment is None:
            out.update("Run the case first (ctrl+r).")
            return
        ruleset_id, rule_id = chosen
        rule = self.workspace.doc(ruleset_id).ruleset.rule(rule_id)
        if rule is None:
            out.update(f"rule {rule_id} no longer exists")
            return
        engine = self.engine
        facts = (
            CaseFacts.from_assessment(
                self.assessment, (f.id for f in engine.vocabulary), engine.registry.derivers.keys()
            )
            if engine is not None
            else CaseFacts.from_assessment(self.assessment)
        )
        out.update(Text("\n".join([f"when {rule.when}", "", *why_not_words(why_not(rule, facts))])))

    def show_why_not(self, ruleset_id: str, rule_id: str) -> None:
        self.query_one("#whynot-rule", Select).value = (ruleset_id, rule_id)
        self._show_tab("tab-whynot", "#whynot-rule")
        self._update_why_not()

    # --- golden cases -------------------------------------------------------------------
    def action_save_golden(self) -> None:
        if self.assessment is None:
            self.notify("Run the case first (ctrl+r).", severity="warning")
            return
        self.post_message(self.GoldenRequested(self.assessment))

    def action_search(self) -> None:
        self.query_one("#case-tabs", TabbedContent).active = "tab-case"
        search = self.query_one("#finding-search", Input)
        search.focus()
        search.select_all()

    def action_clear_case(self) -> None:
        for box in self.query(YesNo):
            box.answer = None
        for field in self.query(".finding-number"):
            cast(Input, field).value = ""

    def action_close(self) -> None:
        self.app.post_message(self.CaseLeft(self.findings()))
        self.dismiss()
