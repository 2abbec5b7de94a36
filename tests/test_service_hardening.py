"""The service against hostile or careless clients: auth before the body, content types,
Host checks, slow clients, strict JSON, JSON errors everywhere, /health, workers."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from calfrules import Engine
from calfrules.audit import AuditStore, open_audit
from calfrules.service import create_app
from calfrules.service.app import AUDIT_FAILED_HEADER, AUDIT_HEADER
from calfrules.service.limits import RateLimitedLog, RequestGate

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CASE = {"findings": {"calf_pain": True}}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AuditStore]:
    with open_audit(f"sqlite:///{tmp_path / 'audit.sqlite3'}") as opened:
        yield opened


@pytest.fixture
def locked(engine: Engine, store: AuditStore) -> Iterator[TestClient]:
    with TestClient(create_app(engine, audit=store, token=TOKEN)) as client:
        yield client


# --- auth before the body -----------------------------------------------------------
async def _gate_reads(gate_token: str | None, headers: list[tuple[bytes, bytes]]) -> tuple[int, int]:
    """Drive RequestGate directly: the status it answers, and how many body messages it read."""
    reads = 0
    status = 0

    async def receive() -> Message:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 1_000_000, "more_body": reads < 10}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    gate = RequestGate(app, token=gate_token, max_bytes=20_000_000, body_timeout_s=5)
    scope = {"type": "http", "method": "POST", "path": "/assess", "headers": headers}
    await gate(scope, receive, send)
    return status, reads


def test_a_10_mb_body_without_the_token_is_refused_unread() -> None:
    import anyio

    json_type = (b"content-type", b"application/json")
    status, reads = anyio.run(_gate_reads, TOKEN, [json_type])
    assert (status, reads) == (401, 0)
    status, reads = anyio.run(_gate_reads, TOKEN, [json_type, (b"authorization", b"Bearer " + TOKEN.encode())])
    assert (status, reads) == (200, 10)  # with the token, the whole body is read


def test_the_openapi_description_is_behind_the_token_and_docs_are_off(locked: TestClient) -> None:
    assert locked.get("/openapi.json").status_code == 401
    assert locked.get("/openapi.json", headers=AUTH).json()["openapi"].startswith("3.")
    for path in ("/docs", "/redoc"):
        response = locked.get(path, headers=AUTH)
        assert response.status_code == 404 and "error" in response.json()


# --- content type, redirects, Host --------------------------------------------------
def test_a_text_plain_cross_site_post_is_415_and_not_recorded(engine: Engine, store: AuditStore) -> None:
    with TestClient(create_app(engine, audit=store)) as client:
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
            response = client.post("/assess", content=json.dumps(CASE), headers={"content-type": content_type})
            assert response.status_code == 415, content_type
            assert "Content-Type: application/json" in response.json()["error"]
        assert client.post("/assess", content=json.dumps(CASE)).status_code == 415  # no content type at all
        ok = client.post(
            "/assess", content=json.dumps(CASE), headers={"content-type": "application/json; charset=utf-8"}
        )
        assert ok.status_code == 200
    assert store.count() == 1  # only the JSON request was assessed and recorded


def test_a_trailing_slash_is_404_not_a_redirect_built_from_the_host(locked: TestClient) -> None:
    response = locked.post("/assess/", json=CASE, headers={**AUTH, "Host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 404 and "location" not in response.headers
    assert "no such endpoint '/assess/'" in response.json()["error"]


def test_only_the_allowed_hosts_are_answered(engine: Engine) -> None:
    app = create_app(engine, allowed_hosts=["cds.example.org", "*.clinic.example"])
    with TestClient(app, base_url="http://cds.example.org") as client:
        assert client.get("/health").status_code == 200
        assert client.get("/health", headers={"Host": "cds.example.org:8443"}).status_code == 200
        assert client.get("/health", headers={"Host": "a.clinic.example"}).status_code == 200
        rebound = client.post("/assess", json=CASE, headers={"Host": "attacker.example"})
        assert rebound.status_code == 400
        assert "'attacker.example' is not one this service answers to" in rebound.json()["error"]


# --- strict JSON --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"findings": {"calf_pain": false, "calf_pain": true}}', 'the key "calf_pain" appears twice'),
        (b'{"id": "\\ud800", "findings": {"calf_pain": true}}', "id: the text holds a lone UTF-16 surrogate"),
        (b'{"note": "ok \\udc00", "findings": {"calf_pain": true}}', "note: the text holds a lone UTF-16 surrogate"),
    ],
)
def test_duplicate_keys_and_lone_surrogates_are_a_clear_422_and_not_recorded(
    engine: Engine, store: AuditStore, body: bytes, words: str
) -> None:
    with TestClient(create_app(engine, audit=store)) as client:
        response = client.post("/assess", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert words in response.json()["error"]
    assert store.count() == 0


def test_a_valid_surrogate_pair_is_text_like_any_other(engine: Engine, store: AuditStore) -> None:
    body = b'{"note": "runner \\ud83c\\udfc3", "findings": {"calf_pain": true}}'
    with TestClient(create_app(engine, audit=store)) as client:
        response = client.post("/assess", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200
    record = store.get(response.headers[AUDIT_HEADER])
    assert record is not None and record.case["note"] == "runner \U0001f3c3"


def test_the_cli_refuses_duplicate_keys_in_one_line(tmp_path: Path) -> None:
    case = tmp_path / "dup.json"
    case.write_text('{"findings": {"calf_pain": false, "calf_pain": true}}')
    result = subprocess.run(
        [sys.executable, "-m", "calfrules", "assess", str(case)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f'calfrules: error: {case}: the key "calf_pain" appears twice in one object; give each key once'
    ]


# --- JSON errors everywhere ---------------------------------------------------------
def test_every_refusal_is_the_json_error_body(engine: Engine) -> None:
    app = create_app(engine, token=TOKEN, max_body_bytes=100, cors_origins=["https://ehr.example.org"])
    with TestClient(app) as client:
        answers = {
            "401": client.post("/assess", json=CASE),
            "404": client.get("/nowhere", headers=AUTH),
            "405": client.get("/assess", headers=AUTH),
            "413": client.post("/assess", json={"note": "x" * 200}, headers=AUTH),
            "415": client.post("/assess", content=b"{}", headers={**AUTH, "content-type": "text/plain"}),
            "422": client.post("/assess", json={"findings": {}}, headers=AUTH),
            "cors": client.options(
                "/assess", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
            ),
        }
    for name, response in answers.items():
        assert response.headers["content-type"] == "application/json", name
        message = response.json()["error"]
        assert isinstance(message, str) and message and "\n" not in message, name
    assert answers["cors"].status_code == 400 and "cross-origin request refused" in answers["cors"].json()["error"]


# --- /health --------------------------------------------------------------------------
def test_health_answers_head_and_reports_the_audit_trail(locked: TestClient) -> None:
    assert locked.head("/health").status_code == 200
    body = locked.get("/health").json()
    assert body["status"] == "ok" and body["audit"]["status"] == "ok"


class _FailingTrail:
    """An audit port whose writes fail and whose health says so."""

    def record(self, **_: Any) -> str:
        raise OSError("disk full")

    def add_feedback(self, record_id: str, **_: Any) -> None:
        raise OSError("disk full")

    def get(self, record_id: str) -> Any:
        return None

    def health(self) -> tuple[str, str]:
        return "failed", "the audit file was deleted"


def test_a_failed_trail_shows_in_health_and_each_answer_and_logs_one_line_per_burst(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(create_app(engine, audit=_FailingTrail())) as client, caplog.at_level(logging.ERROR):
        answers = [client.post("/assess", json=CASE) for _ in range(5)]
        health = client.get("/health")
    assert all(a.status_code == 200 and AUDIT_FAILED_HEADER in a.headers for a in answers)
    assert health.status_code == 503
    assert health.json() == {"status": "failed", "audit": {"status": "failed", "detail": "the audit file was deleted"}}
    lines = [r for r in caplog.records if "could not record" in r.getMessage()]
    assert len(lines) == 1 and "OSError: disk full" in lines[0].getMessage()
    assert lines[0].exc_info is None  # no traceback per failed write


def test_the_rate_limited_log_reports_how_many_it_held_back(caplog: pytest.LogCaptureFixture) -> None:
    clock = [0.0]
    limited = RateLimitedLog(logging.getLogger("calfrules.test"), interval_s=10.0, clock=lambda: clock[0])
    with caplog.at_level(logging.ERROR):
        for second in (0.0, 1.0, 2.0, 3.0, 11.0):
            clock[0] = second
            limited.error("audit", "write failed")
    assert [r.getMessage() for r in caplog.records] == [
        "write failed",
        "write failed (3 more like it in the last 10 s not logged)",
    ]


# --- a real server: slow clients, workers ------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _serve(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    command = [sys.executable, "-m", "calfrules", "serve", "--port", str(port), *args]
    server = subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                probe.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                if probe.recv(100).startswith(b"HTTP/1.1 200"):
                    return server, port
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise AssertionError("calfrules serve did not start")


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(timeout=60)


def test_a_slowloris_client_is_cut_off(tmp_path: Path) -> None:
    server, port = _serve(tmp_path, "--no-audit", "--header-timeout", "1", "--body-timeout", "1")
    try:
        for request in (
            b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 60,  # headers never end
            b"POST /assess HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n" + b" " * 60,  # the body never ends
        ):
            with socket.create_connection(("127.0.0.1", port), timeout=30) as slow:
                started = time.monotonic()
                answer = b""
                for byte in request:  # one byte per 0.1 s: 6 s for 60 bytes, far past the 1 s deadlines
                    try:
                        slow.sendall(bytes([byte]))
                    except OSError:
                        break
                    time.sleep(0.1)
                    if time.monotonic() - started > 20:
                        break
                try:
                    answer = slow.recv(1000)
                except OSError:
                    pass
                assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
                assert b'"error"' in answer
    finally:
        _stop(server)


def test_serve_with_two_workers_answers_and_records_every_request(tmp_path: Path) -> None:
    import httpx

    url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    server, port = _serve(tmp_path, "--workers", "2", "--audit", url)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            answers = [client.post("/assess", json=CASE) for _ in range(20)]
    finally:
        _stop(server)
    assert all(a.status_code == 200 for a in answers)
    ids = {a.headers[AUDIT_HEADER] for a in answers}
    with open_audit(url) as trail:
        assert len(ids) == 20 and all(trail.get(record_id) is not None for record_id in ids)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--host", "0.0.0.0"], "needs --allowed-host NAME"),
        (["--token", "a", "--token-file", "TOKEN_FILE"], "--token and --token-file contradict each other"),
        (["--token-file", "EMPTY_FILE"], "empty; --token-file needs the value on its first line"),
        (["--public-url", "ftp://cds.example.org"], "give the service's base URL"),
        (["--code-map", "BAD_MAP"], "no_such_finding"),
    ],
)
def test_serve_refuses_unsafe_or_contradictory_settings_in_one_line(
    tmp_path: Path, args: list[str], words: str
) -> None:
    (tmp_path / "token").write_text("s3cret\n")
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "map.toml").write_text(
        '[[map]]\nsystem = "http://ehr.example.org"\ncode = "x1"\nfinding = "no_such_finding"\n'
    )
    files = {"TOKEN_FILE": tmp_path / "token", "EMPTY_FILE": tmp_path / "empty", "BAD_MAP": tmp_path / "map.toml"}
    args = [str(files[arg]) if arg in files else arg for arg in args]
    result = subprocess.run(
        [sys.executable, "-m", "calfrules", "serve", "--no-audit", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("calfrules: error: ") and words in last
