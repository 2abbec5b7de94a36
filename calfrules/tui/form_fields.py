"""The forms' fields: what each accepts, checked as it is typed, the condition box, a case's finding rows."""

from __future__ import annotations

import re
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.suggester import Suggester
from textual.widgets import Input, Label, Select

from calfrules.rules.model import DOSE_FIELDS, DoseValue
from calfrules.rules.numbers import format_number
from calfrules.rules.vocabulary import Finding, Value, Vocabulary
from calfrules.tui.names import KnownNames
from calfrules.tui.yes_no import YesNo

MAX_ID = 60  # characters of a rule or advice id: long enough for any name, short enough for a table
_ID_CHARS = re.compile(r"[a-z][a-z0-9_]*")


class FieldError(ValueError):
    """What is wrong with one field of the form, in the form's words."""

    def __init__(self, field_id: str, message: str) -> None:
        super().__init__(message)
        self.field_id = field_id


def id_problem(value: str, what: str) -> str | None:
    """Why ``value`` cannot be an id (None: it can)."""
    if not value:
        return f"give the {what} an id, e.g. calf_tight_at_night"
    if len(value) > MAX_ID:
        return f"the {what} id is {len(value)} characters long; keep it to {MAX_ID}"
    if not _ID_CHARS.fullmatch(value):
        return f"the {what} id may hold only lower-case letters, digits and _, and starts with a letter"
    return None


def priority_problem(value: str) -> str | None:
    if not value:
        return None
    if not value.isdigit() or not 0 <= int(value) <= 1000:
        return "priority is a whole number from 0 to 1000 (lower comes first)"
    return None


class IdSuggester(Suggester):
    """Completes the finding, condition or fact id being typed (accept with the right arrow)."""

    def __init__(self, names: KnownNames) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.names = names

    async def get_suggestion(self, value: str) -> str | None:
        return self.names.complete(value)


class WhenInput(Input):
    """The condition box: → (at the end) or tab also accept the "did you mean" fix shown under it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("tab", "accept_fix", "Accept fix", show=False)]

    fix: str | None = None  # the condition with the misspelt id corrected (set by the form)

    def action_cursor_right(self, select: bool = False) -> None:
        if not select and self.cursor_at_end and self.fix:  # the fix shown under the box comes first
            self.value, self.fix = self.fix, None
            self.cursor_position = len(self.value)
            return
        super().action_cursor_right(select)

    def action_accept_fix(self) -> None:
        if self.fix:
            self.value, self.fix = self.fix, None
            self.cursor_position = len(self.value)
        else:
            self.screen.focus_next()


def parse_dose(text: str) -> tuple[tuple[str, DoseValue], ...]:
    """``weeks=2, reps=25-30`` -> dose pairs; raises ValueError saying what to fix."""
    pairs: list[tuple[str, DoseValue]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in DOSE_FIELDS:
            raise ValueError(f"write the dose as what=amount, what being one of {', '.join(DOSE_FIELDS)}")
        low, dash, high = value.strip().partition("-")
        try:
            amount = (float(low), float(high)) if dash else _number(float(low))
        except ValueError:
            raise ValueError(f"{key}: {value.strip()!r} is not a number or a range like 25-30") from None
        numbers = amount if isinstance(amount, tuple) else (amount,)
        if any(n <= 0 for n in numbers) or (isinstance(amount, tuple) and amount[0] > amount[1]):
            raise ValueError(f"{key}: amounts are above 0, and a range goes from low to high (25-30)")
        pairs.append((key, amount))
    return tuple(pairs)


def _number(value: float) -> DoseValue:
    return int(value) if value.is_integer() else value


def dose_text(dose: tuple[tuple[str, DoseValue], ...]) -> str:
    shown = (
        f"{k}={format_number(v[0])}-{format_number(v[1])}" if isinstance(v, tuple) else f"{k}={format_number(v)}"
        for k, v in dose
    )
    return ", ".join(shown)


def ids_of(text: str) -> tuple[str, ...]:
    return tuple(filter(None, (p.strip() for p in text.replace(" ", ",").split(","))))


def shown(value: Value) -> str:
    """A finding's value as the case form shows it."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def finding_row(finding: Finding, value: Value | None) -> Horizontal:
    """One finding of the case form (``#row-<id>``) with its field (``#f-<id>``), holding ``value``."""
    classes = f"finding-row group-{finding.group}"
    if finding.type == "bool":
        answer = value if isinstance(value, bool) else None
        field = YesNo(f"{finding.label} ({finding.id})", answer, compact=True, id=f"f-{finding.id}")
        return Horizontal(field, classes=classes, id=f"row-{finding.id}")
    label = Label(f"{finding.label} ({finding.id})", classes="finding-label")
    entry: Input | Select[str]
    if finding.type == "number":
        entry = Input(
            "" if value is None else shown(value),
            placeholder=finding.range_text(),
            type="number",
            compact=True,
            id=f"f-{finding.id}",
            classes="finding-number",
        )
    else:
        entry = Select(
            [(c, c) for c in finding.choices],
            value=value if isinstance(value, str) else Select.NULL,
            compact=True,
            id=f"f-{finding.id}",
            classes="finding-choice",
        )
    return Horizontal(label, entry, classes=classes, id=f"row-{finding.id}")


def row_home(vocabulary: Vocabulary, finding_id: str, asked_first: list[str]) -> str:
    """The widget id a finding's row goes back after when it leaves the top of the form: the nearest
    earlier row of its group that is not asked first, else the group's title."""
    group = vocabulary[finding_id].group
    before = f"group-{group}"
    for finding in vocabulary:
        if finding.id == finding_id:
            break
        if finding.group == group and finding.id not in asked_first:
            before = f"row-{finding.id}"
    return before
