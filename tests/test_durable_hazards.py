"""One test per hazard measured in durable_rules 2.0.28 (shared/notes/durable-rules-hazards.md),
plus those found while building the driver (delete_state crash, order-dependent $not, 16-message
frames, and heap corruption when retracting facts that completed a multi-fact rule).

Tests that could kill or hang the process run the engine in a subprocess with a time limit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading

import durable_rules_engine as core
import pytest

from calfrules import Engine, Level, load_engine
from calfrules.engine.durable import driver as durable_driver

from helpers import durable_plan, ruleset

SMALL = ruleset(
    """
    [conditions.c]
    label = "C"

    [[rules]]
    id = "pain"
    when = "calf_pain and not fever"
    conclude = "c"
    rationale = "x"

    [[rules]]
    id = "pain_and_swelling"
    when = "calf_pain and swelling"
    escalate = "see_clinician"
    rationale = "x"
    """
)


@pytest.fixture(scope="module")
def small() -> Engine:
    # in-process, so monkeypatched durable_rules functions take effect
    return load_engine(rulesets=[SMALL], allow=[], strict=True, isolation="none")


def run_isolated(code: str, timeout: float = 120) -> str:
    """Run code in a fresh interpreter; a segfault or hang fails the test instead of killing pytest."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc.stdout


def test_thousands_of_cases_in_one_process_no_session_build_up() -> None:
    # Hazard: never-deleted sessions segfault after ~1,000; deleting partly matched ones crashes too.
    out = run_isolated(
        """
        import random
        from calfrules import load_engine
        e = load_engine(isolation="none")
        ids = [f.id for f in e.vocabulary if f.type == "bool"]
        rnd = random.Random(7)
        for i in range(4000):
            e.assess({"findings": {k: True for k in rnd.sample(ids, 4)}})
        import durable_rules_engine as core
        from calfrules.engine.durable.driver import SESSION_ID
        print(all(core.get_facts(h, SESSION_ID) == "[]" for h in e._pipeline.durable._handles))
        """
    )
    assert out.strip() == "True"


def test_driver_never_uses_batch_asserts_retract_by_pattern_events_or_delete_state(
    small: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hazards: batch assert_facts loses firings and leaves queued actions; post() events are consumed by
    # the first rule; delete_state crashes on partly matched sessions.
    calls: list[str] = []
    for name in ("assert_facts", "assert_event", "assert_events", "retract_facts", "delete_state"):
        monkeypatch.setattr(core, name, lambda *a, _n=name: calls.append(_n))
    real_assert = core.assert_fact
    facts: list[dict[str, object]] = []

    def spy(handle: int, message: str) -> tuple[int, int]:
        facts.append(json.loads(message))
        return real_assert(handle, message)  # type: ignore[no-any-return]

    monkeypatch.setattr(core, "assert_fact", spy)
    small.assess({"findings": {"calf_pain": True, "swelling": True, "fever": False}})
    assert calls == []
    assert facts and all(f.get("sid") == durable_driver.SESSION_ID for f in facts)  # #381: always a sid


def test_every_rule_on_a_fact_sees_it() -> None:
    # Hazard: events are consumed by the first matching rule; we assert facts, seen by every rule.
    two = ruleset(
        """
        [[rules]]
        id = "one"
        when = "calf_pain"
        derive = ["seen_by_one"]
        rationale = "x"

        [[rules]]
        id = "two"
        when = "calf_pain"
        derive = ["seen_by_two"]
        rationale = "x"
        """
    )
    e = load_engine(rulesets=[two], allow=[])
    fired = {s.rule.rule for s in e.assess({"findings": {"calf_pain": True}}).trace}
    assert fired == {"one", "two"}


def test_compiled_rules_never_use_not_or_nex(engine: Engine) -> None:
    # Hazards: a catch-all $nex rule hangs the first assert; $not is order-dependent (measured while building).
    text = json.dumps([s.definition for s in durable_plan(engine).shards])
    assert "$nex" not in text and "$not" not in text and "$ex" not in text


def test_native_not_is_order_dependent_which_is_why_we_avoid_it() -> None:
    # in a subprocess: it leaves an action started and never completed
    out = run_isolated(
        """
        import json
        import durable_rules_engine as core
        definition = {"r": {"all": [{"a": {"f": "x"}}, {"b$not": {"f": "y"}}]}}
        handle = core.create_ruleset("hazard_not", json.dumps(definition))
        _, state = core.assert_fact(handle, json.dumps({"sid": "1", "f": "x"}))
        core.assert_fact(handle, json.dumps({"sid": "1", "f": "y"}))
        print(bool(core.start_action_for_state(handle, state)))
        """
    )
    assert out.strip() == "True"  # fired although y is present; if this fails, durable_rules fixed $not


VALGRIND = shutil.which("valgrind")
needs_valgrind = pytest.mark.skipif(
    VALGRIND is None and not os.environ.get("CI"), reason="valgrind is not installed (.ci/run installs it)"
)


def durable_errors_under_valgrind(code: str) -> str:
    """Run code under valgrind memcheck; return the part of its report about durable_rules' C core."""
    assert VALGRIND, "valgrind is required here"
    proc = subprocess.run(
        [VALGRIND, "--error-limit=no", sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, "PYTHONMALLOC": "malloc"},  # so valgrind sees each allocation
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0 and "done" in proc.stdout, proc.stderr[-3000:]
    blocks = proc.stderr.split("\n==")
    return "\n".join(block for block in blocks if "durable_rules_engine" in block)


@pytest.mark.slow
@needs_valgrind
def test_retracting_facts_of_a_completed_join_reads_past_the_frame() -> None:
    # Found here: the process died later in unrelated code (garbage collection) after ~100,000
    # cases. deleteMessageFromFrame scans a completed action's frame past its end once a
    # second fact of the frame is retracted, and can write there.
    report = durable_errors_under_valgrind(
        """
        import json
        import durable_rules_engine as core
        handle = core.create_ruleset("join", json.dumps({"r": {"all": [{"a": {"f": "x"}}, {"b": {"f": "y"}}]}}))
        messages = [json.dumps({"sid": "1", "f": "x"}), json.dumps({"sid": "1", "f": "y"})]
        for message in messages:
            _, state = core.assert_fact(handle, message)
        result = core.start_action_for_state(handle, state)
        while result:
            result = core.complete_and_start_action(handle, state)
        for message in messages:
            core.retract_fact(handle, message)
        print("done")
        """
    )
    assert "deleteMessageFromFrame" in report  # if this fails, durable_rules fixed the scan


@pytest.mark.slow
@needs_valgrind
def test_the_driver_keeps_durable_rules_heap_clean() -> None:
    # every compiled rule has one pattern, so no frame ever holds two messages
    report = durable_errors_under_valgrind(
        """
        import random
        from calfrules import load_engine
        engine = load_engine(isolation="none")
        rnd = random.Random(3)
        bools = [f.id for f in engine.vocabulary if f.type == "bool"]
        for _ in range(300):
            engine.assess({"findings": dict.fromkeys(rnd.sample(bools, rnd.randint(2, 12)), True)})
        print("done")
        """
    )
    assert report == ""


def test_every_compiled_rule_has_exactly_one_pattern(engine: Engine) -> None:
    for shard in durable_plan(engine).shards:
        for name, rule in shard.definition.items():
            assert list(rule) == ["all"] and len(rule["all"]) == 1, name


def test_600_rules_sharing_a_first_condition_load_and_run() -> None:
    # Hazard: 513+ rules branching on one first condition spin forever in findAlpha (and error 108 past ~256).
    out = run_isolated(
        """
        from calfrules import load_engine
        from calfrules.engine.durable.definitions import build_plan
        from calfrules.knowledge.ruleset_io import loads
        body = 'id = "many"\\nversion = "1"\\ntitle = "many"\\n'
        body += '[conditions.c]\\nlabel = "C"\\n'
        for i in range(600):
            body += f'[[rules]]\\nid = "r{i}"\\nwhen = "calf_pain and pain_score >= {i % 10}"\\n'
            body += f'derive = ["d{i}"]\\nrationale = "x"\\n'
        body += '[[rules]]\\nid = "last"\\nwhen = "d599"\\nconclude = "c"\\nrationale = "x"\\n'
        e = load_engine(rulesets=[loads(body)], allow=[], strict=True)
        a = e.assess({"findings": {"calf_pain": True, "pain_score": 9}})
        print(len(build_plan(e.program).shards), len(a.trace), a.condition_ids())
        """,
        timeout=60,
    )
    shards, fired, conditions = out.split(" ", 2)
    assert int(shards) >= 3 and int(fired) == 601 and "'c'" in conditions


def test_a_duplicate_rejection_is_retried_with_a_nonce(small: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # Hazard #376: distinct facts rejected as duplicates by their hash; we retry with a nonce field.
    real_assert = core.assert_fact
    rejected: list[str] = []

    def reject_first_calf_pain(handle: int, message: str) -> tuple[int, int]:
        fact = json.loads(message)
        if durable_plan(small).fact_keys["calf_pain"] in fact and "n" not in fact:
            rejected.append(message)
            return (2, 0)
        return real_assert(handle, message)  # type: ignore[no-any-return]

    monkeypatch.setattr(core, "assert_fact", reject_first_calf_pain)
    a = small.assess({"findings": {"calf_pain": True}})
    assert rejected
    assert a.condition_ids() == ["c"]


def test_a_failure_inside_the_engine_fails_safe_and_recovers(small: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # Hazard #305: errors inside actions are swallowed. We have no Python actions; a C error reaches us.
    def boom(*args: object) -> None:
        raise core.error("simulated crash")

    case = {"findings": {"calf_pain": True}}
    healthy = small.assess(case)
    assert healthy.condition_ids() == ["c"]
    with monkeypatch.context() as patch:
        patch.setattr(core, "start_action_for_state", boom)
        failed = small.assess(case)
    assert not failed.complete and failed.level >= Level.URGENT
    assert "rule engine failed" in failed.incomplete_reasons[0]
    again = small.assess(case)
    assert again.to_dict()["conditions"] == healthy.to_dict()["conditions"] and again.complete


def test_a_fact_no_rule_matches_is_fine(small: Engine) -> None:
    a = small.assess({"findings": {"age": 40, "smoker": False}})
    assert a.complete and a.level == Level.SELF_CARE


def test_no_background_threads_are_started() -> None:
    # Hazard: every durable.engine.Host starts two timer threads that never stop.
    before = threading.active_count()
    engines = [load_engine() for _ in range(20)]
    for e in engines:
        e.assess({"findings": {"calf_pain": True}})
        e.close()
    assert threading.active_count() == before
    assert "durable.engine" not in sys.modules


def test_many_engines_side_by_side_use_distinct_ruleset_names() -> None:
    # Hazard: registering the same ruleset name twice raises; we never reuse a name.
    first, second = load_engine(), load_engine()
    case = {"findings": {"calf_pain": True}}
    assert first.assess(case).to_dict()["conditions"] == second.assess(case).to_dict()["conditions"]
    first.close()
    second.close()


def test_compiling_does_not_mutate_the_definitions(engine: Engine) -> None:
    # Hazard: Host registration deletes "run" from the caller's dict. We hand the C core JSON text.
    before = json.dumps([s.definition for s in durable_plan(engine).shards], sort_keys=True)
    extra = load_engine()
    extra.close()
    assert json.dumps([s.definition for s in durable_plan(engine).shards], sort_keys=True) == before


def test_memory_stays_flat_when_engines_are_closed() -> None:
    # Hazard: creating and deleting rulesets after asserting into them leaks unless state is cleared.
    out = run_isolated(
        """
        import resource
        from calfrules import load_engine
        def rss(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for i in range(30):
            e = load_engine(); e.assess({"findings": {"calf_pain": True, "swelling": True}}); e.close()
        start = rss()
        for i in range(200):
            e = load_engine(); e.assess({"findings": {"calf_pain": True, "swelling": True}}); e.close()
        print(rss() - start)
        """
    )
    assert int(out) < 40_000  # KiB: 200 engines must not grow memory by more than ~40 MB


def test_a_case_with_300_findings_is_assessed() -> None:
    # Hazard: at most 252 properties in one message. Each finding is its own small fact.
    from calfrules import Finding, hookimpl

    class ManyFindings:
        calfrules_plugin_name = "many_findings"

        @hookimpl
        def calfrules_register_vocabulary(self, register):  # type: ignore[no-untyped-def]
            for i in range(300):
                register(Finding(id=f"extra_{i}", type="bool", label=f"Extra {i}", question="?", kind="context"))

    rules = ruleset('[[rules]]\nid = "r"\nwhen = "extra_0 and extra_299"\nescalate = "urgent"\nrationale = "x"\n')
    e = load_engine(plugins=[ManyFindings()], rulesets=[rules], allow=[])
    a = e.assess({"findings": {f"extra_{i}": True for i in range(300)}})
    assert a.level == Level.URGENT and len(a.findings) == 300


def test_concurrent_threads_get_the_same_answers(small: Engine) -> None:
    # Hazard: the C core has no locks. The driver serialises access.
    engine = small
    cases = [
        {"findings": {"calf_pain": True, "swelling": True}},
        {"findings": {"calf_pain": True, "fever": True}},
        {"findings": {"calf_pain": True}},
    ]
    expected = [engine.assess(c).to_dict() for c in cases]
    errors: list[str] = []

    def worker() -> None:
        for _ in range(100):
            for case, want in zip(cases, expected, strict=True):
                if engine.assess(case).to_dict() != want:
                    errors.append("mismatch")

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_python_313_is_excluded_in_packaging() -> None:
    import tomllib
    from pathlib import Path

    meta = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
    assert meta["requires-python"] == ">=3.11,<3.13"


def test_a_fact_matching_more_than_64_first_tests_overflows_the_alpha_stack() -> None:
    # Found by fuzzing: durable_rules walks matching alpha nodes on a 64-entry stack (error 303).
    out = run_isolated(
        """
        import json
        import durable_rules_engine as core
        rules = {f"r{i}": {"all": [{"m": {f"k{i}": True}}]} for i in range(100)}
        handle = core.create_ruleset("wide", json.dumps(rules))
        try:
            core.assert_fact(handle, json.dumps({"sid": "1", **{f"k{i}": True for i in range(100)}}))
            print("ok")
        except Exception as exc:
            print(exc)
        """
    )
    assert "303" in out  # if this fails, durable_rules grew its stack


def test_shards_stay_below_the_alpha_stack_limit(engine: Engine) -> None:
    # each stack entry is a distinct subtree holding at least one rule: 60 rules cannot overflow 64
    assert max(len(shard.definition) for shard in durable_plan(engine).shards) <= 60
    wide = ruleset(
        "\n".join(
            f'[[rules]]\nid = "r{i}"\nwhen = "{name}"\nderive = ["d{i}"]\nrationale = "x"\n'
            for i, name in enumerate(f.id for f in engine.vocabulary if f.type == "bool")
        )
    )
    e = load_engine(rulesets=[wide], allow=[], strict=True, isolation="none")
    everything = {f.id: True for f in engine.vocabulary if f.type == "bool"}
    assert len(everything) > 64
    a = e.assess({"findings": everything})
    assert a.complete and len(a.trace) == len(everything)
