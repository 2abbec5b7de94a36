"""`calfrules assess --audit` and `calfrules audit ...` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from audit_support import RULES_V1, RULES_V2, STRAIN
from click.testing import CliRunner

from calfrules.cli import cli
from calfrules.knowledge.ruleset_io import dumps


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Only the test ruleset's plugins-free engine, auditing into a fresh file."""
    return {"CALFRULES_AUDIT": str(tmp_path / "audit.sqlite3"), "CALFRULES_PLUGINS": "none"}


@pytest.fixture
def rules(tmp_path: Path) -> tuple[str, str]:
    v1, v2 = tmp_path / "v1.toml", tmp_path / "v2.toml"
    v1.write_text(dumps(RULES_V1))
    v2.write_text(dumps(RULES_V2))
    return str(v1), str(v2)


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin, env=env)
    return result.exit_code, result.stdout, result.stderr


def assess(env: dict[str, str], rules: str, case: dict[str, object], *extra: str) -> int:
    code, _, _ = run(env, "-r", rules, "assess", "-", "--json", *extra, stdin=json.dumps(case))
    return code


def test_assess_records_only_when_asked(env: dict[str, str], rules: tuple[str, str]) -> None:
    assert assess(env, rules[0], STRAIN) == 0
    code, out, _ = run(env, "audit", "list", "--json")
    assert code == 0 and json.loads(out) == []
    assert assess(env, rules[0], STRAIN, "--audit") == 0
    code, out, _ = run(env, "audit", "list", "--json")
    [record] = json.loads(out)
    assert record["channel"] == "cli" and record["case"]["findings"] == STRAIN["findings"]
    assert record["level"] == "self_care" and "t/strain" in record["fired_rules"]


def test_audit_db_names_another_trail(env: dict[str, str], rules: tuple[str, str], tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    assert assess(env, rules[0], STRAIN, "--audit-db", f"sqlite:///{other}") == 0
    code, out, _ = run(env, "audit", "--db", str(other), "list", "--json")
    assert code == 0 and len(json.loads(out)) == 1


def test_list_show_feedback_and_export(env: dict[str, str], rules: tuple[str, str], tmp_path: Path) -> None:
    for _ in range(3):
        assess(env, rules[0], STRAIN, "--audit")
    code, out, _ = run(env, "audit", "list")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3 and all("self_care" in line for line in lines)
    rid = lines[0].split()[1]
    code, out, _ = run(env, "audit", "feedback", rid, "--outcome", "overridden", "--comment", "seen in clinic")
    assert code == 0
    code, out, _ = run(env, "audit", "show", rid)
    assert code == 0 and rid in out and "overridden" in out and "seen in clinic" in out and "t/strain" in out
    code, out, _ = run(env, "audit", "show", rid, "--json")
    assert json.loads(out)["feedback"][0]["outcome"] == "overridden"
    assert json.loads(run(env, "audit", "list", "--level", "urgent", "--json")[1]) == []
    assert len(json.loads(run(env, "audit", "list", "--since", "1d", "--limit", "2", "--json")[1])) == 2
    code, out, _ = run(env, "audit", "export")
    exported = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(exported) == 3 and exported[-1]["id"] == rid  # oldest first
    target = tmp_path / "out" / "audit.jsonl"
    code, _, err = run(env, "audit", "export", "-o", str(target))
    assert code == 0 and "exported 3" in err
    assert [json.loads(line) for line in target.read_text().splitlines()] == exported
    assert [p.name for p in target.parent.iterdir()] == ["audit.jsonl"]  # no temporary file left behind


def test_replay_lists_what_a_changed_ruleset_would_change(env: dict[str, str], rules: tuple[str, str]) -> None:
    assess(env, rules[0], STRAIN, "--audit")
    assess(env, rules[0], {"findings": {"pain_score": 2}}, "--audit")
    code, out, _ = run(env, "-r", rules[0], "audit", "replay")
    assert code == 0 and "2 replayed, 0 would change" in out
    code, out, _ = run(env, "-r", rules[1], "audit", "replay", "--json")
    report = json.loads(out)
    assert code == 0 and report["replayed"] == 2 and report["changed"] == 1
    assert report["changes"][0]["new_level"] == "see_clinician"
    code, out, _ = run(env, "-r", rules[1], "audit", "replay", "--fail-on-change")
    assert code == 1 and "level self_care -> see_clinician" in out and "advice +t_physio" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["audit", "show", "nope"], "no audit record 'nope'"),
        (["audit", "feedback", "nope", "--outcome", "accepted"], "no audit record 'nope'"),
        (["audit", "list", "--since", "yesterday"], "not a date or time"),
        (["audit", "--db", "mysql://x", "list"], "unknown audit URL scheme"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(env: dict[str, str], args: list[str], message: str) -> None:
    code, out, err = run(env, *args)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("calfrules: error: ") and message in err


def test_a_failed_audit_assesses_nothing_silently(env: dict[str, str], rules: tuple[str, str]) -> None:
    code, out, err = run(env, "-r", rules[0], "assess", "-", "--audit-db", "mysql://x", stdin=json.dumps(STRAIN))
    assert code == 2 and out == "" and "unknown audit URL scheme" in err
