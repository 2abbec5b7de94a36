"""Soak: one process assesses many cases; memory must stay flat and nothing may crash or hang.

``python scripts/soak.py [--cases 1000000] [--isolation none|process] [--every 50000]``

Not collected by pytest (a script, not a timed test). It assesses seeded bench cases with one
engine in this process (``isolation="none"`` by default, so durable_rules' memory is this
process's memory), and:

- prints the resident memory (RSS) after warm-up, every ``--every`` cases, and at the end;
- fails if RSS at any sample after warm-up is more than 10% above the warm-up figure;
- checks every case comes back complete, and every ``--check-every``-th case against the
  oracle evaluator (same level, conditions and fired rules): memory corruption shows there;
- arms a watchdog (faulthandler) so a case that hangs, even inside the C core holding the
  GIL, dumps every thread's stack and ends the process with an error;
- reports the slowest case.

Exit status 0 when every check passed, 1 otherwise. The last line is the summary.
"""

from __future__ import annotations

import argparse
import faulthandler
import itertools
import resource
import sys
import time
from pathlib import Path

from calfrules import load_engine
from calfrules.tooling.bench import builtin_plugins, generate_cases, golden_findings

POOL = 20_000  # distinct cases, cycled; generating a million would dominate the run
MAX_GROWTH = 0.10
HANG_SECONDS = 60  # no block of 1000 cases may take longer (re-armed every 1000 cases)


def rss_mb() -> float:
    """Current resident set size (Linux /proc), else the peak from getrusage."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fired(assessment: object) -> list[tuple[str, str]]:
    return sorted((step.rule.ruleset, step.rule.rule) for step in assessment.trace)  # type: ignore[attr-defined]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=50_000, help="print RSS every N cases")
    parser.add_argument("--warm-up", type=int, default=None, help="cases before the baseline (default 2%% or 20000)")
    parser.add_argument("--check-every", type=int, default=100, help="compare every Nth case with the oracle")
    parser.add_argument("--isolation", choices=["none", "process"], default="none")
    parser.add_argument("--seed", type=int, default=20261126)
    args = parser.parse_args()
    warm_up = args.warm_up if args.warm_up is not None else min(20_000, max(1, args.cases // 50))

    faulthandler.enable()
    engine = load_engine(isolation=args.isolation, allow=builtin_plugins())
    pool = generate_cases(engine.vocabulary, min(POOL, args.cases), args.seed, golden_findings(engine))
    print(f"soak: {args.cases} cases, isolation={args.isolation}, rss at start {rss_mb():.1f} MB", flush=True)

    baseline: float | None = None
    peak_after_warm_up = 0.0
    slowest = (0.0, -1)
    incomplete = mismatches = checked = 0
    started = last = time.perf_counter()
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)
    for number, case in enumerate(itertools.islice(itertools.cycle(pool), args.cases), start=1):
        begin = time.perf_counter()
        assessment = engine.assess(case)
        took = time.perf_counter() - begin
        if took > slowest[0]:
            slowest = (took, number)
        if not assessment.complete:
            incomplete += 1
            if incomplete <= 3:
                print(f"soak: case {number} incomplete: {assessment.incomplete_reasons}", flush=True)
        if number % args.check_every == 0:
            checked += 1
            reference = engine.assess(case, evaluator="oracle")
            same = (
                assessment.level == reference.level
                and assessment.condition_ids() == reference.condition_ids()
                and fired(assessment) == fired(reference)
            )
            if not same:
                mismatches += 1
                if mismatches <= 3:
                    print(f"soak: case {number} differs from the oracle: {case}", flush=True)
        if number % 1000 == 0:
            faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)  # re-arm: no block of 1000 may hang
        if number == warm_up:
            baseline = rss_mb()
            print(f"soak: warm-up done after {number} cases: rss {baseline:.1f} MB (the baseline)", flush=True)
        if number % args.every == 0 or number == args.cases:
            now = time.perf_counter()
            rss = rss_mb()
            if baseline is not None and number > warm_up:
                peak_after_warm_up = max(peak_after_warm_up, rss)
            growth = f" ({(rss / baseline - 1) * 100:+.1f}% vs warm-up)" if baseline else ""
            rate = args.every / (now - last) if number % args.every == 0 else 0
            print(
                f"soak: {number} cases, rss {rss:.1f} MB{growth}, {rate:.0f} cases/s, "
                f"slowest so far {slowest[0] * 1000:.1f} ms (case {slowest[1]})",
                flush=True,
            )
            last = now
    faulthandler.cancel_dump_traceback_later()
    seconds = time.perf_counter() - started
    end = rss_mb()
    engine.close()
    assert baseline is not None
    growth = max(peak_after_warm_up, end) / baseline - 1
    ok = growth <= MAX_GROWTH and incomplete == 0 and mismatches == 0
    print(
        f"soak: cases={args.cases} seconds={seconds:.0f} cases_per_s={args.cases / seconds:.0f} "
        f"rss_warm_mb={baseline:.1f} rss_end_mb={end:.1f} rss_max_mb={max(peak_after_warm_up, end):.1f} "
        f"growth={growth * 100:+.1f}% max_case_ms={slowest[0] * 1000:.1f} incomplete={incomplete} "
        f"oracle_checked={checked} oracle_mismatches={mismatches} -> {'OK' if ok else 'FAILED'}",
        flush=True,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
