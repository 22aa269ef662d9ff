"""Simulated time shared by Wait states, retries, the ECS simulator and the handlers' notion of now."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# 2027-01-15T08:00:00Z: a fixed start keeps runs repeatable.
EPOCH = 1_800_000_000.0


class SimClock:
    """A clock that only moves when someone waits on it.

    `pace` is wall seconds spent per simulated second (0: as fast as possible), so a demo can be watched.
    """

    def __init__(self, start: float = EPOCH, pace: float = 0.0) -> None:
        self._now = start
        self.start = start
        self.pace = pace
        self.lock = threading.RLock()
        self._listeners: list[Callable[[float], None]] = []

    def now(self) -> float:
        return self._now

    def elapsed(self) -> float:
        return self._now - self.start

    def on_advance(self, listener: Callable[[float], None]) -> None:
        """`listener(t)` brings a model up to time t before the clock shows t."""
        self._listeners.append(listener)

    def advance(self, seconds: float) -> None:
        """Move time forward; with a pace, in one-second steps so progress can be watched."""
        target = self._now + max(0.0, seconds)
        while self._now < target:
            before = self._now
            upto = min(target, before + 1.0) if self.pace else target
            with self.lock:
                for listener in self._listeners:
                    listener(upto)
                self._now = upto
            if self.pace:
                time.sleep((upto - before) * self.pace)
