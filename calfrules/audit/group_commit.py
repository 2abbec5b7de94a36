"""One writer thread with group commit: the queued writes of many threads, one transaction.

With one transaction per record, 50 threads queue on SQLite's write lock (busy_timeout
sleeps in steps of up to 100 ms): p99 of seconds and half the throughput. Here every
write is handed to one thread, which takes whatever has queued up meanwhile, runs it in
one transaction and commits once (a backend retries a batch with one refused write
write by write, so the refusal leaves the others). Each caller waits for its own write's commit or its failure:
"recorded before answered, or flagged" holds.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

MAX_BATCH = 256
Work = Callable[..., Any]
# a backend's batch: runs each work and commits once; per work (True, result) or (False, error).
# It raises for a failure of the whole batch (every caller then gets that error).
WriteBatch = Callable[[Sequence[Work]], list[tuple[bool, Any]]]


class GroupCommitWriter:
    """Started on the first write; ``close`` finishes what is queued, then ends the thread."""

    def __init__(self, write_batch: WriteBatch, name: str) -> None:
        self._write_batch = write_batch
        self._name = name
        self._queue: queue.SimpleQueue[tuple[Work, Future[Any]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, work: Work) -> Any:
        """Run ``work`` in the next batch; its result once committed, else its (or the batch's) error."""
        done: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the audit writer is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            self._queue.put((work, done))
        return done.result()

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

    def _run(self, batch: list[tuple[Work, Future[Any]]]) -> None:
        try:
            outcomes = self._write_batch([work for work, _ in batch])
        except BaseException as exc:  # the whole batch failed: every caller hears it
            for _, done in batch:
                done.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, done), (ok, value) in zip(batch, outcomes, strict=True):
            if ok:
                done.set_result(value)
            else:
                done.set_exception(value)
