"""How a ruleset file's tables map onto the dataclasses of ``rules/model.py``.

Read from the dataclasses' annotations, once: which fields a table has,
which are required, and where the file's form differs from the dataclass:

- ``strings``: a list of text; the file may give a lone string for a list of one;
- ``pairs``: (key, value) pairs, written as a table of key -> value (``dose``, a golden
  case's ``findings``);
- ``tables`` / ``table``: nested tables (``[[rules]]``, ``expect``); ``keyed`` ones are a
  table of id -> item, the item without its id (``[findings.calf_pain]``).
"""

from __future__ import annotations

import dataclasses
import typing
from functools import cache
from typing import Annotated, Any, Literal

import msgspec

from calfrules.rules.model import ALWAYS_WRITTEN, KEYED_BY_ID, Ruleset

Form = Literal["value", "strings", "pairs", "tables", "table"]


class FieldForm(msgspec.Struct, frozen=True):
    name: str
    required: bool
    default: Any  # dataclasses.MISSING when it has none
    form: Form
    keyed: bool = False  # a table of id -> item
    always: bool = False  # written even when it holds its default
    table: TableForm | None = None  # the nested table, for "tables" and "table" (keyed: without its id)


class TableForm(msgspec.Struct, frozen=True, eq=False):  # eq=False: hashed by identity
    cls: type
    fields: dict[str, FieldForm]


@cache
def ruleset_form() -> TableForm:
    return _table(Ruleset, keyed=False)


def _table(cls: type, *, keyed: bool) -> TableForm:
    hints = typing.get_type_hints(cls, include_extras=True)
    fields: dict[str, FieldForm] = {}
    for field in dataclasses.fields(cls):
        # a field that does not take part in equality (Ruleset.source) is not content: not in the file
        if not field.compare or (keyed and field.name == "id"):
            continue
        extra: dict[str, Any] = {}
        described = _unwrap(hints[field.name], extra)
        default: Any = field.default
        factory: Any = field.default_factory
        if default is dataclasses.MISSING and factory is not dataclasses.MISSING:
            default = factory()
        form, nested = _form(described, keyed=bool(extra.get(KEYED_BY_ID)))
        fields[field.name] = FieldForm(
            name=field.name,
            required=default is dataclasses.MISSING,
            default=default,
            form=form,
            keyed=bool(extra.get(KEYED_BY_ID)),
            always=bool(extra.get(ALWAYS_WRITTEN)),
            table=nested,
        )
    return TableForm(cls, fields)


def _form(described: Any, *, keyed: bool) -> tuple[Form, TableForm | None]:
    if dataclasses.is_dataclass(described) and isinstance(described, type):
        return "table", _table(described, keyed=False)
    args = typing.get_args(described)
    if typing.get_origin(described) is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = _unwrap(args[0], {})
        if dataclasses.is_dataclass(item) and isinstance(item, type):
            return "tables", _table(item, keyed=keyed)
        if item is str:
            return "strings", None
        if typing.get_origin(item) is tuple and len(typing.get_args(item)) == 2:
            return "pairs", None
    return "value", None


def _unwrap(annotation: Any, extra: dict[str, Any]) -> Any:
    """The type inside ``Annotated[...]``, gathering its ``Meta(extra=...)`` into ``extra``."""
    while typing.get_origin(annotation) is Annotated:
        for meta in annotation.__metadata__:
            if isinstance(meta, msgspec.Meta) and meta.extra:
                extra.update(meta.extra)
        annotation = annotation.__origin__
    return annotation
