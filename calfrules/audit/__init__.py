"""The audit trail: every assessment recorded with its input, output and what produced it.

```python
from calfrules.audit import open_audit, replay
store = open_audit()                      # $CALFRULES_AUDIT, else the user data folder's audit.sqlite3
rid = store.record(case=case, assessment=assessment, channel="service", request_id="abc")
store.add_feedback(rid, outcome="accepted", clinician="dr-x")
store.get(rid); store.list(limit=20, since="2026-01-01", level="urgent"); store.close()
```

SQLite (the standard library's sqlite3) is the embedded default; ``postgresql://`` URLs
use psycopg 3 (``pip install 'calfrules[postgres]'``), imported only then.
"""

from __future__ import annotations

import os
from pathlib import Path

from calfrules.audit.records import CHANNELS, AnsweredAssessment, AuditError, AuditRecord, Feedback
from calfrules.audit.replay import ReplayChange, ReplayReport, replay
from calfrules.audit.store import AuditStore

ENV_VAR = "CALFRULES_AUDIT"
DEFAULT_FILE = "audit.sqlite3"


def default_path() -> Path:
    """The per-user audit file: platformdirs' user data folder for calfrules."""
    try:
        from platformdirs import user_data_dir

        folder = Path(user_data_dir("calfrules", appauthor=False))
    except ImportError:  # platformdirs gives this same folder on Linux
        folder = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "calfrules"
    return folder / DEFAULT_FILE


def resolve_url(url: str | os.PathLike[str] | None = None) -> str:
    """The URL to open: ``url``, else $CALFRULES_AUDIT, else the default SQLite file."""
    if url is None or str(url) == "":
        url = os.environ.get(ENV_VAR) or None
    return str(url) if url is not None else f"sqlite:///{default_path()}"


def open_audit(url: str | os.PathLike[str] | None = None, *, create: bool = True) -> AuditStore:
    """Open an audit trail; ``create``: make it (file, folder, tables) if missing, else AuditError.

    Readers pass ``create=False``: a mistyped path must be an error, not a new empty trail.

    - ``None``: $CALFRULES_AUDIT, else ``audit.sqlite3`` in the user data folder
    - ``sqlite:///relative/file.db``, ``sqlite:////absolute/file.db``, or a plain file path
    - ``postgresql://user:password@host:5432/dbname`` (also ``postgres://``)
    """
    target = resolve_url(url)
    scheme, sep, rest = target.partition("://")
    if not sep:
        return _sqlite(target, create)
    scheme = scheme.lower()
    if scheme == "sqlite":
        # SQLAlchemy's convention: sqlite:///a.db is relative, sqlite:////tmp/a.db absolute
        path = rest[1:] if rest.startswith("/") else rest
        if not path or path == ":memory:":
            raise AuditError("an audit trail needs a file: use sqlite:///path/to/audit.sqlite3")
        return _sqlite(path, create)
    if scheme in ("postgresql", "postgres"):
        from calfrules.audit.postgres_store import PostgresAuditStore

        return PostgresAuditStore(target, create=create)
    raise AuditError(f"unknown audit URL scheme {scheme!r}: use sqlite:///path/to/file.db or postgresql://...")


def _sqlite(path: str, create: bool) -> AuditStore:
    from calfrules.audit.sqlite_store import SqliteAuditStore

    return SqliteAuditStore(path, create=create)


__all__ = [
    "CHANNELS",
    "ENV_VAR",
    "AnsweredAssessment",
    "AuditError",
    "AuditRecord",
    "AuditStore",
    "Feedback",
    "ReplayChange",
    "ReplayReport",
    "default_path",
    "open_audit",
    "replay",
    "resolve_url",
]
