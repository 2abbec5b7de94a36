"""Load test: `calfrules serve` in a second process on loopback, 50 concurrent clients.

Bounded in count and time. Prints requests per second, p50/p99 latency and the error
count, then checks that every answered request is in the audit trail. Exit status 1 on
any error or unaudited request. Not collected by pytest (speed figures belong in a
script, not in assertions):

    python benchmarks/loadtest.py [--clients 50] [--requests 2000] [--max-seconds 120]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "cases"
TOKEN = "loadtest-token"
SERVICE = "/cds-services/calfrules-calf-pain"
CASES: list[dict[str, Any]] = [
    json.loads((EXAMPLES / "suspected_dvt.json").read_text()),
    json.loads((EXAMPLES / "sore_calves_after_layoff.json").read_text()),
    {"findings": {"calf_pain": True, "chest_pain": True, "swelling_unilateral": True}},
    {"findings": {"calf_pain": True, "pain_score": 8}},
    {"findings": {"cramp_during_run": True}},
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(port: int, audit_url: str | None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CALFRULES_TOKEN": TOKEN}
    audit = ["--audit", audit_url] if audit_url else ["--no-audit"]
    command = [sys.executable, "-m", "calfrules", "serve", "--port", str(port), *audit]
    return subprocess.Popen(command, env=env)


async def wait_ready(base: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("the server did not start")


def make_request(number: int) -> tuple[str, dict[str, Any]]:
    case = CASES[number % len(CASES)]
    if number % 2:
        return "/assess", case
    return SERVICE, {
        "hook": "patient-view",
        "hookInstance": f"load-{number}",
        "context": {"findings": case["findings"]},
    }


async def client_loop(
    client: httpx.AsyncClient, numbers: asyncio.Queue[int], deadline: float, results: list[dict[str, Any]]
) -> None:
    while time.monotonic() < deadline:
        try:
            number = numbers.get_nowait()
        except asyncio.QueueEmpty:
            return
        path, body = make_request(number)
        started = time.perf_counter()
        try:
            response = await client.post(path, json=body)
            elapsed = time.perf_counter() - started
            ok = response.status_code == 200
            audit_id = None
            if ok:
                audit_id = (
                    response.headers.get("x-calfrules-audit-id")
                    if path == "/assess"
                    else response.json()["cards"][0]["uuid"]
                )
            results.append({"ok": ok, "status": response.status_code, "seconds": elapsed, "audit_id": audit_id})
        except httpx.HTTPError as exc:
            results.append({"ok": False, "status": type(exc).__name__, "seconds": time.perf_counter() - started})


async def run(base: str, clients: int, total: int, max_seconds: float) -> tuple[list[dict[str, Any]], float]:
    numbers: asyncio.Queue[int] = asyncio.Queue()
    for number in range(total):
        numbers.put_nowait(number)
    results: list[dict[str, Any]] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=base, limits=limits, headers=headers, timeout=60) as client:
        started = time.perf_counter()
        deadline = time.monotonic() + max_seconds
        await asyncio.gather(*(client_loop(client, numbers, deadline, results) for _ in range(clients)))
        return results, time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument("--no-audit", action="store_true", help="serve without an audit trail (to compare)")
    args = parser.parse_args()
    random.seed(1)
    with tempfile.TemporaryDirectory() as folder:
        audit_url = f"sqlite:///{Path(folder) / 'audit.sqlite3'}"
        port = free_port()
        server = start_server(port, None if args.no_audit else audit_url)
        try:
            base = f"http://127.0.0.1:{port}"
            asyncio.run(wait_ready(base))
            results, seconds = asyncio.run(run(base, args.clients, args.requests, args.max_seconds))
        finally:
            server.terminate()
            server.wait(timeout=30)
        ok = [r for r in results if r["ok"]]
        recorded, missing = len(ok), []
        if not args.no_audit:
            from calfrules.audit import open_audit

            with open_audit(audit_url) as store:
                recorded = store.count()
                missing = [r for r in ok if not r["audit_id"] or store.get(r["audit_id"]) is None]
    errors = [r for r in results if not r["ok"]]
    latencies = [r["seconds"] for r in ok] or [0.0]
    print(f"clients:            {args.clients}")
    print(f"requests:           {len(results)} of {args.requests} in {seconds:.1f} s (bound {args.max_seconds:g} s)")
    print(f"requests/s:         {len(results) / seconds:.1f}")
    print(f"latency p50:        {percentile(latencies, 0.50) * 1000:.0f} ms")
    print(f"latency p99:        {percentile(latencies, 0.99) * 1000:.0f} ms")
    print(f"latency max:        {max(latencies) * 1000:.0f} ms (mean {statistics.mean(latencies) * 1000:.0f} ms)")
    print(f"errors:             {len(errors)} {sorted({str(e['status']) for e in errors})}")
    if args.no_audit:
        print("audit records:      (no audit trail)")
    else:
        print(f"audit records:      {recorded}; answered requests not found in the trail: {len(missing)}")
    return 1 if errors or missing or recorded != len(ok) else 0


if __name__ == "__main__":
    sys.exit(main())
