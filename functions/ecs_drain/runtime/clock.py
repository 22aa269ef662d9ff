"""The one notion of "now" the drain uses, so an emulation can run it on simulated time."""

from __future__ import annotations

import time
from collections.abc import Callable

_now: Callable[[], float] = time.time
_sleep: Callable[[float], None] = time.sleep


def now() -> float:
    """Seconds since the epoch."""
    return _now()


def sleep(seconds: float) -> None:
    _sleep(seconds)


def use(now_source: Callable[[], float], sleeper: Callable[[float], None]) -> None:
    """Replace the time source (the offline emulation runs the drain on a simulated clock)."""
    global _now, _sleep
    _now, _sleep = now_source, sleeper


def reset() -> None:
    use(time.time, time.sleep)
