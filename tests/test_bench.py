"""The bench prints one line in the documented format (its figures are never asserted)."""

from __future__ import annotations

import json
import re

import pytest

from calfrules import Engine
from calfrules.tooling import bench

LINE = re.compile(
    r"calfrules-bench: cases=200 p50_us=\d+ p99_us=\d+ cases_per_s=\d+ startup_ms=\d+ "
    r"vs_reference=\d+(\.\d+)? vs_clips=\d+(\.\d+)?"
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


def test_generated_cases_are_seeded_valid_and_varied(engine: Engine) -> None:
    engine_vocabulary = engine.vocabulary
    first = bench.generate_cases(engine_vocabulary, 300, seed=3)
    assert first == bench.generate_cases(engine_vocabulary, 300, seed=3)
    assert first != bench.generate_cases(engine_vocabulary, 300, seed=4)
    for case in first:
        engine_vocabulary.validate(case["findings"])  # raises on an invalid case
    used = {name for case in first for name in case["findings"]}
    assert len(used) >= len(engine_vocabulary) * 0.9
