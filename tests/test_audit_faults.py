"""The audit trail under faults: deleted or replaced files, group commit, lone surrogates, a PostgreSQL outage.

Each write either lands in the trail or fails loudly (AuditError, and health() says so);
none goes into a deleted file, and no table-less database is ever created.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from audit_support import STRAIN, small_engine
from click.testing import CliRunner
from fault_support import PostgresCluster, postgres_cluster, wait_until

from calfrules.audit import AuditError, open_audit
from calfrules.audit.postgres_store import PostgresAuditStore
from calfrules.audit.records import new_record
from calfrules.audit.sqlite_store import SqliteAuditStore
from calfrules.audit.store import RecordInsert
from calfrules.cli import cli
from calfrules.service.audit_port import audit_health


@pytest.fixture(scope="module")
def output() -> dict[str, Any]:
    with small_engine() as engine:
        result: dict[str, Any] = engine.assess(STRAIN).to_dict()
        return result


def _record(store: Any, output: dict[str, Any], case: dict[str, Any] = STRAIN) -> str:
    rid: str = store.record(case=case, assessment=output, channel="service")
    return rid


# --- SQLite: the file under the running store -----------------------------------------
@pytest.mark.parametrize("remove", ["file", "folder"])
def test_a_deleted_trail_fails_every_write_loudly_and_is_never_recreated_empty(
    tmp_path: Path, output: dict[str, Any], remove: str
) -> None:
    folder = tmp_path / "audit"
    path = folder / "audit.sqlite3"
    store = open_audit(path)
    _record(store, output)
    if remove == "file":
        for name in ("audit.sqlite3", "audit.sqlite3-wal", "audit.sqlite3-shm"):
            (folder / name).unlink(missing_ok=True)
    else:
        shutil.rmtree(folder)
    for _ in range(3):
        with pytest.raises(AuditError, match="deleted or moved away"):
            _record(store, output)
    assert not path.exists() and (remove == "file" or not folder.exists())  # nothing written into the void
    assert audit_health(store)["status"] == "failed" and "deleted" in audit_health(store)["detail"]
    with pytest.raises(AuditError, match="deleted"):
        store.list()
    # recovery: a trail is put back at the path (here a new one; a restored backup works the same)
    open_audit(path).close()
    rid = _record(store, output)
    assert audit_health(store)["status"] == "ok"
    assert [r.id for r in store.list()] == [rid]
    store.close()


def test_a_file_replaced_by_something_else_is_refused(tmp_path: Path, output: dict[str, Any]) -> None:
    path = tmp_path / "audit.sqlite3"
    store = open_audit(path)
    path.unlink()
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE notes (x)")
    with pytest.raises(AuditError, match="replaced by one that is not this audit trail"):
        _record(store, output)
    assert audit_health(store)["status"] == "failed"
    store.close()


def test_a_trail_deleted_during_a_commit_reports_the_write_as_failed(tmp_path: Path, output: dict[str, Any]) -> None:
    path = tmp_path / "audit.sqlite3"
    store = open_audit(path)
    real_run = store._run

    def delete_then_write(work: Any, *, write: bool) -> Any:
        def inside(execute: Any) -> Any:
            path.unlink()  # the file goes while its transaction is open: the commit lands in a deleted file
            return work(execute)

        return real_run(inside, write=write)

    store._run = delete_then_write  # type: ignore[method-assign]
    with pytest.raises(AuditError, match="deleted or moved away"):
        _record(store, output)
    store.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_one_clear_error(tmp_path: Path, output: dict[str, Any]) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    open_audit(folder / "audit.sqlite3").close()  # a trail exists; its -wal and -shm are gone when closed
    folder.chmod(0o500)
    try:
        with pytest.raises(AuditError) as error:
            store = open_audit(folder / "audit.sqlite3")
            _record(store, output)
        assert "must be writable" in str(error.value) and "\n" not in str(error.value)
    finally:
        folder.chmod(0o700)


# --- SQLite: group commit -----------------------------------------------------------
def test_writes_queued_meanwhile_commit_together_and_a_refused_one_leaves_the_others(
    tmp_path: Path, output: dict[str, Any]
) -> None:
    store = open_audit(tmp_path / "audit.sqlite3")
    assert isinstance(store, SqliteAuditStore)
    batches: list[int] = []
    real_batch = store._write_batch
    release = threading.Event()

    def counted(works: Any) -> Any:
        batches.append(len(works))
        if len(batches) == 1:
            release.wait(30)  # hold the first batch while the others queue up
        return real_batch(works)

    store._writer._write_batch = counted
    results: dict[int, Any] = {}

    def write(n: int) -> None:
        try:
            if n == 5:  # feedback on a record that does not exist: refused, alone
                store.add_feedback("00000000-0000-0000-0000-000000000000", outcome="accepted")
            results[n] = _record(store, output, {**STRAIN, "id": f"case-{n}"})
        except AuditError as exc:
            results[n] = exc

    threads = [threading.Thread(target=write, args=(0,))]
    threads[0].start()
    wait_until(lambda: batches, "the first batch started")
    threads += [threading.Thread(target=write, args=(n,)) for n in range(1, 21)]
    for thread in threads[1:]:
        thread.start()
    wait_until(lambda: store._writer._queue.qsize() == 20, "twenty writes queued")
    release.set()
    for thread in threads:
        thread.join()
    assert batches == [1, 20]  # the twenty queued writes: one transaction, one commit
    assert isinstance(results[5], AuditError) and "no audit record" in str(results[5])
    recorded = {r.case["id"] for r in store.iter_records()}
    assert recorded == {f"case-{n}" for n in range(21) if n != 5}
    store.close()


def test_a_batch_of_records_is_one_insert_and_a_duplicate_id_refuses_only_itself(
    tmp_path: Path, output: dict[str, Any]
) -> None:
    """Records alone go in as one multi-row INSERT; a duplicate id makes it run record by record."""
    store = open_audit(tmp_path / "audit.sqlite3")
    assert isinstance(store, SqliteAuditStore)
    taken = _record(store, output)

    def insert(case_id: str, record_id: str | None = None) -> RecordInsert:
        row = new_record(case={**STRAIN, "id": case_id}, assessment=output, channel="service", request_id=None)
        return store._record_insert(replace(row, id=record_id or row.id))

    statements: list[str] = []
    store._connection().set_trace_callback(statements.append)  # this thread's, which _write_batch uses here
    outcomes = store._write_batch([insert("a"), insert("b"), insert("c")])
    assert [ok for ok, _ in outcomes] == [True, True, True]
    assert [s.split(" (")[0] for s in statements if s.split()[0] in ("INSERT", "BEGIN", "COMMIT")] == [
        "INSERT INTO audit_records"
    ]
    outcomes = store._write_batch([insert("d"), insert("dup", taken), insert("e")])
    assert [ok for ok, _ in outcomes] == [True, False, True]
    assert isinstance(outcomes[1][1], AuditError) and "refused" in str(outcomes[1][1])
    assert sorted(r.case["id"] for r in store.iter_records()) == sorted([STRAIN["id"], "a", "b", "c", "d", "e"])
    store.close()


def test_stores_sharing_a_file_take_turns_to_write_through_the_lock_file_beside_it(
    tmp_path: Path, output: dict[str, Any]
) -> None:
    """Two stores on one file (as `serve --workers 2` has) write in turns: the flock is held during a write."""
    path = tmp_path / "audit.sqlite3"
    first, second = open_audit(path), open_audit(path)
    assert isinstance(first, SqliteAuditStore) and isinstance(second, SqliteAuditStore)
    _record(second, output)  # its first write makes the lock file, owner-only
    assert (tmp_path / "audit.sqlite3-lock").stat().st_mode & 0o777 == 0o600
    probe = os.open(tmp_path / "audit.sqlite3-lock", os.O_RDWR)
    held: list[bool] = []
    real_insert = first._record_insert

    def insert_while_probing(row: Any) -> Any:
        work = real_insert(row)

        def probed(execute: Any) -> Any:
            try:  # another process's turn is refused while this store writes
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(probe, fcntl.LOCK_UN)
                held.append(False)
            except BlockingIOError:
                held.append(True)
            return work(execute)

        return probed

    first._record_insert = insert_while_probing  # type: ignore[method-assign]
    _record(first, output)
    assert held == [True]
    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # and let go after it
    os.close(probe)
    assert first.count() == second.count() == 2
    first.close()
    second.close()


def test_a_lock_file_that_cannot_be_made_costs_turn_taking_not_records(tmp_path: Path, output: dict[str, Any]) -> None:
    path = tmp_path / "audit.sqlite3"
    store = open_audit(path)
    assert isinstance(store, SqliteAuditStore)
    (tmp_path / "audit.sqlite3-lock").mkdir()  # in the way: the lock file cannot be opened
    _record(store, output)
    assert store.count() == 1 and audit_health(store)["status"] == "ok"
    store.close()


def test_fifty_threads_record_and_every_caller_gets_its_own_committed_record(
    tmp_path: Path, output: dict[str, Any]
) -> None:
    store = open_audit(tmp_path / "audit.sqlite3")
    ids: list[str] = []

    def write(n: int) -> None:
        for k in range(4):
            rid = _record(store, output, {**STRAIN, "id": f"{n}-{k}"})
            ids.append(rid)
            record = store.get(rid)  # committed before record() returned
            assert record is not None and record.case["id"] == f"{n}-{k}"

    threads = [threading.Thread(target=write, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 200 and store.count() == 200
    store.close()


# --- lone surrogates ----------------------------------------------------------------
def test_lone_surrogates_never_break_show_or_export(tmp_path: Path, output: dict[str, Any]) -> None:
    path = tmp_path / "audit.sqlite3"
    case = {"id": "\ud800", "note": "a\udfffb", "findings": STRAIN["findings"]}
    with open_audit(path) as store:
        rid = store.record(
            case=case, assessment={**output, "case_id": "\ud800"}, channel="service", request_id="\udc00"
        )
        store.add_feedback(rid, outcome="overridden", comment="c\ud800")
    env = {"CALFRULES_AUDIT": str(path), "CALFRULES_PLUGINS": ""}
    runner = CliRunner()
    for args in (["list"], ["list", "--json"], ["show", rid], ["show", rid, "--json"], ["export"]):
        result = runner.invoke(cli, ["audit", *args], env=env)
        assert result.exit_code == 0, (args, result.output, result.exception)
        assert "\\ud800" in result.stdout
    exported = runner.invoke(cli, ["audit", "export"], env=env).stdout
    assert json.loads(exported)["case"] == case  # the escape reads back as exactly what was recorded


@pytest.mark.parametrize("since", ["99999999999d", "0001-01-01T00:00+14:00", "9999-12-31T23:59-14:00"])
def test_an_unbounded_since_is_one_line_error(tmp_path: Path, since: str) -> None:
    open_audit(tmp_path / "audit.sqlite3").close()
    env = {"CALFRULES_AUDIT": str(tmp_path / "audit.sqlite3"), "CALFRULES_PLUGINS": ""}
    for command in ("list", "export"):
        result = CliRunner().invoke(cli, ["audit", command, "--since", since], env=env)
        assert result.exit_code == 2 and result.stderr.startswith("calfrules: error: since:"), result.output
        assert result.stderr.count("\n") == 1


# --- health -------------------------------------------------------------------------
def test_health_never_raises() -> None:
    class Broken:
        def health(self) -> tuple[str, str]:
            raise RuntimeError("boom")

    class Plain:
        pass

    assert audit_health(None) == {"status": "ok", "detail": "no audit trail is kept"}
    assert audit_health(Broken())["status"] == "failed"  # type: ignore[arg-type]
    assert audit_health(Plain())["status"] == "ok"  # type: ignore[arg-type]


# --- PostgreSQL: an outage ----------------------------------------------------------
@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    with postgres_cluster() as running:
        yield running


def test_a_postgres_outage_fails_fast_says_degraded_and_recovers_on_its_own(
    cluster: PostgresCluster, output: dict[str, Any]
) -> None:
    store = open_audit(cluster.url)
    assert isinstance(store, PostgresAuditStore)
    try:
        _record(store, output)
        cluster.stop()
        with pytest.raises(AuditError, match="audit trail write failed"):
            _record(store, output)  # the one that finds the outage
        assert audit_health(store)["status"] == "degraded"
        # the breaker is open: the next writes are refused without waiting on the pool
        with pytest.raises(AuditError, match="not waiting for it"):
            _record(store, output)
        cluster.start()

        def recorded() -> bool:
            try:
                _record(store, output)
            except AuditError:
                return False
            return True

        wait_until(recorded, "recording resumed after PostgreSQL came back")
        assert audit_health(store)["status"] == "ok"
        assert store.count() >= 2
    finally:
        store.close()
