"""A clinic's code map: its EHR's codes (system + code) to calfrules finding ids.

A TOML file of ``[[map]]`` entries::

    [[map]]                                   # a code that names a finding: the value comes
    system = "http://example.org/ehr-codes"   # from the resource (an Observation's value,
    code = "CALF-PAIN"                        # true for an active Condition)
    finding = "calf_pain"

    [[map]]                                   # a code that is itself the answer: value given
    system = "http://snomed.info/sct"
    code = "7771000"                          # Left (qualifier value)
    finding = "pain_side"
    value = "left"

    [[map]]                                   # a past Condition that counts as history
    system = "http://snomed.info/sct"
    code = "128053003"                        # Deep venous thrombosis
    finding = "previous_dvt"
    value = true
    condition_status = ["resolved", "inactive", "remission"]

``condition_status`` says which Condition clinical statuses the entry applies to (by
default active, recurrence and relapse): a resolved Condition is "not recorded" unless a
clinic says what it means. The vocabulary's own codes (``codes`` on each finding, and
``urn:calfrules:finding|<id>``) need no map.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calfrules.rules.errors import CalfrulesError, CaseError
from calfrules.rules.vocabulary import Value, Vocabulary, shown

# Condition.clinicalStatus codes (http://terminology.hl7.org/CodeSystem/condition-clinical)
CONDITION_STATUSES = ("active", "recurrence", "relapse", "inactive", "remission", "resolved")
ACTIVE_STATUSES = ("active", "recurrence", "relapse")
_KEYS = ("system", "code", "finding", "value", "condition_status")
_URI = re.compile(r"^[a-z][a-z0-9+.-]*:\S+$")


class CodeMapError(CalfrulesError):
    """A code map file is not valid; says which file and which entry."""


@dataclass(frozen=True)
class CodeMapEntry:
    system: str
    code: str
    finding: str
    value: Value | None = None  # None: the value comes from the resource
    condition_status: tuple[str, ...] = ACTIVE_STATUSES
    where: str = ""  # "FILE: map entry N (line L)", for messages


@dataclass(frozen=True)
class CodeMap:
    entries: tuple[CodeMapEntry, ...] = ()
    source: str = "<code map>"
    by_code: dict[tuple[str, str], CodeMapEntry] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for entry in self.entries:
            known = self.by_code.get((entry.system, entry.code))
            if known is not None and (known.finding, known.value) != (entry.finding, entry.value):
                raise CodeMapError(
                    f"{entry.where}: {entry.system}|{entry.code} is already mapped by {known.where} "
                    f"to {known.finding}: a code can mean only one thing; remove one of them"
                )
            self.by_code.setdefault((entry.system, entry.code), entry)

    def lookup(self, system: str, code: str) -> CodeMapEntry | None:
        return self.by_code.get((system, code))

    def check(self, vocabulary: Vocabulary) -> None:
        """Every entry names a finding of this vocabulary, with a value it accepts."""
        for entry in self.entries:
            definition = vocabulary.findings.get(entry.finding)
            if definition is None:
                hint = vocabulary.suggest(entry.finding)
                tip = f"; did you mean {', '.join(hint)}?" if hint else "; see `calfrules vocab`"
                raise CodeMapError(f"{entry.where}: finding {entry.finding!r} is not in the vocabulary{tip}")
            if entry.value is not None:
                try:
                    definition.check(entry.value)
                except CaseError as exc:
                    raise CodeMapError(f"{entry.where}: value: {exc}") from None


def load_code_map(path: str | Path, vocabulary: Vocabulary | None = None) -> CodeMap:
    """Read and check a code map file; with a vocabulary, its finding ids and values too."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CodeMapError(f"{source}: cannot read the code map ({reason})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CodeMapError(f"{source}: not valid TOML: {exc}") from None
    code_map = code_map_from_data(data, source, lines=_entry_lines(text))
    if vocabulary is not None:
        code_map.check(vocabulary)
    return code_map


def code_map_from_data(data: Mapping[str, Any], source: str = "<code map>", *, lines: Sequence[int] = ()) -> CodeMap:
    """A code map from parsed TOML (``{"map": [{...}, ...]}``); ``lines`` are the entries' line numbers."""
    if not isinstance(data, Mapping) or set(data) - {"map"}:
        extra = sorted(set(data) - {"map"}) if isinstance(data, Mapping) else []
        raise CodeMapError(f"{source}: a code map holds only [[map]] entries; remove {', '.join(map(str, extra))}")
    entries = data.get("map", [])
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise CodeMapError(f"{source}: 'map' must be a list of tables ([[map]] entries)")
    return CodeMap(
        tuple(_entry(e, f"{source}: map entry {n + 1}{_line(lines, n)}") for n, e in enumerate(entries)), source
    )


def _entry(data: Mapping[str, Any], where: str) -> CodeMapEntry:
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise CodeMapError(f"{where}: unknown key {', '.join(unknown)}; an entry has {', '.join(_KEYS)}")
    for key in ("system", "code", "finding"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise CodeMapError(f"{where}: {key!r} is required and must be non-empty text, got {shown(data.get(key))}")
    if not _URI.match(data["system"]):
        raise CodeMapError(f"{where}: system {data['system']!r} must be a URI such as http://snomed.info/sct")
    value = data.get("value")
    if value is not None and (not isinstance(value, (bool, int, float, str))):
        raise CodeMapError(f"{where}: value must be true, false, a number or a choice, got {shown(value)}")
    statuses = data.get("condition_status", ACTIVE_STATUSES)
    if isinstance(statuses, str):
        statuses = [statuses]
    if not isinstance(statuses, (list, tuple)) or not statuses or not all(s in CONDITION_STATUSES for s in statuses):
        raise CodeMapError(
            f"{where}: condition_status must list some of {', '.join(CONDITION_STATUSES)}, got {shown(statuses)}"
        )
    where = f"{where} ({data['system']}|{data['code']})"
    return CodeMapEntry(data["system"], data["code"], data["finding"], value, tuple(statuses), where)


def _entry_lines(text: str) -> list[int]:
    return [n for n, line in enumerate(text.splitlines(), start=1) if re.match(r"\s*\[\[\s*map\s*\]\]", line)]


def _line(lines: Sequence[int], index: int) -> str:
    return f" (line {lines[index]})" if index < len(lines) else ""
