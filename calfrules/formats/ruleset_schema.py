"""The JSON Schema of a ruleset TOML file, generated from the one description of a ruleset.

The dataclasses of ``rules/model.py`` hold the fields, types and constraints; ``ruleset_form``
says where the file's form differs from them (tables of id -> item, tables of key -> value,
a lone string for a list of one). msgspec writes each field's type; this module lays those
out as the file has them, so an editor that reads JSON Schema for TOML (Taplo, VS Code's
Even Better TOML) completes and checks a ruleset as it is typed, and ``jsonschema`` over
``tomllib.load(...)`` accepts exactly the layout ``calfrules check`` reads.
"""

from __future__ import annotations

import inspect
import typing
from typing import Any

import msgspec

from calfrules.knowledge.ruleset_form import FieldForm, TableForm, ruleset_form

JsonSchema = dict[str, Any]
DEFS = "#/$defs/{name}"
ID_KEYS = "^[a-z][a-z0-9_]*$"  # the keys of [findings.<id>] and [conditions.<id>]
# TOML has no null: an optional field is one left out
_NULL = {"type": "null"}
# a golden case's finding value: yes/no, a number or a choice
_FINDING_VALUE: JsonSchema = {"type": ["boolean", "number", "string"]}


def ruleset_schema() -> JsonSchema:
    """The document ``calfrules schema ruleset`` prints (draft 2020-12)."""
    defs: JsonSchema = {}
    root = _table(ruleset_form(), defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:calfrules:schema:ruleset",
        **root,
        "title": "Ruleset",
        "description": "A calfrules ruleset file (TOML): findings, conditions, rules with cited advice, "
        "red-flag floor entries, screen groups and golden cases. Unknown fields are errors.",
        "$defs": dict(sorted(defs.items())),
    }


def _table(table: TableForm, defs: JsonSchema) -> JsonSchema:
    hints = typing.get_type_hints(table.cls, include_extras=True)
    properties = {name: _field(form, hints[name], defs) for name, form in table.fields.items()}
    body: JsonSchema = {"type": "object", "properties": properties, "additionalProperties": False}
    required = [name for name, form in table.fields.items() if form.required]
    if required:
        body["required"] = required
    doc = inspect.getdoc(table.cls) or ""
    if doc and not doc.startswith(f"{table.cls.__name__}("):  # not the dataclass's generated signature
        body["description"] = " ".join(doc.split("\n\n", 1)[0].split()).replace("``", "`")
    return body


def _named(table: TableForm, defs: JsonSchema, *, keyed: bool) -> JsonSchema:
    """A nested table as a $def of its own (keyed ones without their id: the key is the id)."""
    name = table.cls.__name__ + ("Entry" if keyed else "")
    if name not in defs:
        defs[name] = {}  # placeholder: a table may (one day) hold itself
        defs[name] = {"title": name, **_table(table, defs)}
    return {"$ref": DEFS.format(name=name)}


def _field(form: FieldForm, hint: Any, defs: JsonSchema) -> JsonSchema:
    if form.form == "table" and form.table is not None:
        schema = _named(form.table, defs, keyed=False)
    elif form.form == "tables" and form.table is not None:
        item = _named(form.table, defs, keyed=form.keyed)
        if form.keyed:
            schema = {"type": "object", "propertyNames": {"pattern": ID_KEYS}, "additionalProperties": item}
        else:
            schema = {"type": "array", "items": item}
    elif form.form == "pairs":
        key, value = typing.get_args(_item_type(hint))
        value_schema = _FINDING_VALUE if value is object else _types(value, defs)
        schema = {"type": "object", "propertyNames": _types(key, defs), "additionalProperties": value_schema}
    elif form.form == "strings":
        item = _types(_item_type(hint), defs)
        schema = {"anyOf": [item, {"type": "array", "items": item}]}
    else:
        schema = _without_null(_types(hint, defs))
    default = form.default
    if not form.required and isinstance(default, (str, int, float, bool)) and not isinstance(default, type):
        schema = {**schema, "default": default.value if hasattr(default, "value") else default}
    return schema


def _item_type(hint: Any) -> Any:
    """The item type of ``tuple[X, ...]`` (inside any ``Annotated``)."""
    while typing.get_origin(hint) is typing.Annotated:
        hint = hint.__origin__
    return typing.get_args(hint)[0]


def _types(hint: Any, defs: JsonSchema) -> JsonSchema:
    [schema], found = msgspec.json.schema_components([hint], ref_template=DEFS)
    for name, body in found.items():
        defs.setdefault(name, body)
    return dict(schema)


def _without_null(schema: JsonSchema) -> JsonSchema:
    members = schema.get("anyOf")
    if not isinstance(members, list) or _NULL not in members:
        return schema
    rest = [member for member in members if member != _NULL]
    return {**{k: v for k, v in schema.items() if k != "anyOf"}, **(rest[0] if len(rest) == 1 else {"anyOf": rest})}
