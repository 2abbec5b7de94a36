"""The fast path for POST /assess and the CDS service call answers exactly as the full stack.

A request carrying an ``Origin`` header while CORS is on goes through FastAPI's full stack
(Starlette's CORS must answer it); the same request without one takes the fast path. Every
check and every error must come out the same both ways.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from calfrules import Engine
from calfrules.audit import AuditStore, open_audit
from calfrules.service import create_app
from calfrules.service.app import AUDIT_HEADER
from calfrules.service.fastpath import FastPath
from calfrules.service.requests import SERVICE_ID

TOKEN = "s3cret"
ORIGIN = "https://ehr.example.org"
JSON = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
HOOK = f"/cds-services/{SERVICE_ID}"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AuditStore]:
    with open_audit(f"sqlite:///{tmp_path / 'audit.sqlite3'}") as opened:
        yield opened


@pytest.fixture
def client(engine: Engine, store: AuditStore) -> Iterator[TestClient]:
    app = create_app(
        engine,
        audit=store,
        token=TOKEN,
        max_body_bytes=2_000,
        cors_origins=[ORIGIN],
        allowed_hosts=["cds.example.org"],
    )
    with TestClient(app, base_url="http://cds.example.org") as opened:
        yield opened


def _hook(findings: dict[str, Any]) -> bytes:
    context = {"patientId": "1", "findings": findings}
    hook_instance = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"
    return json.dumps({"hook": "patient-view", "hookInstance": hook_instance, "context": context}).encode()


REQUESTS: list[tuple[str, str, dict[str, str], bytes]] = [
    ("answered", "/assess", JSON, b'{"findings": {"calf_pain": true, "chest_pain": true}}'),
    ("no token", "/assess", {"Content-Type": "application/json"}, b'{"findings": {}}'),
    ("wrong token", "/assess", {**JSON, "Authorization": "Bearer nope"}, b'{"findings": {}}'),
    ("text/plain", "/assess", {**JSON, "Content-Type": "text/plain"}, b'{"findings": {}}'),
    ("too large", "/assess", JSON, b'{"note": "' + b"x" * 3_000 + b'"}'),
    ("empty body", "/assess", JSON, b""),
    ("not JSON", "/assess", JSON, b"{findings"),
    ("duplicate key", "/assess", JSON, b'{"findings": {"calf_pain": false, "calf_pain": true}}'),
    ("lone surrogate", "/assess", JSON, b'{"id": "\\ud800", "findings": {"calf_pain": true}}'),
    ("unknown finding", "/assess", JSON, b'{"findings": {"no_such_finding": true}}'),
    ("wrong Host", "/assess", {**JSON, "Host": "evil.example"}, b'{"findings": {}}'),
    ("hook answered", HOOK, JSON, _hook({"calf_pain": True})),
    ("hook without a case", HOOK, JSON, b'{"hook": "patient-view", "hookInstance": "h", "context": {}}'),
    ("hook bad finding", HOOK, JSON, _hook({"calf_pain": "very"})),
]


@pytest.mark.parametrize(("name", "path", "headers", "body"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_the_fast_path_answers_as_the_full_stack(
    client: TestClient, name: str, path: str, headers: dict[str, str], body: bytes
) -> None:
    fast = client.post(path, content=body, headers=headers)
    full = client.post(path, content=body, headers={**headers, "Origin": ORIGIN})
    if name != "wrong Host":  # the Host check answers before CORS, both ways
        assert full.headers.get("access-control-allow-origin") == ORIGIN  # it did go through the full stack
    assert "access-control-allow-origin" not in fast.headers  # and this one did not
    assert fast.status_code == full.status_code, name
    assert fast.headers["content-type"] == full.headers["content-type"] == "application/json"
    if fast.status_code != 200:
        assert fast.json() == full.json() and set(fast.json()) == {"error"}
        return
    assert AUDIT_HEADER in fast.headers and AUDIT_HEADER in full.headers  # both recorded
    if path == "/assess":
        assert fast.json() == full.json()
    else:  # a card's uuid is its audit record's id, different for each request
        [fast_card], [full_card] = fast.json()["cards"], full.json()["cards"]
        assert fast_card["uuid"] == fast.headers[AUDIT_HEADER]
        for card in (fast_card, full_card):  # the link names the card's own record
            assert card["links"][0]["url"].endswith(f"/assessments/{card['uuid']}")
        assert {**fast_card, "uuid": "", "links": []} == {**full_card, "uuid": "", "links": []}


def test_the_fast_path_refuses_before_reading_and_records_only_answers(client: TestClient, store: AuditStore) -> None:
    for _, path, headers, body in REQUESTS:
        client.post(path, content=body, headers=headers)
    assert store.count() == 2  # the two answered requests, and nothing refused


def test_the_fast_path_leaves_other_endpoints_and_methods_to_the_full_stack(client: TestClient) -> None:
    assert client.get("/assess", headers=JSON).status_code == 405
    assert client.post("/assess/", content=b"{}", headers=JSON).status_code == 404
    feedback = client.post(f"{HOOK}/feedback", content=b'{"feedback": []}', headers=JSON)
    assert feedback.status_code == 422 and "error" in feedback.json()
    assert any(m.cls is FastPath for m in client.app.user_middleware)  # type: ignore[attr-defined]
