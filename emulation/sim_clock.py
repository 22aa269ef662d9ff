"""Simulated time shared by Wait states, retries, API call time, the ECS simulator and the handlers' notion of now.

Several executions can run at once (five drains in one account). Each of their threads, and a handler run by the
driver, is a *participant*: simulated time moves only when every participant sleeps, and then to the earliest
wake-up among them. So a Wait of 15 s in one execution and 2 s of API calls in another overlap as they would in
AWS, instead of adding up. A thread that takes no part (the driver waiting for an answer) never moves time while
participants run.

A sleep can be cut short (`sleep(..., until=event)`, woken by `wake(event)`: a Step Functions task waiting for its
token), and a model can ask for something to run at a point in time as a participant of its own (`call_at`: an
EventBridge target invoked): time stops there, and the models are brought up to that point only.
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
        self._alarms: list[tuple[float, int, Callable[[], None]]] = []  # (when, ticket, what runs then)
        self._wakeable: dict[int, tuple[tuple[float, int], bool]] = {}  # id(event) -> (sleeper entry, taking part)
        self._woken: set[int] = set()  # tickets of sleepers woken before their time

    def now(self) -> float:
        return self._now

    def on_advance(self, listener: Callable[[float], float | None]) -> None:
        """`listener(t)` brings a model up to time t before the clock shows t. A listener that stops short (it
        reached an alarm set meanwhile: see `next_alarm`) returns the time it reached; the clock stops there."""
        self._listeners.append(listener)

    def call_at(self, when: float, action: Callable[[], None]) -> None:
        """Run `action` at simulated time `when` on a thread of its own, a participant until it returns."""
        with self.lock:
            heapq.heappush(self._alarms, (when, next(self._tickets), action))

    def next_alarm(self) -> float:
        """When the next `call_at` is due (infinity: none): a model brought up to date stops there."""
        return self._alarms[0][0] if self._alarms else float("inf")

    def advance(self, seconds: float) -> None:
        """Move time forward now (setup, or a lone caller); with a pace, in one-second steps. Alarms due on the
        way run, and time goes on once they are done."""
        self.sleep(seconds)

    def _move_to(self, target: float) -> None:
        self._mover = threading.get_ident()
        try:
            self._move_steps(target)
        finally:
            self._mover = None

    def _move_steps(self, target: float) -> None:
        while self._now < target:
            before = self._now
            upto = min(target, before + 1.0, self.next_alarm()) if self.pace else min(target, self.next_alarm())
            with self.lock:
                for listener in self._listeners:
                    reached = listener(upto)
                    if reached is not None and reached < upto:
                        upto = reached  # the listeners after it stop there too
                self._now = upto
            if self.pace:
                time.sleep((upto - before) * self.pace)
            if self._start_alarms():
                return  # they take part: time goes on once they sleep or end

    def _start_alarms(self) -> bool:
        """Start the alarms now due on a thread of their own, in the order they were set, counted as running
        before it starts."""
        due: list[Callable[[], None]] = []
        with self.lock:
            while self._alarms and self._alarms[0][0] <= self._now:
                due.append(heapq.heappop(self._alarms)[2])
        if due:
            self._runnable += 1  # under the turn lock, held by the sleeper that moves time
            threading.Thread(target=self._alarm_thread, args=(due,), daemon=True).start()
        return bool(due)

    def _alarm_thread(self, actions: list[Callable[[], None]]) -> None:
        """A participant counted running before it started (see _start_alarms), until the actions are done."""
        me = threading.get_ident()
        with self._turn:
            self._depth[me] = 1
        try:
            for action in actions:
                action()
        finally:
            with self._turn:
                del self._depth[me]
                self._runnable -= 1
                self._turn.notify_all()

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

    def sleep(self, seconds: float, until: threading.Event | None = None) -> None:
        """Wait `seconds` of simulated time, or until `until` is set by `wake`; the last participant to fall asleep
        moves the clock."""
        me = threading.get_ident()
        if me == self._mover:
            return  # a model acting at a point in time (a console click in a scenario) takes no time of its own
        with self._turn:
            target = self._now + max(0.0, seconds)
            taking_part = me in self._depth or self.counted()
            if until is not None and until.is_set():
                return
            if not taking_part and not self._runnable and not self._sleepers:
                self._move_to(target)  # nobody else's time to respect
                if self._now >= target:
                    return
            entry = (target, next(self._tickets))
            heapq.heappush(self._sleepers, entry)
            if until is not None:
                self._wakeable[id(until)] = (entry, taking_part)
            if taking_part:
                self._runnable -= 1
            self._turn.notify_all()
            self._wait_for(entry)
            if entry[1] in self._woken:
                self._woken.discard(entry[1])  # `wake` took it off the sleepers and counted it running
            else:
                if until is not None:
                    self._wakeable.pop(id(until), None)
                self._sleepers.remove(entry)
                heapq.heapify(self._sleepers)
                if taking_part:
                    self._runnable += 1
            self._turn.notify_all()

    def _wait_for(self, entry: tuple[float, int]) -> None:
        """Under the turn lock: until the clock reaches the entry's time, or it is woken."""
        target = entry[0]
        while self._now < target and entry[1] not in self._woken:
            if self._runnable == 0 and self._sleepers[0] == entry:
                self._move_to(target)  # everyone sleeps and this wake-up comes first
            elif self._runnable == 0 and self._sleepers[0][0] <= self._now:
                self._turn.notify_all()  # an earlier sleeper's time has come: let it wake
                self._turn.wait(0.05)
            else:
                self._turn.wait(0.05)

    def wake(self, event: threading.Event) -> None:
        """Set `event`; a participant sleeping until it runs again now, before time can move on."""
        with self._turn:
            event.set()
            waiting = self._wakeable.pop(id(event), None)
            if waiting is not None:
                entry, taking_part = waiting
                self._sleepers.remove(entry)
                heapq.heapify(self._sleepers)
                if taking_part:
                    self._runnable += 1
                self._woken.add(entry[1])
            self._turn.notify_all()
