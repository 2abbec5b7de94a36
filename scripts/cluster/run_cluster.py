"""A clinic network on one machine: three `calfrules serve` behind HAProxy, one PostgreSQL trail.

    python scripts/cluster/run_cluster.py [--seconds 20] [--clients 12] [--report cluster-report.json]

Starts PostgreSQL (a fresh database on $CALFRULES_TEST_POSTGRES_URL's server, else a private
server), three instances on free loopback ports sharing that trail (token and audit URL
from files), and HAProxy configured from deploy/haproxy.cfg.template. Then, through the
balancer: a warm-up, the throughput of one instance against three (interleaved rounds, same
cases), and a load run during which one instance is SIGKILLed. Checks, each a figure in the
JSON report: every request answered 2xx (the balancer's retries counted from its log and
stats socket), every 2xx has exactly one audit record (and every other record is the first
attempt of a retried request), no answer below its case's level, feedback on a card of each
instance, `calfrules audit replay` over the whole trail. Prints one line of figures; exits 1
when a check fails, 2 when the cluster could not be set up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from haproxy_config import POST_RETRY_ON
from loadgen import Answer, run_load
from processes import Balancer, ClusterError, Instance, postgres, private_file, wait_until
from trail_checks import Check, answered, feedback, kill_felt, levels, one_record_each, replay, retried_request_ids
from trail_checks import trail_rows as read_trail

from calfrules import Level, load_engine
from calfrules.knowledge.builtin import BUILTIN_PLUGINS
from calfrules.rules.errors import CalfrulesError
from calfrules.tooling.bench import golden_findings

INSTANCES = ("s1", "s2", "s3")
KILLED = "s3"


def known_cases(limit: int = 120) -> tuple[list[dict[str, Any]], list[Level]]:
    """The golden cases' findings, each with its level from an in-process engine (the same plugins)."""
    cases: list[dict[str, Any]] = []
    expected: list[Level] = []
    with load_engine(isolation="none", allow=list(BUILTIN_PLUGINS)) as engine:
        for number, findings in enumerate(golden_findings(engine)):
            case = {"id": f"golden-{number}", "findings": findings}
            try:
                level = engine.assess(case, record=False).level
            except CalfrulesError:
                continue  # a golden case needs its non-scalar findings: not one for the load
            cases.append(case)
            expected.append(level)
    if len(set(expected)) < 3:
        raise ClusterError(f"the golden cases cover only {sorted(e.value for e in set(expected))}")
    step = max(1, len(cases) // limit)
    return cases[::step], expected[::step]


def rate(answers: list[Answer], seconds: float) -> float:
    return sum(1 for a in answers if a.status == 200) / seconds if seconds else 0.0


async def drive(
    balancer: Balancer,
    token: str,
    cases: list[dict[str, Any]],
    args: argparse.Namespace,
    instances: list[Instance],
) -> tuple[list[Answer], dict[str, Any]]:
    victim = instances[INSTANCES.index(KILLED)]
    answers: list[Answer] = []
    load = {"clients": args.clients}
    for port, phase in ((balancer.port, "warmup3"), (balancer.single_port, "warmup1")):
        answers += await run_load(port, token, cases, seconds=2.0, phase=phase, **load)
    spent = {"1": 0.0, "3": 0.0}
    cpu = {"1": 0.0, "3": 0.0}  # of the instances and their engine children: hardly moved by other load
    done: dict[str, list[Answer]] = {"1": [], "3": []}
    for number in range(args.rounds):  # interleaved: a machine slowing down slows both alike
        for count, port in (("1", balancer.single_port), ("3", balancer.port)):
            started, cpu_before = time.perf_counter(), sum(i.cpu_seconds() for i in instances)
            got = await run_load(
                port, token, cases, seconds=args.throughput_seconds, phase=f"tp{count}r{number}", **load
            )
            spent[count] += time.perf_counter() - started
            cpu[count] += sum(i.cpu_seconds() for i in instances) - cpu_before
            done[count] += got
            answers += got
    killed_at = args.seconds * args.kill_at
    answers += await run_load(
        balancer.port, token, cases, seconds=args.seconds, phase="fault", at=[(killed_at, victim.kill)], **load
    )
    one, three = rate(done["1"], spent["1"]), rate(done["3"], spent["3"])
    throughput = {
        "requests_per_s_1_instance": round(one, 1),
        "requests_per_s_3_instances": round(three, 1),
        "ratio_3_to_1": round(three / one, 2) if one else None,
        "instance_cpu_ms_per_request_1": _per_request_ms(cpu["1"], done["1"]),
        "instance_cpu_ms_per_request_3": _per_request_ms(cpu["3"], done["3"]),
        "p50_ms_1": _median_ms(done["1"]),
        "p50_ms_3": _median_ms(done["3"]),
        "seconds_each": args.throughput_seconds * args.rounds,
        "killed_at_s": killed_at,
    }
    return answers, throughput


def _per_request_ms(seconds: float, answers: list[Answer]) -> float:
    ok = sum(1 for a in answers if a.status == 200)
    return round(seconds * 1000 / ok, 2) if ok else 0.0


def _median_ms(answers: list[Answer]) -> float:
    times = sorted(a.seconds for a in answers if a.status == 200)
    return round(times[len(times) // 2] * 1000, 1) if times else 0.0


def run(args: argparse.Namespace) -> tuple[list[Check], dict[str, Any]]:
    cases, expected = known_cases()
    with tempfile.TemporaryDirectory(prefix="calfrules-cluster-") as tmp, postgres(Path(tmp)) as url:
        folder = Path(tmp)
        token = secrets.token_urlsafe(24)
        token_file = private_file(folder / "token", token)
        url_file = private_file(folder / "audit-url", url)
        instances = [Instance(name, folder) for name in INSTANCES]
        balancer: Balancer | None = None
        try:
            for instance in instances:
                instance.start(token_file, url_file)
            for instance in instances:
                instance.wait_ready()
            balancer = Balancer(folder, instances, args.post_retry_on)
            balancer.start()
            balancer.wait_all_up(list(INSTANCES))
            answers, throughput = asyncio.run(drive(balancer, token, cases, args, instances))
            the_balancer = balancer
            wait_until(
                lambda: the_balancer.server_status(KILLED).startswith("DOWN"), "HAProxy marks the killed one DOWN", 15
            )
            rows = read_trail(url)
            log = balancer.request_log()
            retried = retried_request_ids(log)
            retries, redispatches = balancer.retries()
            base = f"http://127.0.0.1:{balancer.port}"
            checks = [
                answered(answers),
                one_record_each(answers, rows, retried),
                levels(answers, expected),
                feedback(base, token, answers, INSTANCES, url),
                replay(url, answers, rows, INSTANCES),
                kill_felt(KILLED, balancer.server_status(KILLED), answers, throughput["killed_at_s"]),
            ]
            checks[0].figures.update(
                {"requests_retried": len(retried), "haproxy_retries": retries, "haproxy_redispatches": redispatches}
            )
            return checks, throughput
        finally:
            if balancer is not None:
                balancer.stop()
            for instance in instances:
                instance.stop()
            if args.keep_logs:
                _keep(folder, Path(args.keep_logs))


def _keep(folder: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for log in folder.glob("*.log"):
        (target / log.name).write_bytes(log.read_bytes())


def figure_line(checks: list[Check], throughput: dict[str, Any]) -> str:
    sent, records, level, feed, replayed = (c.figures for c in checks[:5])
    fed = sum(1 for v in feed.values() if isinstance(v, dict) and v.get("status") == 200 and v.get("in_trail") == 1)
    return (
        f"cluster: sent={sent['sent']} 2xx={sent['2xx']} 5xx={sent['5xx']} connection_errors={sent['connection_error']}"
        f" lost={sent['lost']} retried={sent['requests_retried']} records={records['records']}"
        f" extra_records_from_retries={records['extra_records_from_retries']} below_level={level['below']}"
        f" feedback={fed}/{len(INSTANCES)} replayed={replayed.get('replayed')}/{replayed.get('records')}"
        f" rps_1={throughput['requests_per_s_1_instance']} rps_3={throughput['requests_per_s_3_instances']}"
        f" cpu_ms_1={throughput['instance_cpu_ms_per_request_1']}"
        f" cpu_ms_3={throughput['instance_cpu_ms_per_request_3']}"
        f" result={'PASS' if all(c.passed for c in checks) else 'FAIL'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=20.0, help="the load run with the kill (default 20)")
    parser.add_argument("--kill-at", type=float, default=0.4, help="kill s3 at this fraction of it (default 0.4)")
    parser.add_argument("--clients", type=int, default=12, help="concurrent keep-alive clients (default 12)")
    parser.add_argument("--throughput-seconds", type=float, default=5.0, help="each throughput run (default 5)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved throughput rounds (default 2)")
    parser.add_argument(
        "--report", default="cluster-report.json", help="the JSON report (default ./cluster-report.json)"
    )
    parser.add_argument(
        "--post-retry-on",
        default=POST_RETRY_ON,
        metavar="KEYWORDS",
        help=f"HAProxy's retry-on for POST requests (default {POST_RETRY_ON!r}; 'conn-failure' alone measures "
        "what the default saves)",
    )
    parser.add_argument("--keep-logs", metavar="DIR", help="copy the instances' and HAProxy's logs here")
    args = parser.parse_args(argv)
    if not 0 < args.kill_at < 1 or args.clients < 1 or args.rounds < 1:
        parser.error("--kill-at must be between 0 and 1, --clients and --rounds at least 1")
    # a stopped run still stops its servers and removes its database (the finally blocks)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(2))
    try:
        checks, throughput = run(args)
    except (ClusterError, CalfrulesError) as exc:
        print(f"run_cluster: error: {exc}", file=sys.stderr)
        return 2
    report = {
        "passed": all(c.passed for c in checks),
        "checks": [{"name": c.name, "passed": c.passed, "figures": c.figures, "problems": c.problems} for c in checks],
        "throughput": throughput,
        "settings": vars(args),
    }
    Path(args.report).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for check in checks:
        if not check.passed:
            print(f"run_cluster: FAILED {check.name}: {'; '.join(check.problems[:5])}", file=sys.stderr)
    print(figure_line(checks, throughput), flush=True)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
