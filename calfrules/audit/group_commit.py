"""One writer thread with group commit: the queued writes of many threads, one transaction.

With one transaction per record, 50 threads queue on SQLite's write lock (busy_timeout
sleeps in steps of up to 100 ms): p99 of seconds and half the throughput. Here every
write is handed to one thread, which takes whatever has queued up meanwhile, runs it in
one transaction and commits once (a backend retries a batch with one refused write
write by write, so the refusal leaves the others). Each caller waits for its own write's commit or its failure:
"recorded before answered, or flagged" holds.
"""

from __future__ import annotations

import fcntl
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MAX_BATCH = 256
Work = Callable[..., Any]
# a backend's batch: runs each work and commits once; per work (True, result) or (False, error).
# It raises for a failure of the whole batch (every caller then gets that error).
WriteBatch = Callable[[Sequence[Work]], list[tuple[bool, Any]]]


class _Write:
    """One queued write and its outcome; the caller blocks on ``done`` (a plain lock, held
    until the outcome is in: one futex wake per write, where a Future's Condition costs several)."""

    __slots__ = ("done", "ok", "value", "work")

    def __init__(self, work: Work) -> None:
        self.work = work
        self.done = threading.Lock()
        self.done.acquire()
        self.ok = False
        self.value: Any = None

    def settle(self, ok: bool, value: Any) -> None:
        self.ok, self.value = ok, value
        self.done.release()

    def outcome(self) -> Any:
        self.done.acquire()
        if self.ok:
            return self.value
        raise self.value


class GroupCommitWriter:
    """Started on the first write; ``close`` finishes what is queued, then ends the thread."""

    def __init__(self, write_batch: WriteBatch, name: str) -> None:
        self._write_batch = write_batch
        self._name = name
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, work: Work) -> Any:
        """Run ``work`` in the next batch; its result once committed, else its (or the batch's) error."""
        write = _Write(work)
        with self._lock:
            if self._closed:
                raise RuntimeError("the audit writer is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            self._queue.put(write)
        return write.outcome()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread = self._thread
            self._queue.put(None)
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._run(batch)
            if stop:
                return

    def _run(self, batch: list[_Write]) -> None:
        try:
            outcomes = self._write_batch([write.work for write in batch])
        except BaseException as exc:  # the whole batch failed: every caller hears it
            for write in batch:
                write.settle(False, exc)
            if not isinstance(exc, Exception):
                raise
            return
        for write, (ok, value) in zip(batch, outcomes, strict=True):
            write.settle(ok, value)


class WritersTurn:
    """Processes writing one file take turns through an ``flock`` on a file beside it.

    Without it, group-committing processes (``serve --workers 2``) meet on SQLite's write
    lock, whose busy handler sleeps 1, 2, 5, 10... ms between tries (two processes of 25
    writing threads each: p99 114-340 ms a record; with turns, about 50 ms and a fifth more
    records a second). A blocked ``flock`` wakes as soon as the other process lets go, and
    meanwhile this process's queue grows into a bigger batch.
    It only orders writers: SQLite's own locking keeps the file consistent, so a lock file
    that cannot be made (a read-only folder) or two processes holding different lock
    files (one made after the folder was deleted) cost speed, never records. A process
    that stops while holding the turn holds SQLite's write lock too; when it is killed
    the kernel releases both.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @contextmanager
    def __call__(self) -> Iterator[None]:
        fd = self._open()
        if fd is None:
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)  # lets go of the GIL while it waits
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _open(self) -> int | None:
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                return None  # tried again at the next batch
        return self._fd

    def reopen(self) -> None:
        """After the trail was replaced: take turns on the lock file beside the new one."""
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
