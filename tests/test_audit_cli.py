"""`calfrules assess --audit` and `calfrules audit ...` from the command line."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from audit_support import RULES_V1, RULES_V2, STRAIN
from click.testing import CliRunner

from calfrules.audit import AuditError, open_audit
from calfrules.audit.records import since_moment
from calfrules.cli import cli
from calfrules.knowledge.ruleset_io import dumps


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Only the test ruleset's plugins-free engine, auditing into a fresh file."""
    return {"CALFRULES_AUDIT": str(tmp_path / "audit.sqlite3"), "CALFRULES_PLUGINS": ""}  # empty: no plugins


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
    code, out, err = run(env, "audit", "list", "--json")
    assert code == 2 and out == "" and "no audit trail at" in err  # nothing recorded, not even a trail
    assert not Path(env["CALFRULES_AUDIT"]).exists()
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
    open_audit(env["CALFRULES_AUDIT"]).close()  # an empty trail
    code, out, err = run(env, *args)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("calfrules: error: ") and message in err


def test_a_failed_audit_assesses_nothing_silently(env: dict[str, str], rules: tuple[str, str]) -> None:
    code, out, err = run(env, "-r", rules[0], "assess", "-", "--audit-db", "mysql://x", stdin=json.dumps(STRAIN))
    assert code == 2 and out == "" and "unknown audit URL scheme" in err


# --- reading never creates a trail ------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["list"], ["show", "3f2c"], ["export"], ["replay"], ["feedback", "3f2c", "--outcome", "accepted"]],
    ids=lambda c: c[0],
)
def test_reading_a_missing_trail_is_an_error_and_creates_nothing(
    env: dict[str, str], tmp_path: Path, command: list[str]
) -> None:
    missing = tmp_path / "nonexistent" / "dir" / "x.db"
    code, out, err = run(env, "audit", "--db", str(missing), *command)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"calfrules: error: no audit trail at {missing}")
    assert not (tmp_path / "nonexistent").exists()


def test_the_default_trail_is_not_created_by_reading_it(env: dict[str, str]) -> None:
    code, _, err = run(env, "audit", "list")
    assert code == 2 and f"no audit trail at {env['CALFRULES_AUDIT']}" in err
    assert not Path(env["CALFRULES_AUDIT"]).exists()


def test_a_database_that_is_not_a_trail_is_refused_untouched(env: dict[str, str], tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    code, out, err = run(env, "audit", "--db", str(other), "list")
    assert code == 2 and out == "" and "not an audit trail" in err
    with sqlite3.connect(other) as db:
        assert [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["notes"]
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # not switched to WAL either
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all, but long enough to have a header" * 4, encoding="utf-8")
    code, out, err = run(env, "audit", "--db", str(text), "list")
    assert code == 2 and out == "" and "cannot use as an audit trail" in err


# --- ids: the start of one is enough ------------------------------------------------------


def record_ids(path: str, count: int) -> list[str]:
    with open_audit(path) as store:
        return [store.record(case=STRAIN, assessment={"level": "self_care"}, channel="cli") for _ in range(count)]


def test_show_and_feedback_take_a_unique_start_of_an_id(env: dict[str, str]) -> None:
    [rid] = record_ids(env["CALFRULES_AUDIT"], 1)
    code, out, _ = run(env, "audit", "show", rid[:4], "--json")
    assert code == 0 and json.loads(out)["id"] == rid
    code, out, _ = run(env, "audit", "feedback", rid[:6], "--outcome", "accepted")
    assert code == 0 and out == f"feedback added to {rid}\n"
    code, out, _ = run(env, "audit", "show", rid[:4])
    assert code == 0 and f"record     {rid}" in out and "accepted" in out


def test_an_ambiguous_or_unknown_start_of_an_id_is_an_error(env: dict[str, str]) -> None:
    ids = record_ids(env["CALFRULES_AUDIT"], 17)  # 17 ids, 16 hex digits: two share a first character
    shared = next(rid[0] for rid in ids if sum(other[0] == rid[0] for other in ids) > 1)
    for command in (["show", shared], ["feedback", shared, "--outcome", "accepted"]):
        code, out, err = run(env, "audit", *command)
        assert code == 2 and out == "" and err.count("\n") == 1
        assert f"audit record id {shared!r} is ambiguous" in err and "give more of it" in err
    code, _, err = run(env, "audit", "show", "x3f2")  # no id has an x
    assert code == 2 and "no audit record 'x3f2'" in err


# --- since: one meaning everywhere ---------------------------------------------------------


def test_since_takes_a_date_a_time_or_an_age() -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert since_moment("7d", now=now) == datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
    assert since_moment(" 30m ", now=now) == datetime(2026, 3, 10, 11, 30, tzinfo=UTC)
    assert since_moment("2026-01-31") == datetime(2026, 1, 31, tzinfo=UTC)
    assert since_moment("2026-01-31T08:00Z") == datetime(2026, 1, 31, 8, 0, tzinfo=UTC)
    with pytest.raises(AuditError, match="not a date or time or an age"):
        since_moment("yesterday")


def test_list_and_export_read_since_the_same_way(env: dict[str, str]) -> None:
    record_ids(env["CALFRULES_AUDIT"], 2)
    for since, expected in (("1h", 2), ("2000-01-01", 2), ("2999-01-01", 0)):
        listed = json.loads(run(env, "audit", "list", "--since", since, "--json")[1])
        exported = run(env, "audit", "export", "--since", since)[1].splitlines()
        assert len(listed) == len(exported) == expected, since
    with open_audit(env["CALFRULES_AUDIT"]) as store:
        assert len(store.list(since="1h")) == 2  # the API takes an age too
