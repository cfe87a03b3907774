"""A client-side sliding-window rate limiter shared by every thread of a run.

A request holds its slot from the moment it is sent until ``window`` seconds
after its response arrived. The server sees the request at some moment between
those two, so every request the server counts in its window, we counted too:
staying under the limit here means no 429 there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self,
        rpm: int,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self._clock = clock
        self._rpm = rpm
        self._done: list[float] = []  # response times of finished requests, oldest first
        self._in_flight = 0
        self._cond = threading.Condition()

    @property
    def rpm(self) -> int:
        return self._rpm

    def set_rpm(self, rpm: int) -> None:
        with self._cond:
            self._rpm = max(1, rpm)
            self._cond.notify_all()

    def acquire(self) -> None:
        """Block until one more request fits in the window, and take its slot."""
        with self._cond:
            while True:
                now = self._clock()
                self._expire(now)
                if len(self._done) + self._in_flight < self._rpm:
                    self._in_flight += 1
                    return
                wait = self._done[0] + self.window - now if self._done else 0.05
                self._cond.wait(timeout=max(0.001, wait))

    def release(self) -> None:
        """The request taken with :meth:`acquire` got its answer (or failed)."""
        with self._cond:
            self._in_flight -= 1
            self._done.append(self._clock())
            self._cond.notify_all()

    def _expire(self, now: float) -> None:
        cut = 0
        while cut < len(self._done) and self._done[cut] <= now - self.window:
            cut += 1
        if cut:
            del self._done[:cut]
