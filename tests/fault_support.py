"""Shared pieces of the fault tests: a throwaway PostgreSQL cluster one can stop and start, waiting for conditions."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PASSWORD = "calfrules-faults"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(condition: Callable[[], object], what: str, seconds: float = 30.0) -> None:
    """Poll ``condition`` until it is true; a generous deadline, never a speed assertion."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:g} s: {what}")
        time.sleep(0.05)


def _postgres_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: [int(x) for x in Path(p).parent.name.split(".") if x.isdigit()],
    )
    return Path(versions[-1]) if versions else None


class PostgresCluster:
    """A private PostgreSQL server in a temporary folder, on a loopback port, stopped and started at will."""

    def __init__(self, folder: Path, bin_dir: Path) -> None:
        self.folder = folder
        self.bin = bin_dir
        self.port = free_port()
        self.url = f"postgresql://calfrules:{PASSWORD}@127.0.0.1:{self.port}/calfrules_faults"
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_postgres, *args], check=True, capture_output=True, cwd="/")

    def create(self) -> None:
        if self._as_postgres:
            shutil.chown(self.folder, "postgres")
        (self.folder / "pw").write_text(PASSWORD + "\n")
        if self._as_postgres:
            shutil.chown(self.folder / "pw", "postgres")
        self._run(
            str(self.bin / "initdb"), "-D", str(self.folder / "data"), "-U", "calfrules",
            f"--pwfile={self.folder / 'pw'}", "--auth=scram-sha-256", "-E", "UTF8",
        )  # fmt: skip
        self.start()
        import psycopg

        admin = self.url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute("CREATE DATABASE calfrules_faults")

    def start(self) -> None:
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-l", str(self.folder / "log"), "-w",
            "-o", f"-h 127.0.0.1 -p {self.port} -k {self.folder}", "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    bin_dir = _postgres_bin()
    if bin_dir is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        if IN_CI:
            pytest.fail(
                "no PostgreSQL binaries (initdb, pg_ctl): .ci/run installs them so these tests never skip in CI"
            )
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl) to run a throwaway server")
    # not under pytest's tmp_path: the postgres user (when run as root) must be able to reach the folder
    folder = Path(tempfile.mkdtemp(prefix="calfrules-pg-"))
    cluster = PostgresCluster(folder, bin_dir)
    try:
        cluster.create()
        yield cluster
    finally:
        try:
            cluster.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(folder, ignore_errors=True)
