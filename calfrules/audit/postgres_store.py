"""PostgreSQL, for clinics running several service instances against one audit trail.

psycopg 3 with psycopg_pool's connection pool (thread-safe: each unit of work borrows a
connection and commits or rolls back as one transaction). The tables match the SQLite
ones: JSON as text (ASCII-escaped, so any case round-trips exactly; jsonb refuses NUL
characters, which a hostile request could send), times as timestamptz.
Query the JSON in SQL with a cast: ``assessment_json::jsonb -> 'red_flags'``.
Imported only when a postgresql:// URL is opened: `import calfrules` never loads psycopg.

A database outage must not hold the answers: writes go through one writer thread with
group commit (one connection, no pool contention), the pool waits at most
``WAIT_S`` for a connection, and a circuit breaker (``breaker``) fails writes at once
while the database is down; health() then says "degraded". The pool reconnects in the
background and the breaker's trial call finds out when the database is back.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from calfrules.audit.breaker import CircuitBreaker
from calfrules.audit.group_commit import GroupCommitWriter
from calfrules.audit.records import AuditError
from calfrules.audit.store import SCHEMA_VERSION, AuditStore, Execute, Rows, check_schema_version

T = TypeVar("T")
log = logging.getLogger("calfrules.audit")
WAIT_S = 0.5  # longest wait for a pooled connection while the service runs (opening waits ``timeout``)
CONNECT_TIMEOUT_S = 2  # libpq counts whole seconds, at least 2
# any constant works: several instances creating the schema at once take turns on it
SCHEMA_LOCK = 0x6361_6C66  # "calf"

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    f"INSERT INTO audit_meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}') ON CONFLICT DO NOTHING",
    """CREATE TABLE IF NOT EXISTS audit_records (
        id TEXT PRIMARY KEY,
        recorded_at TIMESTAMPTZ NOT NULL,
        channel TEXT NOT NULL,
        request_id TEXT,
        level TEXT NOT NULL,
        complete BOOLEAN NOT NULL,
        case_json TEXT NOT NULL,
        assessment_json TEXT NOT NULL,
        incomplete_reasons_json TEXT NOT NULL,
        fired_rules_json TEXT NOT NULL,
        rulesets_json TEXT NOT NULL,
        plugins_json TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS audit_records_time ON audit_records (recorded_at, id)",
    "CREATE INDEX IF NOT EXISTS audit_records_level ON audit_records (level, recorded_at)",
    """CREATE TABLE IF NOT EXISTS audit_feedback (
        seq BIGSERIAL PRIMARY KEY,
        record_id TEXT NOT NULL REFERENCES audit_records (id),
        recorded_at TIMESTAMPTZ NOT NULL,
        outcome TEXT NOT NULL,
        comment TEXT,
        clinician TEXT,
        extra_json TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS audit_feedback_record ON audit_feedback (record_id, seq)",
]


class PostgresAuditStore(AuditStore):
    """An audit trail in a PostgreSQL database (with ``create``, tables created if missing)."""

    def __init__(
        self, url: str, *, create: bool = True, min_size: int = 1, max_size: int = 10, timeout: float = 10.0
    ) -> None:
        try:
            import psycopg
            from psycopg.rows import dict_row
            from psycopg_pool import ConnectionPool, PoolTimeout
        except ImportError:
            raise AuditError(
                "a PostgreSQL audit trail needs psycopg 3 and psycopg_pool: pip install 'calfrules[postgres]'"
            ) from None
        self.url = redact(url)
        self._errors: tuple[type[BaseException], ...] = (psycopg.Error, PoolTimeout)
        # a broken connection or none to be had: the database is down, not the record wrong
        self._outages: tuple[type[BaseException], ...] = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)
        self._breaker = CircuitBreaker()
        try:
            # one direct connection first: a wrong password or host fails at once, with the server's words
            connect = psycopg.connect(url, connect_timeout=max(1, int(timeout)), row_factory=dict_row)
            with connect as connection, connection.cursor() as cursor:
                if create:
                    _create_schema(_executor(cursor))
                elif not _executor(cursor)("SELECT to_regclass('audit_meta') IS NOT NULL AS present", ())[0]["present"]:
                    raise AuditError(f"{self.url}: no audit trail in this database (it has no audit tables)")
                found = _executor(cursor)("SELECT value FROM audit_meta WHERE key = 'schema_version'", ())
        except psycopg.Error as exc:
            raise AuditError(f"{self.url}: cannot open the audit trail ({_first_line(exc)})") from None
        check_schema_version(found[0]["value"] if found else None, self.url)
        self._pool: Any = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=WAIT_S,
            kwargs={"row_factory": dict_row, "connect_timeout": CONNECT_TIMEOUT_S},
            # a connection the server dropped (a restart) is noticed before use: psycopg_pool 3.2+
            check=getattr(ConnectionPool, "check_connection", None),
            open=False,
            name="calfrules-audit",
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except PoolTimeout as exc:
            self.close()
            raise AuditError(f"{self.url}: cannot open the audit trail ({_first_line(exc)})") from None
        self._writer = GroupCommitWriter(self._write_batch, name="calfrules-audit-writer postgresql")

    def _run(self, work: Callable[[Execute], T], *, write: bool) -> T:
        self._refuse_while_down()  # here, not in the batch: allow() hands out the one trial call
        if write:
            result: T = self._writer.submit(work)
            return result
        try:
            # the pool's connection context commits on success and rolls back on any error
            with self._pool.connection() as connection, connection.cursor() as cursor:
                found = work(_executor(cursor))
        except AuditError:
            raise
        except self._errors as exc:
            raise self._failure(exc, "read") from None
        self._breaker.succeeded()
        return found

    def _write_batch(self, works: Sequence[Callable[[Execute], Any]]) -> list[tuple[bool, Any]]:
        """The queued writes in one transaction (on the writer thread).

        All in one go first; if one is refused, that transaction is rolled back and the batch
        runs again with a savepoint each, so the refusal leaves the others (a savepoint per
        write in the common case would cost two more round trips each).
        """
        import psycopg

        refusals = (AuditError, psycopg.DataError, psycopg.IntegrityError)
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self._pool.connection() as connection, connection.cursor() as cursor:
                execute = _executor(cursor)
                try:
                    with connection.transaction():
                        outcomes = [(True, work(execute)) for work in works]
                except refusals:
                    outcomes = []
                    with connection.transaction():
                        for work in works:
                            try:
                                with connection.transaction():  # a savepoint
                                    outcomes.append((True, work(execute)))
                            except refusals as exc:  # this one is refused
                                error = (
                                    exc if isinstance(exc, AuditError) else AuditError(f"audit write refused ({exc})")
                                )
                                outcomes.append((False, error))
        except self._errors as exc:
            raise self._failure(exc, "write") from None
        if self._breaker.is_open:
            log.warning("calfrules: the audit database %s records again", self.url)
        self._breaker.succeeded()
        return outcomes

    def _refuse_while_down(self) -> None:
        if not self._breaker.allow():
            raise AuditError(
                f"{self.url}: the audit database is unreachable ({self._breaker.reason}); not waiting for it, "
                f"next try in {self._breaker.seconds_to_retry():.1f} s"
            )

    def _failure(self, exc: BaseException, what: str) -> AuditError:
        error = AuditError(f"{self.url}: audit trail {what} failed ({_first_line(exc)})")
        if isinstance(exc, self._outages):
            if not self._breaker.is_open:  # logged once per outage, not once per answer
                log.error("calfrules: the audit database is unreachable, answers are flagged: %s", error)
            self._breaker.failed(_first_line(exc))
        return error

    def health(self) -> tuple[str, str]:
        """("degraded", why) while the breaker is open (the store retries on its own), else ("ok", ...)."""
        if self._breaker.is_open:
            return "degraded", f"{self.url}: the audit database is unreachable ({self._breaker.reason}); retrying"
        return "ok", f"recording to {self.url}"

    def _time_param(self, moment: datetime) -> Any:
        return moment

    def close(self) -> None:
        writer = getattr(self, "_writer", None)
        if writer is not None:
            writer.close()  # what is queued is written first
        self._pool.close()


def _executor(cursor: Any) -> Execute:
    def execute(sql: str, params: Any) -> Rows:
        cursor.execute(sql.replace("?", "%s"), tuple(params))
        return list(cursor.fetchall()) if cursor.description else []

    return execute


def _create_schema(execute: Execute) -> None:
    execute(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})", ())
    for statement in SCHEMA:
        execute(statement, ())


def redact(url: str) -> str:
    """The URL without its password, for messages and `repr`."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
