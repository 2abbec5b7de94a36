"""Reading a case (the findings to assess) from a dict, JSON or TOML."""

from __future__ import annotations

import json
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calfrules.rules.errors import CaseError
from calfrules.rules.vocabulary import Value, Vocabulary

MAX_CASE_BYTES = 1_000_000
MAX_FINDINGS = 2000
MAX_ID_NUMBER = 10**18
CASE_FIELDS = ("id", "note", "findings")


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
    """Validate a case; raise one CaseError that says what to fix."""
    if isinstance(data, Case):
        data = data.to_dict()
    if not isinstance(data, Mapping):
        raise CaseError(f'a case must be an object like {{"findings": {{...}}}}, not {type(data).__name__}')
    unknown = [_shown_key(key) for key in data if key not in CASE_FIELDS]
    if unknown:
        raise CaseError(f"unknown case field(s): {', '.join(unknown)}; a case has findings, and optionally id and note")
    if "findings" not in data:
        raise CaseError('the case has no "findings": add e.g. {"findings": {"calf_pain": true}}')
    findings = data["findings"]
    if not isinstance(findings, Mapping):
        raise CaseError(f'"findings" must be an object of finding id to value, not {type(findings).__name__}')
    if not findings:
        raise CaseError("the case is empty: record at least one finding")
    if len(findings) > MAX_FINDINGS:
        raise CaseError(f"the case has {len(findings)} findings; at most {MAX_FINDINGS} are accepted")
    case_id = data.get("id")
    if isinstance(case_id, float) and case_id.is_integer():  # JSON Schema's integer admits 7.0
        case_id = int(case_id)
    if case_id is not None and (isinstance(case_id, bool) or not isinstance(case_id, (str, int))):
        raise CaseError('"id" must be text or a number')
    if isinstance(case_id, int) and not -MAX_ID_NUMBER < case_id < MAX_ID_NUMBER:
        raise CaseError('"id" is too large a number; use at most 18 digits, or text')
    note = data.get("note")
    if note is not None and not isinstance(note, str):
        raise CaseError('"note" must be text')
    checked = vocabulary.validate(findings)
    return Case(findings=checked, id=None if case_id is None else str(case_id), note=note)


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
        return json.loads(text, parse_constant=_reject_constant)
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


def _parse_toml(text: str, name: str) -> object:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CaseError(f"{name}: not valid TOML: {exc}") from None
    except RecursionError:
        raise CaseError(f"{name}: nested too deeply") from None
    except ValueError:  # Python refuses integers of more than 4300 digits
        raise CaseError(f"{name}: a number has too many digits") from None


def _reject_constant(token: str) -> float:
    raise CaseError(f"{token} is not a number a case can carry")
