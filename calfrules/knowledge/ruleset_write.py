"""Write a ruleset as TOML: lossless (load, dump, load gives an equal ruleset) and atomic."""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from typing import TYPE_CHECKING, Any

import tomli_w

from calfrules.files import atomic_write_text
from calfrules.knowledge.ruleset_form import FieldForm, TableForm, ruleset_form
from calfrules.rules.levels import Level
from calfrules.rules.model import Expectation, Rule, Ruleset
from calfrules.rules.vocabulary import Finding

if TYPE_CHECKING:
    from pathlib import Path


def ruleset_to_data(ruleset: Ruleset) -> dict[str, Any]:
    """The TOML-ready form: everything the ruleset holds, nothing more.

    Every field of the dataclasses in rules/model.py, in the file's form (ruleset_form.py),
    left out when it holds its default (unless marked always written). The output, and so
    ``content_hash``, is the same as the hand-written writer before it gave: audit trails
    compare these hashes.
    """
    return _table_data(ruleset, ruleset_form())


# Where the written order reads better than the dataclass's (and files saved before stay as they were).
_WRITTEN_FIRST: dict[type, tuple[str, ...]] = {Rule: ("id", "when", "description", "conclude", "derive", "escalate")}
_WRITTEN_LAST: dict[type, tuple[str, ...]] = {Expectation: ("screen_complete",)}


def _table_data(item: object, table: TableForm) -> dict[str, Any]:
    if isinstance(item, Finding):  # a finding says how it is written (rules/vocabulary.py)
        return _finding_data(item)
    data: dict[str, Any] = {}
    for form, optional in _written(table):
        value = getattr(item, form.name)  # not vars(): msgspec leaves defaults to the class
        if optional and value == form.default:
            continue
        data[form.name] = _value_data(value, form)
    return data


@cache
def _written(table: TableForm) -> tuple[tuple[FieldForm, bool], ...]:
    """The fields in the order they are written, each with whether it is left out at its default."""
    first, last = _WRITTEN_FIRST.get(table.cls, ()), _WRITTEN_LAST.get(table.cls, ())
    names = (*first, *(name for name in table.fields if name not in first + last), *last)
    return tuple((table.fields[name], not (table.fields[name].required or table.fields[name].always)) for name in names)


def _value_data(value: Any, form: FieldForm) -> Any:
    kind = form.form
    if kind == "value":
        return value.value if isinstance(value, Level) else value
    if kind == "strings":
        return list(value)
    if kind == "pairs":
        return {key: list(item) if isinstance(item, tuple) else item for key, item in value}
    assert form.table is not None
    if kind == "table":
        return _table_data(value, form.table)
    if form.keyed:
        return {item.id: _table_data(item, form.table) for item in value}  # the table leaves the id out
    return [_table_data(item, form.table) for item in value]


def _finding_data(finding: Finding) -> dict[str, Any]:
    data = finding.to_dict()
    del data["id"]
    if data.get("group") == "general":
        del data["group"]
    return data


def dumps(ruleset: Ruleset) -> str:
    return tomli_w.dumps(ruleset_to_data(ruleset))


def save(ruleset: Ruleset, path: str | os.PathLike[str], *, backup: bool = False) -> Path:
    """Write atomically: a crash mid-save leaves the old file whole."""
    from pathlib import Path  # here, not at the top: importing pathlib costs start-up 5-10 ms

    path = Path(path)
    text = dumps(ruleset)
    if backup and path.exists():
        atomic_write_text(path.with_suffix(path.suffix + ".bak"), path.read_text(encoding="utf-8"))
    atomic_write_text(path, text)
    return path


def content_hash(ruleset: Ruleset) -> str:
    canonical = json.dumps(ruleset_to_data(ruleset), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
