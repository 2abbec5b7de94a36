"""A yes/no finding in a form, with its third state: not recorded."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.widgets import Checkbox


class YesNo(Checkbox):
    """A yes/no finding with three states: yes, no (recorded), or not recorded.

    Not recorded is not no: a rule reads it as "not yes", but the red-flag screen counts it
    as unanswered. Space, enter or a click go round not recorded -> yes -> no; y, n and
    delete set it directly. ``value`` is True for yes only, as a Checkbox's is.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer('yes')", "Yes", show=False),
        Binding("n", "answer('no')", "No", show=False),
        Binding("delete,backspace", "answer('none')", "Not recorded", show=False),
    ]
    DEFAULT_CSS = """
    YesNo.-no > .toggle--button {
        color: $text-error;
    }
    """
    said_no: reactive[bool] = reactive(False, init=False)

    def __init__(self, label: str, answer: bool | None = None, **kwargs: Any) -> None:
        super().__init__(label, answer is True, **kwargs)
        self.tooltip = "space: not recorded, yes, no (y / n / delete set it)"
        self.answer = answer

    @property
    def answer(self) -> bool | None:
        """True (yes), False (recorded no) or None (not recorded)."""
        if self.value:
            return True
        return False if self.said_no else None

    @answer.setter
    def answer(self, answer: bool | None) -> None:
        self.said_no = answer is False
        self.value = answer is True

    def on_mount(self) -> None:
        self._look()  # the watchers only run on a change: not recorded is the starting state

    def watch_value(self) -> None:
        if self.value:
            self.said_no = False
        super().watch_value()
        self._look()

    def watch_said_no(self) -> None:
        self._look()
        if not self.value:  # a no recorded or taken back changes the case as much as a yes does
            self.post_message(self.Changed(self, self.value))

    def _look(self) -> None:
        self.set_class(self.said_no, "-no")
        self.BUTTON_INNER = "✓" if self.value else "✗" if self.said_no else " "
        self.refresh()

    def toggle(self) -> YesNo:
        # not recorded -> yes -> no -> not recorded
        self.answer = True if self.answer is None else False if self.answer else None
        return self

    def action_answer(self, answer: str) -> None:
        self.answer = {"yes": True, "no": False}.get(answer)
