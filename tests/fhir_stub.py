"""A small FHIR server on loopback for the CDS Hooks tests: real HTTP, a bearer token checked.

It answers GET on the relative URLs it was given (``Patient/1``,
``Observation?patient=1&encounter=7``...) with their resources, 401 without the token,
404 for anything else, and keeps every request it saw (path and Authorization header).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/fhir"


@dataclass
class FhirStub:
    base: str
    resources: dict[str, Any]
    token: str | None
    seen: list[tuple[str, str | None]] = field(default_factory=list)  # (relative URL, Authorization header)


@contextmanager
def fhir_stub(resources: Mapping[str, Any], *, token: str | None = None) -> Iterator[FhirStub]:
    """Serve ``resources`` (relative URL -> resource) at ``stub.base`` until the block ends."""
    stub = FhirStub(base="", resources=dict(resources), token=token)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            relative = self.path.removeprefix(PREFIX + "/")
            authorization = self.headers.get("Authorization")
            stub.seen.append((relative, authorization))
            if stub.token is not None and authorization != f"Bearer {stub.token}":
                self._answer(
                    401, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login"}]}
                )
            elif relative in stub.resources:
                self._answer(200, stub.resources[relative])
            else:
                self._answer(
                    404, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]}
                )

        def _answer(self, status: int, body: Any) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stub.base = f"http://127.0.0.1:{server.server_address[1]}{PREFIX}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port_base() -> str:
    """The base URL of a FHIR server that is down: a loopback port nothing listens on."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{PREFIX}"
