"""Which signed CDS Hooks requests were already seen: each (iss, jti) is accepted once.

An entry is kept until its token could no longer be accepted anyway (exp plus the leeway).
``MemoryReplayCache`` is one process's memory; ``SqlReplayStore`` is a table that every
process and instance sharing the database sees (``replay_store`` in the issuers file:
``sqlite:///path`` for workers on one machine, ``postgresql://...`` for a cluster). When the
check cannot be made (cache full, database down) the token is refused with 503: a replay
is never let through because the check failed.
"""

from __future__ import annotations

import heapq
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from calfrules.rules.errors import CalfrulesError

TABLE = "calfrules_jwt_jti"
PRUNE_EVERY_S = 60.0  # expired rows are deleted at most this often
DB_TIMEOUT_S = 5


class ReplayCheckFailed(CalfrulesError):
    """The replay check could not be made; the request is refused (503) with this line."""


class ReplayStore(Protocol):
    def first_use(self, iss: str, jti: str, until: float) -> bool:
        """True the first time (iss, jti) is seen (then it is kept until ``until``); False after."""
        ...


class MemoryReplayCache:
    """In this process's memory, bounded: when ``size`` live entries are held, new tokens are
    refused rather than a live one forgotten (which would let it be replayed)."""

    def __init__(self, size: int, clock: Callable[[], float] = time.time) -> None:
        self.size = size
        self.clock = clock
        self._lock = threading.Lock()
        self._until: dict[tuple[str, str], float] = {}
        self._expiry: list[tuple[float, tuple[str, str]]] = []

    def first_use(self, iss: str, jti: str, until: float) -> bool:
        key = (iss, jti)
        now = self.clock()
        with self._lock:
            while self._expiry and self._expiry[0][0] < now:
                _, old = heapq.heappop(self._expiry)
                if self._until.get(old, now) < now:
                    del self._until[old]
            if key in self._until:
                return False
            if len(self._until) >= self.size:
                raise ReplayCheckFailed(
                    f"more than {self.size} signed requests are still within their lifetime, too many to check "
                    "for replay; try again shortly"
                )
            self._until[key] = until
            heapq.heappush(self._expiry, (until, key))
            return True

    def __len__(self) -> int:
        return len(self._until)


class SqlReplayStore:
    """A table of (iss, jti, until) in SQLite or PostgreSQL, shared by every process using it.

    One insert per token: it succeeds when the pair is new, or replaces an entry whose token
    has expired; otherwise the token is a replay. Connected on first use (after any fork).
    """

    def __init__(self, url: str, clock: Callable[[], float] = time.time) -> None:
        if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError(f"replay_store {url!r} must be sqlite:///PATH or postgresql://...")
        self.url = url
        self.clock = clock
        self._lock = threading.Lock()
        self._connection: Any = None
        self._pruned = 0.0

    def first_use(self, iss: str, jti: str, until: float) -> bool:
        now = self.clock()
        with self._lock:
            try:
                connection = self._connect()
                mark = "?" if self._sqlite else "%s"
                if now - self._pruned > PRUNE_EVERY_S:
                    connection.execute(f"DELETE FROM {TABLE} WHERE until < {mark}", (now,))
                    self._pruned = now
                cursor = connection.execute(
                    f"INSERT INTO {TABLE} (iss, jti, until) VALUES ({mark}, {mark}, {mark}) "
                    f"ON CONFLICT (iss, jti) DO UPDATE SET until = excluded.until WHERE {TABLE}.until < {mark}",
                    (iss, jti, until, now),
                )
                return bool(cursor.rowcount == 1)
            except Exception as exc:  # any database failure: refuse, and reconnect next time
                self.close()
                reason = " ".join(str(exc).split())[:200] or type(exc).__name__
                raise ReplayCheckFailed(
                    f"could not check the token for replay in the replay store ({reason}); try again shortly"
                ) from None

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None

    @property
    def _sqlite(self) -> bool:
        return self.url.startswith("sqlite:")

    def _connect(self) -> Any:
        if self._connection is not None:
            return self._connection
        schema = f"CREATE TABLE IF NOT EXISTS {TABLE} (iss TEXT NOT NULL, jti TEXT NOT NULL, "
        if self._sqlite:
            path = Path(self.url.removeprefix("sqlite:///"))
            connection: Any = sqlite3.connect(path, timeout=DB_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode = WAL")  # several processes write it at once
            connection.execute(schema + "until REAL NOT NULL, PRIMARY KEY (iss, jti))")
        else:
            import psycopg  # the PostgreSQL driver, as the audit trail's

            connection = psycopg.connect(self.url, autocommit=True, connect_timeout=DB_TIMEOUT_S)
            try:
                connection.execute(schema + "until DOUBLE PRECISION NOT NULL, PRIMARY KEY (iss, jti))")
            except psycopg.errors.UniqueViolation:
                pass  # another instance created it at the same moment
        self._connection = connection
        return connection
