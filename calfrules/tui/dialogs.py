"""Small modal screens: help, confirm, a one-line prompt, save-as-golden."""

from __future__ import annotations

import re
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Markdown, Select, Static

HELP_TEXT = """\
# calfrules admin: help

**Rulesets** (left list). `✎` editable file, `🔒` shipped by a plugin (read-only).
After the name: `✓` golden cases pass, `✗` something fails, `●` unsaved edits.

| key | what |
|---|---|
| **c** | make an editable copy of a plugin's ruleset |
| **enter** | show the highlighted rule in full (edit it, when the ruleset is editable) |
| **n** / **e** / **d** / **x** | new, edit, duplicate, delete a rule (**x** on a golden case deletes it) |
| **ctrl+z** | undo the last edit or deletion (several steps back) |
| **ctrl+b** | show or fold the ruleset list (folded below 100 columns) |
| **t** | test a case (case form, assessment, explanation, *why not?*) |
| **g** | run this ruleset's golden cases |
| **k** | run the safety gate now (it also runs before every save) |
| **ctrl+s** | save: shows the diff, the impact on golden cases and the safety gate first |
| **ctrl+p** | command palette: every action, searchable |
| **F2**-**F5** | in the case tester: Case, Assessment, Explanation, Why not? tabs |
| **ctrl+r** / **ctrl+g** / **ctrl+f** | in the case tester: run, save as golden case, search findings |
| **F1** or **?** | this help; **q** quit (asks first if anything is unsaved) |

**Editing a rule.** The *when* box checks as you type and points at the column of a
problem; **→** at the end of the line, or **tab**, accepts the suggested fix or id. Every
box says what is wrong right under it. *Keep rule* keeps it in memory; nothing reaches the
file until you save. **Esc** asks before dropping what you typed.

**Saving.** A save is refused when the safety gate finds a case where adding a red-flag
finding *lowers* the level. The counter-example is shown and can be opened in the case
tester. Failing golden cases ask first. A file someone else changed is never overwritten:
both changes are shown, then merge or reload. Every save is atomic and keeps the previous
file as a numbered backup (`<file>.~1~`, the five newest).

Mouse: click tabs, rows and buttons. Keyboard: **tab** moves between fields.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            with VerticalScroll():
                yield Markdown(HELP_TEXT)
            yield Button("Close", id="close", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss()

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss()


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, yes: str = "Yes", no: str = "Cancel") -> None:
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.question, id="question")
            with Horizontal(classes="buttons"):
                yield Button(self.yes, id="yes", variant="error")
                yield Button(self.no, id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # Enter alone never discards or deletes

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_cancel(self) -> None:
        self.dismiss(False)


class MessageScreen(ModalScreen[None]):
    """Something the user must read before going on (a file that did not load)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Close")]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.title_text, self.message = title, message

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Label(self.title_text, classes="section")
            with VerticalScroll():
                yield Static(self.message, id="message", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("I understand", id="ok", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss()

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss()


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line of text (a folder, an id)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, value: str = "", ok: str = "OK") -> None:
        super().__init__()
        self.question, self.value, self.ok = question, value, ok

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.question)
            yield Input(self.value, id="answer")
            with Horizontal(classes="buttons"):
                yield Button(self.ok, id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self.dismiss(self.query_one("#answer", Input).value.strip() or None)
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class GoldenPrompt(ModalScreen[tuple[str, str, str] | None]):
    """Save the case on screen as a golden case: which ruleset, which id, a description."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, rulesets: list[str], chosen: str | None, expected: str, suggested_id: str) -> None:
        super().__init__()
        self.rulesets, self.chosen, self.expected, self.suggested_id = rulesets, chosen, expected, suggested_id

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Label("Save this case as a golden case")
            yield Label(f"Expected outcome (what the engine says now): {self.expected}", id="expected")
            yield Label("Ruleset it belongs to")
            yield Select(
                [(r, r) for r in self.rulesets],
                value=self.chosen if self.chosen in self.rulesets else self.rulesets[0],
                allow_blank=False,
                id="golden-ruleset",
            )
            yield Label("Id of the golden case (lower-case letters, digits and _)")
            yield Input(
                self.suggested_id, placeholder="e.g. tight_calf_at_night", id="golden-id", select_on_focus=False
            )
            yield Static("", id="golden-id-error", classes="field-error")
            yield Label("What the case is about (optional)")
            yield Input(placeholder="e.g. runner, day 2 after a calf pull", id="golden-description")
            with Horizontal(classes="buttons"):
                yield Button("Add golden case", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#golden-id", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._answer()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "ok":
            self.dismiss(None)
            return
        self._answer()

    def _answer(self) -> None:
        ruleset = self.query_one("#golden-ruleset", Select).value
        test_id = self.query_one("#golden-id", Input).value.strip()
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,59}", test_id):
            error = self.query_one("#golden-id-error", Static)
            error.update("✗ the id starts with a letter and holds only lower-case letters, digits and _ (60 at most)")
            error.add_class("-shown")
            self.query_one("#golden-id", Input).focus()
            return
        description = self.query_one("#golden-description", Input).value.strip()
        self.dismiss((str(ruleset), test_id, description))

    def action_cancel(self) -> None:
        self.dismiss(None)
