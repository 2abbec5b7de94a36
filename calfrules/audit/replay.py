"""Replay: re-assess every recorded case with the current rules and list what would change.

The impact of a rule change on real history: for each record whose level, conditions or
recommendations (or completeness) would differ, what was given then and what would be
given now. Replay only reads the audit trail; the new assessments are not recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

from calfrules.audit.records import AuditRecord
from calfrules.rules.errors import CalfrulesError

if TYPE_CHECKING:
    from calfrules.audit.store import AuditStore
    from calfrules.engine.assessment import Assessment
    from calfrules.engine.engine import Engine

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ReplayChange:
    """One recorded case whose outcome would change (or that can no longer be assessed)."""

    record_id: str
    time: str
    case_id: str | None
    old_level: str
    new_level: str | None
    old_complete: bool
    new_complete: bool | None
    conditions_added: tuple[str, ...] = ()
    conditions_removed: tuple[str, ...] = ()
    recommendations_added: tuple[str, ...] = ()
    recommendations_removed: tuple[str, ...] = ()
    error: str | None = None

    @property
    def level_changed(self) -> bool:
        return self.new_level != self.old_level

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "time": self.time,
            "case_id": self.case_id,
            "old_level": self.old_level,
            "new_level": self.new_level,
            "old_complete": self.old_complete,
            "new_complete": self.new_complete,
            "conditions_added": list(self.conditions_added),
            "conditions_removed": list(self.conditions_removed),
            "recommendations_added": list(self.recommendations_added),
            "recommendations_removed": list(self.recommendations_removed),
            "error": self.error,
        }


@dataclass(frozen=True)
class ReplayReport:
    replayed: int
    changes: tuple[ReplayChange, ...] = field(default=())

    @property
    def changed(self) -> int:
        return len(self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "replayed": self.replayed,
            "changed": self.changed,
            "level_changed": sum(1 for c in self.changes if c.level_changed),
            "changes": [c.to_dict() for c in self.changes],
        }


REPLAY_CHUNK = 64  # records re-assessed per engine call: many cases per round trip to the engine child


def replay(engine: Engine, store: AuditStore, *, progress: Progress | None = None) -> ReplayReport:
    """Re-assess every recorded case, oldest first; ``progress(done, total)`` after each one."""
    total = store.count()
    changes: list[ReplayChange] = []
    done = 0
    records = iter(store.iter_records())
    while chunk := list(islice(records, REPLAY_CHUNK)):
        # never record the replay itself: it is a what-if, not an assessment given to anyone
        answers = engine.assess_many([record.case for record in chunk], record=False)
        for record, answer in zip(chunk, answers, strict=True):
            change = _change(record, answer)
            if change is not None:
                changes.append(change)
            done += 1
            if progress is not None:
                progress(done, max(total, done))
    return ReplayReport(replayed=done, changes=tuple(changes))


def compare(engine: Engine, record: AuditRecord) -> ReplayChange | None:
    """What re-assessing this record's case would change, or None when nothing would."""
    return _change(record, engine.assess_many([record.case], record=False)[0])


def _change(record: AuditRecord, answer: Assessment | Exception) -> ReplayChange | None:
    old = record.assessment
    old_conditions = _ids(old.get("conditions"))
    old_recommendations = _ids(old.get("recommendations"))
    case_id = old.get("case_id")
    if isinstance(answer, CalfrulesError):
        # a case the current vocabulary refuses is a change too: it could not be assessed now
        return ReplayChange(
            record.id, record.time, case_id, record.level, None, record.complete, None, error=str(answer)
        )
    if isinstance(answer, Exception):
        raise answer
    new = answer.to_dict()
    new_conditions = _ids(new.get("conditions"))
    new_recommendations = _ids(new.get("recommendations"))
    if (
        new["level"] == record.level
        and bool(new["complete"]) == record.complete
        and new_conditions == old_conditions
        and new_recommendations == old_recommendations
    ):
        return None
    return ReplayChange(
        record.id,
        record.time,
        case_id,
        record.level,
        str(new["level"]),
        record.complete,
        bool(new["complete"]),
        conditions_added=_added(new_conditions, old_conditions),
        conditions_removed=_added(old_conditions, new_conditions),
        recommendations_added=_added(new_recommendations, old_recommendations),
        recommendations_removed=_added(old_recommendations, new_recommendations),
    )


def _ids(items: Any) -> set[str]:
    return {str(item["id"]) for item in items or () if isinstance(item, dict) and "id" in item}


def _added(now: set[str], before: set[str]) -> tuple[str, ...]:
    return tuple(sorted(now - before))
