"""What the service needs from an audit store (``calfrules.audit.AuditStore`` provides it).

/health asks :func:`audit_health`, which never raises and never waits on the database::

    audit_health(trail) -> {"status": "ok" | "degraded" | "failed", "detail": "<one line>"}

- ``ok``: the last write worked (or none was tried yet) and the trail's file is the one opened.
- ``degraded``: writes are failing for now but the store retries on its own (PostgreSQL
  down: the circuit breaker is open and answers are flagged until it reconnects).
- ``failed``: the trail cannot record until someone acts (SQLite file deleted or replaced,
  folder read-only); every answer is flagged ``X-Calfrules-Audit-Failed``.
``trail`` None (no audit kept) is ``ok`` with a detail saying so.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, TypedDict

from calfrules.engine.engine import AuditSink

HealthStatus = Literal["ok", "degraded", "failed"]


class AuditHealth(TypedDict):
    status: HealthStatus
    detail: str


class AuditPort(AuditSink, Protocol):
    """An engine's audit sink (``record``), plus adding feedback to a record and looking one up."""

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
