"""Benchmark: ``python -m calfrules.tooling.bench [--cases N] [--seed S] [--json]``.

Prints one line of figures on standard output; it asserts nothing (speed is measured,
never tested)::

    calfrules-bench: cases=N p50_us=.. p99_us=.. cases_per_s=.. startup_ms=.. vs_reference=.. vs_clips=..

- The cases are a fixed, seeded mix drawn from the built-in vocabulary (installed packs
  are left out, so figures compare between machines): random findings, and golden cases
  with random findings added.
- p50/p99/cases_per_s are ``Engine.assess`` in this process (``isolation="none"``), the
  whole assessment: validation, scores, rules, explanation.
- ``startup_ms``: a fresh process importing calfrules and loading the engine.
- ``vs_reference``: calfrules' time per case / the pure-Python oracle's (``evaluator="oracle"``,
  the same full assessment) on the same cases in the same run.
- ``vs_clips``: calfrules' time per case / CLIPS' (clipspy) running the rules that
  ``calfrules export --clips`` writes, per case: scores computed, reset, assert, run, read the
  fired rules. Before timing, CLIPS must reach the same fired rules, conclusions and
  escalations as the oracle on every bench case, or the bench stops with exit status 1.
  Without clipspy (a test extra, not installed by default) it is ``vs_clips=unavailable``.
- Ratios above 1 mean calfrules is slower.

On standard error (and in ``--json``): the process-isolated figure (``isolation="process"``,
the default of ``load_engine``) and the wall-clock of a cold ``calfrules assess`` (median of
several fresh processes).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from calfrules.engine.engine import Engine, load_engine
from calfrules.knowledge.builtin import BUILTIN_PLUGINS
from calfrules.rules.errors import CalfrulesError
from calfrules.rules.vocabulary import Finding, Value, Vocabulary

Case = dict[str, Any]
DEFAULT_SEED = 20261125
GOLDEN_SHARE = 0.35  # share of cases built on a golden case (so the rules really fire)


def builtin_plugins() -> list[str]:
    """Names of the plugins that ship inside calfrules (installed packs left out)."""
    return list(BUILTIN_PLUGINS)


def random_value(finding: Finding, rnd: random.Random) -> Value:
    if finding.type == "bool":
        return rnd.random() < 0.8
    if finding.type == "choice":
        return rnd.choice(finding.choices)
    low = finding.minimum if finding.minimum is not None else 0.0
    high = finding.maximum if finding.maximum is not None else low + 100.0
    high = min(high, low + 100.0)
    value = rnd.uniform(low, high)
    return float(round(value)) if rnd.random() < 0.5 else round(value, 1)


def generate_cases(
    vocabulary: Vocabulary, count: int, seed: int, goldens: Sequence[dict[str, Value]] = ()
) -> list[Case]:
    """Seeded cases from the whole vocabulary: 2 to 8 random findings, or a golden case plus 0 to 3."""
    rnd = random.Random(seed)
    findings = list(vocabulary)
    cases = []
    for _ in range(count):
        if goldens and rnd.random() < GOLDEN_SHARE:
            case = dict(rnd.choice(goldens))
            extra = rnd.randint(0, 3)
        else:
            case = {}
            extra = rnd.randint(2, 8)
        for finding in rnd.sample(findings, extra):
            case[finding.id] = random_value(finding, rnd)
        cases.append({"findings": case})
    return cases


def golden_findings(engine: Engine) -> list[dict[str, Value]]:
    return [
        {name: value for name, value in test.findings if isinstance(value, (bool, int, float, str))}
        for entry in engine.rulesets
        for test in entry.ruleset.tests
    ]


def _time_each(run: Callable[[Any], object], items: Sequence[Any]) -> list[float]:
    times = []
    clock = time.perf_counter
    for item in items:
        start = clock()
        run(item)
        times.append(clock() - start)
    return times


def startup_ms() -> float:
    """Plugins loaded and rulesets compiled, in a fresh process (median of 3)."""
    code = (
        "import time; t = time.perf_counter(); from calfrules import load_engine; "
        "load_engine(isolation='none'); print(time.perf_counter() - t)"
    )
    runs = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        for _ in range(3)
    ]
    return statistics.median(runs) * 1000


def cold_assess_ms(repeats: int = 5) -> float:
    """Wall-clock of ``calfrules assess CASE --json`` in a fresh process (median)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "case.json"
        path.write_text(json.dumps({"findings": {"calf_pain": True, "pain_score": 4}}), encoding="utf-8")
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "calfrules", "assess", str(path), "--json"], capture_output=True, check=True
            )
            runs.append(time.perf_counter() - start)
    return statistics.median(runs) * 1000


def clips_unavailable() -> str | None:
    """Why CLIPS cannot be timed in this environment, or None when it can."""
    try:
        found = importlib.util.find_spec("clips") is not None
    except ValueError:  # a module named clips with no spec (sys.modules["clips"] = None)
        found = False
    return None if found else "clipspy is not installed (pip install clipspy, or calfrules[test])"


def clips_figures(engine: Engine, cases: Sequence[Case]) -> tuple[list[float], int]:
    """Time CLIPS per case after checking it agrees with the oracle; returns (times, mismatches)."""
    from calfrules.tooling.clips_export import ClipsRunner, known_values, oracle_outcome

    runner = ClipsRunner(engine.program)
    derivers = engine.registry.derivers
    findings = [engine.parse_case(case).findings for case in cases]
    mismatches = sum(
        runner.run(known_values(derivers, f)) != oracle_outcome(engine.program, known_values(derivers, f))
        for f in findings
    )
    _time_each(lambda f: runner.run(known_values(derivers, f)), findings[:200])  # warm up
    return _time_each(lambda f: runner.run(known_values(derivers, f)), findings), mismatches


def measure(cases_wanted: int, seed: int, *, extras: bool = True) -> dict[str, Any]:
    engine = load_engine(isolation="none", allow=builtin_plugins())
    cases = generate_cases(engine.vocabulary, cases_wanted, seed, golden_findings(engine))
    _time_each(engine.assess, cases[:200])  # warm up
    fast = _time_each(engine.assess, cases)
    _time_each(lambda c: engine.assess(c, evaluator="oracle"), cases[:200])
    slow = _time_each(lambda c: engine.assess(c, evaluator="oracle"), cases)
    no_clips = clips_unavailable()
    clips, mismatches = clips_figures(engine, cases) if no_clips is None else ([], 0)
    q = statistics.quantiles(fast, n=100)
    figures: dict[str, Any] = {
        "cases": len(cases),
        "p50_us": round(q[49] * 1e6),
        "p99_us": round(q[98] * 1e6),
        "cases_per_s": round(len(cases) / sum(fast)),
        "startup_ms": round(startup_ms()),
        "vs_reference": round(sum(fast) / sum(slow), 2),
        "vs_clips": round(sum(fast) / sum(clips), 2) if clips else "unavailable",
        "clips_unavailable": no_clips,
        "clips_mismatches": mismatches,
        "isolation": "none",
        "rules": len(engine.program.rules),
        "findings": len(engine.vocabulary),
        "seed": seed,
        "oracle_p50_us": round(statistics.median(slow) * 1e6),
        "clips_p50_us": round(statistics.median(clips) * 1e6) if clips else None,
    }
    engine.close()
    if extras:
        isolated = load_engine(allow=builtin_plugins())  # isolation="process", the default
        sample = cases[: min(len(cases), 2000)]
        _time_each(isolated.assess, sample[:100])
        times = _time_each(isolated.assess, sample)
        isolated.close()
        figures["process_isolated_p50_us"] = round(statistics.median(times) * 1e6)
        figures["process_isolated_cases_per_s"] = round(len(times) / sum(times))
        figures["cold_assess_ms"] = round(cold_assess_ms())
    return figures


def bench_line(figures: dict[str, Any]) -> str:
    keys = ("cases", "p50_us", "p99_us", "cases_per_s", "startup_ms", "vs_reference", "vs_clips")
    return "calfrules-bench: " + " ".join(f"{key}={figures[key]}" for key in keys)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m calfrules.tooling.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--cases", type=int, default=10_000, help="how many generated cases (default 10000)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"generator seed (default {DEFAULT_SEED})")
    parser.add_argument("--json", action="store_true", help="print every figure as one JSON object instead")
    parser.add_argument(
        "--no-extras", action="store_true", help="skip the process-isolated and cold-start figures (quicker)"
    )
    args = parser.parse_args(argv)
    if args.cases < 10:
        parser.error("--cases must be at least 10")
    try:
        figures = measure(args.cases, args.seed, extras=not args.no_extras)
    except CalfrulesError as exc:  # e.g. $CALFRULES_BLOCK_PLUGINS naming no plugin
        print(f"calfrules-bench: error: {exc}", file=sys.stderr)
        sys.exit(2)
    if figures["clips_mismatches"]:
        print(
            f"calfrules-bench: error: CLIPS disagrees with the oracle on {figures['clips_mismatches']} "
            "of the bench cases; vs_clips would compare different work",
            file=sys.stderr,
        )
        sys.exit(1)
    if figures["clips_unavailable"]:
        print(f"calfrules-bench: vs_clips unavailable: {figures['clips_unavailable']}", file=sys.stderr)
    if args.json:
        print(json.dumps(figures))
        return
    print(bench_line(figures))
    extra = [
        f"in-process (isolation=none); {figures['rules']} rules, {figures['findings']} findings, "
        f"seed {figures['seed']}",
        f"oracle p50 {figures['oracle_p50_us']} us"
        + (f", CLIPS p50 {figures['clips_p50_us']} us (same cases)" if figures["clips_p50_us"] is not None else ""),
    ]
    if "cold_assess_ms" in figures:
        extra.append(
            f"process-isolated (the default): p50 {figures['process_isolated_p50_us']} us, "
            f"{figures['process_isolated_cases_per_s']} cases/s; cold `calfrules assess`: "
            f"{figures['cold_assess_ms']} ms wall-clock (median of 5)"
        )
    for text in extra:
        print(f"calfrules-bench: {text}", file=sys.stderr)


if __name__ == "__main__":
    main()
