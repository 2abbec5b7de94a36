"""Run plugin scores and the durable_rules engine in a child process.

durable_rules' C core holds the GIL: a hang inside it freezes every thread of the
process, and a segfault ends it; a plugin's deriver may sleep or loop. In the child,
each is contained: the parent waits at most ``timeout`` seconds, kills the child,
raises EngineFault (the engine then fails safe) and starts a fresh child. An engine
keeps a small pool of children (up to one per core), so concurrent callers, such as the
service's request threads, are assessed in parallel rather than one after another.

How a child is started, and why:
- Forked, so it shares the compiled rules and the plugins' objects as they are (a plugin
  defined anywhere works; nothing has to be pickled or loaded again).
- Always by one long-lived launcher thread. Linux ties PR_SET_PDEATHSIG to the thread
  that forked, not to the process: a child forked by a server's worker thread was
  SIGKILLed as soon as the server retired that idle thread. The launcher never ends,
  so the signal comes only when the parent process ends.
- Holding none of the parent's descriptors: right after the fork the child closes every
  one but its pipe and stdout/stderr (stdin becomes /dev/null), so a server's listening
  socket, its client connections and the audit database are never kept open by a child
  (an idle keep-alive connection then gets its FIN when the server closes it).
  ``gc.freeze()`` first: the parent's objects copied into the child are never finalized
  there, so none of them closes a descriptor number the child has reused.

Where a child runs: on the CPU of the thread calling it, pinned before each exchange
(see ``child_channel.pin``): the caller sleeps while its child works, so the two share a
core instead of each waking the other on an idle one.
"""

from __future__ import annotations

import ctypes
import gc
import os
import queue
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from contextlib import suppress
from typing import TypeVar

from calfrules.engine.child_channel import Channel, channel_pair, current_cpu, decode, encode, pin
from calfrules.engine.pipeline import Pipeline, RunOutput
from calfrules.rules.errors import EngineFault
from calfrules.rules.vocabulary import Value

DEFAULT_TIMEOUT_S = 5.0
BATCH = 64  # cases per round trip in batch work: a crash costs at most a re-send of these
T = TypeVar("T")

_PR_SET_PDEATHSIG = 1
_STDOUT, _STDERR = 1, 2


# --- the launcher thread ------------------------------------------------------------
class _Launcher:
    """The one thread of this process that forks engine children; it never ends."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._jobs: queue.SimpleQueue[tuple[Callable[[], object], Future[object]]] = queue.SimpleQueue()
        threading.Thread(target=self._loop, name="calfrules-engine-launcher", daemon=True).start()

    def _loop(self) -> None:
        while True:
            job, done = self._jobs.get()
            try:
                done.set_result(job())
            except BaseException as exc:  # handed to the caller, who re-raises it
                done.set_exception(exc)

    def call(self, job: Callable[[], T]) -> T:
        done: Future[object] = Future()
        self._jobs.put((job, done))
        result: T = done.result()  # type: ignore[assignment]
        return result


_launcher: _Launcher | None = None
_launcher_lock = threading.Lock()


def _on_launcher(job: Callable[[], T]) -> T:
    global _launcher
    with _launcher_lock:
        if _launcher is None or _launcher.pid != os.getpid():
            _launcher = _Launcher()
        launcher = _launcher
    return launcher.call(job)


def _forget_launcher_after_fork() -> None:
    """A forked process has no launcher thread (only the forking thread survives a fork)."""
    global _launcher, _launcher_lock
    _launcher, _launcher_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_launcher_after_fork)


# --- the child ----------------------------------------------------------------------
class _Child:
    """A forked engine child: its pid, and its exit code once it has been reaped."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.exitcode: int | None = None

    def is_alive(self) -> bool:
        return self._reap(os.WNOHANG) is None

    def kill(self) -> None:
        """SIGKILL (a hung C core ignores anything gentler) and reap, so no zombie is left."""
        if self.exitcode is None:
            with suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self._reap(0)

    def _reap(self, options: int) -> int | None:
        if self.exitcode is None:
            try:
                pid, status = os.waitpid(self.pid, options)
            except ChildProcessError:  # reaped by someone else (a SIGCHLD handler): gone all the same
                self.exitcode = -signal.SIGKILL
            else:
                if pid:
                    self.exitcode = os.waitstatus_to_exitcode(status)
        return self.exitcode


def _start_child(pipeline: Pipeline) -> tuple[_Child, Channel]:
    """Fork a child serving ``pipeline`` (called on the launcher thread only)."""
    parent_end, child_end = channel_pair()
    parent_pid = os.getpid()
    with suppress(AttributeError, OSError):  # the child starts on the CPUs of the main thread, not
        os.sched_setaffinity(0, os.sched_getaffinity(parent_pid))  # of whichever thread made the launcher
    try:
        pid = os.fork()
    except OSError:
        parent_end.close()
        child_end.close()
        raise
    if pid == 0:
        code = 1
        try:
            _become_engine_child((child_end.reader, child_end.writer), parent_pid)
            # build durable_rules' rulesets now, while the parent finishes its own work,
            # not when the first case is waiting; a failure here comes back with that case
            with suppress(Exception):
                pipeline.warm_up()
            _serve(child_end, pipeline)
            code = 0
        finally:
            os._exit(code)  # no clean-up of the parent's copied state
    child_end.close()
    return _Child(pid), parent_end


def _become_engine_child(pipes: tuple[int, int], parent_pid: int) -> None:
    gc.freeze()
    _keep_only(pipes)
    _die_with_parent(parent_pid)


def _keep_only(pipes: tuple[int, int]) -> None:
    """Close every inherited descriptor but the pipes, stdout and stderr; stdin reads /dev/null."""
    keep = {_STDOUT, _STDERR, *pipes}
    if 0 not in pipes:
        null = os.open(os.devnull, os.O_RDONLY)
        if null != 0:
            os.dup2(null, 0)  # null itself is closed below
        keep.add(0)
    low = 0
    for fd in sorted(keep):
        if fd > low:  # never an empty range: closerange(0, 0) closes everything above 0 (close_range(0, ~0))
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, _max_fd())


def _max_fd() -> int:
    with suppress(ValueError, OSError):
        return max(int(os.sysconf("SC_OPEN_MAX")), 256)
    return 65536


def _die_with_parent(parent_pid: int) -> None:
    """A child must not outlive its parent (killed by a signal, it runs no clean-up)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(0)


def _serve(channel: Channel, pipeline: Pipeline) -> None:
    """Answer each batch of cases with one message per case, in order, as each is done.

    An answer is plain values (rule indices, alternative numbers, score tuples): the
    parent rebuilds the firings from its own copy of the program, so what crosses the
    pipe does not grow with the rules' size."""
    while True:
        try:
            batch = decode(channel.receive())
        except EOFError:  # the parent closed its end or ended
            return
        for findings in batch:  # type: ignore[attr-defined]
            try:
                answer = encode(("ok", pipeline.run_compact(findings)))
            except Exception as exc:  # reported to the parent, which fails safe
                answer = encode(("error", f"{type(exc).__name__}: {exc}"))
            channel.send(answer)


# --- the parent's side --------------------------------------------------------------
def default_pool_size() -> int:
    """One engine child per CPU core this process may run on: more would only queue for the cores."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


class _Slot:
    """One engine child and its channel; used by one request at a time."""

    def __init__(self) -> None:
        self.child: _Child | None = None
        self.conn: Channel | None = None
        self.cpu: int | None = None  # the CPU the child was last pinned to (or refused)

    def ensure(self, pipeline: Pipeline) -> Channel:
        # a child that died idle is found here, not by a write: SIGPIPE kills a host that reset it
        if self.conn is None or self.child is None or not self.child.is_alive():
            self.stop()
            self.child, self.conn = _on_launcher(lambda: _start_child(pipeline))
        cpu = current_cpu()  # the child follows its caller's CPU (see the module's docstring)
        if cpu is not None and cpu != self.cpu:
            pin(self.child.pid, cpu)
            self.cpu = cpu  # refused or not: tried again only once the caller moves
        return self.conn

    def stop(self) -> None:
        if self.child is not None:
            self.child.kill()
        if self.conn is not None:
            self.conn.close()
        self.child, self.conn, self.cpu = None, None, None


class _Turn:
    """A caller's place in the queue for a child: the freed child is handed over in ``slot``."""

    __slots__ = ("ready", "slot")

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.slot: _Slot | None = None


class IsolatedRunner:
    """Same interface as DurableRunner; the work happens in forked child processes.

    A small pool: up to ``size`` children (default: one per core), each serving one case at
    a time, so concurrent callers (the service's request threads) are assessed in parallel.
    A second child is forked only when every child is busy, so a single-threaded caller
    keeps one. Each child is isolated, timed and replaced on its own.
    """

    def __init__(self, pipeline: Pipeline, timeout: float = DEFAULT_TIMEOUT_S, size: int | None = None) -> None:
        self.pipeline = pipeline
        self.timeout = timeout
        self.size = default_pool_size() if size is None else size
        if self.size < 1:
            raise ValueError(f"an engine needs at least one child process, not {self.size}")
        self._slots: list[_Slot] = []
        self._idle: list[_Slot] = []  # a stack: the child used last (warm) is used next
        self._waiting: deque[_Turn] = deque()  # callers waiting for a child, first come first served
        self._free = threading.Condition()
        self._closing = False  # close() waits on _free for every child to be idle
        self.restarts = 0

    @property
    def _child(self) -> _Child | None:
        """The first child (the one a single-threaded caller uses)."""
        return self._slots[0].child if self._slots else None

    def _acquire(self) -> _Slot:
        with self._free:
            if self._idle:  # callers wait only while no child is idle
                return self._idle.pop()
            if len(self._slots) < self.size:
                slot = _Slot()
                self._slots.append(slot)
                return slot
            turn = _Turn()
            self._waiting.append(turn)
        turn.ready.wait()
        assert turn.slot is not None
        return turn.slot

    def _release(self, slot: _Slot) -> None:
        # A freed child goes straight to the caller that has waited longest: were it put
        # back for anyone to take, the thread that just freed it could take it again
        # ahead of the others, and a waiting request could wait seconds (p99).
        with self._free:
            if self._waiting:
                turn = self._waiting.popleft()
                turn.slot = slot
                turn.ready.set()
                return
            self._idle.append(slot)
            if self._closing:
                self._free.notify_all()

    def warm_up(self) -> None:
        slot = self._acquire()
        try:
            slot.ensure(self.pipeline)
        finally:
            self._release(slot)

    def run(self, findings: Mapping[str, Value]) -> RunOutput:
        result = self.run_many([findings])[0]
        if isinstance(result, EngineFault):
            raise result
        return result

    def run_many(self, cases: Sequence[Mapping[str, Value]]) -> list[RunOutput | EngineFault]:
        """Several cases on one child, up to ``BATCH`` per round trip. Each case keeps its own
        time limit; one that hangs or kills the child gets an EngineFault (the engine fails safe
        for that case), and the cases after it go to a fresh child."""
        slot = self._acquire()
        try:
            results: list[RunOutput | EngineFault] = []
            for start in range(0, len(cases), BATCH):
                results.extend(self._run_on(slot, cases[start : start + BATCH]))
            return results
        finally:
            self._release(slot)

    def _run_on(self, slot: _Slot, cases: Sequence[Mapping[str, Value]]) -> list[RunOutput | EngineFault]:
        answers: list[tuple[str, object] | EngineFault] = []
        while len(answers) < len(cases):
            try:
                self._exchange(slot, cases[len(answers) :], answers)
            except EngineFault as fault:  # on the first case not answered
                answers.append(fault)
        return [
            answer
            if isinstance(answer, EngineFault)
            else self.pipeline.expand(answer[1], findings)  # type: ignore[arg-type]
            if answer[0] == "ok"
            else EngineFault(str(answer[1]))
            for answer, findings in zip(answers, cases, strict=True)
        ]

    def _exchange(
        self, slot: _Slot, cases: Sequence[Mapping[str, Value]], answers: list[tuple[str, object] | EngineFault]
    ) -> None:
        """Send the cases in one message; collect one answer each, within the time limit each."""
        conn = slot.ensure(self.pipeline)
        try:
            conn.send(encode([findings if type(findings) is dict else dict(findings) for findings in cases]))
            for _ in cases:
                try:
                    answer = conn.receive(self.timeout)
                except TimeoutError:
                    self._restart(slot)
                    raise EngineFault(
                        f"the rule engine did not answer within {self.timeout:g} s and was restarted"
                    ) from None
                answers.append(decode(answer))  # type: ignore[arg-type]
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
            child = slot.child
            if child is not None:
                child.kill()  # if it is still there; reaped either way, for its exit code
            code = child.exitcode if child is not None else None
            self._restart(slot)
            raise EngineFault(f"the rule engine process died (exit code {code}) and was restarted") from None

    def _restart(self, slot: _Slot) -> None:
        with self._free:
            self.restarts += 1
        slot.stop()  # the next use of this slot forks a fresh child

    def close(self) -> None:
        """End every child, once the cases they are assessing are answered."""
        with self._free:
            self._closing = True
            while len(self._idle) < len(self._slots):
                self._free.wait()
            slots, self._slots, self._idle = self._slots, [], []
        for slot in slots:
            slot.stop()
