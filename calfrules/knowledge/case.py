"""Reading a case (the findings to assess) from a dict, JSON or TOML.

``CaseInput`` is the one description of a case as given: msgspec checks a case against it,
and ``calfrules schema case`` and the service's OpenAPI are generated from it. Which
findings there are, and what values each takes, depends on the loaded vocabulary, so the
vocabulary checks those (and fills them into the published schema).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Union

import msgspec
from msgspec import Meta

from calfrules.rules.errors import CaseError
from calfrules.rules.shapes import FindingValue, Problem, ShapeError, convert, json_integers, sentence
from calfrules.rules.vocabulary import Value, Vocabulary

MAX_CASE_BYTES = 1_000_000
MAX_FINDINGS = 2000
MAX_ID_NUMBER = 10**18

CaseId = Union[str, Annotated[int, Meta(gt=-MAX_ID_NUMBER, lt=MAX_ID_NUMBER)]]
Findings = Annotated[
    dict[str, FindingValue],
    Meta(
        title="Findings",
        description="finding id -> value: true/false, a number in the finding's unit, or one of its choices",
        min_length=1,
        max_length=MAX_FINDINGS,
    ),
]


class CaseInput(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The findings a clinician records for one person: the input of `calfrules assess` and of POST /assess."""

    findings: Findings
    id: Annotated[
        CaseId | None, Meta(description="optional case id, echoed as case_id (a number has at most 18 digits)")
    ] = None
    note: Annotated[str | None, Meta(description="optional free text; never read by the rules")] = None


CASE_FIELDS: tuple[str, ...] = CaseInput.__struct_fields__
_OPTIONAL = CASE_FIELDS[len(CASE_FIELDS) - len(CaseInput.__struct_defaults__) :]
_FIELD_SET = frozenset(CASE_FIELDS)
_FIELDS_TEXT = (
    f"a case has {', '.join(f for f in CASE_FIELDS if f not in _OPTIONAL)}, and optionally {' and '.join(_OPTIONAL)}"
)


@dataclass(frozen=True)
class Case:
    findings: Mapping[str, Value]
    id: str | None = None
    note: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"findings": dict(self.findings)}
        if self.id is not None:
            data["id"] = self.id
        if self.note is not None:
            data["note"] = self.note
        return data


def parse_case(data: object, vocabulary: Vocabulary) -> Case:
    """Validate a case against CaseInput and the vocabulary; raise one CaseError that says what to fix."""
    if type(data) is dict and data.keys() <= _FIELD_SET:
        plain = _plain_case(data, vocabulary)
        if plain is not None:
            return plain
    if isinstance(data, Case):
        data = data.to_dict()
    if not isinstance(data, Mapping):
        raise CaseError(f'a case must be an object like {{"findings": {{...}}}}, not {type(data).__name__}')
    unknown = [_shown_key(key) for key in data if key not in CASE_FIELDS]
    if unknown:
        raise CaseError(f"unknown case field(s): {', '.join(unknown)}; {_FIELDS_TEXT}")
    given = dict(data)
    given["id"] = json_integers(given.get("id"))  # the schema says integer, which admits 7.0
    if isinstance(given.get("findings"), Mapping):
        given["findings"] = dict(given["findings"])
    try:
        case = convert(given, CaseInput)
    except ShapeError as exc:
        raise CaseError(_problem(exc.problem, given, vocabulary)) from None
    # the given values, not msgspec's (which reads 1 as 1.0): the vocabulary's messages show them as given
    checked = vocabulary.validate(given["findings"])
    return Case(findings=checked, id=None if case.id is None else str(case.id), note=case.note)


def _plain_case(data: dict[str, Any], vocabulary: Vocabulary) -> Case | None:
    """The case when it is plainly valid, as CaseInput and the vocabulary would find it, in one
    pass (most cases); None when anything needs a closer look, which then gives the error."""
    findings, case_id, note = data.get("findings"), data.get("id"), data.get("note")
    if findings.__class__ is not dict or not 0 < len(findings) <= MAX_FINDINGS:
        return None
    plain_id = case_id is None or type(case_id) is str or (type(case_id) is int and abs(case_id) < MAX_ID_NUMBER)
    if not plain_id or not (note is None or type(note) is str):
        return None
    for key in findings:
        if key.__class__ is not str:
            return None
    try:
        checked = vocabulary.validate(findings)
    except CaseError:
        return None
    return Case(findings=checked, id=None if case_id is None else str(case_id), note=note)


def _problem(problem: Problem, given: dict[str, Any], vocabulary: Vocabulary) -> str:
    """msgspec's problem with a case, in the words a clinician's tool can show."""
    field_name = problem.path[0] if problem.path else problem.name
    findings = given.get("findings")
    if problem.kind == "missing" and field_name == "findings":
        return 'the case has no "findings": add e.g. {"findings": {"calf_pain": true}}'
    if field_name == "findings" and problem.path == ("findings",) and isinstance(findings, dict):
        if not findings:
            return "the case is empty: record at least one finding"
        return f"the case has {len(findings)} findings; at most {MAX_FINDINGS} are accepted"
    if field_name == "findings" and problem.path == ("findings",):
        return f'"findings" must be an object of finding id to value, not {type(findings).__name__}'
    if field_name == "findings" and isinstance(findings, dict):
        vocabulary.validate(findings)  # a finding's id or value: the vocabulary says precisely what is wrong
    if field_name == "id" and problem.kind == "constraint":
        return '"id" is too large a number; use at most 18 digits, or text'
    if field_name == "id":
        return '"id" must be text or a number'
    if field_name == "note":
        return '"note" must be text'
    return sentence(problem, CaseInput, given)


def _shown_key(key: object) -> str:
    text = str(key)[:40]
    return text if text.isprintable() else repr(text)  # a newline in a key must not split the message


def read_case_source(source: str) -> object:
    """Read raw case data from a path ('-' for standard input); JSON or TOML."""
    if source == "-":
        try:
            text = sys.stdin.read(MAX_CASE_BYTES + 1)
        except UnicodeDecodeError:
            raise CaseError("standard input: not UTF-8 text") from None
        name = "standard input"
    else:
        from pathlib import Path  # here, not at the top: importing pathlib costs start-up 5-10 ms

        path = Path(source)
        try:
            if path.stat().st_size > MAX_CASE_BYTES:
                raise CaseError(f"{source}: larger than {MAX_CASE_BYTES} bytes")
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CaseError(f"{source}: no such file") from None
        except IsADirectoryError:
            raise CaseError(f"{source}: is a folder, not a case file") from None
        except UnicodeDecodeError:
            raise CaseError(f"{source}: not UTF-8 text") from None
        except OSError as exc:
            raise CaseError(f"{source}: cannot read ({exc.strerror})") from None
        name = source
    if len(text) > MAX_CASE_BYTES:
        raise CaseError(f"{name}: larger than {MAX_CASE_BYTES} bytes")
    return parse_case_text(text, name, toml=source.endswith(".toml"))


def parse_case_text(text: str, name: str = "case", *, toml: bool = False) -> object:
    text = text.removeprefix("\ufeff")  # the byte-order mark some editors put first
    if not text.strip():
        raise CaseError(f'{name}: empty; a case looks like {{"findings": {{"calf_pain": true}}}}')
    if toml:
        return _parse_toml(text, name)
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=unique_keys)
    except DuplicateKeyError as exc:
        raise CaseError(f"{name}: {exc}") from None
    except json.JSONDecodeError as exc:
        problem = f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
    except RecursionError:
        raise CaseError(f"{name}: nested too deeply") from None
    except ValueError:  # Python refuses integers of more than 4300 digits
        raise CaseError(f"{name}: a number has too many digits") from None
    try:  # not JSON: TOML, which may start with a table such as [findings]
        return _parse_toml(text, name)
    except CaseError:
        raise CaseError(problem) from None


class DuplicateKeyError(ValueError):
    """A JSON object with the same key twice (json.loads would keep the last silently)."""


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for json.loads: an object, or DuplicateKeyError naming the repeated key."""
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                shown = json.dumps(key)[:80]
                raise DuplicateKeyError(f"the key {shown} appears twice in one object; give each key once")
            seen.add(key)
    return found


def _parse_toml(text: str, name: str) -> object:
    import tomli  # TOML cases only: not at start-up

    try:
        return tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        raise CaseError(f"{name}: not valid TOML: {exc}") from None
    except RecursionError:
        raise CaseError(f"{name}: nested too deeply") from None
    except ValueError:  # Python refuses integers of more than 4300 digits
        raise CaseError(f"{name}: a number has too many digits") from None


def _reject_constant(token: str) -> float:
    raise CaseError(f"{token} is not a number a case can carry")
