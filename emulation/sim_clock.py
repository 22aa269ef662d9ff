"""Simulated time shared by Wait states, retries, API call time, the ECS simulator and the handlers' notion of now.

Several executions can run at once (five drains in one account). Each of their threads, and a handler run by the
driver, is a *participant*: simulated time moves only when every participant sleeps, and then to the earliest
wake-up among them. So a Wait of 15 s in one execution and 2 s of API calls in another overlap as they would in
AWS, instead of adding up. A thread that takes no part (the driver waiting for an answer) never moves time while
participants run.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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
        self.lock = threading.RLock()  # held while a model is brought up to date, and by ECS calls
        self._listeners: list[Callable[[float], None]] = []
        self._turn = threading.Condition(threading.Lock())  # guards the participants and sleepers below
        self._depth: dict[int, int] = {}  # participant thread -> nesting depth
        self._runnable = 0  # participants (and expected ones) not asleep
        self._sleepers: list[tuple[float, int]] = []  # (wake time, ticket)
        self._tickets = itertools.count()
        self.counted: Callable[[], bool] = lambda: False  # a thread already counted as running (an execution's)
        self._mover: int | None = None  # the thread bringing models up to date

    def now(self) -> float:
        return self._now

    def on_advance(self, listener: Callable[[float], None]) -> None:
        """`listener(t)` brings a model up to time t before the clock shows t."""
        self._listeners.append(listener)

    def advance(self, seconds: float) -> None:
        """Move time forward now (setup, or a lone caller); with a pace, in one-second steps."""
        self._move_to(self._now + max(0.0, seconds))

    def _move_to(self, target: float) -> None:
        self._mover = threading.get_ident()
        try:
            self._move_steps(target)
        finally:
            self._mover = None

    def _move_steps(self, target: float) -> None:
        while self._now < target:
            before = self._now
            upto = min(target, before + 1.0) if self.pace else target
            with self.lock:
                for listener in self._listeners:
                    listener(upto)
                self._now = upto
            if self.pace:
                time.sleep((upto - before) * self.pace)

    # ---- participants --------------------------------------------------------------------------------
    def expect_participant(self) -> None:
        """A participant is about to start (an execution): counted now, so time waits for its thread to begin."""
        with self._turn:
            self._runnable += 1

    def participant_ended(self) -> None:
        """An announced participant ended (or never started)."""
        with self._turn:
            self._runnable -= 1
            self._turn.notify_all()

    def taking_part(self) -> bool:
        return threading.get_ident() in self._depth or self.counted()

    @contextmanager
    def participant(self) -> Iterator[None]:
        """The calling thread takes part until the block ends (re-entrant; nothing changes for a counted thread)."""
        if self.counted():
            yield
            return
        me = threading.get_ident()
        with self._turn:
            depth = self._depth.get(me, 0)
            self._depth[me] = depth + 1
            if depth == 0:
                self._runnable += 1
        try:
            yield
        finally:
            with self._turn:
                self._depth[me] -= 1
                if not self._depth[me]:
                    del self._depth[me]
                    self._runnable -= 1
                    self._turn.notify_all()

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` of simulated time; the last participant to fall asleep moves the clock."""
        me = threading.get_ident()
        if me == self._mover:
            return  # a model acting at a point in time (a console click in a scenario) takes no time of its own
        with self._turn:
            target = self._now + max(0.0, seconds)
            taking_part = me in self._depth or self.counted()
            if not taking_part and not self._runnable:
                self._move_to(target)  # nobody else's time to respect
                return
            entry = (target, next(self._tickets))
            heapq.heappush(self._sleepers, entry)
            if taking_part:
                self._runnable -= 1
            self._turn.notify_all()
            while self._now < target:
                if self._runnable == 0 and self._sleepers[0] == entry:
                    self._move_to(target)  # everyone sleeps and this wake-up comes first
                elif self._runnable == 0 and self._sleepers[0][0] <= self._now:
                    self._turn.notify_all()  # an earlier sleeper's time has come: let it wake
                    self._turn.wait(0.05)
                else:
                    self._turn.wait(0.05)
            self._sleepers.remove(entry)
            heapq.heapify(self._sleepers)
            if taking_part:
                self._runnable += 1
            self._turn.notify_all()
