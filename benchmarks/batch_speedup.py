"""Batch speed-up: ``python benchmarks/batch_speedup.py [--cases N] [--jobs J] [--repeats R]``.

Not collected by pytest (a script, not a timed test). Writes N seeded bench cases to a
JSON Lines file, runs ``calfrules assess FILE`` in fresh processes with ``--jobs 1`` and
``--jobs J`` (alternating, R times each), checks both print the same lines, and prints::

    batch-speedup: cases=N jobs=J one_s=.. many_s=.. speedup=..x cpus=.. load=..

(wall-clock medians; the target is 1.8x or more on 2 otherwise idle cores).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from calfrules import load_engine
from calfrules.tooling.bench import builtin_plugins, generate_cases, golden_findings


def run(path: Path, jobs: int) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "calfrules", "assess", str(path), "--jobs", str(jobs)],
        capture_output=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"calfrules assess --jobs {jobs} failed: {done.stderr.decode()[-500:]}")
    return seconds, hashlib.sha256(done.stdout).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=6000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    engine = load_engine(isolation="none", allow=builtin_plugins())
    cases = generate_cases(engine.vocabulary, args.cases, args.seed, golden_findings(engine))
    engine.close()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cases.jsonl"
        path.write_text("".join(json.dumps(case) + "\n" for case in cases), encoding="utf-8")
        one, many, digests = [], [], set()
        for _ in range(args.repeats):
            seconds, digest = run(path, 1)
            one.append(seconds)
            digests.add(digest)
            seconds, digest = run(path, args.jobs)
            many.append(seconds)
            digests.add(digest)
    if len(digests) != 1:
        raise SystemExit("batch-speedup: error: --jobs changed the output")
    one_s, many_s = statistics.median(one), statistics.median(many)
    load = os.getloadavg()[0]
    print(
        f"batch-speedup: cases={len(cases)} jobs={args.jobs} one_s={one_s:.2f} many_s={many_s:.2f} "
        f"speedup={one_s / many_s:.2f}x cpus={os.cpu_count()} load={load:.1f}"
    )


if __name__ == "__main__":
    main()
