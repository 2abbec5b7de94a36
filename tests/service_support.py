"""A CDS Hooks request carrying its findings in the context.findings extension, for the
service tests (their ``store`` and ``client`` fixtures are in conftest.py)."""

from __future__ import annotations

import uuid
from typing import Any


def hook_request(
    findings: dict[str, Any], patient: str = "pat-1", *, instance: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A patient-view call whose findings come in context.findings (each a new hookInstance unless given)."""
    return {
        "hook": "patient-view",
        "hookInstance": instance or str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": patient, "findings": findings},
        **extra,
    }
