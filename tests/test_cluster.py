"""The clinic-network topology: deploy/ files, the cluster script's checks, and a short cluster run.

The full run (three instances, HAProxy, PostgreSQL, a SIGKILL under load) is a CI step of
its own (.ci/run, after the test suite: it installs Debian's haproxy as root). Here it runs
in a short version when haproxy and PostgreSQL are on this machine, and is skipped with the
reason otherwise; the checks themselves are tested on made-up answers so a check that could
never fail is caught without any server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("httptools")
ROOT = Path(__file__).resolve().parent.parent
CLUSTER = ROOT / "scripts" / "cluster"
sys.path.insert(0, str(CLUSTER))

import haproxy_config  # noqa: E402
import trail_checks  # noqa: E402
from loadgen import Answer  # noqa: E402

from calfrules import Level  # noqa: E402

yaml = pytest.importorskip("yaml")


def test_deploy_haproxy_config_is_the_template_rendered() -> None:
    committed = (ROOT / "deploy" / "haproxy.cfg").read_text(encoding="utf-8")
    assert committed == haproxy_config.deploy_config(), (
        "deploy/haproxy.cfg is stale: python scripts/cluster/haproxy_config.py --write-deploy"
    )


def test_compose_instances_secrets_and_balancer_agree() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(haproxy_config.COMPOSE_INSTANCES) | {"haproxy", "postgres"} == set(services)
    config = (ROOT / "deploy" / "haproxy.cfg").read_text(encoding="utf-8")
    for name in haproxy_config.COMPOSE_INSTANCES:
        service = services[name]
        assert f"{name}:{haproxy_config.COMPOSE_PORT}" in config
        command = " ".join(service["command"])
        # secrets come from files: no token or password on a command line or in the environment
        assert "--token-file=/run/secrets/calfrules_token" in command
        assert "--audit-url-file=/run/secrets/calfrules_audit_url" in command
        assert "environment" not in service
        assert set(service["secrets"]) <= set(compose["secrets"])
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    assert "USER calfrules" in dockerfile and "HEALTHCHECK" in dockerfile and "[serve,postgres]" in dockerfile


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed (apt-get install haproxy)")
def test_haproxy_accepts_both_renderings(tmp_path: Path) -> None:
    loopback = haproxy_config.render(
        [("s1", "127.0.0.1:1"), ("s2", "127.0.0.1:2")],
        bind="127.0.0.1:3",
        single_bind="127.0.0.1:4",
        stats_socket=str(tmp_path / "sock"),
        rendering="test",
    )
    (tmp_path / "loopback.cfg").write_text(loopback)
    for config in (tmp_path / "loopback.cfg", ROOT / "deploy" / "haproxy.cfg"):
        run = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
    # the POST policy: never a retry of feedback beyond a connection failure, never a 503 retried
    assert "retry-on conn-failure empty-response\n" in loopback
    # without it a POST on a reused connection to an instance that dies is not retried (measured)
    assert "option http-server-close" in loopback
    assert "disable-l7-retry if { path_end /feedback }" in loopback


def _answer(request_id: str, audit_id: str | None, level: str = "urgent", status: int | None = 200) -> Answer:
    return Answer(request_id, "fault", "assess", 0, status=status, audit_id=audit_id, instance="s1", level=level)


def test_a_lost_request_fails_the_answered_check() -> None:
    answers = [_answer("r1", "a1"), _answer("r2", None, status=None)]
    check = trail_checks.answered(answers)
    assert not check.passed and check.figures["lost"] == 1 and check.figures["connection_error"] == 1
    assert trail_checks.answered(answers[:1]).passed


def test_records_must_match_answers_one_to_one() -> None:
    answers = [_answer("r1", "a1"), _answer("r2", "a2", level="emergency")]
    rows = [
        {"id": "a1", "request_id": "r1", "level": "urgent"},
        {"id": "a2", "request_id": "r2", "level": "emergency"},
    ]
    assert trail_checks.one_record_each(answers, rows, retried=set()).passed
    # a record nobody was answered: allowed only as the first attempt of a request HAProxy retried
    orphan = [*rows, {"id": "a0", "request_id": "r2", "level": "emergency"}]
    assert not trail_checks.one_record_each(answers, orphan, retried=set()).passed
    explained = trail_checks.one_record_each(answers, orphan, retried={"r2"})
    assert explained.passed and explained.figures["extra_records_from_retries"] == 1
    # an answer whose record is missing, or recorded at another level
    assert not trail_checks.one_record_each(answers, rows[:1], retried=set()).passed
    wrong_level = [rows[0], {**rows[1], "level": "urgent"}]
    assert not trail_checks.one_record_each(answers, wrong_level, retried=set()).passed


def test_an_answer_below_its_case_level_fails() -> None:
    expected = [Level.URGENT]
    assert trail_checks.levels([_answer("r1", "a1", level="emergency")], expected).passed
    assert not trail_checks.levels([_answer("r1", "a1", level="see_clinician")], expected).passed


def test_retried_requests_are_read_from_the_haproxy_log() -> None:
    log = [{"req": "r1", "retries": "0"}, {"req": "r2", "retries": "+1"}, {"req": "r3", "retries": "2"}]
    assert trail_checks.retried_request_ids(log) == {"r2", "r3"}


def _postgres_available() -> bool:
    return bool(os.environ.get("CALFRULES_TEST_POSTGRES_URL")) or bool(
        shutil.which("initdb") or list(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    )


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed (apt-get install haproxy)")
@pytest.mark.skipif(not _postgres_available(), reason="no PostgreSQL (set $CALFRULES_TEST_POSTGRES_URL or install it)")
def test_a_short_cluster_run_passes_every_check(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    command = [sys.executable, str(CLUSTER / "run_cluster.py"), "--seconds", "6", "--clients", "6",
               "--throughput-seconds", "1", "--rounds", "1", "--report", str(report)]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    found = json.loads(report.read_text())
    assert found["passed"] and [c["name"] for c in found["checks"] if not c["passed"]] == []
    figures = {c["name"]: c["figures"] for c in found["checks"]}
    assert figures["every request answered 2xx"]["lost"] == 0
    assert all(n > 0 for n in figures["audit replay covers every instance"]["records_by_instance"].values())
    assert run.stdout.startswith("cluster: sent=")
