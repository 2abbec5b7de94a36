"""The cluster's processes on loopback: PostgreSQL, calfrules serve instances, HAProxy."""

from __future__ import annotations

import csv
import glob
import io
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from haproxy_config import render

from calfrules.knowledge.builtin import BUILTIN_PLUGINS
from calfrules.tooling.serve_bench import process_cpu_s

POSTGRES_URL_ENV = "CALFRULES_TEST_POSTGRES_URL"


class ClusterError(Exception):
    """The cluster could not be set up; the message says what is missing."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until(condition: Callable[[], object], what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise ClusterError(f"not within {seconds:g} s: {what}")
        time.sleep(0.1)


def private_file(path: Path, text: str) -> Path:
    """A secret in a file only its owner reads: secrets never go on a command line."""
    path.touch(mode=0o600)
    path.write_text(text + "\n", encoding="utf-8")
    return path


# --- PostgreSQL ---------------------------------------------------------------------------
@contextmanager
def postgres(folder: Path) -> Iterator[str]:
    """A fresh, empty database: on $CALFRULES_TEST_POSTGRES_URL's server, else on a private server."""
    given = os.environ.get(POSTGRES_URL_ENV)
    if given:
        with _fresh_database(given) as url:
            yield url
        return
    with _private_server() as admin_url, _fresh_database(admin_url) as url:
        yield url


@contextmanager
def _fresh_database(url: str) -> Iterator[str]:
    """A new database on that server (the audit tests' database may hold records already)."""
    import psycopg

    name = f"calfrules_cluster_{secrets.token_hex(4)}"
    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f"CREATE DATABASE {name}")
    except psycopg.Error as exc:
        raise ClusterError(f"cannot create a database on {parts.hostname}:{parts.port}: {exc}") from None
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _postgres_bin() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name.split(".")[0]))
    if not versions:
        raise ClusterError(
            f"no PostgreSQL: set ${POSTGRES_URL_ENV} to a server, or install one (apt-get install postgresql)"
        )
    return Path(versions[-1])


@contextmanager
def _private_server() -> Iterator[str]:
    """A throwaway PostgreSQL server on a loopback port, as .ci/run starts one; removed afterwards."""
    bin_dir = _postgres_bin()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="calfrules-cluster-pg-"))  # reachable by the postgres user
    password = secrets.token_hex(12)
    port = free_port()
    data = folder / "data"

    def run(*args: str) -> None:
        subprocess.run([*as_postgres, *args], check=True, capture_output=True, cwd="/")

    try:
        private_file(folder / "pw", password)
        if as_postgres:
            shutil.chown(folder, "postgres")
            shutil.chown(folder / "pw", "postgres")
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", "calfrules", f"--pwfile={folder / 'pw'}",
            "--auth=scram-sha-256", "-E", "UTF8")  # fmt: skip
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w",
            "-o", f"-h 127.0.0.1 -p {port} -k {folder}", "start")  # fmt: skip
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise ClusterError(f"could not start PostgreSQL: {exc.stderr.decode(errors='replace').strip()}") from None
    try:
        yield f"postgresql://calfrules:{password}@127.0.0.1:{port}/postgres"
    finally:
        try:
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(folder, ignore_errors=True)


# --- calfrules serve ----------------------------------------------------------------------
@dataclass
class Instance:
    """One `calfrules serve` process; its name is HAProxy's server name for it."""

    name: str
    folder: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.folder / f"serve-{self.name}.log"

    def start(self, token_file: Path, audit_url_file: Path) -> None:
        self.port = free_port()
        env = {key: value for key, value in os.environ.items() if key not in ("CALFRULES_TOKEN", "CALFRULES_AUDIT")}
        env["CALFRULES_PLUGINS"] = ",".join(BUILTIN_PLUGINS)  # the built-in plugins, as the expected levels
        command = [sys.executable, "-m", "calfrules", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                   "--token-file", str(token_file), "--audit-url-file", str(audit_url_file)]  # fmt: skip
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    def wait_ready(self) -> None:
        wait_until(self._healthy, f"instance {self.name} answers /health (see {self.log})")

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise ClusterError(f"instance {self.name} exited with {self.process.returncode}: see {self.log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def cpu_seconds(self) -> float:
        """CPU time so far of this instance and its engine children (Linux /proc; 0 when gone)."""
        if self.process is None:
            return 0.0
        return sum(process_cpu_s(pid) for pid in _tree(self.process.pid))

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, as a crashed or powered-off machine."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _tree(pid: int) -> list[int]:
    found = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as children:
                found += [p for child in children.read().split() for p in _tree(int(child))]
    except OSError:  # ended meanwhile
        pass
    return found


# --- HAProxy ------------------------------------------------------------------------------
class Balancer:
    """HAProxy (Debian's package) in front of the instances, configured from the deploy template."""

    def __init__(self, folder: Path, instances: list[Instance], post_retry_on: str) -> None:
        if shutil.which("haproxy") is None:
            raise ClusterError("no haproxy on PATH: apt-get install haproxy")
        self.folder = folder
        self.port = free_port()
        self.single_port = free_port()
        self.socket_path = folder / "haproxy.sock"
        self.config = folder / "haproxy.cfg"
        self.log = folder / "haproxy.log"
        self.config.write_text(
            render(
                [(i.name, f"127.0.0.1:{i.port}") for i in instances],
                bind=f"127.0.0.1:{self.port}",
                single_bind=f"127.0.0.1:{self.single_port}",
                stats_socket=str(self.socket_path),
                rendering="rendering for scripts/cluster/run_cluster.py (loopback)",
                post_retry_on=post_retry_on,
            ),
            encoding="utf-8",
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        check = subprocess.run(["haproxy", "-c", "-q", "-f", str(self.config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise ClusterError(f"haproxy refuses {self.config}: {check.stderr.strip()}")
        with open(self.log, "ab") as log:
            # -db: foreground, the request log on standard output
            self.process = subprocess.Popen(["haproxy", "-db", "-f", str(self.config)], stdout=log, stderr=log)
        wait_until(lambda: self.socket_path.exists(), f"haproxy started (see {self.log})", seconds=20)

    def wait_all_up(self, names: list[str]) -> None:
        wait_until(lambda: all(self.server_status(n) == "UP" for n in names), "HAProxy sees every instance UP")

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX) as connection:
            connection.connect(str(self.socket_path))
            connection.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def stats(self) -> list[dict[str, str]]:
        text = self.command("show stat").lstrip("# ")
        return list(csv.DictReader(io.StringIO(text)))

    def server_status(self, name: str, backend: str = "assess") -> str:
        rows = [r for r in self.stats() if r["pxname"] == backend and r["svname"] == name]
        return rows[0]["status"] if rows else "absent"

    def retries(self) -> tuple[int, int]:
        """(retries, redispatches) of the POST backend, from the stats socket."""
        row = next(r for r in self.stats() if r["pxname"] == "assess" and r["svname"] == "BACKEND")
        return int(row["wretr"] or 0), int(row["wredis"] or 0)

    def request_log(self) -> list[dict[str, str]]:
        """Each request line of HAProxy's log as key=value pairs."""
        entries = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("req="):
                entries.append(dict(part.split("=", 1) for part in line.split() if "=" in part))
        return entries

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
