"""Compare two installs of calfrules (say, before and after a change), interleaved.

    python benchmarks/compare_versions.py OLD_PYTHON NEW_PYTHON [--rounds 7] [--cases 400]

Each python is an interpreter whose environment has one calfrules installed (for
example a venv with ``pip install <commit's checkout>``). The same seeded cases are
written once; then, round after round, a fresh process of OLD and one of NEW (in
alternating order) each import calfrules, load the engine and assess every case
in-process, timing each case by CPU time (``time.process_time_ns``). Each round gives
a ratio NEW/OLD; the median ratio over rounds is what to read (above 1: NEW is slower).
Start-up is reported the same way, as wall-clock of import + ``load_engine`` in the
fresh process, and as its CPU time. It asserts nothing: speed is measured, never tested.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

WORKER = r"""
import json, statistics, sys, time
wall0 = time.perf_counter(); cpu0 = time.process_time()
from calfrules import load_engine
engine = load_engine(isolation="none")
startup_wall = (time.perf_counter() - wall0) * 1000
startup_cpu = (time.process_time() - cpu0) * 1000
cases = json.load(open(sys.argv[1]))
for case in cases[:50]:
    engine.assess(case)
per_case = []
for case in cases:
    t = time.process_time_ns()
    engine.assess(case)
    per_case.append((time.process_time_ns() - t) / 1000)
print(json.dumps({
    "startup_wall_ms": startup_wall,
    "startup_cpu_ms": startup_cpu,
    "case_us_median": statistics.median(per_case),
    "case_us_mean": statistics.fmean(per_case),
    "rules": len(engine.program.rules),
}))
"""


def write_cases(count: int, seed: int, path: Path) -> None:
    """Seeded cases from the built-in vocabulary (the bench's own generator, in this process)."""
    from calfrules import load_engine
    from calfrules.tooling.bench import generate_cases

    engine = load_engine(isolation="none", allow=[])
    path.write_text(json.dumps(generate_cases(engine.vocabulary, count, seed)))


def run(python: str, cases: Path) -> dict[str, float]:
    out = subprocess.run([python, "-c", WORKER, str(cases)], capture_output=True, text=True, check=True, cwd="/")
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cases", type=int, default=400)
    parser.add_argument("--seed", type=int, default=20261128)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cases = Path(tmp) / "cases.json"
        write_cases(args.cases, args.seed, cases)
        rows = []
        for index in range(args.rounds):
            order = [("old", args.old), ("new", args.new)]
            if index % 2:
                order.reverse()
            got = {name: run(python, cases) for name, python in order}
            rows.append(got)
            ratios = {k: got["new"][k] / got["old"][k] for k in ("case_us_median", "startup_wall_ms", "startup_cpu_ms")}
            print(
                f"round {index + 1}: per-case CPU old {got['old']['case_us_median']:.0f} us, "
                f"new {got['new']['case_us_median']:.0f} us (x{ratios['case_us_median']:.2f}); start-up old "
                f"{got['old']['startup_wall_ms']:.0f} ms, new {got['new']['startup_wall_ms']:.0f} ms "
                f"(x{ratios['startup_wall_ms']:.2f}; CPU x{ratios['startup_cpu_ms']:.2f})",
                file=sys.stderr,
            )
    summary = {
        key: statistics.median(row["new"][key] / row["old"][key] for row in rows)
        for key in ("case_us_median", "case_us_mean", "startup_wall_ms", "startup_cpu_ms")
    }
    print(
        f"compare-versions: rounds={args.rounds} cases={args.cases} rules_old={rows[0]['old']['rules']:.0f} "
        f"rules_new={rows[0]['new']['rules']:.0f} per_case_cpu_ratio={summary['case_us_median']:.3f} "
        f"per_case_mean_ratio={summary['case_us_mean']:.3f} startup_wall_ratio={summary['startup_wall_ms']:.3f} "
        f"startup_cpu_ratio={summary['startup_cpu_ms']:.3f} (new/old; above 1: new is slower)"
    )


if __name__ == "__main__":
    main()
