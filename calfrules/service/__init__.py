"""The HTTP service: CDS Hooks, a plain JSON endpoint, and OpenAPI (needs the ``serve`` extra).

Importing this package imports FastAPI; ``import calfrules`` never does.
"""

from __future__ import annotations

from calfrules.service.app import DEFAULT_MAX_BODY_BYTES, DEFAULT_TIMEOUT_S, create_app
from calfrules.service.audit_port import AuditPort

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_TIMEOUT_S", "AuditPort", "create_app"]
