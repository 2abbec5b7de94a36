"""Run plugin scores and the durable_rules engine in a child process.

durable_rules' C core holds the GIL: a hang inside it freezes every thread of the
process, and a segfault ends it; a plugin's deriver may sleep or loop. In the child,
each is contained: the parent waits at most ``timeout`` seconds, kills the child,
raises EngineFault (the engine then fails safe) and starts a fresh child.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any

from calfrules.engine.pipeline import Pipeline, RunOutput
from calfrules.rules.errors import EngineFault
from calfrules.rules.vocabulary import Value

DEFAULT_TIMEOUT_S = 5.0


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """A child must not outlive its parent (killed by a signal, it runs no clean-up)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(0)


def _serve(conn: Connection, parent_end: Connection, parent_pid: int, pipeline: Pipeline) -> None:
    _die_with_parent(parent_pid)
    parent_end.close()  # inherited by fork: closing it lets recv() see EOF when the parent goes
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        try:
            conn.send(("ok", pipeline.run(request)))
        except Exception as exc:  # reported to the parent, which fails safe
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class IsolatedRunner:
    """Same interface as DurableRunner; the work happens in a forked child process."""

    def __init__(self, pipeline: Pipeline, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.pipeline = pipeline
        self.timeout = timeout
        self._lock = threading.Lock()
        self._child: Any = None
        self._conn: Connection | None = None
        self.restarts = 0

    def _ensure_child(self) -> Connection:
        if self._conn is None or self._child is None or not self._child.is_alive():
            self._stop()
            context = multiprocessing.get_context("fork")
            parent, child = context.Pipe()
            process = context.Process(target=_serve, args=(child, parent, os.getpid(), self.pipeline), daemon=True)
            process.start()
            child.close()
            self._child, self._conn = process, parent
        return self._conn

    def warm_up(self) -> None:
        with self._lock:
            self._ensure_child()

    def run(self, findings: Mapping[str, Value]) -> RunOutput:
        with self._lock:
            conn = self._ensure_child()
            try:
                conn.send(dict(findings))
                if not conn.poll(self.timeout):
                    self._restart()
                    raise EngineFault(f"the rule engine did not answer within {self.timeout:g} s and was restarted")
                status, payload = conn.recv()
            except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
                code = self._child.exitcode if self._child is not None else None
                self._restart()
                raise EngineFault(f"the rule engine process died (exit code {code}) and was restarted") from None
            if status != "ok":
                raise EngineFault(str(payload))
            output: RunOutput = payload
            return output

    def _restart(self) -> None:
        self.restarts += 1
        self._stop()

    def _stop(self) -> None:
        if self._child is not None:
            if self._child.is_alive():
                self._child.kill()
            self._child.join(timeout=5)
        if self._conn is not None:
            self._conn.close()
        self._child = None
        self._conn = None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._child is not None and self._child.is_alive():
                try:
                    self._conn.send(None)
                    self._child.join(timeout=1)
                except OSError:
                    pass
            self._stop()
