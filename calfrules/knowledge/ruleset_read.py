"""Read a ruleset from parsed TOML: strict, every field checked, errors say where.

The fields, their types and constraints are those of the dataclasses in ``rules/model.py``:
this module maps the file's form onto them (``ruleset_form.py``), lets msgspec check them,
words msgspec's problems for a ruleset author (file, rule, field, did-you-mean), then makes
the checks no type can say: a ``when`` that parses, a rule that does something, a sensible
number range, references that exist.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeGuard

from calfrules.knowledge.ruleset_form import FieldForm, TableForm, ruleset_form
from calfrules.rules import condition
from calfrules.rules.errors import ConditionError, RulesetError
from calfrules.rules.model import (
    DOSE_INVALID,
    ID_PATTERN,
    ConditionInfo,
    Expectation,
    FloorEntry,
    GoldenCase,
    Id,
    Recommendation,
    Reference,
    Rule,
    Ruleset,
    ScreenGroup,
)
from calfrules.rules.shapes import TOML_WORDS, ShapeError, convert, sentence, unknown_fields_text, value_words
from calfrules.rules.vocabulary import Coding, Finding

# How each table is named in a message; {id} is its id, {parent} the id of the table holding it.
_NAMES: dict[type, str] = {
    Ruleset: "ruleset",
    Reference: "reference",
    Finding: "finding {id}",
    Coding: "finding {parent} code",
    ConditionInfo: "condition {id}",
    Rule: "rule",
    Recommendation: "recommendation",
    FloorEntry: "floor entry",
    ScreenGroup: "screen group",
    GoldenCase: "test",
    Expectation: "test {parent} expect",
}
Path = tuple[str | int, ...]
_ID = re.compile(ID_PATTERN)


def ruleset_from_data(data: Mapping[str, Any], source: str = "") -> Ruleset:
    """Build a Ruleset from parsed TOML, validating every field."""
    if not isinstance(data, Mapping):
        raise RulesetError("ruleset must be a table", source=source)
    problems: list[tuple[Path, str]] = []
    shaped = _shaped(data, ruleset_form(), (), problems)
    if problems:
        path, message = problems[0]
        raise _error_at(shaped, path, message, source)
    try:
        ruleset = convert({**shaped, "source": source}, Ruleset)
    except ShapeError as exc:
        label = _place(shaped, exc.problem.path)[2]
        message = sentence(exc.problem, Ruleset, shaped, TOML_WORDS, label=label)
        raise _error_at(shaped, exc.problem.path, message, source) from None
    _check_meaning(ruleset)
    return ruleset


def _shaped(data: Mapping[str, Any], table: TableForm, path: Path, problems: list[tuple[Path, str]]) -> dict[str, Any]:
    """The file's table in the dataclass's form; unknown fields and misshapen tables noted in ``problems``."""
    known, special = _fields_to_reshape(table)
    if data.keys() - known:
        problems.append((path, _unknown_fields([str(key) for key in data.keys() - known], list(table.fields))))
    shaped = {key: value for key, value in data.items() if key in known}
    for key in [key for key in shaped if key in special]:  # in the file's order: the first problem is reported
        form, value, where = special[key], shaped[key], (*path, key)
        if form.form == "strings" and isinstance(value, str):
            shaped[key] = [value]
        elif form.form == "pairs" or form.keyed:
            if not isinstance(value, Mapping):
                problems.append((path, f"{key!r} must be a table, not {value_words(value, TOML_WORDS)}"))
            elif form.keyed and form.table is not None:
                items = enumerate(value.items())
                shaped[key] = [
                    _keyed_item(item_id, item, form.table, (*where, n), problems) for n, (item_id, item) in items
                ]
            else:
                shaped[key] = [[item_key, item] for item_key, item in value.items()]
        elif form.form == "tables" and form.table is not None and isinstance(value, list):
            shaped[key] = [
                _shaped(item, form.table, (*where, n), problems) if isinstance(item, Mapping) else item
                for n, item in enumerate(value)
            ]
        elif form.form == "table" and form.table is not None and isinstance(value, Mapping):
            shaped[key] = _shaped(value, form.table, where, problems)
    return shaped


@cache
def _fields_to_reshape(table: TableForm) -> tuple[frozenset[str], dict[str, FieldForm]]:
    """The table's field names, and the fields whose file form differs from the dataclass's."""
    return frozenset(table.fields), {name: f for name, f in table.fields.items() if f.form != "value" or f.keyed}


def _keyed_item(
    item_id: str, item: object, table: TableForm, path: Path, problems: list[tuple[Path, str]]
) -> dict[str, Any]:
    """An item of a table of id -> item, with its id put in (where the dataclass keeps it)."""
    if not isinstance(item, Mapping):
        problems.append((path, f"must be a table, not {value_words(item, TOML_WORDS)}"))
        return {"id": item_id}
    if "id" in item:
        problems.append((path, f"'id' is the key of this table ({item_id}): leave it out"))
    rest = {key: value for key, value in item.items() if key != "id"}
    return {"id": item_id, **_shaped(rest, table, path, problems)}


def _unknown_fields(unknown: list[str], known: list[str]) -> str:
    return unknown_fields_text(unknown, known)


def _place(data: Mapping[str, Any], path: Path) -> tuple[str, str | None, str | None]:
    """Where in the ruleset ``path`` leads: the name of the innermost table, the rule it is in,
    and, for a value in a table of key -> value (a dose), that key as the field's label."""
    table = ruleset_form()
    name, rule, label = "ruleset", None, None
    node: Any = data
    ident: object = None
    steps = list(path)
    while steps:
        step = steps.pop(0)
        form = table.fields.get(step) if isinstance(step, str) and isinstance(node, Mapping) else None
        if form is None:
            break
        node = node.get(step)
        index = steps[0] if steps and isinstance(steps[0], int) and isinstance(node, list) else None
        if index is None or index >= len(node):
            if form.form != "table":
                break
        elif form.form == "pairs":
            label = repr(node[index][0]) if isinstance(node[index], list) and node[index] else None
            break
        else:
            node = node[steps.pop(0)]
        if form.table is None or not isinstance(node, Mapping):
            break
        table, ident, parent = form.table, node.get("id"), ident
        name = _NAMES[table.cls].format(id=ident, parent=parent)
        if table.cls is Rule:
            rule = ident if isinstance(ident, str) else None
    return name, rule, label


def _error_at(data: Mapping[str, Any], path: Path, message: str, source: str) -> RulesetError:
    name, rule, _ = _place(data, path)
    return RulesetError(f"{name}: {message}", source=source, rule=rule)


# --- what no type can say -------------------------------------------------------------
def _check_meaning(ruleset: Ruleset) -> None:
    source = ruleset.source
    for finding in ruleset.findings:
        _check_finding(finding, source)
    for rule in ruleset.rules:
        _check_when(rule.when, "rule", source, rule.id)
        if not (rule.conclude or rule.derive or rule.escalate or rule.recommend):
            raise RulesetError(
                "rule: does nothing: give it conclude, derive, escalate or recommend", source=source, rule=rule.id
            )
        for rec in rule.recommend:
            for key, value in rec.dose:
                if not _is_dose(value):
                    raise RulesetError(
                        f"recommendation: {DOSE_INVALID.format(name=repr(key))}", source=source, rule=rule.id
                    )
    for entry in ruleset.floor:
        _check_when(entry.when, "floor entry", source)
    for group in ruleset.screen:
        _check_when(group.when, "screen group", source)
        if not group.ask:
            raise RulesetError(
                f"screen group: screen group {group.id} asks nothing: list the yes/no findings to ask in 'ask'",
                source=source,
            )
    _check_local_consistency(ruleset)


def _check_when(text: str, name: str, source: str, rule: str | None = None) -> None:
    try:
        condition.parse(text)
    except ConditionError as exc:
        pointer = exc.pointer().replace("\n", "\n  ")
        raise RulesetError(
            f"{name}: in 'when': {exc.message}\n  {pointer}", source=source, rule=rule, column=exc.column
        ) from None


def _check_finding(finding: Finding, source: str) -> None:
    def error(message: str) -> RulesetError:
        return RulesetError(f"finding {finding.id}: {message}", source=source)

    if not _ID.match(finding.id):  # the key of [findings.<id>]; Finding.id is plain text
        try:
            convert(finding.id, Id)
        except ShapeError as exc:
            raise error(sentence(exc.problem, Id, finding.id)) from None
    bounds = (finding.minimum, finding.maximum)
    if finding.type == "choice" and not finding.choices:
        raise error("a choice finding needs a list of choices")
    if finding.type != "number" and bounds != (None, None):
        raise error("only number findings take a minimum or maximum")
    if not all(bound is None or _is_finite(bound) for bound in bounds):
        raise error("minimum and maximum must be finite numbers of a sensible size")
    if finding.minimum is not None and finding.maximum is not None and finding.minimum > finding.maximum:
        raise error(f"minimum {finding.minimum} is above maximum {finding.maximum}: no value could be recorded")


def _is_dose(value: object) -> bool:
    if isinstance(value, tuple):
        return len(value) == 2 and all(_is_finite(v) for v in value) and 0 < value[0] <= value[1]
    return _is_finite(value) and value > 0


def _is_finite(value: object) -> TypeGuard[int | float]:
    """A number that is not NaN, not infinite, and fits a float (TOML integers may not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _check_local_consistency(ruleset: Ruleset) -> None:
    source = ruleset.source
    for kind, ids in (
        ("rule", [r.id for r in ruleset.rules]),
        ("test", [t.id for t in ruleset.tests]),
        ("floor entry", [f.id for f in ruleset.floor]),
        ("screen group", [g.id for g in ruleset.screen]),
        ("reference", [r.id for r in ruleset.references]),
    ):
        seen: set[str] = set()
        for item_id in ids:
            if item_id in seen:
                raise RulesetError(f"two {kind}s share the id {item_id!r}", source=source)
            seen.add(item_id)
    known_refs = {ref.id for ref in ruleset.references}
    for rule in ruleset.rules:
        cited = set(rule.references)
        for ref in rule.references:
            if ref not in known_refs:
                raise RulesetError(f"cites unknown reference {ref!r}", source=source, rule=rule.id)
        for rec in rule.recommend:
            for ref in rec.references:
                if ref not in known_refs:
                    raise RulesetError(
                        f"recommendation {rec.id} cites unknown reference {ref!r}", source=source, rule=rule.id
                    )
            if not (cited or rec.references):
                raise RulesetError(
                    f"recommendation {rec.id} has no source: add references to it or to the rule",
                    source=source,
                    rule=rule.id,
                )
    for entry in ruleset.floor:
        for ref in entry.references:
            if ref not in known_refs:
                raise RulesetError(f"floor entry {entry.id} cites unknown reference {ref!r}", source=source)
    for group in ruleset.screen:
        for ref in group.references:
            if ref not in known_refs:
                raise RulesetError(f"screen group {group.id} cites unknown reference {ref!r}", source=source)
