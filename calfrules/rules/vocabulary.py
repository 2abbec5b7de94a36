"""The vocabulary: every finding a case may carry, with its type and the question behind it."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Literal, Union, cast

from msgspec import Meta

from calfrules.rules.errors import CaseError
from calfrules.rules.numbers import format_number

FindingType = Literal["bool", "number", "choice"]
FindingKind = Literal["symptom", "sign", "history", "risk_factor", "measurement", "context"]
Value = Union[bool, float, str]

FINDING_TYPES: tuple[str, ...] = ("bool", "number", "choice")
# Numbers are kept to 6 decimal places: both evaluators then see exactly the same value.
DECIMALS = 6
FINDING_KINDS: tuple[str, ...] = ("symptom", "sign", "history", "risk_factor", "measurement", "context")
# Every finding answers to this code system with its id as the code (computed, never written).
FINDING_SYSTEM = "urn:calfrules:finding"
# A code system is a URI (http://loinc.org, http://snomed.info/sct, urn:...); a code has no spaces.
# "invalid" is shapes.INVALID (shapes imports this module, so it cannot be imported here).
CodeSystem = Annotated[
    str,
    Meta(
        pattern=r"^[a-z][a-z0-9+.-]*:\S+$",
        extra={"invalid": "code system {value} must be a URI such as http://loinc.org"},
    ),
]
CodeValue = Annotated[
    str, Meta(pattern=r"^\S(.*\S)?$", extra={"invalid": "code {value} must not be empty or start or end with a space"})
]
# Kinds that need an explanation: a yes that no condition accounts for is not ignored.
NEEDS_EXPLANATION: frozenset[str] = frozenset({"symptom", "sign"})


@dataclass(frozen=True)
class Coding:
    """A code from a published code system (LOINC, SNOMED CT) that means this finding."""

    system: CodeSystem
    code: CodeValue
    display: str | None = None

    def to_dict(self) -> dict[str, str]:
        data = {"system": self.system, "code": self.code}
        if self.display is not None:
            data["display"] = self.display
        return data

    def key(self) -> str:
        """``system|code``, as FHIR search writes a token."""
        return f"{self.system}|{self.code}"


@dataclass(frozen=True)
class Finding:
    """One thing a clinician can record about a case."""

    id: str
    type: FindingType
    label: str
    question: str
    kind: FindingKind = "symptom"
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    group: str = "general"
    # codes that mean exactly this finding; urn:calfrules:finding|<id> is always added by codings()
    codes: tuple[Coding, ...] = ()

    def codings(self) -> tuple[Coding, ...]:
        """Every code this finding answers to: its own id first, then its published codes."""
        return (Coding(FINDING_SYSTEM, self.id, self.label), *self.codes)

    def check(self, value: object) -> Value:
        """Return the value in canonical form, or raise CaseError saying what to fix."""
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            raise CaseError(
                f"{self.id}: expected true or false, got {shown(value)} (true: yes; false: asked, and absent; "
                "leave it out when it was not recorded)"
            )
        if self.type == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise CaseError(f"{self.id}: expected a number{self._unit_hint()}, got {shown(value)}")
            try:
                number = round(float(value), DECIMALS)
            except OverflowError:  # an integer beyond any float
                raise CaseError(f"{self.id}: {shown(value)} is out of range; {self.range_text()}") from None
            if not math.isfinite(number):
                raise CaseError(f"{self.id}: expected a finite number, got {shown(value)}")
            if (self.minimum is not None and float(value) < self.minimum) or (  # as recorded, not as rounded
                self.maximum is not None and float(value) > self.maximum
            ):
                raise CaseError(f"{self.id}: {shown(value)} is out of range; {self.range_text()}")
            return number
        if not isinstance(value, str) or value not in self.choices:
            raise CaseError(f"{self.id}: expected one of {', '.join(self.choices)}; got {shown(value)}")
        return value

    def range_text(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        low = "" if self.minimum is None else format_number(self.minimum)
        high = "" if self.maximum is None else format_number(self.maximum)
        if low and high:
            return f"use {low} to {high}{unit}"
        if low:
            return f"use {low}{unit} or more"
        return f"use {high}{unit} or less"

    def _unit_hint(self) -> str:
        return f" in {self.unit}" if self.unit else ""

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "id": self.id,
            "type": self.type,
            "label": self.label,
            "question": self.question,
            "kind": self.kind,
            "group": self.group,
        }
        if self.unit is not None:
            data["unit"] = self.unit
        if self.minimum is not None:
            data["minimum"] = self.minimum
        if self.maximum is not None:
            data["maximum"] = self.maximum
        if self.choices:
            data["choices"] = list(self.choices)
        if self.codes:
            data["codes"] = [coding.to_dict() for coding in self.codes]
        return data


def shown(value: object) -> str:
    """A value as an error message quotes it: repr, cut short."""
    try:
        text = repr(value)
    except ValueError:  # Python will not print an integer of more than 4300 digits
        return "a number with thousands of digits"
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class Vocabulary:
    """The registry of findings, merged from every plugin and ruleset."""

    findings: dict[str, Finding] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)

    def add(self, finding: Finding, origin: str) -> None:
        """Register a finding; an identical re-definition is fine, a conflicting one is refused."""
        known = self.findings.get(finding.id)
        if known is not None and known != finding:
            raise ValueError(
                f"finding {finding.id!r} from {origin} differs from the one {self.origin[finding.id]} "
                "already defined; use the existing id or choose a new one"
            )
        if known is None:
            for coding in finding.codes:  # one code, one meaning: a code read from an EHR must not be ambiguous
                for other in self.findings.values():
                    if (coding.system, coding.code) in {(c.system, c.code) for c in other.codes}:
                        raise ValueError(
                            f"finding {finding.id!r} from {origin} has code {coding.key()}, which finding "
                            f"{other.id!r} ({self.origin[other.id]}) already has; a code can mean only one finding"
                        )
            self.findings[finding.id] = finding
            self.origin[finding.id] = origin
            self.__dict__.pop("_checks", None)  # validate's checks: worked out again when next needed

    def __contains__(self, finding_id: object) -> bool:
        return finding_id in self.findings

    def __getitem__(self, finding_id: str) -> Finding:
        return self.findings[finding_id]

    def __iter__(self) -> Iterator[Finding]:
        return iter(sorted(self.findings.values(), key=lambda f: (f.group, f.id)))

    def __len__(self) -> int:
        return len(self.findings)

    def by_code(self) -> dict[tuple[str, str], Finding]:
        """(system, code) -> the finding it means, for every finding's codings."""
        found: dict[tuple[str, str], Finding] = {}
        for finding in self.findings.values():
            for coding in finding.codings():
                found.setdefault((coding.system, coding.code), finding)
        return found

    def suggest(self, unknown: str, extra: Iterable[str] = ()) -> list[str]:
        return suggest(unknown, [*self.findings, *extra])

    def validate(self, findings: Mapping[str, object]) -> dict[str, Value]:
        """Check every finding of a case; raise one CaseError naming all problems."""
        checks: dict[str, _PlainCheck] | None = self.__dict__.get("_checks")  # not a field: see _plain_checks
        if checks is None or len(checks) != len(self.findings):
            checks = self._plain_checks()
        checked: dict[str, Value] = {}
        for finding_id, value in findings.items():  # the usual case: every value plainly valid, in one pass
            check = checks.get(finding_id) if finding_id.__class__ is str else None
            if check is None:
                break
            kind = value.__class__
            if kind is bool:
                if check is not _BOOL:
                    break
                checked[finding_id] = value  # type: ignore[assignment]
            elif kind is float or kind is int:
                if check.__class__ is not tuple:
                    break
                number = cast(float, value)  # an int or a float, as its class says
                if kind is int:
                    if not -_EXACT < number < _EXACT:
                        break  # beyond a float's exact integers: the full check says what is wrong
                    number = float(number)
                low, high = check
                if not low <= number <= high:
                    break
                checked[finding_id] = round(number, DECIMALS)
            elif kind is str and check.__class__ is frozenset and value in check:
                checked[finding_id] = value
            else:
                break
        else:
            return checked
        return self._validate(findings)

    def _plain_checks(self) -> dict[str, _PlainCheck]:
        """Per finding: _BOOL, a number's (low, high) bounds, or a choice's choices."""
        checks: dict[str, _PlainCheck] = {}
        for finding in self.findings.values():
            if finding.type == "bool":
                checks[finding.id] = _BOOL
            elif finding.type == "number":
                # finite bounds: an infinite value is refused by the full check (NaN fails any comparison)
                low = -_LARGEST if finding.minimum is None else max(finding.minimum, -_LARGEST)
                high = _LARGEST if finding.maximum is None else min(finding.maximum, _LARGEST)
                checks[finding.id] = (low, high)
            else:
                checks[finding.id] = frozenset(finding.choices)
        # whole, in one assignment (another thread sees the old dict or this one), never changed in place
        self._checks = checks
        return checks

    def _validate(self, findings: Mapping[str, object]) -> dict[str, Value]:
        checked: dict[str, Value] = {}
        problems: list[str] = []
        for finding_id, value in findings.items():
            definition = self.findings.get(finding_id) if isinstance(finding_id, str) else None
            if definition is None:
                # suggestions only for the problems shown: thousands of unknown ids stay cheap
                hint = self.suggest(str(finding_id)[:200]) if len(problems) < 5 else []
                tip = f" (did you mean {', '.join(hint)}?)" if hint else ""
                problems.append(f"unknown finding {str(finding_id)[:60]!r}{tip}")
                continue
            try:
                checked[finding_id] = definition.check(value)
            except CaseError as exc:
                problems.append(str(exc))
        if problems:
            shown = problems[:5]
            more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
            raise CaseError("; ".join(shown) + more)
        return checked


_BOOL = "bool"
_PlainCheck = Union[str, tuple[float, float], frozenset[str]]
_EXACT = 2**53  # integers up to this size are exactly a float
_LARGEST = sys.float_info.max


def suggest(unknown: str, known: Iterable[str], limit: int = 3) -> list[str]:
    import difflib  # an error message's suggestions only: not at start-up

    return difflib.get_close_matches(unknown, list(known), n=limit, cutoff=0.6)
