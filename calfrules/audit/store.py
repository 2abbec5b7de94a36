"""The audit store: the operations every backend shares, written once in portable SQL.

A backend (SQLite, PostgreSQL) only says how to open connections, run a unit of work in
one transaction, create its schema and pass times. Statements use ``?`` placeholders;
the PostgreSQL backend rewrites them.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from calfrules.audit.records import (
    AuditError,
    AuditRecord,
    Feedback,
    NewRecord,
    _dumps,
    feedback_from_row,
    new_record,
    record_from_row,
    since_moment,
    storable_text,
    utc_now,
)
from calfrules.rules.levels import Level

T = TypeVar("T")
Rows = list[dict[str, Any]]
# aliases: inside AuditStore, `list` names the method
Records = list[AuditRecord]
FeedbackLists = dict[str, list[Feedback]]
Execute = Callable[[str, Sequence[Any]], Rows]

SCHEMA_VERSION = 1
MAX_LIST = 10_000
MAX_TEXT = 10_000
RECORD_COLUMNS = (
    "id, recorded_at, channel, request_id, level, complete, case_json, assessment_json, "
    "incomplete_reasons_json, fired_rules_json, rulesets_json, plugins_json"
)
RECORD_VALUES = f"({', '.join('?' * len(RECORD_COLUMNS.split(',')))})"  # one record's placeholders
RECORD_INSERT = f"INSERT INTO audit_records ({RECORD_COLUMNS}) VALUES {RECORD_VALUES}"
FEEDBACK_COLUMNS = "record_id, recorded_at, outcome, comment, clinician, extra_json"
LEVELS = tuple(level.value for level in sorted(Level, reverse=True))


class RecordInsert:
    """The write of one record: a unit of work, whose parameters a backend may also insert
    together with other records' in one multi-row statement (SQLite's group commit does)."""

    __slots__ = ("params",)
    sql = RECORD_INSERT

    def __init__(self, params: tuple[Any, ...]) -> None:
        self.params = params

    def __call__(self, execute: Execute) -> Rows:
        return execute(self.sql, self.params)


class AuditStore(ABC):
    """Where assessments are recorded. Thread-safe; each record is one transaction.

    Open one with :func:`calfrules.audit.open_audit`.
    """

    url: str

    # --- what a backend provides -------------------------------------------------
    @abstractmethod
    def _run(self, work: Callable[[Execute], T], *, write: bool) -> T:
        """Run ``work`` in one transaction (committed whole, or rolled back on any error)."""

    @abstractmethod
    def _time_param(self, moment: datetime) -> Any:
        """A time as this backend stores it."""

    @abstractmethod
    def close(self) -> None:
        """Close every connection this store opened."""

    # --- writing -----------------------------------------------------------------
    def record(
        self,
        *,
        case: Any,
        assessment: Any,
        channel: str = "api",
        request_id: str | None = None,
        record_id: str | None = None,
    ) -> str:
        """Record one assessment (an Assessment or its to_dict()) and its input case; returns the record id.

        ``record_id``: the id to record it under (the service picks it before answering, so
        a retried write keeps the id its card carries); default a new UUID.
        """
        if request_id is not None and (not isinstance(request_id, str) or len(request_id) > 200):
            raise AuditError("request_id must be text of at most 200 characters")
        if record_id is not None and not _plausible_id(record_id):
            raise AuditError("record_id must be text of at most 100 characters, such as a UUID")
        row = new_record(case=case, assessment=assessment, channel=channel, request_id=request_id, record_id=record_id)
        self._run(self._record_insert(row), write=True)
        return row.id

    def _record_insert(self, row: NewRecord) -> RecordInsert:
        params = (
            row.id,
            self._time_param(row.time),
            row.channel,
            row.request_id,
            row.level,
            row.complete,
            row.case_json,
            row.assessment_json,
            row.incomplete_reasons_json,
            row.fired_rules_json,
            row.rulesets_json,
            row.plugins_json,
        )
        return RecordInsert(params)

    def add_feedback(
        self,
        record_id: str,
        *,
        outcome: str,
        comment: str | None = None,
        clinician: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Add a clinician's feedback (e.g. "accepted", "overridden") to a record; AuditError if it is unknown."""
        if not isinstance(outcome, str) or not outcome.strip() or len(outcome) > 64:
            raise AuditError("feedback outcome must be a short word such as accepted or overridden")
        for name, text in (("comment", comment), ("clinician", clinician)):
            if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT):
                raise AuditError(f"feedback {name} must be text of at most {MAX_TEXT} characters")
        if extra is not None and not isinstance(extra, dict):
            raise AuditError("feedback extra must be an object")
        params = (
            record_id,
            self._time_param(utc_now()),
            storable_text(outcome.strip()),
            storable_text(comment),
            storable_text(clinician),
            None if extra is None else _dumps(extra, "feedback"),
        )

        def work(execute: Execute) -> None:
            if not _plausible_id(record_id) or not execute("SELECT 1 FROM audit_records WHERE id = ?", (record_id,)):
                raise AuditError(f"no audit record {record_id!r}; `calfrules audit list` shows the ids")
            execute(f"INSERT INTO audit_feedback ({FEEDBACK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", params)

        self._run(work, write=True)

    # --- reading -----------------------------------------------------------------
    def get(self, record_id: str) -> AuditRecord | None:
        """The record with this id, or None."""
        if not _plausible_id(record_id):
            return None

        def work(execute: Execute) -> Records:
            rows = execute(f"SELECT {RECORD_COLUMNS} FROM audit_records WHERE id = ?", (record_id,))
            return self._with_feedback(execute, rows)

        found = self._run(work, write=False)
        return found[0] if found else None

    def ids_starting_with(self, prefix: str, *, limit: int = 10) -> builtins.list[str]:
        """Up to ``limit`` record ids that begin with ``prefix`` (a shortened id, as people copy it)."""
        if not prefix or not _plausible_id(prefix):
            return []
        sql = f"SELECT id FROM audit_records WHERE substr(id, 1, CAST(? AS INTEGER)) = ? ORDER BY id LIMIT {int(limit)}"
        rows = self._run(lambda execute: execute(sql, (len(prefix), prefix)), write=False)
        return [str(row["id"]) for row in rows]

    def list(self, limit: int | None = 50, since: str | datetime | None = None, level: str | None = None) -> Records:
        """The newest records first, filtered by ``since`` and ``level`` (exact).

        ``since``: a datetime, ISO text or an age such as 7d (see ``records.since_moment``).
        """
        if limit is not None and (not isinstance(limit, int) or not 0 < limit <= MAX_LIST):
            raise AuditError(f"limit must be between 1 and {MAX_LIST}")
        level_id = getattr(level, "value", level)
        if level_id is not None and level_id not in LEVELS:
            raise AuditError(f"level must be one of {', '.join(LEVELS)}, not {level_id!r}")
        where: builtins.list[str] = []
        params: builtins.list[Any] = []
        if since is not None:
            where.append("recorded_at >= ?")
            params.append(self._time_param(since_moment(since)))
        if level_id is not None:
            where.append("level = ?")
            params.append(level_id)
        sql = f"SELECT {RECORD_COLUMNS} FROM audit_records"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY recorded_at DESC, id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._run(lambda execute: self._with_feedback(execute, execute(sql, params)), write=False)

    def count(self) -> int:
        rows = self._run(lambda execute: execute("SELECT COUNT(*) AS n FROM audit_records", ()), write=False)
        return int(rows[0]["n"])

    def iter_records(self, *, batch: int = 200) -> Iterator[AuditRecord]:
        """Every record, oldest first, read in pages (each page its own short transaction)."""
        after: tuple[Any, str] | None = None
        while True:
            sql = f"SELECT {RECORD_COLUMNS} FROM audit_records"
            params: tuple[Any, ...] = ()
            if after is not None:
                sql += " WHERE recorded_at > ? OR (recorded_at = ? AND id > ?)"
                params = (after[0], after[0], after[1])
            sql += f" ORDER BY recorded_at, id LIMIT {int(batch)}"
            rows, records = self._run(partial(self._page, sql=sql, params=params), write=False)
            yield from records
            if len(rows) < batch:
                return
            after = (rows[-1]["recorded_at"], str(rows[-1]["id"]))

    def _page(self, execute: Execute, *, sql: str, params: Sequence[Any]) -> tuple[Rows, Records]:
        rows = execute(sql, params)
        return rows, self._with_feedback(execute, rows)

    def _with_feedback(self, execute: Execute, rows: Rows) -> Records:
        if not rows:
            return []
        ids = [str(row["id"]) for row in rows]
        feedback: FeedbackLists = {record_id: [] for record_id in ids}
        marks = ", ".join("?" * len(ids))
        for row in execute(
            f"SELECT {FEEDBACK_COLUMNS} FROM audit_feedback WHERE record_id IN ({marks}) ORDER BY seq", ids
        ):
            feedback[str(row["record_id"])].append(feedback_from_row(row))
        return [record_from_row(row, feedback[str(row["id"])]) for row in rows]

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"


def _plausible_id(record_id: object) -> bool:
    """Ids are UUIDs; anything a database would choke on (NUL, surrogates, megabytes) is simply unknown."""
    return isinstance(record_id, str) and len(record_id) <= 100 and storable_text(record_id) == record_id


def check_schema_version(found: str | None, url: str) -> None:
    if found is not None and int(found) > SCHEMA_VERSION:
        raise AuditError(
            f"{url}: the audit trail was written by a newer calfrules (schema {found}, this one reads "
            f"{SCHEMA_VERSION}); upgrade calfrules"
        )
