"""The channel between the parent and an engine child (see isolation.py): two pipes, one
each way, carrying messages of a 4-byte length and a body, read and written with plain
``os.read``/``os.write`` (a pipe costs about 2 us less per side and round trip than a socket);
and the core the child runs on (``current_cpu``, ``pin``), so a message wakes it next to its caller.
"""

from __future__ import annotations

import ctypes
import marshal
import os
import pickle
import select
import struct
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

READ_SIZE = 1 << 16
_LENGTH = struct.Struct(">I")  # a message's length, before its body


class Channel:
    """One end of the channel between parent and child: messages of a 4-byte length and a
    body, with plain ``os.read``/``os.write`` (one write and, for an answer, one read per
    message: multiprocessing's Connection reads the length and the body separately)."""

    def __init__(self, reader: int, writer: int) -> None:
        self.reader = reader
        self.writer = writer
        self._buffer = b""  # read but not yet taken: the start of the next message(s)
        self._poller = select.poll()
        self._poller.register(reader, select.POLLIN)

    def send(self, body: bytes) -> None:
        data = _LENGTH.pack(len(body)) + body
        written = os.write(self.writer, data)
        if written < len(data):  # only a message larger than the pipe's buffer
            rest = memoryview(data)[written:]
            while rest:
                rest = rest[os.write(self.writer, rest) :]

    def receive(self, timeout: float | None = None) -> bytes:
        """The next message; EOFError when the other end has closed, TimeoutError past ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (body := self._take()) is None:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not self._poller.poll(left * 1000):  # readable, or hung up: read tells which
                    raise TimeoutError
            chunk = os.read(self.reader, READ_SIZE)
            if not chunk:
                raise EOFError
            self._buffer += chunk
        return body

    def _take(self) -> bytes | None:
        buffer = self._buffer
        if len(buffer) < 4:
            return None
        end = 4 + _LENGTH.unpack_from(buffer)[0]
        if len(buffer) < end:
            return None
        self._buffer = buffer[end:]
        return buffer[4:end]

    def close(self) -> None:
        for fd in (self.reader, self.writer):
            with suppress(OSError):
                os.close(fd)


def channel_pair() -> tuple[Channel, Channel]:
    """Both ends of a new channel: (the parent's, the child's)."""
    down_reader, down_writer = os.pipe()
    up_reader, up_writer = os.pipe()
    return Channel(up_reader, down_writer), Channel(down_reader, up_writer)


def encode(value: Any) -> bytes:
    """marshal (quick) for plain values; pickle for anything else a plugin's score may hold."""
    try:
        return b"m" + marshal.dumps(value)
    except ValueError:
        return b"p" + pickle.dumps(value)


def decode(data: bytes) -> object:
    return marshal.loads(data[1:]) if data[:1] == b"m" else pickle.loads(data[1:])


# Where the child runs. Before each exchange the parent pins its child to the CPU the calling
# thread is on (again only when that changes; the caller's own affinity is never touched: we
# are a library in someone else's process). The caller then sleeps while the child works, so
# the two share that core's warm caches, and each wakes the other on it: on the 2-core test
# machine, waking a process on the idle other core cost more than the rest of the exchange
# (isolated 1.8-2.0x in-process unpinned). In a service, each request thread has its own
# child from the pool, and the scheduler spreads those threads over the cores: each child
# follows its thread, so children share cores only when their callers do. Where pinning is
# refused or unknown (a cpuset, a sandbox, not Linux) the child runs where the scheduler puts it.
def _cpu_reader() -> Callable[[], int] | None:
    """libc's ``sched_getcpu`` (Linux; about 0.4 us through ctypes), or None where there is none."""
    if not sys.platform.startswith("linux") or not hasattr(os, "sched_setaffinity"):
        return None
    try:
        reader = ctypes.CDLL(None).sched_getcpu
    except (OSError, AttributeError):
        return None
    reader.restype = ctypes.c_int
    reader.argtypes = []
    return reader


_read_cpu = _cpu_reader()


def current_cpu() -> int | None:
    """The CPU the calling thread is running on now, or None where that cannot be known."""
    if _read_cpu is None:
        return None
    cpu = _read_cpu()
    return cpu if cpu >= 0 else None


def pin(pid: int, cpu: int) -> bool:
    """Let process ``pid`` run on ``cpu`` only; False (and nothing changed) if the system refuses
    (a CPU outside the process's cpuset, a sandbox that forbids it, a process that has ended)."""
    try:
        os.sched_setaffinity(pid, {cpu})
    except (OSError, ValueError, AttributeError):
        return False
    return True
