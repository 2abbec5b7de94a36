"""The channel between the parent and an engine child (see isolation.py): one socket pair,
messages of a 4-byte length and a body, read and written with plain ``os.read``/``os.write``.
"""

from __future__ import annotations

import marshal
import os
import pickle
import select
import time
from contextlib import suppress
from typing import Any

READ_SIZE = 1 << 16


class Channel:
    """One end of the socket pair between parent and child: messages of a 4-byte length and
    a body, with plain ``os.read``/``os.write`` (one write and, for an answer, one read per
    message: multiprocessing's Connection reads the length and the body separately)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = b""  # read but not yet taken: the start of the next message(s)
        self._poller = select.poll()
        self._poller.register(fd, select.POLLIN)

    def send(self, body: bytes) -> None:
        data = memoryview(len(body).to_bytes(4, "big") + body)
        while data:
            data = data[os.write(self.fd, data) :]

    def receive(self, timeout: float | None = None) -> bytes:
        """The next message; EOFError when the other end has closed, TimeoutError past ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (body := self._take()) is None:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not self._poller.poll(left * 1000):  # readable, or hung up: read tells which
                    raise TimeoutError
            chunk = os.read(self.fd, READ_SIZE)
            if not chunk:
                raise EOFError
            self._buffer += chunk
        return body

    def _take(self) -> bytes | None:
        buffer = self._buffer
        if len(buffer) < 4:
            return None
        end = 4 + int.from_bytes(buffer[:4], "big")
        if len(buffer) < end:
            return None
        self._buffer = buffer[end:]
        return buffer[4:end]

    def close(self) -> None:
        with suppress(OSError):
            os.close(self.fd)


def encode(value: Any) -> bytes:
    """marshal (quick) for plain values; pickle for anything else a plugin's score may hold."""
    try:
        return b"m" + marshal.dumps(value)
    except ValueError:
        return b"p" + pickle.dumps(value)


def decode(data: bytes) -> object:
    return marshal.loads(data[1:]) if data[:1] == b"m" else pickle.loads(data[1:])
