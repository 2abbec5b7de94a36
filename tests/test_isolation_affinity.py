"""The engine child runs on the CPU of the thread that calls it (issue 16).

Waking a process on another, idle core cost more than the exchange itself on the 2-core
test machine, so before each exchange the child is pinned to the caller's current CPU.
The caller's own affinity is never changed, and a refusal leaves the child where it was.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator

import pytest

from calfrules import load_engine
from calfrules.engine import child_channel, isolation
from calfrules.engine.engine import Engine

from helpers import PAIN_RULE, ruleset

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or child_channel.current_cpu() is None,
    reason="pinning needs Linux's sched_setaffinity and libc's sched_getcpu",
)

RULES = ruleset(PAIN_RULE)
CASE = {"findings": {"calf_pain": True}}


def _engine() -> Engine:
    return load_engine(rulesets=[RULES], allow=[])  # starts its child (and pins it) right away


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = _engine()
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture
def allowed() -> Iterator[list[int]]:
    """The CPUs this thread may use; its affinity is put back afterwards, whatever a test did."""
    before = os.sched_getaffinity(0)
    try:
        yield sorted(before)
    finally:
        os.sched_setaffinity(0, before)


def _child_pid(engine: Engine) -> int:
    pid: int = engine._runner._child.pid  # type: ignore[union-attr]
    return pid


def _level(engine: Engine) -> str:
    assessment = engine.assess(CASE)
    assert assessment.complete, assessment.problems
    return str(assessment.level)


def test_the_child_runs_on_the_callers_cpu_and_follows_it(engine: Engine, allowed: list[int]) -> None:
    for cpu in (allowed[-1], allowed[0]):  # with one CPU, the same one twice
        os.sched_setaffinity(0, {cpu})  # this thread only (pid 0 is the calling thread)
        _level(engine)
        assert os.sched_getaffinity(_child_pid(engine)) == {cpu}
        assert os.sched_getaffinity(0) == {cpu}, "the caller's affinity is left as the caller set it"


def test_the_callers_affinity_is_never_changed(engine: Engine, allowed: list[int]) -> None:
    _level(engine)
    assert os.sched_getaffinity(0) == set(allowed)
    assert len(os.sched_getaffinity(_child_pid(engine))) == 1


def test_a_refused_pinning_leaves_the_child_unpinned_and_the_assessment_whole(
    allowed: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _level(load_engine(rulesets=[RULES], allow=[], isolation="none"))
    refusals: list[int] = []
    set_affinity = os.sched_setaffinity

    def refuse(pid: int, cpus: set[int]) -> None:
        if pid == 0:  # this process's own threads (the launcher's) may still set theirs
            set_affinity(pid, cpus)
            return
        refusals.append(pid)
        raise OSError(22, "Invalid argument")  # what a CPU outside the process's cpuset gets

    monkeypatch.setattr(child_channel.os, "sched_setaffinity", refuse)
    engine = _engine()
    try:
        assert _level(engine) == expected
        assert _level(engine) == expected
        child = _child_pid(engine)
        assert child in refusals
        assert os.sched_getaffinity(child) == set(allowed), "left where the scheduler put it"
    finally:
        engine.close()


def test_without_sched_getcpu_nothing_is_pinned(allowed: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(child_channel, "_read_cpu", None)
    assert child_channel.current_cpu() is None
    engine = _engine()
    try:
        _level(engine)
        assert os.sched_getaffinity(_child_pid(engine)) == set(allowed)
    finally:
        engine.close()


def test_pin_says_when_the_system_refuses(engine: Engine, allowed: list[int]) -> None:
    _level(engine)
    child = _child_pid(engine)
    assert not child_channel.pin(child, max(allowed) + 4096)  # no such CPU here
    assert child_channel.pin(child, allowed[0])
    assert os.sched_getaffinity(child) == {allowed[0]}


def test_a_child_starts_on_the_main_threads_cpus_not_the_launchers(
    allowed: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The launcher thread inherits the CPUs of the thread that made it: a pinned caller must
    not pin every child forked after it."""
    if len(allowed) < 2 or threading.current_thread() is not threading.main_thread():
        pytest.skip("needs two CPUs, and the test on the main thread")
    monkeypatch.setattr(child_channel, "_read_cpu", None)  # no pinning to the caller: where does it start?
    monkeypatch.setattr(isolation, "_launcher", None)  # a new launcher, made while this thread is pinned
    os.sched_setaffinity(0, {allowed[0]})
    first = _engine()
    os.sched_setaffinity(0, set(allowed))
    second = _engine()
    try:
        assert os.sched_getaffinity(_child_pid(first)) == {allowed[0]}
        assert os.sched_getaffinity(_child_pid(second)) == set(allowed)
    finally:
        first.close()
        second.close()
