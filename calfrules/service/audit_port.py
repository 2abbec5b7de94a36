"""What the service needs from an audit store (``calfrules.audit.AuditStore`` provides it).

/health asks :func:`audit_health`, which never raises and never waits on the database::

    audit_health(trail) -> {"status": "ok" | "degraded" | "failed", "detail": "<one line>"}

- ``ok``: the last write worked (or none was tried yet) and the trail's file is the one opened.
- ``degraded``: writes are failing for now but the store retries on its own (PostgreSQL
  down: the circuit breaker is open and answers are flagged until it reconnects).
- ``failed``: the trail cannot record until someone acts (SQLite file deleted or replaced,
  folder read-only); every answer is flagged ``X-Calfrules-Audit-Failed``.
``trail`` None (no audit kept) is ``ok`` with a detail saying so.

A card's uuid is its audit record's id, chosen before the write (:func:`record_answer`):
a write that fails is tried once more under the same id, and one that committed although
the store reported a failure is found by that id. An answer whose write still failed went
out flagged; :class:`UnrecordedCards` remembers its id, so feedback on it is told why
there is no record (409) rather than that the card is unknown.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Literal, Protocol, TypedDict

from calfrules.engine.engine import AuditSink

UNRECORDED_KEPT = 10_000  # the newest unrecorded card ids remembered (about 1 MB)

HealthStatus = Literal["ok", "degraded", "failed"]


class AuditHealth(TypedDict):
    status: HealthStatus
    detail: str


class AuditPort(AuditSink, Protocol):
    """An engine's audit sink (``record``, which takes ``record_id``: the id to record under),
    plus adding feedback to a record and looking one up."""

    def record(
        self,
        *,
        case: Any,
        assessment: Any,
        channel: str = "api",
        request_id: str | None = None,
        record_id: str | None = None,
    ) -> str: ...

    def add_feedback(
        self,
        record_id: str,
        *,
        outcome: str,
        comment: str | None = None,
        clinician: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None: ...

    def get(self, record_id: str) -> Any: ...


def audit_health(trail: AuditPort | None) -> AuditHealth:
    """The audit trail's state for /health (cheap: a stat of the file, no query)."""
    if trail is None:
        return {"status": "ok", "detail": "no audit trail is kept"}
    report = getattr(trail, "health", None)
    if report is None:  # an audit port of the caller's own that reports nothing
        return {"status": "ok", "detail": "this audit store reports no health"}
    try:
        status, detail = report()
    except Exception as exc:  # /health must answer whatever the store does
        return {"status": "failed", "detail": f"the audit store's health check failed ({type(exc).__name__})"}
    if status not in ("ok", "degraded", "failed"):
        return {"status": "failed", "detail": f"the audit store reported an unknown state {status!r}"}
    return {"status": status, "detail": str(detail)}


def record_answer(
    trail: AuditPort, *, record_id: str, case: Any, assessment: Any, channel: str, request_id: str | None
) -> str:
    """Record an answer under ``record_id``, trying once more if the write fails; the id recorded.

    The retry keeps the id, so the card that carries it finds its record; if the first write
    did commit (the connection broke after COMMIT), the second is refused as a duplicate and
    the record is found by its id. Raises the last error when it is not recorded.
    """

    def write() -> str:
        return trail.record(
            case=case, assessment=assessment, channel=channel, request_id=request_id, record_id=record_id
        )

    try:
        return write()
    except Exception:
        pass  # once more, below: a dropped connection or a lock timeout is often gone by now
    try:
        return write()
    except Exception:
        if _recorded(trail, record_id):
            return record_id
        raise


def _recorded(trail: AuditPort, record_id: str) -> bool:
    try:
        return trail.get(record_id) is not None
    except Exception:  # the trail cannot even be read: not recorded as far as anyone can tell
        return False


class UnrecordedCards:
    """The ids of the newest cards whose audit write failed (answered flagged), thread-safe."""

    def __init__(self, kept: int = UNRECORDED_KEPT) -> None:
        self._kept = kept
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, card_id: str) -> None:
        with self._lock:
            self._ids[card_id] = None
            while len(self._ids) > self._kept:
                self._ids.popitem(last=False)

    def __contains__(self, card_id: object) -> bool:
        with self._lock:
            return card_id in self._ids
