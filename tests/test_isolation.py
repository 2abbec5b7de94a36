"""The engine's child process: it outlives the thread that started it and holds none of the parent's descriptors.

Issue 12: restarts forked from a server's worker thread were SIGKILLed when that thread
ended (PR_SET_PDEATHSIG follows the forking thread), and every child inherited the
server's listening socket, client connections and audit database descriptors.
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest

from calfrules import CaseError, Level, load_engine
from calfrules.engine.assessment import Assessment
from calfrules.engine.engine import Engine
from calfrules.engine.isolation import IsolatedRunner

from helpers import PAIN_RULE, ruleset

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; PDEATHSIG is Linux's")

RULES = ruleset(PAIN_RULE)
CASE = {"findings": {"calf_pain": True}}


def _alive(pid: int) -> bool:
    """Running: not gone and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_until(condition: object, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:g} s: {what}")
        time.sleep(0.01)


def _child_pid(engine: Engine) -> int:
    pid: int = engine._runner._child.pid  # type: ignore[union-attr]
    return pid


def _restart_from_a_thread(engine: Engine) -> tuple[int, threading.Thread]:
    """Kill the child, then assess from a worker thread (which starts the new child) that then ends."""
    old = _child_pid(engine)
    os.kill(old, signal.SIGKILL)
    _wait_until(lambda: not _alive(old), "the killed child is gone")
    answers = []
    worker = threading.Thread(target=lambda: answers.append(engine.assess(CASE)))
    worker.start()
    worker.join()
    assert answers and answers[0].complete, "the restart itself worked"
    new = _child_pid(engine)
    assert new != old
    return new, worker


def test_a_child_started_by_a_thread_outlives_that_thread() -> None:
    engine = load_engine(rulesets=[RULES], allow=[])
    try:
        child, worker = _restart_from_a_thread(engine)
        # the worker's OS thread is gone once its /proc entry is: a PDEATHSIG would have been sent by then
        _wait_until(lambda: not Path(f"/proc/self/task/{worker.native_id}").exists(), "the worker thread ended")
        later = engine.assess(CASE)
        # a SIGKILL sent at the thread's exit shows here whether or not it has landed yet: the child
        # died mid-request (incomplete, a restart) or was quietly replaced (another pid)
        assert later.complete and later.level == Level.SELF_CARE
        assert _child_pid(engine) == child and engine._runner.restarts == 0  # type: ignore[union-attr]
        assert _alive(child), "the engine child was killed when the thread that started it ended"
    finally:
        engine.close()


def test_a_child_holds_none_of_the_parents_descriptors(tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    database = sqlite3.connect(tmp_path / "audit.sqlite3", check_same_thread=False)
    database.execute("PRAGMA journal_mode = WAL")
    database.execute("CREATE TABLE t (x)")
    database.execute("INSERT INTO t VALUES (1)")
    parents = {f"socket:[{os.fstat(s.fileno()).st_ino}]" for s in (listener, client, accepted)}
    engine = load_engine(rulesets=[RULES], allow=[])
    try:
        assert engine.assess(CASE).complete  # the child has answered: it is past its clean-up after the fork
        _assert_holds_only_its_own(_child_pid(engine), parents, tmp_path)  # the first child
        _assert_holds_only_its_own(_restart_from_a_thread(engine)[0], parents, tmp_path)  # a restart
    finally:
        engine.close()
        for closable in (accepted, client, listener, database):
            closable.close()


def _assert_holds_only_its_own(child: int, parents: set[str], folder: Path) -> None:
    held = {int(fd): os.readlink(f"/proc/{child}/fd/{fd}") for fd in os.listdir(f"/proc/{child}/fd")}
    assert not parents & set(held.values()), f"the child holds the parent's sockets: {held}"
    assert not [target for target in held.values() if target.startswith(str(folder))], held
    # stdin (/dev/null), stdout, stderr and the two pipes to and from the parent
    assert sorted(held)[:3] == [0, 1, 2] and len(held) == 5, held
    assert held[0] == os.devnull and all(held[fd].startswith("pipe:") for fd in sorted(held)[3:]), held


def test_closing_the_engine_ends_and_reaps_its_child() -> None:
    engine = load_engine(rulesets=[RULES], allow=[])
    child = _child_pid(engine)
    engine.close()
    assert not _alive(child)
    with pytest.raises(ChildProcessError):  # already reaped: no zombie left behind
        os.waitpid(child, os.WNOHANG)


def test_a_child_killed_while_idle_is_replaced_before_the_next_case() -> None:
    engine = load_engine(rulesets=[RULES], allow=[])
    try:
        idle = _child_pid(engine)
        os.kill(idle, signal.SIGKILL)
        _wait_until(lambda: not _alive(idle), "the killed child is gone")
        # found dead before the case is sent: a fresh child takes it, whole, and no failure is counted
        assert engine.assess(CASE).complete
        assert _child_pid(engine) != idle
        assert engine._runner.restarts == 0  # type: ignore[union-attr]
        with pytest.raises(ChildProcessError):  # the dead child was reaped: no zombie left
            os.waitpid(idle, os.WNOHANG)
    finally:
        engine.close()


def test_a_hung_child_is_replaced_and_the_next_case_is_whole() -> None:
    # the hang costs the whole limit; 3 s leaves the new child room to answer on a busy machine
    engine = load_engine(rulesets=[RULES], allow=[], timeout=3.0)
    try:
        stuck = _child_pid(engine)
        os.kill(stuck, signal.SIGSTOP)  # as a hang in durable_rules' C core looks from outside
        failed = engine.assess({"findings": {"calf_pain": True, "swelling": True}})
        assert not failed.complete and failed.level >= Level.URGENT
        assert not _alive(stuck)
        recovered = engine.assess(CASE)
        assert recovered.complete and recovered.level == Level.SELF_CARE
        assert engine._runner.restarts == 1  # type: ignore[union-attr]
    finally:
        engine.close()


def test_a_forked_process_starts_its_own_engine_children() -> None:
    """batch forks its workers from a process that already has a launcher thread: a fork has none."""
    parent_engine = load_engine(rulesets=[RULES], allow=[])
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the forked copy of this test
            code = 1
            try:
                with load_engine(rulesets=[RULES], allow=[]) as engine:
                    code = 0 if engine.assess(CASE).complete else 3
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert parent_engine.assess(CASE).complete
    finally:
        parent_engine.close()


def test_concurrent_cases_are_assessed_in_parallel_children() -> None:
    """A pool of children: two cases at once meet inside two children (a barrier one child could never pass)."""
    import multiprocessing

    from calfrules import Deriver, Score, hookimpl

    meeting = multiprocessing.get_context("fork").Barrier(2)  # shared with the children forked later

    class Meeting:
        calfrules_plugin_name = "meeting"

        @hookimpl
        def calfrules_register_derivers(self, register):  # type: ignore[no-untyped-def]
            def meet(findings: object) -> Score:
                meeting.wait(30)  # both cases must be inside children at the same time
                return Score(1)

            register(Deriver(id="meet_score", label="Meet", inputs=(), compute=meet))

    engine = load_engine(plugins=[Meeting()], rulesets=[RULES], allow=[], timeout=60)
    runner = engine._runner
    runner.size = 2  # type: ignore[union-attr]  # whatever this machine's core count
    try:
        answers: list[Assessment] = []
        threads = [threading.Thread(target=lambda: answers.append(engine.assess(CASE))) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # a barrier timeout would fail the score: the assessment would be incomplete
        assert len(answers) == 2 and all(a.complete and a.level == Level.SELF_CARE for a in answers)
        children = [slot.child.pid for slot in runner._slots]  # type: ignore[union-attr]
        assert len(set(children)) == 2 and all(_alive(pid) for pid in children)
        assert runner.restarts == 0  # type: ignore[union-attr]
    finally:
        engine.close()
    assert not any(_alive(pid) for pid in children)  # closing ends every child of the pool


def test_a_single_caller_keeps_one_child() -> None:
    """A second child is forked only when every child is busy: the CLI and a script keep one."""
    engine = load_engine(rulesets=[RULES], allow=[])
    try:
        for _ in range(5):
            assert engine.assess(CASE).complete
        assert len(engine._runner._slots) == 1  # type: ignore[union-attr]
    finally:
        engine.close()


def test_a_freed_child_goes_to_the_caller_that_waited_longest() -> None:
    """First come, first served: the thread that frees a child cannot take it back ahead of
    callers already waiting (which, under load, kept some requests waiting for seconds)."""
    engine = load_engine(rulesets=[RULES], allow=[])
    runner = engine._runner
    assert isinstance(runner, IsolatedRunner)
    runner.size = 1
    try:
        held = runner._acquire()
        got: list[tuple[str, object]] = []

        def wait_in_line(name: str) -> None:
            slot = runner._acquire()
            got.append((name, slot))
            runner._release(slot)

        first = threading.Thread(target=wait_in_line, args=("first",))
        first.start()
        while len(runner._waiting) < 1:  # wait for the state, not for a clock
            time.sleep(0.001)
        second = threading.Thread(target=wait_in_line, args=("second",))
        second.start()
        while len(runner._waiting) < 2:
            time.sleep(0.001)
        runner._release(held)
        mine = runner._acquire()  # the releasing thread queues behind both
        first.join(10)
        second.join(10)
        assert [name for name, _ in got] == ["first", "second"]
        assert all(slot is held for _, slot in got) and mine is held
        runner._release(mine)
        assert engine.assess(CASE).complete
    finally:
        engine.close()


def test_a_batch_is_answered_as_each_case_alone_would_be() -> None:
    """Batch work and replay send many cases per round trip; each answer is the one `assess` gives."""
    cases = [
        CASE,
        {"findings": {"calf_pain": True, "swelling": True}},
        {"findings": {"no_such_finding": True}},
        {"findings": {"calf_pain": False, "pain_score": 3}},
    ]
    engine = load_engine(rulesets=[RULES], allow=[])
    try:
        alone = [engine.assess(case) for case in cases if case["findings"].get("no_such_finding") is None]
        together = engine.assess_many(cases * 40)  # more than one round trip's worth
        assert isinstance(together[2], CaseError) and "no_such_finding" in str(together[2])
        answered = [a for a in together[:4] if isinstance(a, Assessment)]
        assert [a.to_dict() for a in answered] == [a.to_dict() for a in alone]
        assert [a.to_dict() for a in together[4:8] if isinstance(a, Assessment)] == [a.to_dict() for a in alone]
        assert len(engine._runner._slots) == 1 and engine._runner.restarts == 0  # type: ignore[union-attr]
    finally:
        engine.close()


def test_a_case_that_hangs_in_a_batch_fails_safe_alone() -> None:
    """The hung case is cut off at the time limit; the cases after it go to a fresh child."""
    from calfrules import Deriver, Score, hookimpl

    class SleepsOnFever:
        calfrules_plugin_name = "sleeps_on_fever"

        @hookimpl
        def calfrules_register_derivers(self, register):  # type: ignore[no-untyped-def]
            def compute(findings: dict[str, object]) -> Score:
                if findings.get("fever"):
                    time.sleep(60)
                return Score(0)

            register(Deriver(id="sleepy_score", label="Sleepy", inputs=("fever",), compute=compute))

    engine = load_engine(plugins=[SleepsOnFever()], rulesets=[RULES], allow=[], timeout=3.0)
    try:
        hung = {"findings": {"calf_pain": True, "fever": True}}
        answers = engine.assess_many([CASE, hung, CASE, CASE])
        assert all(isinstance(a, Assessment) for a in answers)
        first, failed, *after = answers
        assert isinstance(first, Assessment) and first.complete and first.level == Level.SELF_CARE
        assert isinstance(failed, Assessment) and not failed.complete and failed.level >= Level.URGENT
        assert "did not answer within" in failed.incomplete_reasons[0]
        assert all(isinstance(a, Assessment) and a.complete and a.level == Level.SELF_CARE for a in after)
        assert engine._runner.restarts == 1  # type: ignore[union-attr]
    finally:
        engine.close()


def test_what_the_child_sends_does_not_grow_with_the_rules_loaded() -> None:
    """Rule indices and alternative numbers cross the pipe, not Firing objects rebuilt in the parent."""
    unused = "\n".join(
        f'[[rules]]\nid = "u{i}"\nwhen = "swelling and pain_score >= {i % 10}"\nderive = ["u{i}"]\nrationale = "x"\n'
        for i in range(400)
    )
    small = load_engine(rulesets=[RULES], allow=[], isolation="none")
    large = load_engine(rulesets=[ruleset(PAIN_RULE + unused)], allow=[], isolation="none")
    try:
        findings = CASE["findings"]
        answers = [pickle.dumps(e._pipeline.run_compact(findings)) for e in (small, large)]
        assert b"Firing" not in answers[0] and len(answers[0]) == len(answers[1])
        rebuilt = large._pipeline.expand(large._pipeline.run_compact(findings), findings)
        assert [(f.rule_index, f.matched) for f in rebuilt.firings] == [(0, {"calf_pain": True})]
    finally:
        small.close()
        large.close()
