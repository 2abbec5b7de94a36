"""How calfrules scales with the number of rules: a table from 100 to 6,400 generated rules.

    python benchmarks/scaling.py [--sizes 100,200,...] [--cases 300] [--seed 1]

For each size, a pack from ``generate_pack.py`` is loaded with the built-in plugins in fresh
processes: once with an empty ruleset cache (``cold``: every ruleset read, checked and cached)
and once with it filled (``warm``: what every later start-up does). The warm process then
times each case by CPU time (``time.process_time_ns``), the systems taking turns on every case
(the order rotates, so none always runs first): ``assess`` is ``Engine.assess`` in-process
(validation, scores, rules, explanation); ``rules`` only the scores and the rules on
durable_rules; ``clips`` the scores and CLIPS (clipspy) running the rules ``calfrules export
--clips`` writes; ``oracle`` the scores and the pure-Python reference evaluator. Every case is
also checked: durable_rules, the oracle and CLIPS must fire the same rules. RSS is the
process's resident memory after loading, before CLIPS is built. It prints a Markdown table
and asserts nothing: speed is measured, never tested.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SIZES = (100, 200, 400, 800, 1600, 3200, 6400)
SYSTEMS = ("assess", "rules", "clips", "oracle")


def _rss_mb() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the peak, where /proc is missing


def worker(pack: Path, cases_wanted: int, seed: int, per_case: bool) -> dict[str, Any]:
    """In a fresh process: load, compile, then (``per_case``) time and cross-check the cases.

    Phases are CPU time (``time.process_time``), each step of the real ``load_engine`` timed
    where it runs; ``load_ms`` is the whole ``load_engine`` call, ``import_ms`` the import before it.
    """
    clock = time.process_time
    start = clock()
    import calfrules.engine.engine as engine_module
    from calfrules.knowledge.builtin import BUILTIN_PLUGINS

    imported = clock()
    phases: dict[str, float] = {}

    def timed(name: str, function: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            begin = clock()
            try:
                return function(*args, **kwargs)
            finally:
                phases[name] = (clock() - begin) * 1000

        return run

    for attribute, phase in (
        ("build_registry", "read_ms"),
        ("compile_registry", "compile_ms"),
        ("Engine", "engine_ms"),
    ):
        setattr(engine_module, attribute, timed(phase, getattr(engine_module, attribute)))
    engine = engine_module.load_engine(rulesets=[pack], isolation="none", allow=BUILTIN_PLUGINS, entry_points=False)
    loaded = clock()
    problems = engine.problems
    if problems:
        raise SystemExit(f"scaling: the pack did not load cleanly: {problems[:3]}")
    figures: dict[str, Any] = {
        "rules": len(engine.program.rules),
        "import_ms": (imported - start) * 1000,
        "load_ms": (loaded - imported) * 1000,
        **phases,
        "rss_mb": _rss_mb(),
    }
    if per_case:
        figures |= _per_case(engine, cases_wanted, seed)
    engine.close()
    return figures


def _per_case(engine: Any, cases_wanted: int, seed: int) -> dict[str, Any]:
    from calfrules.engine import oracle
    from calfrules.tooling.bench import generate_cases, golden_findings
    from calfrules.tooling.clips_export import ClipsRunner, known_values, rule_key

    program = engine.program
    pipeline = engine._pipeline  # the in-process scores + durable_rules path, as Engine.assess runs it
    derivers = engine.registry.derivers
    clips = ClipsRunner(program)
    cases = generate_cases(engine.vocabulary, cases_wanted, seed, golden_findings(engine))
    findings = [engine.parse_case(case).findings for case in cases]
    runs: dict[str, Callable[[int], object]] = {
        "assess": lambda i: engine.assess(cases[i]),
        "rules": lambda i: pipeline.run(findings[i]),
        "clips": lambda i: clips.run(known_values(derivers, findings[i])),
        "oracle": lambda i: oracle.run(program, known_values(derivers, findings[i])),
    }
    mismatches = 0
    for i, found in enumerate(findings):  # the three must fire the same rules (also a warm-up)
        known = known_values(derivers, found)
        durable = {rule_key(program.rules[f.rule_index]) for f in pipeline.run(found).firings}
        reference = {rule_key(program.rules[f.rule_index]) for f in oracle.run(program, known)}
        mismatches += not (durable == reference == set(clips.run(known).fired))
        runs["assess"](i)
    times: dict[str, list[float]] = {name: [] for name in SYSTEMS}
    clock = time.process_time_ns
    for i in range(len(cases)):
        shift = i % len(SYSTEMS)
        for name in SYSTEMS[shift:] + SYSTEMS[:shift]:
            begin = clock()
            runs[name](i)
            times[name].append((clock() - begin) / 1000)
    p50 = {f"{name}_us": statistics.median(values) for name, values in times.items()}
    return {**p50, "cases": len(cases), "mismatches": mismatches}


def _run_worker(pack: Path, cache: Path, args: argparse.Namespace, per_case: bool) -> dict[str, Any]:
    env = {**os.environ, "CALFRULES_CACHE_DIR": str(cache)}
    env.pop("CALFRULES_NO_CACHE", None)
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(pack)]
    command += ["--cases", str(args.cases), "--seed", str(args.seed)] + (["--per-case"] if per_case else [])
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"scaling: worker failed for {pack.name}:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| generated rules | rules loaded | load ms (cold cache) | load ms (warm) | compile ms | Engine() ms "
        "| assess p50 us | rules p50 us | CLIPS p50 us | oracle p50 us | assess / CLIPS | rules / CLIPS "
        "| RSS MB | disagreements |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row in rows:
        cold, warm = row["cold"], row["warm"]
        cells = [
            f"{row['size']:,}",
            f"{warm['rules']:,}",
            f"{cold['load_ms']:.0f}",
            f"{warm['load_ms']:.0f}",
            f"{warm['compile_ms']:.0f}",
            f"{warm['engine_ms']:.0f}",
            f"{warm['assess_us']:.0f}",
            f"{warm['rules_us']:.0f}",
            f"{warm['clips_us']:.0f}",
            f"{warm['oracle_us']:.0f}",
            f"{warm['assess_us'] / warm['clips_us']:.2f}",
            f"{warm['rules_us'] / warm['clips_us']:.2f}",
            f"{warm['rss_mb']:.0f}",
            f"{warm['mismatches']} of {warm['cases']}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="generated rules per pack, comma separated")
    parser.add_argument("--cases", type=int, default=300, help="cases timed per size")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--per-case", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.cases, args.seed, args.per_case)))
        return
    sys.path.insert(0, str(HERE))
    from generate_pack import generate_pack_text

    try:
        sizes = [int(size) for size in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes must be whole numbers separated by commas, not {args.sizes!r}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="calfrules-scaling-") as folder:
        for size in sizes:
            pack = Path(folder) / f"generated_{size}.toml"
            pack.write_text(generate_pack_text(size, args.seed), encoding="utf-8")
            cache = Path(folder) / f"cache_{size}"
            cold = _run_worker(pack, cache, args, per_case=False)
            warm = _run_worker(pack, cache, args, per_case=True)
            rows.append({"size": size, "cold": cold, "warm": warm})
            print(f"scaling: {size} rules done", file=sys.stderr)
    print(table(rows))


if __name__ == "__main__":
    main()
