"""The embedded default: one SQLite file in WAL mode.

Reads: each thread gets its own connection (SQLite connections are not meant to be
shared between threads). Writes: one writer thread per store commits whatever has
queued up in one transaction (group commit; records alone as one multi-row INSERT);
stores in other processes on the same file take turns through ``group_commit.WritersTurn``
(and, failing that, wait through busy_timeout). A record is whole or absent after a crash.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from calfrules.audit.group_commit import MAX_BATCH, GroupCommitWriter, WritersTurn
from calfrules.audit.records import AuditError, iso
from calfrules.audit.store import (
    RECORD_COLUMNS,
    RECORD_VALUES,
    SCHEMA_VERSION,
    AuditStore,
    Execute,
    RecordInsert,
    Rows,
    check_schema_version,
)

T = TypeVar("T")
log = logging.getLogger("calfrules.audit")
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
    """An audit trail in one SQLite file (with ``create``, made with its folder if missing).

    Every write goes through one writer thread with group commit (``group_commit``).
    Before and after each batch the file at ``path`` is checked to be the one opened
    (device and inode): a trail deleted or replaced under a running service makes every
    write fail loudly instead of going into a deleted file, and no connection ever
    creates a new, table-less database (they open with ``mode=rw``). A file put back
    that is an audit trail (restored, or made anew by ``open_audit``) is taken up again.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = Path(path).expanduser()
        self.url = f"sqlite:///{self.path}"
        self._local = threading.local()
        self._connections: dict[threading.Thread, sqlite3.Connection] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._generation = 0  # bumped when a restored file is taken up: connections reopen
        self._problem: str | None = None  # why the last write failed, for health()
        if create:
            _create_private_file(self.path)
        else:
            _check_existing_file(self.path)
        self._identity = _identity(self.path)
        self._turn = WritersTurn(self.path.with_name(self.path.name + "-lock"))  # opened by the first write
        connection = self._connection()
        try:
            if create:
                connection.executescript(f"BEGIN IMMEDIATE;\n{SCHEMA}\nCOMMIT;")
            found = connection.execute("SELECT value FROM audit_meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.Error as exc:
            self.close()
            raise AuditError(f"{self.path}: cannot use as an audit trail ({_explain(exc, self.path)})") from None
        check_schema_version(found[0] if found else None, str(self.path))
        self._writer = GroupCommitWriter(self._write_batch, name=f"calfrules-audit-writer {self.path.name}")

    # --- connections -------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise AuditError(f"{self.path}: the audit store is closed")
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None and getattr(self._local, "generation", None) == self._generation:
            return connection
        if connection is not None:  # opened on a file that has since been replaced
            with self._lock:
                self._connections.pop(threading.current_thread(), None)
            connection.close()
        connection = self._open()
        with self._lock:
            # a thread that has ended will not come back for its connection: close it now
            for thread in [t for t in self._connections if not t.is_alive()]:
                self._connections.pop(thread).close()
            self._connections[threading.current_thread()] = connection
        self._local.connection, self._local.generation = connection, self._generation
        return connection

    def _open(self) -> sqlite3.Connection:
        try:
            # mode=rw: never creates a file (a deleted trail must not come back empty, without tables);
            # autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT)
            connection = sqlite3.connect(
                f"{self.path.absolute().as_uri()}?mode=rw",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
                cached_statements=MAX_BATCH + 100,  # a multi-row INSERT per batch size, and the reads
            )
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode = WAL")
            # FULL: a recorded assessment survives a power cut, not only a process crash
            connection.execute("PRAGMA synchronous = FULL")
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise AuditError(f"{self.path}: cannot open the audit trail ({_explain(exc, self.path)})") from None
        return connection

    def _check_file(self, *, take_up: bool) -> None:
        """The file at ``path`` is the trail opened; else AuditError (or, with ``take_up``, use a restored one)."""
        try:
            now = _identity(self.path)
        except FileNotFoundError:
            raise AuditError(
                f"{self.path}: the audit file was deleted or moved away, so nothing can be recorded; "
                "put it back, or restart the service to start a new trail"
            ) from None
        if now == self._identity:
            return
        if take_up and _is_audit_trail(self.path):
            with self._lock:
                self._identity = now
                self._generation += 1
            self._turn.reopen()
            log.warning("calfrules: %s was replaced by another audit trail; recording there from now on", self.path)
            return
        raise AuditError(f"{self.path}: the audit file was replaced by one that is not this audit trail")

    # --- units of work -----------------------------------------------------------
    def _run(self, work: Callable[[Execute], T], *, write: bool) -> T:
        if write:
            if self._closed:
                raise AuditError(f"{self.path}: the audit store is closed")
            result: T = self._writer.submit(work)
            return result
        self._check_file(take_up=False)
        connection = self._connection()
        try:
            connection.execute("BEGIN")
            try:
                return work(_executor(connection))
            finally:
                connection.execute("ROLLBACK")  # a read changes nothing
        except sqlite3.Error as exc:
            raise AuditError(f"{self.path}: audit trail read failed ({_explain(exc, self.path)})") from None

    def _write_batch(self, works: Sequence[Callable[[Execute], Any]]) -> list[tuple[bool, Any]]:
        """Every write queued meanwhile, in one transaction (on the writer thread)."""
        try:
            self._check_file(take_up=True)
            connection = self._connection()
            with self._turn():  # other processes writing this file wait here, not in SQLite's busy sleeps
                if all(type(work) is RecordInsert for work in works):  # the usual batch: only records
                    outcomes = _insert_records(connection, cast(Sequence[RecordInsert], works))
                else:
                    outcomes = _all_or_none(connection, works)
                if outcomes is None:  # a write was refused: again, each in its own savepoint, so the others stand
                    outcomes = _savepoints(connection, works)
            self._check_file(take_up=False)  # committed into the trail, not into a file deleted meanwhile
        except (AuditError, sqlite3.Error) as exc:
            error = exc if isinstance(exc, AuditError) else _write_error(exc, self.path)
            self._set_problem(str(error))
            raise error from None
        self._set_problem(None)
        return outcomes

    def _set_problem(self, problem: str | None) -> None:
        if problem != self._problem:  # logged once per change, not once per record
            if problem is not None:
                log.error("calfrules: the audit trail cannot record: %s", problem)
            else:
                log.warning("calfrules: the audit trail %s records again", self.path)
        self._problem = problem

    def health(self) -> tuple[str, str]:
        """("ok" | "failed", why): the file is the one opened and the last write worked."""
        if self._closed:
            return "failed", f"{self.path}: the audit store is closed"
        try:
            self._check_file(take_up=False)
        except AuditError as exc:
            return "failed", str(exc)
        if self._problem is not None:
            return "failed", self._problem
        return "ok", f"recording to {self.path}"

    def _time_param(self, moment: datetime) -> Any:
        return iso(moment)

    def close(self) -> None:
        writer = getattr(self, "_writer", None)
        if writer is not None:
            writer.close()  # what is queued is written first
        with self._lock:
            self._closed = True
            connections, self._connections = list(self._connections.values()), {}
        for connection in connections:
            connection.close()
        turn = getattr(self, "_turn", None)
        if turn is not None:
            turn.close()


def _executor(connection: sqlite3.Connection) -> Execute:
    def execute(sql: str, params: Any) -> Rows:
        return [dict(row) for row in connection.execute(sql, tuple(params)).fetchall()]

    return execute


def _insert_records(connection: sqlite3.Connection, records: Sequence[RecordInsert]) -> list[tuple[bool, Any]] | None:
    """Every record in one multi-row INSERT, which commits on its own: one statement per batch.

    Not BEGIN, an INSERT per record and COMMIT: Python's sqlite3 lets go of the GIL for
    each statement, and the writer must then win it back from the request threads. None
    (nothing written) if a record is refused (a duplicate id): the caller then runs the
    batch with a savepoint per record.
    """
    rows = ", ".join([RECORD_VALUES] * len(records))
    params = [value for record in records for value in record.params]
    try:
        connection.execute(f"INSERT INTO audit_records ({RECORD_COLUMNS}) VALUES {rows}", params)
    except sqlite3.IntegrityError as exc:
        if len(records) == 1:
            return [(False, AuditError(f"audit trail write refused ({exc})"))]
        return None
    return [(True, [])] * len(records)


def _all_or_none(
    connection: sqlite3.Connection, works: Sequence[Callable[[Execute], Any]]
) -> list[tuple[bool, Any]] | None:
    """Every work in one transaction and one COMMIT; None (rolled back) if one of them is refused.

    The common case costs no savepoint statements; a refusal (a duplicate id, feedback on
    an unknown record) is rare, and the caller then runs the batch with a savepoint each.
    """
    execute = _executor(connection)
    connection.execute("BEGIN IMMEDIATE")
    try:
        results = [work(execute) for work in works]
        connection.execute("COMMIT")
    except (AuditError, sqlite3.IntegrityError) as exc:
        connection.execute("ROLLBACK")
        if len(works) == 1:  # nothing else to save: this is the outcome
            return [(False, exc if isinstance(exc, AuditError) else AuditError(f"audit trail write refused ({exc})"))]
        return None
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return [(True, result) for result in results]


def _savepoints(connection: sqlite3.Connection, works: Sequence[Callable[[Execute], Any]]) -> list[tuple[bool, Any]]:
    """Each work in its own savepoint of one transaction; one COMMIT for all."""
    execute = _executor(connection)
    outcomes: list[tuple[bool, Any]] = []
    connection.execute("BEGIN IMMEDIATE")
    try:
        for work in works:
            connection.execute("SAVEPOINT one_write")
            try:
                outcomes.append((True, work(execute)))
            except (AuditError, sqlite3.IntegrityError) as exc:  # this write is refused; the others stand
                connection.execute("ROLLBACK TO one_write")
                error = exc if isinstance(exc, AuditError) else AuditError(f"audit trail write refused ({exc})")
                outcomes.append((False, error))
            connection.execute("RELEASE one_write")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return outcomes


def _identity(path: Path) -> tuple[int, int]:
    found = os.stat(path)
    return found.st_dev, found.st_ino


def _is_audit_trail(path: Path) -> bool:
    try:
        with closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)) as connection:
            return connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'audit_meta'").fetchone() is not None
    except sqlite3.Error:
        return False


def _explain(exc: sqlite3.Error, path: Path) -> str:
    """SQLite's words, plus the likely fix when the folder is read-only."""
    folder = path.absolute().parent
    if not os.access(folder, os.W_OK) or "readonly" in str(exc):
        return f"{exc}; the folder {folder} or the file must be writable: SQLite keeps -wal and -shm files beside it"
    return str(exc)


def _write_error(exc: sqlite3.Error, path: Path) -> AuditError:
    return AuditError(f"{path}: audit trail write failed ({_explain(exc, path)})")


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
