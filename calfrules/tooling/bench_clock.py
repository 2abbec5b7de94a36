"""The bench's clock for process-isolated work: this process's CPU time plus its children's."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

Step = Callable[[int], dict[str, int]]  # runs case i; returns what it timed, in nanoseconds, by name


class ChildClock:
    """CPU time of this process plus that of its children started after this clock (Linux).

    An isolated engine does its work in child processes: their CPU counts as much as
    ours. Each known child's CPU clock is read directly by pid (clock_getcpuclockid); the
    search for children (a walk of /proc) is done by ``watch``, outside any timed region, so
    it never lands in a measurement. Where CPU clocks cannot be read the clock is
    wall-clock and ``kind`` says so.
    """

    def __init__(self) -> None:
        self.before = set(_child_pids())
        self.kind = "cpu" if self._readable() else "wall"
        self.known: tuple[int, ...] = ()

    def _readable(self) -> bool:
        try:
            time.clock_gettime_ns(_cpu_clock(os.getpid()))
        except (OSError, AttributeError, OverflowError):
            return False
        return Path("/proc/self/task").is_dir()

    def watch(self) -> tuple[int, ...]:
        """Looks for children started since this clock was made; returns the ones new since the last look."""
        if self.kind == "wall":
            return ()
        seen = set(self.known)
        self.known = tuple(pid for pid in _child_pids() if pid not in self.before)
        return tuple(pid for pid in self.known if pid not in seen)

    def child_cpu(self, pids: Sequence[int]) -> int:
        total = 0
        for pid in pids:
            try:
                total += time.clock_gettime_ns(_cpu_clock(pid))
            except OSError:  # the child has ended and been reaped
                pass
        return total

    def now(self) -> int:
        """This process's CPU plus that of the children ``watch`` last found: no search here."""
        if self.kind == "wall":
            return time.perf_counter_ns()
        return time.process_time_ns() + self.child_cpu(self.known)

    def timed(self, name: str, run: Callable[[int], object]) -> Step:
        """Like ``timed``, counting the children's CPU; a child born during the run adds all of its CPU."""

        def step(i: int) -> dict[str, int]:
            start = self.now()
            run(i)
            spent = self.now() - start
            born = self.watch()  # after the last reading: the search is not timed
            return {name: spent + self.child_cpu(born)}

        self.watch()
        return step


def _cpu_clock(pid: int) -> int:
    return ((~pid) << 3) | 2  # Linux's MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)


def _child_pids() -> list[int]:
    """The children of every thread of this process, from /proc (plain os calls: pathlib's glob
    took 60 us here, and the search runs between two timed cases, cooling their caches)."""
    pids: list[int] = []
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return pids
    for task in tasks:
        try:
            fd = os.open(f"/proc/self/task/{task}/children", os.O_RDONLY)
        except OSError:  # the thread has ended
            continue
        try:
            listed = b""
            while chunk := os.read(fd, 4096):
                listed += chunk
        except OSError:
            continue
        finally:
            os.close(fd)
        pids.extend(map(int, listed.split()))
    return pids
