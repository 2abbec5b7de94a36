"""The rule form: condition with live validation and id completion, outcome, advice, sources."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Footer, Header, Input, Label, Select, Static

from calfrules.rules.levels import Level
from calfrules.rules.model import RECOMMENDATION_KINDS, ConditionInfo, Recommendation, Rule
from calfrules.tui.dialogs import ConfirmScreen
from calfrules.tui.form_fields import (
    FieldError,
    IdSuggester,
    WhenInput,
    dose_text,
    id_problem,
    ids_of,
    parse_dose,
    priority_problem,
)
from calfrules.tui.names import KnownNames, check_when, suggested_fix

NEW_ADVICE = -1
# (label, widget id, placeholder) of the fields of one piece of advice
ADVICE_FIELDS = (
    ("Advice id", "rec-id", "e.g. strain_ice"),
    ("Text the patient reads", "rec-text", "e.g. Ice the calf for 15-20 minutes."),
    ("Kind", "rec-kind", ""),
    ("Priority (lower comes first; default 50)", "rec-priority", "50"),
    ("Dose", "rec-dose", "e.g. sets=3, reps=25-30, times_per_week=2"),
    ("Come back if (optional)", "rec-return", "e.g. the pain gets worse"),
    ("References for this advice (optional; else the rule's)", "rec-references", ""),
    ("Not with (conditions, facts or red flags; optional)", "rec-avoid", "e.g. dvt"),
)


class RuleEditor(Screen[Rule | None]):
    """Edit one rule; dismisses with the new Rule once the app kept it, or None (cancelled)."""

    class RuleSaved(Message):
        """The user wants the rule on the form kept: the app keeps it and dismisses the
        editor with it, or calls ``show_error`` with what to fix."""

        def __init__(
            self, editor: RuleEditor, rule: Rule, replacing: str | None, condition: ConditionInfo | None
        ) -> None:
            super().__init__()
            self.editor = editor
            self.ruleset_id = editor.ruleset_id
            self.rule = rule
            self.replacing = replacing  # the id of the rule it replaces (None: a new rule)
            self.condition = condition  # a condition to declare with it

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "keep", "Keep rule", priority=True),
        Binding("escape", "cancel", "Cancel"),
        Binding("f1", "app.help", "Help"),
    ]

    def __init__(
        self,
        ruleset_id: str,
        rule: Rule | None,
        names: KnownNames,
        references: list[str],
    ) -> None:
        super().__init__()
        self.ruleset_id = ruleset_id
        self.rule = rule
        self.names = names
        self.references = references
        self.advice: list[Recommendation] = list(rule.recommend) if rule else []
        self.shown_advice = 0 if self.advice else NEW_ADVICE

    def compose(self) -> ComposeResult:
        rule = self.rule
        yield Header()
        with VerticalScroll(id="rule-form"):
            yield Static("", id="form-error")
            yield Label("Rule id")
            yield Input(
                compact=True, value=rule.id if rule else "", placeholder="e.g. calf_tight_at_night", id="rule-id"
            )
            yield Label("When (condition)  → accepts a suggested id")
            yield WhenInput(
                compact=True,
                value=rule.when if rule else "",
                placeholder="e.g. calf_pain and not swelling",
                suggester=IdSuggester(self.names),
                select_on_focus=False,
                id="rule-when",
            )
            yield Static("", id="when-status")
            yield Label("Concludes condition (optional)")
            yield Input(
                compact=True,
                value=rule.conclude or "" if rule else "",
                suggester=SuggestFromList(sorted(self.names.concluded)),
                id="rule-conclude",
            )
            yield Label("Name of the condition, only if it is new (declares it in this ruleset)")
            yield Input(compact=True, placeholder="e.g. Night-time calf tightness", id="rule-condition-label")
            yield Label("Derives facts (optional, comma separated)")
            yield Input(compact=True, value=", ".join(rule.derive) if rule else "", id="rule-derive")
            yield Label("Raises the level to (optional)")
            yield Select(
                [(f"{level.value}: {level.label}", level.value) for level in Level],
                compact=True,
                value=rule.escalate.value if rule and rule.escalate else Select.NULL,
                prompt="no escalation",
                id="rule-escalate",
            )
            yield Label("Rationale (why this rule exists, in plain words)")
            yield Input(compact=True, value=rule.rationale if rule else "", id="rule-rationale")
            yield Label(f"References (ids: {', '.join(self.references) or 'none defined'})")
            yield Input(compact=True, value=", ".join(rule.references) if rule else "", id="rule-references")
            yield Label("Advice this rule gives (a rule may give several)", classes="section")
            yield Select(
                self._advice_options(), value=self.shown_advice, allow_blank=False, compact=True, id="advice-pick"
            )
            for label, field_id, placeholder in ADVICE_FIELDS:
                yield Label(label)
                if field_id == "rec-kind":
                    kinds = [(k, k) for k in RECOMMENDATION_KINDS]
                    yield Select(kinds, value="self_care", allow_blank=False, compact=True, id="rec-kind")
                else:
                    yield Input(compact=True, placeholder=placeholder, id=field_id)
            with Horizontal(classes="buttons"):
                yield Button("Remove this advice", id="rec-remove")
                yield Button("Keep rule", id="keep", variant="primary")
                yield Button("Cancel", id="cancel")
        yield Footer()

    async def on_mount(self) -> None:
        self.sub_title = f"{self.ruleset_id}: {'edit rule ' + self.rule.id if self.rule else 'new rule'}"
        self._show_advice(self.shown_advice)
        for field in self.query(Input):
            field.select_on_focus = False  # the first key must never replace what is there
        self._initial = self._form_state()  # before any key: what was typed counts as a change
        self.query_one("#rule-id" if self.rule is None else "#rule-when", Input).focus()
        form = self.query_one("#rule-form", VerticalScroll)
        for field in list(form.query(Input)):  # each field says what is wrong with it right under it
            await form.mount(Static("", id=f"{field.id}-error", classes="field-error"), after=field)
        self._validate_when(self.query_one("#rule-when", Input).value)

    def _form_state(self) -> tuple[object, ...]:
        fields = tuple(field.value for field in self.query(Input))
        choices = tuple(select.value for select in self.query(Select) if select.id != "advice-pick")
        return (*fields, *choices, tuple(self.advice))

    def has_changes(self) -> bool:
        """Anything typed or chosen since the form opened."""
        return self._form_state() != getattr(self, "_initial", self._form_state())

    # --- live validation -----------------------------------------------------------
    def field_error(self, field_id: str, message: str | None) -> None:
        errors = self.query(f"#{field_id}-error")
        if errors:
            error = errors.first(Static)
            error.update(Text(f"✗ {message}") if message else "")
            error.set_class(bool(message), "-shown")

    @on(Input.Changed, "#rule-id")
    def _id_changed(self, event: Input.Changed) -> None:
        self.field_error("rule-id", id_problem(event.value.strip(), "rule") if event.value.strip() else None)

    @on(Input.Changed, "#rec-id")
    def _advice_id_changed(self, event: Input.Changed) -> None:
        value = event.value.strip()
        self.field_error("rec-id", id_problem(value, "advice") if value else None)

    @on(Input.Changed, "#rec-priority")
    def _priority_changed(self, event: Input.Changed) -> None:
        self.field_error("rec-priority", priority_problem(event.value.strip()))

    @on(Input.Changed, "#rec-dose")
    def _dose_changed(self, event: Input.Changed) -> None:
        try:
            parse_dose(event.value)
        except ValueError as exc:
            self.field_error("rec-dose", str(exc))
            return
        self.field_error("rec-dose", None)

    @on(Input.Changed, "#rule-when")
    def _when_changed(self, event: Input.Changed) -> None:
        self._validate_when(event.value)

    def _validate_when(self, text: str) -> bool:
        status = self.query_one("#when-status", Static)
        if not text.strip():
            status.update("write a condition, e.g. calf_pain and swelling")
            status.set_class(False, "ok")
            return False
        problem = check_when(text, self.names)
        when = self.query_one("#rule-when", WhenInput)
        when.fix = suggested_fix(text, problem)
        if problem is None:
            status.update("✓ condition is valid")
            status.set_class(True, "ok")
            return True
        caret = f"\n{' ' * ((problem.column or 1) - 1)}^" if problem.column else ""
        tip = f"\n→ or tab: change it to  {when.fix}" if when.fix else ""
        status.update(Text(f"✗ column {problem.column}: {problem.message}\n{text}{caret}{tip}"))
        status.set_class(False, "ok")
        return False

    # --- advice (a rule may give several) --------------------------------------------
    def _advice_options(self) -> list[tuple[str, int]]:
        options = [(f"advice {n + 1}: {rec.id}", n) for n, rec in enumerate(self.advice)]
        return [*options, ("+ new advice", NEW_ADVICE)]

    def _value(self, selector: str) -> str:
        return self.query_one(selector, Input).value.strip()

    def _show_advice(self, index: int) -> None:
        rec = self.advice[index] if index != NEW_ADVICE else None
        values = {
            "#rec-id": rec.id if rec else "",
            "#rec-text": rec.text if rec else "",
            "#rec-priority": str(rec.priority) if rec else "",
            "#rec-dose": dose_text(rec.dose) if rec else "",
            "#rec-return": rec.return_if or "" if rec else "",
            "#rec-references": ", ".join(rec.references) if rec else "",
            "#rec-avoid": ", ".join(rec.avoid_with) if rec else "",
        }
        for selector, value in values.items():
            self.query_one(selector, Input).value = value
        self.query_one("#rec-kind", Select).value = rec.kind if rec else "self_care"
        self.shown_advice = index

    def _read_advice(self) -> Recommendation | None:
        """The advice on the form, or None when its id and text are empty; raises ValueError."""
        rec_id, text = self._value("#rec-id"), self._value("#rec-text")
        if not rec_id and not text:
            return None
        if not text:
            raise FieldError("rec-text", "write the text the patient reads (or clear the advice id)")
        problem = id_problem(rec_id, "advice")
        if problem:
            raise FieldError("rec-id", problem)
        priority = self._value("#rec-priority")
        if priority_problem(priority):
            raise FieldError("rec-priority", priority_problem(priority) or "")
        try:
            dose = parse_dose(self._value("#rec-dose"))
        except ValueError as exc:
            raise FieldError("rec-dose", str(exc)) from None
        return Recommendation(
            id=rec_id,
            text=text,
            kind=str(self.query_one("#rec-kind", Select).value),
            priority=int(priority) if priority else 50,
            dose=dose,
            references=ids_of(self._value("#rec-references")),
            return_if=self._value("#rec-return") or None,
            avoid_with=ids_of(self._value("#rec-avoid")),
        )

    def _store_advice(self) -> None:
        rec = self._read_advice()
        if rec is None:
            return
        if self.shown_advice == NEW_ADVICE:
            self.advice.append(rec)
            self.shown_advice = len(self.advice) - 1
        else:
            self.advice[self.shown_advice] = rec

    def _refresh_picker(self) -> None:
        picker = self.query_one("#advice-pick", Select)
        with picker.prevent(Select.Changed):
            picker.set_options(self._advice_options())
            picker.value = self.shown_advice

    @on(Select.Changed, "#advice-pick")
    def _pick_advice(self, event: Select.Changed) -> None:
        if event.value == self.shown_advice or not isinstance(event.value, int):
            return
        try:
            self._store_advice()
        except FieldError as exc:
            self.show_error(str(exc), exc.field_id)
            return
        target = event.value
        self._refresh_picker()
        self._show_advice(target)
        self._refresh_picker()

    # --- buttons and keys --------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "keep":
            self.action_keep()
        elif event.button.id == "cancel":
            self.action_cancel()
        elif event.button.id == "rec-remove" and self.shown_advice != NEW_ADVICE:
            del self.advice[self.shown_advice]
            self._show_advice(0 if self.advice else NEW_ADVICE)
            self._refresh_picker()
        elif event.button.id == "rec-remove":
            self._show_advice(NEW_ADVICE)

    def show_error(self, message: str, field_id: str | None = None) -> None:
        """Say what to fix beside the field it is about, with that field focused (also why the app
        did not keep the rule); the form stays open."""
        self.query_one("#form-error", Static).update(Text(f"✗ {message}"))
        field = self.query(f"#{field_id}").first() if field_id and self.query(f"#{field_id}") else None
        if field is None:
            self.query_one("#rule-form", VerticalScroll).scroll_home(animate=False)
        else:
            self.field_error(field_id or "", message)
            field.focus(scroll_visible=False)
            shown = self.query(f"#{field_id}-error")
            self.call_after_refresh(  # the error line under the field, once it is laid out
                self.query_one("#rule-form", VerticalScroll).scroll_to_widget,
                shown.first() if shown else field,
                animate=False,
            )
        self.notify(message, severity="error", title="Rule not kept")

    def build_rule(self) -> Rule:
        """The rule on the form; raises FieldError saying what to fix, and where."""
        rule_id = self._value("#rule-id")
        if id_problem(rule_id, "rule"):
            raise FieldError("rule-id", id_problem(rule_id, "rule") or "")
        when = self._value("#rule-when")
        problem = check_when(when, self.names) if when else None
        if not when:
            raise FieldError("rule-when", "write when the rule applies, e.g. calf_pain and swelling")
        if problem is not None:
            raise FieldError("rule-when", f"when: column {problem.column}: {problem.message}")
        self._store_advice()
        escalate: Any = self.query_one("#rule-escalate", Select).value
        rationale = self._value("#rule-rationale")
        if not rationale:
            raise FieldError("rule-rationale", "write why this rule exists, in plain words")
        does = self._value("#rule-conclude") or self._value("#rule-derive") or isinstance(escalate, str) or self.advice
        if not does:
            raise FieldError(
                "rule-conclude",
                "this rule does nothing yet: fill in 'Concludes condition', 'Derives facts' or "
                "'Raises the level to', or give it advice below",
            )
        return Rule(
            id=rule_id,
            when=when,
            rationale=rationale,
            references=ids_of(self._value("#rule-references")),
            conclude=self._value("#rule-conclude") or None,
            derive=ids_of(self._value("#rule-derive")),
            escalate=Level(escalate) if isinstance(escalate, str) else None,
            recommend=tuple(self.advice),
            description=self.rule.description if self.rule else "",
        )

    def new_condition(self, rule: Rule) -> ConditionInfo | None:
        """The condition to declare with this rule, when it concludes one no ruleset declares."""
        if not rule.conclude or rule.conclude in self.names.conditions:
            return None
        label = self._value("#rule-condition-label")
        if not label:
            raise FieldError(
                "rule-condition-label",
                f"{rule.conclude!r} is not a known condition: check the spelling, or name it here to declare it",
            )
        return ConditionInfo(id=rule.conclude, label=label)

    def action_keep(self) -> None:
        try:
            rule = self.build_rule()
            condition = self.new_condition(rule)
        except FieldError as exc:
            self.show_error(str(exc), exc.field_id)
            return
        self.post_message(self.RuleSaved(self, rule, self.rule.id if self.rule else None, condition))

    def action_cancel(self) -> None:
        if not self.has_changes():
            self.dismiss(None)
            return

        def answered(drop: bool | None) -> None:
            if drop:
                self.dismiss(None)

        self.app.push_screen(ConfirmScreen("Drop your changes to this rule?", "Drop changes", "Keep editing"), answered)
