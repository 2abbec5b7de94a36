"""Benchmark: ``python -m calfrules.tooling.bench [--cases N] [--seed S] [--json]``.

Prints one line of figures on standard output; it asserts nothing (speed is measured,
never tested)::

    calfrules-bench: cases=N p50_us=.. p99_us=.. cases_per_s=.. startup_ms=.. vs_reference=.. vs_clips=..
    rules_vs_clips=.. isolated_over_inprocess=.. to_dict_us=.. cold_assess_ms=.. build=..

(one line, wrapped here). The cases are a fixed, seeded mix drawn from the built-in vocabulary
(installed packs are left out, so figures compare between machines): random findings, and
golden cases with random findings added.

The systems take turns on the same cases, 50 cases at a time each (so each runs with its
caches warm, as in use; turns of one case made CLIPS look twice as slow), in an order that
rotates per block, and each case is timed by the CPU time it used (``time.process_time_ns``):
load on the machine comes and goes for every system alike and hardly moves a ratio.
Figures are medians (p50) over the cases:

- ``p50_us``/``p99_us``/``cases_per_s``: ``Engine.assess`` in this process (``isolation="none"``),
  the whole assessment: validation, scores, rules, explanation (cases per CPU second).
- ``vs_reference``: that p50 / the pure-Python oracle's (``evaluator="oracle"``, the same
  full assessment).
- ``vs_clips``: that p50 / CLIPS' (clipspy) running the rules ``calfrules export --clips``
  writes: scores computed, reset, assert, run, read the fired rules. CLIPS builds no
  explanation, so this is the whole assessment against CLIPS' rules path.
- ``rules_vs_clips``: the rules path alone against the same CLIPS figure: scores and the
  rules on durable_rules (``Pipeline.run``, the validated findings given).
  Before timing, CLIPS must reach the same fired rules, conclusions and escalations as the
  oracle on every bench case, or the bench stops with exit status 1. Without clipspy (a
  test extra) both are ``unavailable``.
- ``isolated_over_inprocess``: ``Engine.assess`` with ``isolation="process"`` (the default of
  ``load_engine``) / in-process; its CPU time is this process's plus the engine children's
  (each read by pid from its CPU clock on Linux; the search for new children is done after
  each case's second reading, so it is never timed; elsewhere wall-clock, said in ``--json``).
- ``to_dict_us``: ``Assessment.to_dict()`` of each in-process assessment.
- ``startup_ms``: import calfrules and ``load_engine(isolation="none")`` in a fresh process,
  timed inside it (the interpreter's own start is not counted), wall-clock, median of 5, with
  bytecode as a ``pip install`` has it: every module is compiled once into a private,
  temporary ``PYTHONPYCACHEPREFIX`` before the timed runs. ``--json`` adds its CPU time and
  ``startup_this_env_ms``, the same in this environment as it is (where
  ``PYTHONDONTWRITEBYTECODE`` is set, calfrules is compiled from source every time).
  ``cold_assess_ms``: a fresh ``calfrules assess CASE --json`` (wall-clock, median of 5, the
  same bytecode; its CPU time is in ``--json``), ``skipped`` with ``--no-extras``.
- ``build``: ``python``, or ``mypyc`` when the hot path was compiled at install
  (``CALFRULES_COMPILE=mypyc pip install .``; ``--json`` lists the compiled modules).
- Ratios above 1 mean calfrules is slower.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from calfrules.engine.engine import Engine, load_engine
from calfrules.engine.pipeline import Pipeline
from calfrules.knowledge.builtin import BUILTIN_PLUGINS
from calfrules.rules.errors import CalfrulesError
from calfrules.rules.vocabulary import Finding, Value, Vocabulary
from calfrules.tooling.bench_clock import ChildClock, Step
from calfrules.tooling.build_info import build_kind, compiled_modules

Case = dict[str, Any]
DEFAULT_SEED = 20261125
DEFAULT_CASES = 10_000
BLOCK = 50  # cases each system runs in a row before the next takes its turn (its caches warm, as in use)
LINE_KEYS = (
    "cases",
    "p50_us",
    "p99_us",
    "cases_per_s",
    "startup_ms",
    "vs_reference",
    "vs_clips",
    "rules_vs_clips",
    "isolated_over_inprocess",
    "to_dict_us",
    "cold_assess_ms",
    "build",
)
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


STARTUP_CODE = (
    "import time; t = time.perf_counter(); c = time.process_time(); from calfrules import load_engine; "
    "load_engine(isolation='none'); print(time.perf_counter() - t, time.process_time() - c)"
)


@contextlib.contextmanager
def with_bytecode() -> Iterator[dict[str, str]]:
    """An environment for fresh processes that finds every module's bytecode, as an installed
    calfrules has it, whatever ``PYTHONDONTWRITEBYTECODE`` says: compiled once (by the first
    process run with it) into a private temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="calfrules-bench-pycache-") as prefix:
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = prefix
        compile_all = f"{STARTUP_CODE}; import calfrules.cli, calfrules.engine.isolation"  # what assess imports too
        subprocess.run([sys.executable, "-c", compile_all], capture_output=True, check=True, env=env)
        yield env


def startup_ms(env: Mapping[str, str] | None = None, repeats: int = 5) -> tuple[float, float]:
    """Import and ``load_engine(isolation="none")`` in a fresh process (``env``, else this one's):
    medians of wall-clock and of CPU time, in ms, timed inside that process."""
    runs = [
        subprocess.run(
            [sys.executable, "-c", STARTUP_CODE], capture_output=True, text=True, check=True, env=env
        ).stdout.split()
        for _ in range(repeats)
    ]
    return statistics.median(float(wall) for wall, _ in runs) * 1000, statistics.median(
        float(cpu) for _, cpu in runs
    ) * 1000


def cold_assess_ms(env: Mapping[str, str] | None = None, repeats: int = 5) -> tuple[float, float]:
    """``calfrules assess CASE --json`` in a fresh process (``env``, else this one's): medians of
    wall-clock and of CPU time, in ms."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "case.json"
        path.write_text(json.dumps({"findings": {"calf_pain": True, "pain_score": 4}}), encoding="utf-8")
        walls, cpus = [], []
        for _ in range(repeats):
            before = _children_cpu_s()
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "calfrules", "assess", str(path), "--json"],
                capture_output=True,
                check=True,
                env=env,
            )
            walls.append(time.perf_counter() - start)
            cpus.append(_children_cpu_s() - before)  # the waited-for child, and the engine child it started
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def clips_unavailable() -> str | None:
    """Why CLIPS cannot be timed in this environment, or None when it can."""
    try:
        found = importlib.util.find_spec("clips") is not None
    except ValueError:  # a module named clips with no spec (sys.modules["clips"] = None)
        found = False
    return None if found else "clipspy is not installed (pip install clipspy, or calfrules[test])"


def clips_system(engine: Engine, findings: Sequence[Mapping[str, Value]]) -> tuple[Callable[[int], object], int]:
    """CLIPS' run of case i, after checking it agrees with the oracle; returns (run, mismatches)."""
    from calfrules.tooling.clips_export import ClipsRunner, known_values, oracle_outcome

    runner = ClipsRunner(engine.program)
    derivers = engine.registry.derivers
    mismatches = sum(
        runner.run(known_values(derivers, f)) != oracle_outcome(engine.program, known_values(derivers, f))
        for f in findings
    )
    return (lambda i: runner.run(known_values(derivers, findings[i]))), mismatches


def timed(name: str, run: Callable[[int], object], clock: Callable[[], int] = time.process_time_ns) -> Step:
    def step(i: int) -> dict[str, int]:
        start = clock()
        run(i)
        return {name: clock() - start}

    return step


def interleaved(steps: Sequence[Step], cases: int, warm_up: int = 200, block: int = BLOCK) -> dict[str, list[int]]:
    """Every step on every case, taking turns block by block, in an order that rotates per block.

    Each step runs a block of cases in a row, as it would in use (its caches warm), then the
    next step runs the same block: load that comes and goes falls on every step alike. The
    first ``warm_up`` cases run once untimed first. Returns the nanoseconds by name."""
    times: dict[str, list[int]] = {}
    for step in steps:
        for i in range(min(warm_up, cases)):
            step(i)
    for n, first in enumerate(range(0, cases, block)):
        turn = n % len(steps)
        for step in [*steps[turn:], *steps[:turn]]:
            for i in range(first, min(first + block, cases)):
                for name, spent in step(i).items():
                    times.setdefault(name, []).append(spent)
    return times


def measure(cases_wanted: int, seed: int, *, extras: bool = True) -> dict[str, Any]:
    engine = load_engine(isolation="none", allow=builtin_plugins())
    cases = generate_cases(engine.vocabulary, cases_wanted, seed, golden_findings(engine))
    findings = [engine.parse_case(case).findings for case in cases]
    rules = Pipeline(engine.program, engine.registry.derivers)
    rules.warm_up()
    children = ChildClock()
    isolated = load_engine(allow=builtin_plugins())  # isolation="process", the default

    def assess_then_to_dict(i: int) -> dict[str, int]:
        clock = time.process_time_ns
        start = clock()
        assessment = engine.assess(cases[i])
        assessed = clock()
        assessment.to_dict()
        return {"assess": assessed - start, "to_dict": clock() - assessed}

    steps = [
        assess_then_to_dict,
        timed("rules", lambda i: rules.run(findings[i])),
        timed("oracle", lambda i: engine.assess(cases[i], evaluator="oracle")),
        children.timed("isolated", lambda i: isolated.assess(cases[i])),
    ]
    no_clips = clips_unavailable()
    mismatches = 0
    if no_clips is None:
        run_clips, mismatches = clips_system(engine, findings)
        steps.append(timed("clips", run_clips))
    try:
        if mismatches:  # the bench stops: vs_clips would compare different work
            return {"cases": len(cases), "clips_mismatches": mismatches}
        times = interleaved(steps, len(cases))
    finally:
        isolated.close()
        rules.close()
    fresh = fresh_processes(extras=extras)
    p50 = {name: statistics.median(found) / 1000 for name, found in times.items()}  # microseconds
    q = statistics.quantiles(times["assess"], n=100)
    clips = p50.get("clips")
    figures: dict[str, Any] = {
        "cases": len(cases),
        "p50_us": round(p50["assess"]),
        "p99_us": round(q[98] / 1000),
        "cases_per_s": round(len(cases) / (sum(times["assess"]) / 1e9)),
        "startup_ms": fresh.pop("startup_ms"),
        "vs_reference": round(p50["assess"] / p50["oracle"], 2),
        "vs_clips": round(p50["assess"] / clips, 2) if clips else "unavailable",
        "rules_vs_clips": round(p50["rules"] / clips, 2) if clips else "unavailable",
        "isolated_over_inprocess": round(p50["isolated"] / p50["assess"], 2),
        "to_dict_us": round(p50["to_dict"], 1),
        "cold_assess_ms": fresh.pop("cold_assess_ms", "skipped"),
        "clips_unavailable": no_clips,
        "clips_mismatches": mismatches,
        "clock": "cpu",
        "isolated_clock": children.kind,
        "isolation": "none",
        "rules": len(engine.program.rules),
        "findings": len(engine.vocabulary),
        "seed": seed,
        "rules_p50_us": round(p50["rules"]),
        "oracle_p50_us": round(p50["oracle"]),
        "clips_p50_us": round(clips) if clips else None,
        "process_isolated_p50_us": round(p50["isolated"]),
        "build": build_kind(),
        "compiled_modules": compiled_modules(),
    }
    engine.close()
    return {**figures, **fresh}


def fresh_processes(*, extras: bool) -> dict[str, Any]:
    """Start-up, with bytecode and in this environment as it is, and (``extras``) a cold ``assess``."""
    figures: dict[str, Any] = {}
    with with_bytecode() as env:
        wall, cpu = startup_ms(env)
        figures["startup_ms"], figures["startup_cpu_ms"] = round(wall), round(cpu)
        if extras:
            wall, cpu = cold_assess_ms(env)
            figures["cold_assess_ms"], figures["cold_assess_cpu_ms"] = round(wall), round(cpu)
    figures["startup_this_env_ms"] = round(startup_ms(repeats=3)[0])
    return figures


def bench_line(figures: dict[str, Any]) -> str:
    return "calfrules-bench: " + " ".join(f"{key}={figures[key]}" for key in LINE_KEYS)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m calfrules.tooling.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--cases", type=int, default=DEFAULT_CASES, help=f"how many generated cases (default {DEFAULT_CASES})"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"generator seed (default {DEFAULT_SEED})")
    parser.add_argument("--json", action="store_true", help="print every figure as one JSON object instead")
    parser.add_argument("--no-extras", action="store_true", help="skip the cold `calfrules assess` figure (quicker)")
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
    clips = f", CLIPS {figures['clips_p50_us']} us" if figures["clips_p50_us"] is not None else ""
    isolated_clock = "CPU of this process and the engine child" if figures["isolated_clock"] == "cpu" else "wall-clock"
    extra = [
        f"in-process (isolation=none); {figures['rules']} rules, {figures['findings']} findings, seed "
        f"{figures['seed']}; systems take turns, {BLOCK} cases at a time; p50 of per-case CPU time",
        f"p50: assess {figures['p50_us']} us, rules path {figures['rules_p50_us']} us, oracle "
        f"{figures['oracle_p50_us']} us{clips}, to_dict {figures['to_dict_us']} us",
        f"process-isolated (the default): p50 {figures['process_isolated_p50_us']} us ({isolated_clock})",
    ]
    extra.append(
        f"start-up (import and load_engine, bytecode present): {figures['startup_ms']} ms wall-clock, "
        f"{figures['startup_cpu_ms']} ms CPU (median of 5); in this environment as it is: "
        f"{figures['startup_this_env_ms']} ms"
    )
    if "cold_assess_cpu_ms" in figures:
        extra.append(
            f"cold `calfrules assess`: {figures['cold_assess_ms']} ms wall-clock, "
            f"{figures['cold_assess_cpu_ms']} ms CPU (median of 5)"
        )
    for text in extra:
        print(f"calfrules-bench: {text}", file=sys.stderr)


if __name__ == "__main__":
    main()
