"""Benchmark: ``python -m calfrules.bench [--cases N] [--seed S]``.

Prints one line of figures; it asserts nothing (speed is measured, never tested).
``vs_reference`` is calfrules' time per case divided by the pure-Python oracle's on the
same cases in the same run (above 1 means calfrules is slower).
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from .engine import Engine, load_engine
from .vocabulary import Vocabulary


def generate_cases(vocabulary: Vocabulary, count: int, seed: int) -> list[dict[str, Any]]:
    """Seeded random cases: 2 to 8 findings each, drawn from the whole vocabulary."""
    rnd = random.Random(seed)
    findings = list(vocabulary)
    cases = []
    for _ in range(count):
        chosen = rnd.sample(findings, rnd.randint(2, 8))
        case: dict[str, Any] = {}
        for f in chosen:
            if f.type == "bool":
                case[f.id] = rnd.random() < 0.8
            elif f.type == "number":
                low, high = f.minimum or 0.0, min(f.maximum or 100.0, 100.0)
                case[f.id] = round(rnd.uniform(low, high), 1)
            else:
                case[f.id] = rnd.choice(f.choices)
        cases.append({"findings": case})
    return cases


def _time_each(run: Callable[[dict[str, Any]], object], cases: list[dict[str, Any]]) -> list[float]:
    times = []
    for case in cases:
        start = time.perf_counter()
        run(case)
        times.append(time.perf_counter() - start)
    return times


def startup_ms() -> float:
    """Plugins loaded and rulesets compiled, in a fresh process."""
    code = (
        "import time; t = time.perf_counter(); from calfrules import load_engine; "
        "load_engine(); print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out) * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m calfrules.bench", description=__doc__)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20261125)
    args = parser.parse_args(argv)
    engine: Engine = load_engine()
    cases = generate_cases(engine.vocabulary, args.cases, args.seed)
    _time_each(engine.assess, cases[:200])  # warm up
    fast = _time_each(engine.assess, cases)
    slow = _time_each(lambda c: engine.assess(c, evaluator="oracle"), cases)
    q = statistics.quantiles(fast, n=100)
    print(
        f"calfrules-bench: cases={len(cases)} p50_us={q[49] * 1e6:.0f} p99_us={q[98] * 1e6:.0f} "
        f"cases_per_s={len(cases) / sum(fast):.0f} startup_ms={startup_ms():.0f} "
        f"vs_reference={sum(fast) / sum(slow):.2f} rules={len(engine.program.rules)}"
    )


if __name__ == "__main__":
    main()
