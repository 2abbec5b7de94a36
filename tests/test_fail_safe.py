"""When the rule engine raises, hangs or dies, the assessment still returns: incomplete, at least urgent."""

from __future__ import annotations

import ctypes
import faulthandler
import time

import durable_rules_engine as core
import pytest

from calfrules import Level, load_engine

from helpers import ruleset

RULES = ruleset(
    """
    [conditions.c]
    label = "C"

    [[rules]]
    id = "pain"
    when = "calf_pain"
    conclude = "c"
    rationale = "x"

    [[floor]]
    id = "chest"
    when = "chest_pain and swelling"
    level = "emergency"
    label = "Chest pain with a swollen leg"
    """
)
CASE = {"findings": {"calf_pain": True}}


def _hang(*args: object) -> None:
    time.sleep(60)


def _segfault(*args: object) -> None:
    # runs in the engine's child: no traceback dump for this one intended crash (others still dump)
    faulthandler.disable()
    ctypes.string_at(0)  # a real SIGSEGV, as durable_rules' C core can cause


@pytest.mark.parametrize(("sabotage", "words"), [(_hang, "did not answer within"), (_segfault, "process died")])
def test_hang_or_crash_in_the_engine_fails_safe_then_recovers(
    monkeypatch: pytest.MonkeyPatch, sabotage: object, words: str
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(core, "start_action_for_state", sabotage)
        engine = load_engine(rulesets=[RULES], allow=[], timeout=1.0)  # the child inherits the sabotage
        started = time.monotonic()
        failed = engine.assess({"findings": {"calf_pain": True, "chest_pain": True, "swelling": True}})
        assert time.monotonic() - started < 10
    assert not failed.complete and words in failed.incomplete_reasons[0]
    assert failed.level == Level.EMERGENCY  # the floor still applies, from plain Python
    assert "chest" in [f.id for f in failed.red_flags]
    assert failed.conditions == ()
    minor = engine.assess(CASE)  # a fresh child, without the sabotage
    assert minor.complete and minor.condition_ids() == ["c"] and minor.level == Level.SELF_CARE
    engine.close()


def test_a_failure_never_leaves_the_level_below_urgent(monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(core, "start_action_for_state", _segfault)
        engine = load_engine(rulesets=[RULES], allow=[], timeout=1.0)
        assert engine.assess(CASE).level == Level.URGENT
    engine.close()


def test_a_sleeping_plugin_deriver_is_cut_off_and_the_floor_holds() -> None:
    from calfrules import Deriver, Score, hookimpl

    class Sleeper:
        calfrules_plugin_name = "sleeper"

        @hookimpl
        def calfrules_register_derivers(self, register):  # type: ignore[no-untyped-def]
            register(Deriver(id="slow_score", label="Slow", inputs=(), compute=lambda f: time.sleep(60) or Score(1)))

    engine = load_engine(plugins=[Sleeper()], rulesets=[RULES], allow=[], timeout=1.0)
    started = time.monotonic()
    a = engine.assess({"findings": {"chest_pain": True, "swelling": True}})
    assert time.monotonic() - started < 10
    assert not a.complete and a.level == Level.EMERGENCY and "chest" in [f.id for f in a.red_flags]
    engine.close()


def test_a_raising_plugin_deriver_fails_safe() -> None:
    from calfrules import Deriver, hookimpl

    class Broken:
        calfrules_plugin_name = "broken"

        @hookimpl
        def calfrules_register_derivers(self, register):  # type: ignore[no-untyped-def]
            register(Deriver(id="bad_score", label="Bad", inputs=(), compute=lambda f: 1 / 0))

    engine = load_engine(plugins=[Broken()], rulesets=[RULES], allow=[])
    a = engine.assess(CASE)
    assert a.condition_ids() == ["c"]  # the rules still ran
    assert not a.complete and a.level == Level.URGENT
    assert "bad_score from plugin broken failed: ZeroDivisionError" in a.incomplete_reasons[0]
    engine.close()


def test_the_engine_process_ends_when_its_parent_is_killed(tmp_path: object) -> None:
    import os
    import signal
    import subprocess
    import sys

    code = (
        "import time\n"
        "from calfrules import load_engine\n"
        "e = load_engine(allow=[])\n"
        "print(e._runner._child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(child_pid):
        time.sleep(0.05)
    assert not _alive(child_pid)


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (not yet reaped by init) is dead too
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
