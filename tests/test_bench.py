"""The bench prints one line in the documented format (its figures are never asserted)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from calfrules import Engine
from calfrules.tooling import bench, bench_clock

RATIO = r"\d+(\.\d+)?"
LINE = re.compile(
    r"calfrules-bench: cases=200 p50_us=\d+ p99_us=\d+ cases_per_s=\d+ startup_ms=\d+ "
    rf"vs_reference={RATIO} vs_clips={RATIO} rules_vs_clips={RATIO} isolated_over_inprocess={RATIO} "
    rf"to_dict_us={RATIO} cold_assess_ms=skipped build=(python|mypyc)"
)


def test_the_bench_prints_one_line_in_the_documented_format(capsys: pytest.CaptureFixture[str]) -> None:
    bench.main(["--cases", "200", "--no-extras"])
    out, err = capsys.readouterr()
    assert out.count("\n") == 1 and LINE.fullmatch(out.strip()), out
    assert "isolation=none" in err


def test_json_carries_every_figure_and_clips_agreed(capsys: pytest.CaptureFixture[str]) -> None:
    bench.main(["--cases", "50", "--no-extras", "--json"])
    figures = json.loads(capsys.readouterr().out)
    assert figures["cases"] == 50 and figures["clips_mismatches"] == 0 and figures["isolation"] == "none"
    assert set(bench.LINE_KEYS) <= set(figures) and figures["clock"] == "cpu"
    assert figures["isolated_clock"] in ("cpu", "wall")


def test_the_systems_take_turns_block_by_block_in_a_rotating_order() -> None:
    calls: list[tuple[str, int]] = []

    def step(name: str) -> bench.Step:
        return bench.timed(name, lambda i: calls.append((name, i)))

    times = bench.interleaved([step("a"), step("b"), step("c")], cases=5, warm_up=1, block=2)
    assert {name: len(found) for name, found in times.items()} == {"a": 5, "b": 5, "c": 5}
    assert calls[:3] == [("a", 0), ("b", 0), ("c", 0)]  # the warm-up, untimed
    blocks = [("a", "b", "c", [0, 1]), ("b", "c", "a", [2, 3]), ("c", "a", "b", [4])]
    assert calls[3:] == [(name, i) for *order, cases in blocks for name in order for i in cases]


def test_the_isolated_clock_counts_a_running_child_process_cpu() -> None:
    clock = bench.ChildClock()
    if clock.kind != "cpu":
        pytest.skip("per-process CPU clocks are read on Linux only")
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\nprint('done', flush=True)"
    waited_for = clock.timed(
        "x", lambda i: subprocess.run([sys.executable, "-c", busy], check=True, capture_output=True)
    )
    assert waited_for(0)["x"] < 200_000_000  # a child already waited for is not read (it is gone)
    children: list[subprocess.Popen[bytes]] = []

    def start_a_busy_child(i: int) -> None:
        child = subprocess.Popen(
            [sys.executable, "-c", busy + "\nimport sys; sys.stdin.read()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        children.append(child)
        assert child.stdout is not None and child.stdout.readline() == b"done\n"

    try:
        born_during_the_run = clock.timed("x", start_a_busy_child)(0)["x"]
        assert born_during_the_run >= 300_000_000  # its 0.3 s of CPU, read while it still runs
        assert children[0].pid in clock.known  # read by pid from now on, with no further search
    finally:
        for child in children:
            child.communicate(b"")


def test_the_search_for_children_is_never_inside_a_timed_region(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    monkeypatch.setattr(bench_clock, "_child_pids", lambda: events.append("search") or [])
    clock = bench.ChildClock()
    clock.kind = "cpu"  # the order of the steps is what is checked, on any platform
    monkeypatch.setattr(clock, "now", lambda: events.append("read") or 0)
    step = clock.timed("x", lambda i: events.append("run"))
    events.clear()
    step(0)
    step(1)
    assert events == ["read", "run", "read", "search"] * 2


def test_generated_cases_are_seeded_valid_and_varied(engine: Engine) -> None:
    engine_vocabulary = engine.vocabulary
    first = bench.generate_cases(engine_vocabulary, 300, seed=3)
    assert first == bench.generate_cases(engine_vocabulary, 300, seed=3)
    assert first != bench.generate_cases(engine_vocabulary, 300, seed=4)
    for case in first:
        engine_vocabulary.validate(case["findings"])  # raises on an invalid case
    used = {name for case in first for name in case["findings"]}
    assert len(used) >= len(engine_vocabulary) * 0.9
