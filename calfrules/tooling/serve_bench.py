"""Serve benchmark: ``python -m calfrules.tooling.serve_bench [--seconds S] [--rounds R] [--workers 1,2]``.

``--audit on|off|on,off`` and ``--connections 50`` measure fewer configurations; ``--before
FOLDER`` also runs an older copy of calfrules, interleaved, for before/after figures.

Starts real ``calfrules serve`` processes on loopback, one per system (the SQLite audit
trail on, and ``--no-audit``; times each ``--workers`` value), and drives ``POST /assess``
with a seeded case mix: golden cases with findings added, and random findings from the
built-in vocabulary (as ``calfrules.tooling.bench``). Prints one line per configuration on
standard output, and asserts nothing (speed is measured, never tested)::

    serve-bench: audit=sqlite workers=1 connections=50 requests_per_s=.. p50_ms=.. p99_ms=.. \
        requests=.. errors=0 unaudited=0 server_cpu_us=.. engine_cpu_us=..

- The systems are measured interleaved: each round runs every connection count on every
  system in turn, ``--seconds`` each, so a machine that slows down mid-run slows all alike.
- Every connection is an HTTP/1.1 keep-alive connection sending one request at a time.
  The client is asyncio with the httptools parser (not httpx): on a 2-core machine the
  load generator shares the CPU with the server, and httpx costs several times more per
  request. Its own CPU time per request is printed on standard error.
- ``errors``: answers other than 200 and broken connections; ``unaudited``: 200 answers
  without ``X-Calfrules-Audit-Id`` while the trail is on. A last line per audited system
  compares the audit ids answered with the records found in the trail afterwards.
- ``server_cpu_us`` and ``engine_cpu_us``: CPU time per request of the server process(es)
  and of their engine children (Linux, from /proc). They depend less than requests/s on
  what else the machine is running, so interleaved runs compare on a busy machine; but
  not nothing: with the audit on, the server's figure was about 800 us at a load average
  of 2 and about 1,200 us at 9 (more context switches, colder caches). On an idle machine
  requests/s can reach about cores / (server + engine + client CPU per request).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import cast

import httptools

from calfrules.engine.engine import load_engine
from calfrules.tooling.bench import builtin_plugins, generate_cases, golden_findings

TOKEN = "serve-bench-token"
AUDIT_HEADER = "x-calfrules-audit-id"
CASE_COUNT = 500
SEED = 12


@dataclass
class System:
    """One ``calfrules serve`` under test."""

    audit: bool
    workers: int
    folder: Path
    baseline: str | None = None  # a copy of an older calfrules to run instead (put first on PYTHONPATH)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    audit_ids: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        version = "" if self.baseline is None else "version=before "
        return f"{version}audit={'sqlite' if self.audit else 'off'} workers={self.workers}"

    @property
    def audit_url(self) -> str:
        version = "" if self.baseline is None else "-before"
        return f"sqlite:///{self.folder / f'audit-{self.workers}{version}.sqlite3'}"

    def start(self) -> None:
        self.port = _free_port()
        audit = ["--audit", self.audit_url] if self.audit else ["--no-audit"]
        command = [sys.executable, "-m", "calfrules", "serve", "--port", str(self.port), *audit]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        env = {**os.environ, "CALFRULES_TOKEN": TOKEN}
        if self.baseline is not None:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [self.baseline, os.environ.get("PYTHONPATH")]))
        self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)
        _wait_ready(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=60)

    def cpu_seconds(self) -> tuple[dict[int, float], dict[int, float]]:
        """CPU time so far of the server processes and of their engine children, by pid (Linux)."""
        assert self.process is not None
        servers = [self.process.pid]
        if self.workers > 1:  # the supervisor's children: the workers (and multiprocessing's helper)
            servers += _children(self.process.pid)
        engine_parents = servers[1:] if self.workers > 1 else servers
        engines = [child for server in engine_parents for child in _children(server)]
        return {pid: process_cpu_s(pid) for pid in servers}, {pid: process_cpu_s(pid) for pid in engines}

    def records(self) -> int:
        from calfrules.audit import open_audit

        with open_audit(self.audit_url) as store:
            return store.count()


@dataclass
class Figures:
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: int = 0
    unaudited: int = 0
    server_cpu: float = 0.0  # seconds, over the requests measured
    engine_cpu: float = 0.0


class KeepAliveConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection (httptools' parser); ``send`` writes a prepared
    request and waits for its answer: the status, the headers (names in lower case) and the
    body. Used here and by the cluster's load generator (scripts/cluster/loadgen.py)."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.pending: asyncio.Future[tuple[int, dict[str, str], bytes]] | None = None
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transport is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("the other end closed the connection"))

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.pending is not None and not self.pending.done():
            self.pending.set_result((self.parser.get_status_code(), self.headers, b"".join(self.body)))

    def _fail(self, exc: Exception) -> None:
        if self.pending is not None and not self.pending.done():
            self.pending.set_exception(exc)

    async def send(self, payload: bytes) -> tuple[int, dict[str, str], bytes]:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("the connection is closed")
        self.pending = asyncio.get_running_loop().create_future()
        self.headers, self.body = {}, []
        self.transport.write(payload)
        return await self.pending


def prepared_requests(port: int) -> list[bytes]:
    engine = load_engine(isolation="none", allow=builtin_plugins())
    try:
        cases = generate_cases(engine.vocabulary, CASE_COUNT, SEED, golden_findings(engine))
    finally:
        engine.close()
    requests = []
    for case in cases:
        body = json.dumps(case).encode()
        head = (
            f"POST /assess HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        requests.append(head.encode() + body)
    return requests


async def drive(system: System, connections: int, seconds: float, figures: Figures) -> None:
    """``connections`` clients, each sending one request after another for ``seconds``."""
    loop = asyncio.get_running_loop()
    requests = prepared_requests_for(system.port)
    opened = [await loop.create_connection(KeepAliveConnection, "127.0.0.1", system.port) for _ in range(connections)]
    deadline = time.perf_counter() + seconds

    async def client(number: int, connection: KeepAliveConnection) -> None:
        sent = number * 7
        while time.perf_counter() < deadline:
            payload = requests[sent % len(requests)]
            sent += 1
            started = time.perf_counter()
            try:
                status, headers, _ = await connection.send(payload)
                audit_id = headers.get(AUDIT_HEADER)
            except (ConnectionError, httptools.HttpParserError):
                figures.errors += 1
                return
            figures.latencies.append(time.perf_counter() - started)
            if status != 200:
                figures.errors += 1
            elif system.audit and audit_id is None:
                figures.unaudited += 1
            elif audit_id is not None:
                system.audit_ids.add(audit_id)

    cpu_before = system.cpu_seconds()
    started = time.perf_counter()
    await asyncio.gather(*(client(n, protocol) for n, (_, protocol) in enumerate(opened)))
    figures.seconds += time.perf_counter() - started
    cpu_after = system.cpu_seconds()
    figures.server_cpu += _spent(cpu_before[0], cpu_after[0])
    figures.engine_cpu += _spent(cpu_before[1], cpu_after[1])
    for transport, _ in opened:
        transport.close()


_PREPARED: dict[int, list[bytes]] = {}


def prepared_requests_for(port: int) -> list[bytes]:
    if port not in _PREPARED:
        _PREPARED[port] = prepared_requests(port)
    return _PREPARED[port]


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] if ordered else 0.0


def figure_line(system: System, connections: int, figures: Figures) -> str:
    count = len(figures.latencies)
    rate = count / figures.seconds if figures.seconds else 0.0
    p50, p99 = (percentile(figures.latencies, fraction) * 1000 for fraction in (0.50, 0.99))
    per_request = 1e6 / count if count else 0.0
    return (
        f"serve-bench: {system.label} connections={connections} requests_per_s={rate:.0f} "
        f"p50_ms={p50:.1f} p99_ms={p99:.1f} "
        f"requests={count} errors={figures.errors} unaudited={figures.unaudited} "
        f"server_cpu_us={figures.server_cpu * per_request:.0f} engine_cpu_us={figures.engine_cpu * per_request:.0f}"
    )


async def run(systems: Sequence[System], levels: Sequence[int], seconds: float, rounds: int) -> dict[str, Figures]:
    results: dict[str, Figures] = {}
    for system in systems:  # warm up: first requests load caches and start engine children
        await drive(system, max(levels), min(2.0, seconds), Figures())
    for _ in range(rounds):
        for connections in levels:
            for system in systems:
                key = f"{system.label}|{connections}"
                await drive(system, connections, seconds, results.setdefault(key, Figures()))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one measurement (default 5)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    parser.add_argument("--connections", default="1,10,50", help="connection counts (default 1,10,50)")
    parser.add_argument("--workers", default="1", help="worker counts to compare, e.g. 1,2 (default 1)")
    parser.add_argument("--audit", default="on,off", help="audit settings to measure: on, off or on,off (default)")
    parser.add_argument(
        "--before",
        metavar="FOLDER",
        help="also measure, interleaved, the calfrules package found in FOLDER (a copy of an older version, "
        "with plugins/ and rulesets/ inside it as calfrules/plugins and calfrules/rulesets); its lines say "
        "version=before",
    )
    args = parser.parse_args(argv)
    levels = [int(n) for n in args.connections.split(",")]
    worker_counts = [int(n) for n in args.workers.split(",")]
    chosen = [a.strip() for a in args.audit.split(",")]
    if not chosen or not set(chosen) <= {"on", "off"}:
        parser.error(f"--audit {args.audit}: give on, off or on,off")
    audits = [a == "on" for a in chosen]
    if args.before is not None and not (Path(args.before) / "calfrules" / "__init__.py").is_file():
        parser.error(f"--before {args.before}: no calfrules package in that folder")
    versions: list[str | None] = [None] if args.before is None else [os.path.abspath(args.before), None]
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # through the finally below: the servers stop too
    with tempfile.TemporaryDirectory() as folder:
        systems = [
            System(audit, workers, Path(folder), version)
            for workers in worker_counts
            for audit in audits
            for version in versions
        ]
        cpu_started = time.process_time()
        load_at_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        try:
            for system in systems:
                system.start()
            results = asyncio.run(run(systems, levels, args.seconds, args.rounds))
        finally:
            for system in systems:
                system.stop()
        cpu = time.process_time() - cpu_started
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        total = sum(len(f.latencies) for f in results.values())
        for connections in levels:
            for system in systems:
                print(figure_line(system, connections, results[f"{system.label}|{connections}"]), flush=True)
        for system in systems:
            if system.audit:  # every id answered must be a record in the trail
                found = system.records()
                answered = len(system.audit_ids)
                print(f"serve-bench: {system.label} audit_ids_answered={answered} records={found}")
        print(
            f"serve-bench: client CPU {cpu / max(total, 1) * 1e6:.0f} us per request; load average "
            f"{load_at_start:.1f} at the start, {load:.1f} at the end; {os.cpu_count()} CPUs",
            file=sys.stderr,
        )


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(1)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as children:
                found += [int(child) for child in children.read().split()]
    except OSError:  # not Linux, or the process has just ended
        return []
    return found


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process so far (all its threads); 0 when unknown."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent meanwhile by the processes there both times (a child replaced meanwhile is left out)."""
    return sum(after[pid] - before[pid] for pid in before.keys() & after.keys())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_ready(port: int, process: subprocess.Popen[bytes], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"serve-bench: calfrules serve exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"serve-bench: calfrules serve did not answer /health within {seconds:g} s")


if __name__ == "__main__":
    main()
