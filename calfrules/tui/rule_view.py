"""A rule in full, read only: its condition, what it does, its rationale, advice and sources, wrapped."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from calfrules.rules.model import Reference, Rule
from calfrules.tui.form_fields import dose_text


def rule_text(rule: Rule, references: dict[str, Reference], editable: bool) -> Text:
    text = Text()
    text.append(f"{rule.id}\n", style="bold")
    text.append("When: ", style="bold")
    text.append(f"{rule.when}\n")
    does = []
    if rule.escalate:
        does.append(f"raises the level to {rule.escalate.value}")
    if rule.conclude:
        does.append(f"concludes {rule.conclude}")
    if rule.derive:
        does.append(f"derives {', '.join(rule.derive)}")
    text.append("Does: ", style="bold")
    text.append(("; ".join(does) or "gives advice") + "\n")
    text.append("Why: ", style="bold")
    text.append(f"{rule.rationale}\n")
    if rule.description:
        text.append(f"{rule.description}\n")
    for n, rec in enumerate(rule.recommend, 1):
        text.append(f"\nAdvice {n} ({rec.kind}): ", style="bold")
        text.append(f"{rec.text}\n")
        if rec.dose:
            text.append(f"  dose: {dose_text(rec.dose)}\n")
        if rec.return_if:
            text.append(f"  come back if: {rec.return_if}\n")
        if rec.avoid_with:
            text.append(f"  not with: {', '.join(rec.avoid_with)}\n")
    cited = dict.fromkeys([*rule.references, *(r for rec in rule.recommend for r in rec.references)])
    if cited:
        text.append("\nSources\n", style="bold")
        for ref_id in cited:
            ref = references.get(ref_id)
            text.append(f"  [{ref_id}] {_citation(ref) if ref else '(not defined in this ruleset)'}\n")
    tip = "e: edit this rule" if editable else "read-only: press c on the main screen to make an editable copy"
    text.append(f"\n{tip}; Esc goes back.", style="dim")
    return text


def _citation(ref: Reference) -> str:
    return f"{ref.citation} {ref.url or ''}".strip()


class RuleView(Screen[None]):
    """Enter on a rule: every word of it, wrapped to the screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Back"),
        Binding("e", "edit", "Edit"),
        Binding("f1", "app.help", "Help"),
    ]

    def __init__(self, rule: Rule, references: dict[str, Reference], editable: bool) -> None:
        super().__init__()
        self.rule, self.references, self.editable = rule, references, editable

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="rule-view"):
            yield Static(rule_text(self.rule, self.references, self.editable), id="rule-view-text")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"rule {self.rule.id}"
        self.query_one("#rule-view", VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss()

    async def action_edit(self) -> None:
        self.dismiss()
        await self.app.run_action("app.edit_rule")
