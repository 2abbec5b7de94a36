"""What one audit record holds, and how it is built from an assessment."""

from __future__ import annotations

import codecs
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from calfrules.rules.errors import CalfrulesError

CHANNELS = ("cli", "api", "service")
AGE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # in a str, a surrogate is always an unpaired one
JSON_ESCAPES = "calfrules-json-escapes"  # a codec error handler: non-ASCII as JSON \uXXXX escapes
AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class AuditError(CalfrulesError):
    """The audit trail could not be opened, written or read; says what to fix."""


@dataclass(frozen=True)
class Feedback:
    """A clinician's answer to a recorded assessment (for example a CDS Hooks card outcome)."""

    time: str
    outcome: str
    comment: str | None = None
    clinician: str | None = None
    extra: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "outcome": self.outcome,
            "comment": self.comment,
            "clinician": self.clinician,
            "extra": self.extra,
        }


@dataclass(frozen=True)
class AuditRecord:
    """One assessment as it was given: input, full output and what produced it."""

    id: str
    time: str
    channel: str
    request_id: str | None
    case: dict[str, Any]
    assessment: dict[str, Any]
    level: str
    complete: bool
    incomplete_reasons: tuple[str, ...]
    fired_rules: tuple[str, ...]
    rulesets: tuple[dict[str, Any], ...]
    plugins: tuple[dict[str, Any], ...]
    feedback: tuple[Feedback, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (one line of `calfrules audit export`)."""
        return {
            "id": self.id,
            "time": self.time,
            "channel": self.channel,
            "request_id": self.request_id,
            "level": self.level,
            "complete": self.complete,
            "incomplete_reasons": list(self.incomplete_reasons),
            "fired_rules": list(self.fired_rules),
            "rulesets": [dict(r) for r in self.rulesets],
            "plugins": [dict(p) for p in self.plugins],
            "case": self.case,
            "assessment": self.assessment,
            "feedback": [f.to_dict() for f in self.feedback],
        }


@dataclass(frozen=True)
class NewRecord:
    """The columns a store writes for one record; built once, checked before any write."""

    id: str
    time: datetime
    channel: str
    request_id: str | None
    level: str
    complete: bool
    case_json: str
    assessment_json: str
    incomplete_reasons_json: str
    fired_rules_json: str
    rulesets_json: str
    plugins_json: str


@dataclass(frozen=True)
class AnsweredAssessment:
    """An assessment and the JSON bytes it was answered as (the service's body): recorded as
    exactly those bytes, so the trail holds what the clinician got and nothing is encoded twice."""

    assessment: Any  # an Assessment
    json: bytes

    def to_dict(self) -> dict[str, Any]:
        """For an audit sink of one's own, which may take any Assessment-like object."""
        plain: dict[str, Any] = self.assessment.to_dict()
        return plain


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Fixed-width UTC ISO 8601 text, so text order is time order (SQLite compares text)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def since_moment(value: str | datetime, *, now: datetime | None = None) -> datetime:
    """The moment a ``since`` filter starts at, as an aware datetime.

    A datetime; ISO 8601 text (a date alone means its midnight UTC; naive means UTC); or an
    age such as ``30m``, ``24h``, ``7d``, ``2w``: that long before ``now`` (default: now).
    """
    if isinstance(value, datetime):
        moment = value
    else:
        age = AGE.match(value)
        if age:
            try:
                ago = timedelta(**{AGE_UNITS[age.group(2)]: int(age.group(1))})
                return (now or utc_now()) - ago
            except OverflowError:
                raise AuditError(f"since: {value!r} reaches back before year 1; give a shorter age") from None
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise AuditError(
                f"since: {value!r} is not a date or time or an age; use e.g. 2026-01-31, 2026-01-31T08:00Z or 7d"
            ) from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+14:00 is before year 1 in UTC
        raise AuditError(f"since: {value!r} is outside the years 1 to 9999 in UTC") from None


def new_record(
    *,
    case: Any,
    assessment: Any,
    channel: str,
    request_id: str | None,
    moment: datetime | None = None,
    record_id: str | None = None,
) -> NewRecord:
    """Turn an assessment (an Assessment or its to_dict()) and its input case into columns."""
    if channel not in CHANNELS:
        raise AuditError(f"channel must be one of {', '.join(CHANNELS)}, not {channel!r}")
    if isinstance(assessment, AnsweredAssessment):
        level, complete, reasons, fired, provenance = _summary_of(assessment.assessment)
        assessment_json = _answered_json(assessment)
    elif hasattr(assessment, "to_dict"):
        level, complete, reasons, fired, provenance = _summary_of(assessment)
        assessment_json = _encoded(assessment)
    else:
        output = assessment
        if not isinstance(output, dict) or "level" not in output:
            raise AuditError("assessment must be an Assessment or its to_dict()")
        level, complete = str(output["level"]), bool(output.get("complete", True))
        reasons = list(output.get("incomplete_reasons") or [])
        fired = [_rule_id(step.get("rule") or {}) for step in output.get("trace") or []]
        provenance = output.get("provenance") or {}
        assessment_json = _dumps(output, "assessment")
    case_data = case.to_dict() if hasattr(case, "to_dict") else case
    rulesets = [
        {"id": r.get("id"), "version": r.get("version"), "hash": r.get("hash"), "plugin": r.get("plugin")}
        for r in provenance.get("rulesets") or []
    ]
    plugins = [
        {"name": p.get("name"), "version": p.get("version"), "status": p.get("status")}
        for p in provenance.get("plugins") or []
    ]
    return NewRecord(
        id=record_id or str(uuid.uuid4()),
        time=moment or utc_now(),
        channel=channel,
        request_id=storable_text(request_id),
        level=level,
        complete=complete,
        case_json=_dumps(case_data, "case"),
        assessment_json=assessment_json,
        incomplete_reasons_json=_engine_json(reasons, "incomplete reasons"),
        fired_rules_json=_engine_json(fired, "fired rules"),
        rulesets_json=_engine_json(rulesets, "rulesets"),
        plugins_json=_engine_json(plugins, "plugins"),
    )


def _summary_of(assessment: Any) -> tuple[str, bool, list[str], list[str], dict[str, Any]]:
    """Level, completeness, reasons, fired rules and provenance, read off an Assessment object."""
    try:
        fired = [f"{step.rule.ruleset}/{step.rule.rule}" for step in assessment.trace]
        level = getattr(assessment.level, "value", assessment.level)
        return str(level), bool(assessment.complete), list(assessment.incomplete_reasons), fired, assessment.provenance
    except AttributeError as exc:
        raise AuditError(f"assessment must be an Assessment or its to_dict() ({exc})") from None


def _encoded(assessment: Any) -> str:
    """An Assessment as JSON text straight from its dataclasses (msgspec: no to_dict(), no json module).

    The same JSON as ``to_dict()``, in its order; the slow path (ASCII escapes) only for text
    UTF-8 cannot hold (a lone surrogate), which must still be recorded exactly.
    """
    try:
        return ascii_json(msgspec.json.encode(assessment).decode())
    except UnicodeEncodeError:
        return _dumps(assessment.to_dict(), "assessment")
    except (TypeError, ValueError) as exc:
        raise AuditError(f"the assessment cannot be stored as JSON: {exc}") from None


def _answered_json(answered: AnsweredAssessment) -> str:
    try:
        return ascii_json(answered.json.decode("utf-8"))
    except UnicodeDecodeError:
        raise AuditError("the answered assessment JSON is not UTF-8 text") from None


def _engine_json(data: Any, what: str) -> str:
    """Engine-made text lists as JSON, keys sorted (msgspec: the json module is several times slower)."""
    try:
        return ascii_json(msgspec.json.encode(data, order="sorted").decode())
    except (UnicodeEncodeError, TypeError, ValueError):  # a lone surrogate (kept exactly), or not JSON at all
        return _dumps(data, what)


def ascii_json(text: str) -> str:
    """JSON text with every non-ASCII character as its ``\\uXXXX`` escape, as ``json.dumps`` writes
    by default: stored so, it fits any database encoding and reads back exactly.

    Only inside strings can JSON hold such characters, so escaping them keeps it valid. The
    encoder runs in C and calls ``_json_escapes`` only for the few non-ASCII runs (a regex
    over the whole text took longer than encoding the assessment).
    """
    return text if text.isascii() else text.encode("ascii", JSON_ESCAPES).decode("ascii")


def _json_escapes(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    escaped = []
    for char in error.object[error.start : error.end]:
        code = ord(char)
        if code > 0xFFFF:  # outside the BMP: a surrogate pair, as JSON spells it
            code -= 0x10000
            escaped.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            escaped.append(f"\\u{code:04x}")
    return "".join(escaped), error.end


codecs.register_error(JSON_ESCAPES, _json_escapes)


def _rule_id(rule: dict[str, Any]) -> str:
    """`ruleset/rule`: rule ids are unique only within their ruleset."""
    return f"{rule.get('ruleset')}/{rule.get('rule')}"


def _dumps(data: Any, what: str) -> str:
    try:
        # ASCII escapes: lone surrogates and NUL characters (from a JSON request) store and read back exactly
        return json.dumps(data, ensure_ascii=True, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise AuditError(f"the {what} cannot be stored as JSON: {exc}") from None


def storable_text(value: str | None) -> str | None:
    """Plain text as every backend can store it: NUL and unpaired surrogates become visible escapes.

    Such characters only come from garbled or hostile input; recording it must not fail.
    (JSON columns need no such care: JSON escapes NUL, and text with a lone surrogate is
    stored ASCII-escaped; both round-trip exactly.)
    """
    if value is None:
        return None
    return value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def json_text(data: Any, *, indent: int | None = None, sort_keys: bool = False) -> str:
    """JSON for files and terminals: readable UTF-8, each lone surrogate as its ``\\uXXXX`` escape.

    A lone surrogate (from a garbled or hostile request) cannot be encoded as UTF-8, so plain
    ``ensure_ascii=False`` output would break `audit export` and `audit show`; the escape
    is valid JSON and reads back as exactly the text that was recorded.
    """
    text = json.dumps(data, ensure_ascii=False, indent=indent, sort_keys=sort_keys)
    return LONE_SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def visible(text: str) -> str:
    """Text for a terminal: each lone surrogate shown as its escape, so printing never fails."""
    return LONE_SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def loads(value: Any) -> Any:
    """JSON text as stored, or JSON a driver already decoded (a jsonb column in a clinic's own view)."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def as_iso(value: Any) -> str:
    """Text (SQLite) or a datetime (PostgreSQL timestamptz) as the same fixed-width UTC text."""
    return iso(value) if isinstance(value, datetime) else str(value)


def record_from_row(row: dict[str, Any], feedback: list[Feedback]) -> AuditRecord:
    return AuditRecord(
        id=str(row["id"]),
        time=as_iso(row["recorded_at"]),
        channel=str(row["channel"]),
        request_id=row["request_id"],
        case=loads(row["case_json"]),
        assessment=loads(row["assessment_json"]),
        level=str(row["level"]),
        complete=bool(row["complete"]),
        incomplete_reasons=tuple(loads(row["incomplete_reasons_json"])),
        fired_rules=tuple(loads(row["fired_rules_json"])),
        rulesets=tuple(loads(row["rulesets_json"])),
        plugins=tuple(loads(row["plugins_json"])),
        feedback=tuple(feedback),
    )


def feedback_from_row(row: dict[str, Any]) -> Feedback:
    extra = row["extra_json"]
    return Feedback(
        time=as_iso(row["recorded_at"]),
        outcome=str(row["outcome"]),
        comment=row["comment"],
        clinician=row["clinician"],
        extra=None if extra is None else loads(extra),
    )
