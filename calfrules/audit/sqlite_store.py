"""The embedded default: one SQLite file in WAL mode.

Each thread gets its own connection (SQLite connections are not meant to be shared
between threads); writers take the write lock up front (BEGIN IMMEDIATE) and wait for
each other through busy_timeout, so several threads or processes can record at once.
A record is one transaction: after a crash it is either whole or absent.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from calfrules.audit.records import AuditError, iso
from calfrules.audit.store import SCHEMA_VERSION, AuditStore, Execute, Rows, check_schema_version

T = TypeVar("T")
BUSY_TIMEOUT_MS = 30_000

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO audit_meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}');
CREATE TABLE IF NOT EXISTS audit_records (
    id TEXT PRIMARY KEY,
    recorded_at TEXT NOT NULL,
    channel TEXT NOT NULL,
    request_id TEXT,
    level TEXT NOT NULL,
    complete INTEGER NOT NULL,
    case_json TEXT NOT NULL,
    assessment_json TEXT NOT NULL,
    incomplete_reasons_json TEXT NOT NULL,
    fired_rules_json TEXT NOT NULL,
    rulesets_json TEXT NOT NULL,
    plugins_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_records_time ON audit_records (recorded_at, id);
CREATE INDEX IF NOT EXISTS audit_records_level ON audit_records (level, recorded_at);
CREATE TABLE IF NOT EXISTS audit_feedback (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL REFERENCES audit_records (id),
    recorded_at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    comment TEXT,
    clinician TEXT,
    extra_json TEXT
);
CREATE INDEX IF NOT EXISTS audit_feedback_record ON audit_feedback (record_id, seq);
"""


class SqliteAuditStore(AuditStore):
    """An audit trail in one SQLite file (with ``create``, made with its folder if missing)."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = Path(path).expanduser()
        self.url = f"sqlite:///{self.path}"
        self._local = threading.local()
        self._connections: dict[threading.Thread, sqlite3.Connection] = {}
        self._lock = threading.Lock()
        self._closed = False
        if create:
            _create_private_file(self.path)
        else:
            _check_existing_file(self.path)
        connection = self._connection()
        try:
            if create:
                connection.executescript(f"BEGIN IMMEDIATE;\n{SCHEMA}\nCOMMIT;")
            found = connection.execute("SELECT value FROM audit_meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.Error as exc:
            self.close()
            raise AuditError(f"{self.path}: cannot use as an audit trail ({exc})") from None
        check_schema_version(found[0] if found else None, str(self.path))

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise AuditError(f"{self.path}: the audit store is closed")
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None:
            return connection
        try:
            # autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT)
            connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
            )
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode = WAL")
            # FULL: a recorded assessment survives a power cut, not only a process crash
            connection.execute("PRAGMA synchronous = FULL")
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise AuditError(f"{self.path}: cannot open the audit trail ({exc})") from None
        with self._lock:
            # a thread that has ended will not come back for its connection: close it now
            for thread in [t for t in self._connections if not t.is_alive()]:
                self._connections.pop(thread).close()
            self._connections[threading.current_thread()] = connection
        self._local.connection = connection
        return connection

    def _run(self, work: Callable[[Execute], T], *, write: bool) -> T:
        connection = self._connection()

        def execute(sql: str, params: Any) -> Rows:
            return [dict(row) for row in connection.execute(sql, tuple(params)).fetchall()]

        try:
            connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                result = work(execute)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            raise AuditError(f"{self.path}: audit trail {'write' if write else 'read'} failed ({exc})") from None
        return result

    def _time_param(self, moment: datetime) -> Any:
        return iso(moment)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._connections = list(self._connections.values()), {}
        for connection in connections:
            connection.close()


def _check_existing_file(path: Path) -> None:
    """An audit trail is there: read-only, so a mistaken path (another database) is left as it was."""
    if path.is_dir():
        raise AuditError(f"{path}: is a folder; give a file name such as audit.sqlite3")
    if not path.is_file():
        raise AuditError(
            f"no audit trail at {path}: give --db (or $CALFRULES_AUDIT) naming an existing one, "
            "or record one with `calfrules assess --audit CASE`"
        )
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as connection:
            found = connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'audit_meta'").fetchone()
    except sqlite3.Error as exc:
        raise AuditError(f"{path}: cannot use as an audit trail ({exc})") from None
    if not found:
        raise AuditError(f"{path}: not an audit trail (it has no audit tables)")


def _create_private_file(path: Path) -> None:
    """Audit records hold health data: a new file (and folder) is readable by its owner only."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise AuditError(f"{path}: cannot create the audit trail ({exc.strerror})") from None
    if path.is_dir():
        raise AuditError(f"{path}: is a folder; give a file name such as audit.sqlite3")
