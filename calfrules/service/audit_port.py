"""What the service needs from an audit store (``calfrules.audit.AuditStore`` provides it)."""

from __future__ import annotations

from typing import Any, Protocol


class AuditPort(Protocol):
    """Record an assessment (returns its id), add feedback to a record, look a record up."""

    def record(self, *, case: Any, assessment: Any, channel: str = ..., request_id: str | None = None) -> str: ...

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
