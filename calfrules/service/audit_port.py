"""What the service needs from an audit store (``calfrules.audit.AuditStore`` provides it)."""

from __future__ import annotations

from typing import Any, Protocol

from calfrules.engine.engine import AuditSink


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
