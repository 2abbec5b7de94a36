"""Shapes described once: typed classes whose annotations carry ``msgspec.Meta``.

Every shape calfrules reads or writes (the ruleset in ``rules/model.py``, the case in
``knowledge/case.py``, the assessment in ``engine/assessment.py``, the service's bodies in
``service/bodies.py``) is one typed class. msgspec checks data against it (``convert``)
and writes its JSON Schema (``formats/json_schema.py``), so the list of fields, their types
and their constraints exist in one place. This module turns msgspec's terse errors into a
``Problem`` that each reader words for its own audience.

Keys a shape may put in ``Meta(extra=...)``:

- ``INVALID``: the message for a value that does not fit, with ``{value}`` (the value as
  shown) and ``{name}`` (the key it was under);
- ``PUBLISHED_AS``: a type whose schema is published for this field, when the field's own
  type is looser (a dict the engine builds, published with its keys).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Annotated, Any, Literal, TypeVar

import msgspec
import msgspec.inspect as mi

from calfrules.rules import vocabulary
from calfrules.rules.vocabulary import shown, suggest

INVALID = "invalid"
PUBLISHED_AS = "published_as"
# A recorded finding's value, as the case and the assessment publish it.
FindingValue = Annotated[vocabulary.Value, msgspec.Meta(title="Value")]
DICT_VALUE = "..."  # a path step into a mapping's value (msgspec does not name the key)
ProblemKind = Literal["missing", "unknown", "type", "enum", "constraint", "range", "other"]
T = TypeVar("T")

# What msgspec's type names read as, for a person: JSON words, and TOML's for a ruleset.
JSON_WORDS = {
    "str": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "null": "null",
    "array": "a list",
    "object": "an object",
}
# TOML has no null: an optional field is left out
TOML_WORDS = {**JSON_WORDS, "null": "", "object": "a table", "datetime": "a date-time", "date": "a date"}


class Problem(msgspec.Struct, frozen=True):
    """One reason data does not fit its shape, and where: ``path`` leads from the top."""

    kind: ProblemKind
    path: tuple[str | int, ...]
    text: str  # msgspec's own words, without the place
    name: str = ""  # the field missing or unknown
    expected: str = ""  # for kind "type": msgspec's expected type, e.g. "str | int"
    in_key: bool = False  # the problem is a mapping's key, not its value

    @property
    def field(self) -> str:
        """The last field name on the path (the name of a missing or unknown field itself)."""
        if self.kind in ("missing", "unknown"):
            return self.name
        return next((step for step in reversed(self.path) if isinstance(step, str) and step != DICT_VALUE), "")


class ShapeError(Exception):
    """Data that does not fit a shape; callers word ``problem`` for their reader."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.text)
        self.problem = problem


def convert(data: object, shape: type[T]) -> T:
    """``data`` (plain dicts, lists, scalars) as an instance of ``shape``, or ShapeError."""
    try:
        result = msgspec.convert(data, shape)
    except msgspec.ValidationError as exc:
        raise ShapeError(problem_from(exc)) from None
    if not dataclasses.is_dataclass(shape):
        return result  # a msgspec Struct is msgspec's own
    rebuilt: T = _built_in_python(result)
    return rebuilt


def _built_in_python(value: Any) -> Any:
    """The same value with every dataclass made again by its own ``__init__``.

    msgspec fills a dataclass's ``__dict__`` itself: fields left at their default stay on the
    class, and CPython cannot specialise attribute reads on such instances, which made the
    per-case explanation (it reads rules and advice often) about 4% slower.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        made = {f.name: _built_in_python(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        return type(value)(**made)
    if isinstance(value, tuple):
        return tuple(_built_in_python(item) for item in value)
    if isinstance(value, list):
        return [_built_in_python(item) for item in value]
    if isinstance(value, dict):
        return {key: _built_in_python(item) for key, item in value.items()}
    return value


def json_integers(data: object) -> object:
    """JSON Schema counts 7.0 as the integer 7 and msgspec does not: integral floats as ints."""
    if isinstance(data, float) and data.is_integer():
        return int(data)
    if isinstance(data, dict):
        return {key: json_integers(value) for key, value in data.items()}
    if isinstance(data, list):
        return [json_integers(item) for item in data]
    return data


@cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """msgspec's "<text> - at `$.path`", and one step of the path (compiled when first needed)."""
    return (
        re.compile(r"^(?P<text>.*?)(?: - at `(?P<key>key` in `)?(?P<path>\$[^`]*)`)?$", re.DOTALL),
        re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]"),
    )


def problem_from(exc: msgspec.ValidationError) -> Problem:
    match = _patterns()[0].match(str(exc))
    assert match is not None  # the pattern accepts any text
    text = match["text"]
    path = tuple(_steps(match["path"] or "$"))
    in_key = match["key"] is not None
    if found := re.fullmatch(r"Object missing required field `(.+)`", text):
        return Problem("missing", path, text, name=found[1])
    if found := re.fullmatch(r"Object contains unknown field `(.+)`", text):
        return Problem("unknown", path, text, name=found[1])
    if found := re.fullmatch(r"Expected `([^`]+)`, got `[^`]+`", text):
        return Problem("type", path, text, expected=found[1], in_key=in_key)
    if text.startswith("Invalid enum value"):
        return Problem("enum", path, text, in_key=in_key)
    if text == "Number out of range":
        return Problem("range", path, text, in_key=in_key)
    if text.startswith("Expected `"):
        return Problem("constraint", path, text, in_key=in_key)
    return Problem("other", path, text, in_key=in_key)


def _steps(path: str) -> list[str | int]:
    steps = _patterns()[1].findall(path)
    return [int(index) if index and index.isdigit() else (name or DICT_VALUE) for name, index in steps]


def value_at(data: object, path: Sequence[str | int]) -> object:
    """The value the path leads to in plain data (None where it cannot be followed)."""
    for step in path:
        if isinstance(step, int) and isinstance(data, (list, tuple)) and step < len(data):
            data = data[step]
            continue
        if isinstance(step, str) and isinstance(data, Mapping) and step in data:
            data = data[step]
            continue
        return None
    return data


def type_at(shape: Any, path: Sequence[str | int]) -> tuple[mi.Type, list[dict[str, Any]]]:
    """The described type the path leads to, with the ``Meta(extra=...)`` met on the way there."""
    current: mi.Type = mi.type_info(shape)
    extras: list[dict[str, Any]] = []
    for step in (*path, None):
        current = _unwrap(current, extras)
        if step is None:
            if isinstance(current, mi.UnionType):  # Id | None: what annotates its members counts
                for member in current.types:
                    _unwrap(member, extras)
            break
        if isinstance(current, mi.UnionType):
            current = next((t for t in current.types if _holds(_unwrap(t, []), step)), current.types[0])
            current = _unwrap(current, extras)
        if isinstance(current, _OBJECTS):
            extras.clear()  # what annotates an object is not about its fields
        current = _child(current, step)
    return current, extras


_OBJECTS = (mi.DataclassType, mi.StructType, mi.TypedDictType)


def _unwrap(t: mi.Type, extras: list[dict[str, Any]]) -> mi.Type:
    while isinstance(t, mi.Metadata):
        if t.extra:
            extras.append(t.extra)
        t = t.type
    return t


def _holds(t: mi.Type, step: str | int) -> bool:
    if isinstance(step, int):
        return isinstance(t, (mi.CollectionType, mi.TupleType))
    return isinstance(t, (*_OBJECTS, mi.DictType))


def _child(t: mi.Type, step: str | int) -> mi.Type:
    if isinstance(t, _OBJECTS) and isinstance(step, str):
        return next((f.type for f in t.fields if f.encode_name == step), mi.AnyType())
    if isinstance(t, mi.CollectionType):
        return t.item_type
    if isinstance(t, mi.TupleType) and isinstance(step, int) and step < len(t.item_types):
        return t.item_types[step]
    if isinstance(t, mi.DictType):
        return t.value_type
    return mi.AnyType()


def choices(t: mi.Type) -> list[str]:
    """The values an enum or literal type (or a union holding one) allows."""
    if isinstance(t, mi.UnionType):
        return [value for member in t.types for value in choices(_unwrap(member, []))]
    if isinstance(t, mi.EnumType):
        return [str(member.value) for member in t.cls]
    if isinstance(t, mi.LiteralType):
        return [str(value) for value in t.values]
    return []


def type_words(names: str, words: Mapping[str, str]) -> str:
    """msgspec's ``int | str | null`` as ``a whole number, text or null``."""
    parts = [word for name in names.split(" | ") if (word := words.get(name, name))]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def value_words(value: object, words: Mapping[str, str]) -> str:
    kind = {bool: "bool", int: "int", float: "float", str: "str", type(None): "null"}.get(type(value))
    kind = kind or {"datetime": "datetime", "date": "date", "time": "time"}.get(type(value).__name__)
    if kind is None:
        kind = "object" if isinstance(value, Mapping) else "array" if isinstance(value, (list, tuple)) else ""
    return f"{words[kind]} ({shown(value)})" if kind in ("str", "int", "float") else words.get(kind, shown(value))


def sentence(
    problem: Problem, shape: Any, data: object, words: Mapping[str, str] = JSON_WORDS, *, label: str | None = None
) -> str:
    """The problem in plain words, naming the field (``label``, by default its name) but not
    saying where the field is: the caller knows how to say that to its reader."""
    if problem.kind == "missing":
        return f"missing {problem.name!r}"
    described, extras = type_at(shape, problem.path)
    if problem.kind == "unknown":
        fields = [f.encode_name for f in described.fields] if isinstance(described, _OBJECTS) else []
        return unknown_fields_text([problem.name], fields)
    value = value_at(data, problem.path)
    if label is None:
        label = repr(_label(problem.path)) if problem.path else "the data"
    if problem.in_key:
        return f"the keys of {label} must be {type_words(problem.expected or 'str', words)}"
    template = next((extra[INVALID] for extra in reversed(extras) if INVALID in extra), None)
    if template is not None:
        return str(template).format(value=shown(value), name=label)
    if problem.kind == "type":
        return f"{label} must be {type_words(problem.expected, words)}, not {value_words(value, words)}"
    if problem.kind == "enum":
        allowed = choices(described)
        members = described.types if isinstance(described, mi.UnionType) else (described,)
        enum = next((_unwrap(m, []) for m in members if isinstance(_unwrap(m, []), mi.EnumType)), None)
        what = enum.cls.__name__.lower() if isinstance(enum, mi.EnumType) else problem.field
        hint = suggest(value, allowed) if isinstance(value, str) else []
        tip = f" (did you mean {', '.join(hint)}?)" if hint else ""
        return f"unknown {what} {shown(value)}{tip}; use one of: {', '.join(allowed)}"
    if problem.kind == "range":
        return f"{label} must be a finite number of a sensible size, not {shown(value)}"
    if problem.kind == "constraint":
        expected = re.sub(r"`(\w+)`", lambda m: words.get(m[1], m[1]), problem.text.removeprefix("Expected "))
        return f"{label} must be {expected}, not {shown(value)}"
    return f"{label}: {problem.text[:1].lower()}{problem.text[1:]}"


def unknown_fields_text(unknown: Sequence[str], known: Sequence[str], *, at_most: int = 10) -> str:
    """``unknown field(s): x (did you mean y?); use: a, b, c``: what is wrong, and every valid key."""
    named = []
    for name in sorted(unknown)[:at_most]:
        hint = suggest(name, known)
        text = name[:40] if name[:40].isprintable() else repr(name[:40])
        named.append(text + (f" (did you mean {', '.join(hint)}?)" if hint else ""))
    valid = f"; the fields here are: {', '.join(known)}" if known else ""
    return f"unknown field(s): {', '.join(named)}{valid}"


def _label(path: Sequence[str | int]) -> str:
    """The last field on the path, with any list indexes after it: ``authors[0]``."""
    tail: list[str] = []
    for step in reversed(path):
        if isinstance(step, int):
            tail.insert(0, f"[{step}]")
        elif step == DICT_VALUE:
            tail.insert(0, "[...]")
        else:
            return step + "".join(tail)
    return "".join(tail)
