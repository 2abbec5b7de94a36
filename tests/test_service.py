"""The HTTP service: CDS Hooks cards, POST /assess, limits, auth, audit, fail-safe."""

from __future__ import annotations

import ctypes
import faulthandler
import json
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from service_support import hook_request

from calfrules import Deriver, Engine, Level, Score, hookimpl, load_engine
from calfrules.audit import AuditStore, open_audit
from calfrules.formats.references import number_references
from calfrules.service import create_app
from calfrules.service.app import AUDIT_FAILED_HEADER, AUDIT_HEADER, SERVICE_ID
from calfrules.service.cards import INDICATOR, SUMMARY_MAX, card_for, summary

from conftest import BUILTIN_PLUGINS
from helpers import PAIN_RULE, ruleset

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "cases"
DVT = json.loads((EXAMPLES / "suspected_dvt.json").read_text())
SORE = json.loads((EXAMPLES / "sore_calves_after_layoff.json").read_text())
PE = {"findings": {"calf_pain": True, "chest_pain": True, "swelling_unilateral": True}}
AFTER_LAYOFF = {"findings": {"calf_soreness_after_run": True, "returning_after_layoff": True}}
CDS = f"/cds-services/{SERVICE_ID}"
HOOK_INSTANCE = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"


# --- POST /assess -------------------------------------------------------------------
def test_assess_answers_what_the_engine_answers_and_records_it(
    client: TestClient, engine: Engine, store: AuditStore
) -> None:
    response = client.post("/assess", json=DVT, headers={"X-Request-Id": "emr-42"})
    assert response.status_code == 200
    body = response.json()
    expected = engine.assess(DVT).to_dict()
    assert body == expected
    record = store.get(response.headers[AUDIT_HEADER])
    assert record is not None and record.channel == "service" and record.level == "urgent"
    assert record.request_id == "emr-42" and record.case == DVT


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"", 400, "empty body"),
        (b"{", 400, "not valid JSON (line 1, column 2"),
        (b'{"findings": {"calf_pain": NaN}}', 400, "NaN is not a number"),
        (b"\xff\xfe", 400, "not valid JSON"),
        (b"[1, 2]", 422, "a case must be an object"),
        (b'{"findings": {}}', 422, "the case is empty"),
        (b'{"findings": {"calf_pian": true}}', 422, "did you mean calf_pain"),
        (b'{"findings": {"calf_pain": "yes"}}', 422, "calf_pain: expected true or false"),
        (b'{"findings": {"pain_score": 11}}', 422, "pain_score: 11 is out of range"),
        (b'{"findings": {"calf_pain": true}, "patient": "x"}', 422, "unknown case field(s): patient"),
        (b'{"id": true, "findings": {"calf_pain": true}}', 422, '"id" must be text or a number'),
        (b'{"findings": {"pain_score": 1' + b"0" * 400 + b"}}", 400, "more than 300 digits"),
        (b"[" * 100_000, 400, "nested too deeply"),
    ],
)
def test_bad_input_is_one_clear_4xx_line(client: TestClient, body: bytes, status: int, words: str) -> None:
    response = client.post("/assess", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    message = response.json()["error"]
    assert words in message and "\n" not in message and "Traceback" not in message


def test_unknown_paths_and_methods_answer_a_clear_json_error(client: TestClient) -> None:
    expected = {"error": "no such endpoint '/nowhere'; GET /openapi.json describes the API"}
    assert client.get("/nowhere").json() == expected
    response = client.get("/assess")
    assert response.status_code == 405 and "GET is not allowed" in response.json()["error"]


# --- limits and auth -------------------------------------------------------------------
def test_a_body_over_the_limit_is_refused_with_413_whether_announced_or_streamed(engine: Engine) -> None:
    with TestClient(create_app(engine, max_body_bytes=200)) as small:
        big = {"findings": {"calf_pain": True}, "note": "x" * 300}
        announced = small.post("/assess", json=big)
        assert announced.status_code == 413 and "at most 200 bytes" in announced.json()["error"]
        chunks = iter([b'{"note": "', b"x" * 150, b"x" * 150, b'"}'])
        streamed = small.post("/assess", content=chunks, headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert small.post("/assess", json={"findings": {"calf_pain": True}}).status_code == 200


def test_a_token_is_required_when_configured(engine: Engine) -> None:
    with TestClient(create_app(engine, token="s3cret")) as locked:
        for method, path in (("post", "/assess"), ("get", "/cds-services"), ("post", CDS)):
            response = locked.request(method, path, json={"findings": {"calf_pain": True}})
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"] == "Bearer"
            assert "bearer token" in response.json()["error"]
        wrong = locked.post("/assess", json=SORE, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = locked.post("/assess", json=SORE, headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200 and right.json()["level"] == "self_care"
        assert locked.get("/health").json()["status"] == "ok"  # liveness needs no token
        assert locked.get("/openapi.json").status_code == 401  # the description is behind the token too
        described = locked.get("/openapi.json", headers={"Authorization": "Bearer s3cret"}).json()
        assert "bearerToken" in described["components"]["securitySchemes"]


def test_browsers_from_an_allowed_origin_may_call_it(engine: Engine) -> None:
    with TestClient(create_app(engine, cors_origins=["https://ehr.example.org"])) as client:
        preflight = client.options(
            "/assess",
            headers={"Origin": "https://ehr.example.org", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://ehr.example.org"
        other = client.post("/assess", json=SORE, headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers


def test_an_assessment_over_the_time_limit_answers_503_not_a_hang() -> None:
    class Sleeper:
        calfrules_plugin_name = "sleeper"

        @hookimpl
        def calfrules_register_derivers(self, register):  # type: ignore[no-untyped-def]
            register(Deriver(id="slow_score", label="Slow", inputs=(), compute=lambda f: time.sleep(3) or Score(1)))

    slow = load_engine(plugins=[Sleeper()], rulesets=[ruleset(PAIN_RULE)], allow=[], timeout=5.0)
    try:
        with TestClient(create_app(slow, timeout_s=0.3)) as client:
            response = client.post("/assess", json={"findings": {"calf_pain": True}})
        assert response.status_code == 503
        assert "did not finish within 0.3 s" in response.json()["error"]
        assert response.headers["retry-after"] == "5"
    finally:
        slow.close()


# --- CDS Hooks -------------------------------------------------------------------------
def test_discovery_lists_the_service(client: TestClient) -> None:
    services = client.get("/cds-services").json()["services"]
    assert [(s["id"], s["hook"]) for s in services] == [(SERVICE_ID, "patient-view")]
    assert "context.findings" in services[0]["description"]


@pytest.mark.parametrize(
    ("case", "indicator", "level"),
    [(PE, "critical", "emergency"), (DVT, "critical", "urgent"), (SORE, "info", "self_care")],
)
def test_a_card_carries_the_level_as_its_indicator(
    client: TestClient, store: AuditStore, case: dict[str, Any], indicator: str, level: str
) -> None:
    response = client.post(CDS, json=hook_request(case["findings"], instance=HOOK_INSTANCE))
    assert response.status_code == 200
    [card] = response.json()["cards"]
    assert card["indicator"] == indicator and card["extension"]["calfrules-level"] == level
    assert len(card["summary"]) < 140
    assert card["summary"].startswith(Level(level).label)
    record = store.get(card["uuid"])  # the card's uuid is its audit record
    assert record is not None and record.level == level and record.request_id == HOOK_INSTANCE


def test_see_clinician_is_a_warning(engine: Engine) -> None:
    for level, indicator in ((Level.SEE_CLINICIAN, "warning"), (Level.SELF_CARE, "info")):
        assert INDICATOR[level] == indicator
    assessment = engine.assess({"findings": {"calf_pain": True, "pain_score": 8}})
    assert assessment.level == Level.SEE_CLINICIAN
    assert card_for(assessment, uuid="u", source_label="s")["indicator"] == "warning"


def test_the_detail_gives_reasons_rules_advice_and_sources_in_markdown(client: TestClient, engine: Engine) -> None:
    [card] = client.post(CDS, json=hook_request(DVT["findings"])).json()["cards"]
    detail = card["detail"]
    expected = engine.assess(DVT)
    assert detail.startswith("**Urgent**: Needs a medical assessment today.")
    for heading in ("### Why this level", "### Red flags", "### Scores", "### Advice", "### Sources"):
        assert heading in detail
    assert expected.level_reasons[0].source in detail  # e.g. "rule dvt_wells_likely (red_flags)"
    assert expected.recommendations[0].text in detail
    refs = number_references(expected)
    nice = next(s for s in refs.sources if s.url == "https://www.nice.org.uk/guidance/ng158")
    assert f"- [{refs.number(nice)}] " in detail and "<https://www.nice.org.uk/guidance/ng158>" in detail
    assert "nice_ng158" not in detail  # sources go by number, not by their ids
    assert "Wells score" in detail


def test_the_unanswered_screen_questions_come_first_in_the_card(engine: Engine, client: TestClient) -> None:
    assessment = engine.assess(AFTER_LAYOFF)
    screen = assessment.red_flag_screen
    assert assessment.level == Level.SELF_CARE and not screen.complete and screen.unanswered
    [card] = client.post(CDS, json=hook_request(AFTER_LAYOFF["findings"])).json()["cards"]
    detail = card["detail"]
    assert card["extension"]["calfrules-screen-complete"] is False
    lines = detail.splitlines()
    assert lines[2] == "**Before this can be self-care, ask:**"  # right under the level
    asked = {q.id: q.question for q in screen.questions}
    assert lines[3 : 3 + len(screen.unanswered)] == [f"- {asked[q]} (`{q}`)" for q in screen.unanswered]
    assert detail.index(asked[screen.unanswered[-1]]) < detail.index("### Why this level")
    count = len(screen.unanswered)
    assert card["summary"].endswith(f"(ask {count} red-flag questions first)") and len(card["summary"]) < 140

    # every question answered (no): the section, the summary's note and the flag go
    answered = {**AFTER_LAYOFF["findings"], **dict.fromkeys(screen.unanswered, False)}
    [done] = client.post(CDS, json=hook_request(answered)).json()["cards"]
    assert done["extension"]["calfrules-screen-complete"] is True
    assert "ask" not in done["summary"] and "red-flag question" not in done["detail"]
    assert done["detail"].splitlines()[2] == "### Why this level"


def test_a_service_on_an_engine_that_requires_the_screen_holds_self_care_back() -> None:
    strict = load_engine(allow=BUILTIN_PLUGINS, screen="require")
    try:
        with TestClient(create_app(strict)) as client:
            response = client.post("/assess", json=AFTER_LAYOFF)
            [card] = client.post(CDS, json=hook_request(AFTER_LAYOFF["findings"])).json()["cards"]
            body = response.json()
            answered = {**AFTER_LAYOFF["findings"], **dict.fromkeys(body["red_flag_screen"]["unanswered"], False)}
            done = client.post("/assess", json={"findings": answered}).json()
    finally:
        strict.close()
    assert response.status_code == 200
    assert body["level"] == "see_clinician" and body["provenance"]["screen"] == "require"
    screen = body["red_flag_screen"]
    assert screen["policy"] == "require" and screen["complete"] is False
    asked = {q["id"]: q["question"] for q in screen["questions"]}
    assert screen["unanswered"] and set(screen["unanswered"]) <= set(asked)
    assert [r["level"] for r in body["level_reasons"] if r["source"] == "screen"] == ["see_clinician"]
    assert card["indicator"] == "warning" and card["extension"]["calfrules-screen-complete"] is False
    detail = card["detail"]
    assert "**Red-flag questions not yet answered" in detail and "Before this can be self-care" not in detail
    assert detail.index(asked[screen["unanswered"][0]]) < detail.index("### Why this level")
    assert card["summary"].endswith(f"({len(screen['unanswered'])} red-flag questions unanswered)")
    # answered, every one of them no: self-care stands
    assert done["red_flag_screen"]["complete"] is True and done["level"] == "self_care"


def test_the_card_shows_what_was_recorded_and_names_what_was_not(engine: Engine) -> None:
    assessment = engine.assess({"findings": {"pain_on_hop": True, "sudden_sharp_pain": False}})
    reason = next(r for c in assessment.conditions for r in c.because[:1] if r.unrecorded)
    assert reason.matched["sudden_sharp_pain"] is False
    detail = card_for(assessment, uuid="u", source_label="s")["detail"]
    missing = ", ".join(f"`{name}`" for name in reason.unrecorded)
    assert f"`pain_on_hop`, `sudden_sharp_pain`: no, and {missing} not recorded" in detail
    assert "`not " not in detail
    flag = assessment.red_flags[0]
    cited = number_references(assessment).cite(flag.sources)
    assert f"- **{flag.label}**: {flag.level.value}, from `pain_on_hop` *({cited})*" in detail.splitlines()


def test_the_card_names_the_score_items_nobody_recorded(engine: Engine) -> None:
    assessment = engine.assess(DVT)
    [wells] = assessment.scores
    assert wells.unrecorded
    detail = card_for(assessment, uuid="u", source_label="s")["detail"]
    line = next(line for line in detail.splitlines() if line.startswith(f"- **{wells.label}**"))
    assert line.endswith("Not recorded: " + ", ".join(f"`{name}`" for name in wells.unrecorded))


def test_the_summary_keeps_the_screen_note_when_a_long_label_is_cut(engine: Engine) -> None:
    import dataclasses

    assessment = engine.assess(AFTER_LAYOFF)
    condition = dataclasses.replace(assessment.conditions[0], label="very long label " * 20)
    long = dataclasses.replace(assessment, conditions=(condition,))
    text = summary(long)
    count = len(assessment.red_flag_screen.unanswered)
    assert len(text) == SUMMARY_MAX and text.endswith(f"… (ask {count} red-flag questions first)")


def test_the_summary_stays_under_140_characters_with_a_long_label(engine: Engine) -> None:
    import dataclasses

    assessment = engine.assess(PE)
    flag = dataclasses.replace(assessment.red_flags[0], label="very long label " * 20)
    long = dataclasses.replace(assessment, red_flags=(flag,), complete=False)
    text = summary(long)
    assert len(text) == SUMMARY_MAX and text.endswith("…") and text.startswith("INCOMPLETE")


@pytest.mark.parametrize(
    ("request_body", "status", "words"),
    [
        (
            {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "context": {"patientId": "1"}},
            412,
            "prefetch.patient is missing and the request has no fhirServer",
        ),
        (hook_request(PE["findings"], prefetch={"calfrulesCase": SORE}), 400, "not a key this service declares"),
        (hook_request({"calf_pian": True}), 422, "did you mean calf_pain"),
        ({"hookInstance": str(uuid.uuid4()), "context": {"patientId": "1"}}, 422, "the body: missing 'hook'"),
        (
            {"hook": "patient-view", "hookInstance": 5, "context": {"patientId": "1"}},
            422,
            "the body: 'hookInstance' must be text, not a whole number (5)",
        ),
        (hook_request({"calf_pain": True}, hook="order-sign"), 400, "answers the patient-view hook, not 'order-sign'"),
    ],
)
def test_a_bad_hook_request_says_what_to_fix(
    client: TestClient, request_body: dict[str, Any], status: int, words: str
) -> None:
    response = client.post(CDS, json=request_body)
    assert response.status_code == status and words in response.json()["error"]


def test_an_unknown_service_is_404(client: TestClient) -> None:
    response = client.post("/cds-services/other", json=hook_request(PE["findings"]))
    assert response.status_code == 404 and SERVICE_ID in response.json()["error"]


def test_feedback_is_recorded_in_the_audit_trail(client: TestClient, store: AuditStore) -> None:
    [card] = client.post(CDS, json=hook_request(DVT["findings"])).json()["cards"]
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-26T01:00:00Z",
                "overrideReason": {"reason": {"code": "already-arranged"}, "userComment": "ultrasound already booked"},
                "clinician": "dr-a",
            }
        ]
    }
    response = client.post(f"{CDS}/feedback", json=feedback)
    assert response.status_code == 200 and response.json() == {"recorded": 1}
    record = store.get(card["uuid"])
    assert record is not None
    [entry] = record.feedback
    assert (entry.outcome, entry.comment, entry.clinician) == ("overridden", "ultrasound already booked", "dr-a")
    assert entry.extra["overrideReason"] == {"code": "already-arranged"}


@pytest.mark.parametrize(
    ("item", "words"),
    [
        ({"card": "c", "outcome": "maybe", "outcomeTimestamp": "t"}, "feedback.0: unknown outcome 'maybe'"),
        ({"card": "c", "outcomeTimestamp": "t"}, "feedback.0: missing 'outcome'"),
        ({"card": "c", "outcome": "accepted", "outcomeTimestamp": "t", "clinician": "x" * 10001}, "'clinician'"),
    ],
)
def test_bad_feedback_is_one_clear_422_line(client: TestClient, item: dict[str, Any], words: str) -> None:
    response = client.post(f"{CDS}/feedback", json={"feedback": [item]})
    message = response.json()["error"]
    assert response.status_code == 422 and words in message and "\n" not in message


def test_feedback_on_an_unknown_card_or_without_a_trail_is_404(client: TestClient, engine: Engine) -> None:
    item = {"card": "no-such-card", "outcome": "accepted", "outcomeTimestamp": "2026-11-26T01:00:00Z"}
    response = client.post(f"{CDS}/feedback", json={"feedback": [item]})
    assert response.status_code == 404 and "unknown card(s): no-such-card" in response.json()["error"]
    with TestClient(create_app(engine)) as untracked:
        response = untracked.post(f"{CDS}/feedback", json={"feedback": [item]})
        assert response.status_code == 404 and "keeps no audit trail" in response.json()["error"]


# --- failures: the service keeps answering, fail-safe, and the trail shows it -----------------
def test_a_failing_plugin_gives_an_incomplete_critical_card_and_the_trail_records_it(store: AuditStore) -> None:
    class Broken:
        calfrules_plugin_name = "broken"

        @hookimpl
        def calfrules_register_derivers(self, register):  # type: ignore[no-untyped-def]
            register(Deriver(id="bad_score", label="Bad", inputs=(), compute=lambda f: 1 / 0))

    broken = load_engine(plugins=[Broken()], rulesets=[ruleset(PAIN_RULE)], allow=[])
    try:
        with TestClient(create_app(broken, audit=store)) as client:
            [card] = client.post(CDS, json=hook_request({"calf_pain": True})).json()["cards"]
        assert card["indicator"] == "critical" and card["summary"].startswith("INCOMPLETE assessment. Urgent")
        assert "ZeroDivisionError" in card["detail"]
        record = store.get(card["uuid"])
        assert record is not None and not record.complete and record.level == "urgent"
        assert any("bad_score" in reason for reason in record.incomplete_reasons)
    finally:
        broken.close()


def test_the_service_keeps_answering_when_the_engine_process_crashes(store: AuditStore) -> None:
    class Crasher:
        calfrules_plugin_name = "crasher"

        @hookimpl
        def calfrules_register_derivers(self, register):  # type: ignore[no-untyped-def]
            def compute(findings: Any) -> Score:
                if findings.get("chest_pain"):
                    faulthandler.disable()  # no traceback dump for this intended crash
                    ctypes.string_at(0)  # a real SIGSEGV in the engine's child process
                return Score(0)

            register(Deriver(id="crash_score", label="Crash", inputs=(), compute=compute))

    crashing = load_engine(plugins=[Crasher()], rulesets=[ruleset(PAIN_RULE)], allow=[], timeout=2.0)
    try:
        with TestClient(create_app(crashing, audit=store)) as client:
            failed = client.post("/assess", json={"findings": {"calf_pain": True, "chest_pain": True}})
            fine = client.post("/assess", json={"findings": {"calf_pain": True}})
        assert failed.status_code == 200
        body = failed.json()
        assert not body["complete"] and Level(body["level"]) >= Level.URGENT
        assert "process died" in body["incomplete_reasons"][0]
        record = store.get(failed.headers[AUDIT_HEADER])
        assert record is not None and not record.complete
        assert fine.status_code == 200 and fine.json()["complete"] and fine.json()["level"] == "self_care"
    finally:
        crashing.close()


def test_a_broken_audit_trail_never_withholds_the_answer(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    class BrokenStore:
        def record(self, **kwargs: Any) -> str:
            raise OSError("disk full")

        def add_feedback(self, record_id: str, **kwargs: Any) -> None:
            raise OSError("disk full")

        def get(self, record_id: str) -> None:
            return None

    with TestClient(create_app(engine, audit=BrokenStore())) as client:
        response = client.post("/assess", json=PE)
    assert response.status_code == 200 and response.json()["level"] == "emergency"
    assert AUDIT_HEADER not in response.headers and "not recorded" in response.headers[AUDIT_FAILED_HEADER]
    assert "could not record" in caplog.text


# --- the command and the core's import hygiene --------------------------------------------
def test_importing_the_engine_and_cli_never_imports_the_web_stack() -> None:
    code = (
        "import sys, calfrules, calfrules.cli, calfrules.formats.fhir, calfrules.formats.json_schema; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'fastapi', 'uvicorn', 'starlette', 'jsonschema'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_serve_starts_on_loopback_and_answers(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    audit = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    server = subprocess.Popen(
        [sys.executable, "-m", "calfrules", "serve", "--port", str(port), "--token", "t0k", "--audit", audit],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        headers = {"Authorization": "Bearer t0k"}
        response = httpx.post(f"{base}/assess", json=PE, headers=headers)
        assert response.status_code == 200 and response.json()["level"] == "emergency"
        assert httpx.post(f"{base}/assess", json=PE).status_code == 401
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0  # SIGTERM is a graceful stop
    assert f"serving on http://127.0.0.1:{port} (bearer token required; audit trail {audit})" in stderr
    with open_audit(audit) as store:
        assert store.count() == 1


@pytest.mark.parametrize(
    ("args", "words"),
    [(["--audit", "sqlite:///x.db", "--no-audit"], "contradict"), (["--token", " "], "the token is empty")],
)
def test_serve_refuses_contradictory_options_in_one_line(args: list[str], words: str) -> None:
    from click.testing import CliRunner

    from calfrules.cli import cli

    result = CliRunner().invoke(cli, ["serve", *args])
    assert result.exit_code == 2 and words in result.output and "Traceback" not in result.output
