"""The load: N keep-alive clients sending known cases through the balancer for T seconds.

asyncio with the httptools parser (as calfrules.tooling.serve_bench: on a 2-core machine the
client shares the CPU with the cluster, and httpx costs several times more per request).
Every request has its own id (X-Request-Id; for a CDS Hooks call also its hookInstance),
which the audit trail records and HAProxy logs, so each answer can be matched with its
record and with the balancer's retries.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httptools

from calfrules.tooling.serve_bench import KeepAliveConnection

SERVICE = "/cds-services/calfrules-calf-pain"
CDS_EVERY = 4  # one request in four is a CDS Hooks call (its card is what feedback refers to)


@dataclass
class Answer:
    """One request sent and what came back (status None: the connection broke)."""

    request_id: str
    phase: str
    kind: str  # "assess" or "cds"
    case: int  # index into the case list
    status: int | None = None
    audit_id: str | None = None
    instance: str | None = None
    level: str | None = None
    seconds: float = 0.0
    error: str | None = None


def request_bytes(port: int, token: str, path: str, body: dict[str, Any], request_id: str) -> bytes:
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nX-Request-Id: {request_id}\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def cds_body(findings: dict[str, Any], hook_instance: str) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": hook_instance,
        "context": {"userId": "Practitioner/cluster-test", "patientId": "cluster-test", "findings": findings},
    }


def level_of(kind: str, body: bytes) -> str | None:
    try:
        data = json.loads(body)
        if kind == "cds":
            return str(data["cards"][0]["extension"]["calfrules-level"])
        return str(data["level"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


async def run_load(
    port: int,
    token: str,
    cases: Sequence[dict[str, Any]],
    *,
    clients: int,
    seconds: float,
    phase: str,
    at: Sequence[tuple[float, Callable[[], None]]] = (),
) -> list[Answer]:
    """``clients`` keep-alive clients, one request at a time each, for ``seconds``; ``at``: (s, action)."""
    loop = asyncio.get_running_loop()
    answers: list[Answer] = []
    deadline = time.perf_counter() + seconds
    for delay, action in at:
        loop.call_later(delay, action)

    async def connect() -> KeepAliveConnection:
        _, protocol = await loop.create_connection(KeepAliveConnection, "127.0.0.1", port)
        return protocol

    async def client(number: int) -> None:
        connection = await connect()
        sequence = 0
        while time.perf_counter() < deadline:
            index = (number * 7 + sequence) % len(cases)
            kind = "cds" if (number + sequence) % CDS_EVERY == 0 else "assess"
            request_id = str(uuid.uuid4())  # a CDS hookInstance must be a UUID
            sequence += 1
            case = cases[index]
            if kind == "cds":
                payload = request_bytes(port, token, SERVICE, cds_body(case["findings"], request_id), request_id)
            else:
                payload = request_bytes(port, token, "/assess", case, request_id)
            answer = Answer(request_id, phase, kind, index)
            started = time.perf_counter()
            try:
                status, headers, body = await connection.send(payload)
            except (ConnectionError, OSError, httptools.HttpParserError) as exc:
                answer.error = f"{type(exc).__name__}: {exc}"
                connection = await connect()  # the next request on a new connection
            else:
                answer.status = status
                answer.audit_id = headers.get("x-calfrules-audit-id")
                answer.instance = headers.get("x-calfrules-instance")
                answer.level = level_of(kind, body) if status == 200 else None
                if headers.get("connection", "").lower() == "close":
                    connection = await connect()
            answer.seconds = time.perf_counter() - started
            answers.append(answer)
        if connection.transport is not None:
            connection.transport.close()

    await asyncio.gather(*(client(n) for n in range(clients)))
    return answers
