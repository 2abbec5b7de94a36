"""The audit store, run against every backend: SQLite always, PostgreSQL when it is there (always in CI)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from audit_support import MARKED, QUIET, STRAIN, assert_whole, audit_url, small_engine

from calfrules import Engine
from calfrules.audit import AnsweredAssessment, AuditError, AuditStore, open_audit, resolve_url
from calfrules.audit.postgres_store import redact
from calfrules.audit.records import utc_now
from calfrules.audit.store import FEEDBACK_COLUMNS, Execute
from calfrules.rules.errors import EngineFault

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    built = small_engine()
    yield built
    built.close()


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from audit_url(request.param, tmp_path)


@pytest.fixture
def store(url: str) -> Iterator[AuditStore]:
    opened = open_audit(url)
    yield opened
    opened.close()


def test_a_record_holds_input_output_rules_versions_and_time(store: AuditStore, engine: Engine) -> None:
    assessment = engine.assess(STRAIN)
    before = datetime.now(UTC)
    rid = store.record(case=STRAIN, assessment=assessment, channel="service", request_id="req-1")
    record = store.get(rid)
    assert record is not None and record.id == rid
    assert record.channel == "service" and record.request_id == "req-1"
    assert record.case == STRAIN and record.assessment == assessment.to_dict()
    assert record.level == "self_care" and record.complete and record.incomplete_reasons == ()
    assert "t/strain" in record.fired_rules
    assert {"id": "t", "version": "1.0.0"}.items() <= next(r for r in record.rulesets if r["id"] == "t").items()
    assert all(str(r["hash"]).startswith("sha256:") for r in record.rulesets)
    recorded = datetime.fromisoformat(record.time)
    assert recorded.tzinfo is not None and abs(recorded - before) < timedelta(minutes=5)
    assert record.feedback == ()
    assert_whole(record)


def test_an_incomplete_assessment_is_recorded_with_its_reasons(
    store: AuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = small_engine(audit=store)

    def crash(findings: Any) -> Any:
        raise EngineFault("the rule engine process died")

    monkeypatch.setattr(engine._runner, "run", crash)
    assessment = engine.assess(STRAIN)
    [record] = store.list()
    assert not record.complete and record.level == assessment.level.value == "urgent"
    assert any("process died" in reason for reason in record.incomplete_reasons)
    assert_whole(record)
    engine.close()


def test_the_engine_hook_records_every_assessment_unless_told_not_to(store: AuditStore) -> None:
    engine = small_engine(audit=store)
    engine.assess(STRAIN)
    engine.assess(QUIET, record=False)
    [record] = store.list()
    assert record.channel == "api" and record.case["findings"] == STRAIN["findings"]
    engine.close()


def test_list_is_newest_first_and_filters_by_level_since_and_limit(store: AuditStore, engine: Engine) -> None:
    start = datetime.now(UTC)
    ids = [store.record(case=c, assessment=engine.assess(c), channel="cli") for c in (STRAIN, QUIET, MARKED)]
    assert [r.id for r in store.list()] == ids[::-1]
    assert [r.id for r in store.list(limit=2)] == ids[:0:-1]
    assert {r.id for r in store.list(level="self_care")} == set(ids)
    assert store.list(level="urgent") == []
    assert len(store.list(since=start - timedelta(seconds=1))) == 3
    assert store.list(since=(start + timedelta(hours=1)).isoformat()) == []
    assert store.count() == 3
    assert [r.id for r in store.iter_records(batch=2)] == ids  # oldest first, across pages


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, "limit"),
        ({"level": "high"}, "level must be one of"),
        ({"since": "last tuesday"}, "not a date or time"),
    ],
)
def test_bad_list_arguments_say_what_to_fix(store: AuditStore, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(AuditError, match=message):
        store.list(**kwargs)


def test_feedback_is_kept_in_order_and_refused_for_unknown_records(store: AuditStore, engine: Engine) -> None:
    rid = store.record(case=STRAIN, assessment=engine.assess(STRAIN), channel="service")
    store.add_feedback(rid, outcome="accepted", clinician="dr-a")
    store.add_feedback(rid, outcome="overridden", comment="examined: no strain", extra={"card": "c1"})
    record = store.get(rid)
    assert record is not None
    assert [(f.outcome, f.clinician, f.comment, f.extra) for f in record.feedback] == [
        ("accepted", "dr-a", None, None),
        ("overridden", None, "examined: no strain", {"card": "c1"}),
    ]
    assert store.list()[0].feedback == record.feedback
    for unknown in ("no-such-id", "nul\x00", "x" * 1000):
        with pytest.raises(AuditError, match="no audit record"):
            store.add_feedback(unknown, outcome="accepted")
        assert store.get(unknown) is None
    with pytest.raises(AuditError, match="outcome"):
        store.add_feedback(rid, outcome=" ")


def test_bad_records_are_refused_before_anything_is_written(store: AuditStore, engine: Engine) -> None:
    assessment = engine.assess(STRAIN)
    with pytest.raises(AuditError, match="channel"):
        store.record(case=STRAIN, assessment=assessment, channel="email")
    with pytest.raises(AuditError, match="cannot be stored as JSON"):
        store.record(case={"findings": {"calf_pain": object()}}, assessment=assessment, channel="api")
    with pytest.raises(AuditError, match="assessment"):
        store.record(case=STRAIN, assessment={"no": "level"}, channel="api")
    assert store.count() == 0 and store.get("missing") is None


@pytest.mark.parametrize(
    "note", ["NUL \x00 inside", "lone surrogate \ud800", "emoji \U0001f9b5 and ñ", "'; DROP TABLE"]
)
def test_any_text_a_request_can_carry_round_trips_exactly(store: AuditStore, engine: Engine, note: str) -> None:
    case = {**STRAIN, "note": note, "extra": {"nested": [note, 1.5, None, True]}}
    rid = store.record(case=case, assessment=engine.assess(STRAIN), channel="service", request_id=note[:20])
    store.add_feedback(rid, outcome="overridden", comment=note, extra={"note": note})
    record = store.get(rid)
    assert record is not None and record.case == case  # JSON: exactly as given
    assert record.feedback[0].extra == {"note": note}
    # plain text columns: exact, or with NUL and unpaired surrogates shown as escapes
    visible = note.replace("\x00", "\\x00").replace("\ud800", "\\ud800")
    assert record.request_id == note[:20].replace("\x00", "\\x00").replace("\ud800", "\\ud800")
    assert record.feedback[0].comment == visible


def test_many_threads_record_at_once_and_every_record_is_whole(store: AuditStore, engine: Engine) -> None:
    output = engine.assess(STRAIN).to_dict()
    ids: list[str] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(10):
                rid = store.record(case=STRAIN, assessment=output, channel="service")
                ids.append(rid)
                assert store.get(rid) is not None  # each thread reads its own writes
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.count() == 80 and len(set(ids)) == 80
    for record in store.iter_records():
        assert_whole(record)


def test_one_refused_write_in_a_batch_leaves_the_others_and_keeps_nothing_of_itself(
    store: AuditStore, engine: Engine
) -> None:
    """Group commit runs a batch in one transaction; a refused write makes it run again write by write."""
    rid = store.record(case=STRAIN, assessment=engine.assess(STRAIN), channel="service")

    def feedback(outcome: str, *, refuse: bool = False) -> Callable[[Execute], str]:
        def work(execute: Execute) -> str:
            row = (rid, store._time_param(utc_now()), outcome, None, None, None)  # type: ignore[attr-defined]
            execute(f"INSERT INTO audit_feedback ({FEEDBACK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", row)
            if refuse:  # after its own insert, which must not be kept
                raise AuditError(f"{outcome} refused")
            return outcome

        return work

    batch = [feedback("first"), feedback("second", refuse=True), feedback("third")]
    outcomes = store._write_batch(batch)  # type: ignore[attr-defined]
    assert [(ok, str(value)) for ok, value in outcomes] == [
        (True, "first"),
        (False, "second refused"),
        (True, "third"),
    ]
    record = store.get(rid)
    assert record is not None and [f.outcome for f in record.feedback] == ["first", "third"]


def test_the_service_records_the_json_it_answered(store: AuditStore, engine: Engine) -> None:
    """The service hands the trail the bytes it answers: recorded as that JSON (ASCII-escaped), not re-encoded."""
    import msgspec

    assessment = engine.assess({**STRAIN, "note": "emoji \U0001f9b5, ñ and \u2013"})
    answered = msgspec.json.encode(assessment)
    assert not answered.isascii()
    rid = store.record(case=STRAIN, assessment=AnsweredAssessment(assessment, answered), channel="service")
    record = store.get(rid)
    assert record is not None and record.assessment == json.loads(answered) == assessment.to_dict()
    assert record.level == assessment.level.value and "t/strain" in record.fired_rules
    stored = store._run(  # type: ignore[attr-defined]
        lambda execute: execute("SELECT assessment_json FROM audit_records WHERE id = ?", (rid,)), write=False
    )[0]["assessment_json"]
    assert stored.isascii() and stored == json.dumps(json.loads(answered), separators=(",", ":"))


WRITER = """
import json, sys, time
from calfrules.audit import open_audit
url, output_file, run = sys.argv[1], sys.argv[2], sys.argv[3]
output = json.load(open(output_file))
store = open_audit(url)
real_run = store._run

def insert_then_hang(work, *, write):
    def inserted(execute):
        result = work(execute)  # the INSERT ran; its transaction is still open
        print("inside", flush=True)
        time.sleep(600)  # the parent kills this process here, before the commit
        return result
    return real_run(inserted, write=write)

for n in range(ACKNOWLEDGED + 1):
    case_id = f"{run}-{n}"
    # a big note: the open transaction has written pages the crash must discard
    case = {"id": case_id, "note": case_id * 20_000, "findings": output["findings"]}
    if n == ACKNOWLEDGED:
        store._run = insert_then_hang
    store.record(case=case, assessment={**output, "case_id": case_id}, channel="service")
    print("acknowledged", n, flush=True)
"""
ACKNOWLEDGED = 5  # records each writer commits before it is killed inside the next one


def kill_inside_a_transaction(url: str, output_file: Path, run: int) -> None:
    """Runs a writer that commits ACKNOWLEDGED records, then SIGKILLs it inside the next one's transaction."""
    code = WRITER.replace("ACKNOWLEDGED", str(ACKNOWLEDGED))
    writer = subprocess.Popen(
        [sys.executable, "-c", code, url, str(output_file), str(run)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(120, writer.kill)  # a writer stuck before "inside" must not hang the suite
    watchdog.start()
    try:
        assert writer.stdout is not None
        lines = [writer.stdout.readline() for _ in range(ACKNOWLEDGED + 1)]
        assert lines == [f"acknowledged {n}\n" for n in range(ACKNOWLEDGED)] + ["inside\n"], (
            f"the writer did not reach the open transaction: {lines} {writer.stderr.read() if writer.stderr else ''}"
        )
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        watchdog.cancel()
        writer.kill()
        writer.communicate()
    assert writer.returncode == -signal.SIGKILL


def test_a_writer_killed_mid_stream_leaves_only_whole_records(url: str, engine: Engine, tmp_path: Path) -> None:
    output_file = tmp_path / "assessment.json"
    output_file.write_text(json.dumps(engine.assess(STRAIN).to_dict()))
    open_audit(url).close()  # create the schema before the first kill
    for run in range(3):
        kill_inside_a_transaction(url, output_file, run)
    with open_audit(url) as store:
        records = list(store.iter_records())
        # every acknowledged record survived; the one killed before its commit left nothing
        assert sorted(r.case["id"] for r in records) == [f"{run}-{n}" for run in range(3) for n in range(ACKNOWLEDGED)]
        for record in records:
            assert_whole(record)
            assert record.case["note"] == record.case["id"] * 20_000
            assert record.assessment["case_id"] == record.case["id"]
    if url.startswith("sqlite:"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


# --- opening: URLs, defaults, files --------------------------------------------------


def test_urls_and_plain_paths_open_sqlite_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for target, expected in [
        ("sqlite:///relative.db", tmp_path / "relative.db"),
        (f"sqlite:///{tmp_path / 'absolute.db'}", tmp_path / "absolute.db"),
        (str(tmp_path / "sub" / "plain.db"), tmp_path / "sub" / "plain.db"),
    ]:
        open_audit(target).close()
        assert expected.is_file(), target
    assert (tmp_path / "absolute.db").stat().st_mode & 0o077 == 0  # health data: owner only


def test_the_default_is_the_env_var_then_the_user_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from platformdirs import user_data_dir

    monkeypatch.delenv("CALFRULES_AUDIT", raising=False)
    assert resolve_url() == f"sqlite:///{Path(user_data_dir('calfrules', appauthor=False)) / 'audit.sqlite3'}"
    monkeypatch.setenv("CALFRULES_AUDIT", str(tmp_path / "env.db"))
    open_audit().close()
    assert (tmp_path / "env.db").is_file()


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("mysql://x/y", "unknown audit URL scheme"),
        ("sqlite://", "needs a file"),
        ("sqlite:///:memory:", "needs a file"),
        ("postgresql://nobody:secret@127.0.0.1:1/none", "cannot open the audit trail"),
    ],
)
def test_unusable_urls_are_one_clear_error(target: str, message: str) -> None:
    with pytest.raises(AuditError, match=message) as caught:
        open_audit(target)
    assert "secret" not in str(caught.value)


def test_a_folder_or_a_newer_schema_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="is a folder"):
        open_audit(str(tmp_path))
    path = tmp_path / "future.db"
    open_audit(str(path)).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE audit_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(AuditError, match="newer calfrules"):
        open_audit(str(path))


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = open_audit(str(tmp_path / "a.db"))
    store.close()
    with pytest.raises(AuditError, match="closed"):
        store.list()


def test_passwords_never_show_in_messages() -> None:
    assert redact("postgresql://user:s3cret@db:5432/audit") == "postgresql://user:***@db:5432/audit"
    assert redact("postgresql://db/audit") == "postgresql://db/audit"


def test_the_engine_and_the_sqlite_store_never_import_psycopg(tmp_path: Path) -> None:
    code = (
        "import sys, calfrules, calfrules.cli; from calfrules.audit import open_audit; "
        f"open_audit({str(tmp_path / 'a.db')!r}).close(); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'psycopg', 'psycopg_pool', 'textual'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_records_wait_for_each_other_rather_than_fail(tmp_path: Path, engine: Engine) -> None:
    """Two stores (as two service processes would) on one SQLite file: both writers succeed."""
    url = str(tmp_path / "shared.db")
    output = engine.assess(QUIET).to_dict()
    first, second = open_audit(url), open_audit(url)
    for _ in range(20):
        first.record(case=QUIET, assessment=output, channel="service")
        second.record(case=QUIET, assessment=output, channel="service")
    assert first.count() == second.count() == 40
    first.close()
    second.close()


def test_connections_of_finished_threads_are_closed(tmp_path: Path, engine: Engine) -> None:
    from calfrules.audit.sqlite_store import SqliteAuditStore

    store = SqliteAuditStore(tmp_path / "threads.db")
    output = engine.assess(QUIET).to_dict()
    for _ in range(5):  # a thread per request, as a naive server would do
        thread = threading.Thread(target=lambda: store.record(case=QUIET, assessment=output, channel="service"))
        thread.start()
        thread.join()
    assert len(store._connections) <= 2 and store.count() == 5
    store.close()
