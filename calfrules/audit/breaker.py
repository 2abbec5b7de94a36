"""A circuit breaker: while a database is down, writes fail at once instead of each waiting.

After a connection failure the breaker opens: calls are refused without trying for a
cool-down (0.5 s, doubling to at most 2 s while failures go on). Then one call is let
through to try; its success closes the breaker, its failure opens it again. So an outage
costs an answer no wait beyond the one trial's, and recording resumes on its own.
"""

from __future__ import annotations

import threading
import time

FIRST_COOL_DOWN_S = 0.5
LONGEST_COOL_DOWN_S = 2.0


class CircuitBreaker:
    def __init__(self, first: float = FIRST_COOL_DOWN_S, longest: float = LONGEST_COOL_DOWN_S) -> None:
        self._first = first
        self._longest = longest
        self._lock = threading.Lock()
        self._cool_down = 0.0
        self._retry_at = 0.0
        self.reason: str | None = None  # the last failure while open; None when closed

    @property
    def is_open(self) -> bool:
        return self.reason is not None

    def allow(self) -> bool:
        """True when a call may try: the breaker is closed, or this call is the one trial after a cool-down."""
        with self._lock:
            if self.reason is None:
                return True
            now = time.monotonic()
            if now < self._retry_at:
                return False
            self._retry_at = now + self._cool_down  # the others keep failing fast while this one tries
            return True

    def succeeded(self) -> None:
        with self._lock:
            self.reason, self._cool_down, self._retry_at = None, 0.0, 0.0

    def failed(self, reason: str) -> None:
        with self._lock:
            self._cool_down = min(self._longest, self._cool_down * 2 if self.reason else self._first)
            self._retry_at = time.monotonic() + self._cool_down
            self.reason = reason

    def seconds_to_retry(self) -> float:
        with self._lock:
            return max(0.0, self._retry_at - time.monotonic()) if self.reason else 0.0
