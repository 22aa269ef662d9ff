"""Load-balanced traffic: requests to each service behind a load balancer, and which of them fail.

The model (docs/emulation.md, facts in the project's platform facts, Elastic Load Balancing):
- A service task's target receives requests once its task is RUNNING and has passed its first health check, until
  the task is told to stop; then it is *draining*: no new requests, and those in flight run on.
- After the deregistration delay the container gets SIGTERM; requests still in flight run on until the stop
  timeout, when SIGKILL ends them: they fail (`killed_at_stop_timeout`). The container exits once nothing is in
  flight and its own shutdown time has passed (`busy_until` tells the scheduler when).
- A request fails as `no_healthy_target` (503) if it arrives while no target of its service receives requests, and
  as `killed_with_instance` (502) if its task's instance is terminated while it is in flight. A target on a
  terminated instance leaves the target group at once (no request is routed to a dead target: AWS would route some
  until health checks notice, so the model errs in favour of the strategies that terminate live targets).
- Requests arrive evenly, `rate` a second per service (a seeded phase per service), and are routed round robin over
  the targets that receive requests; each request's duration is drawn, seeded, from `durations`. Every request is
  simulated on its own: the counts are exact for the model.
"""

from __future__ import annotations

import bisect
import math
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

NO_HEALTHY_TARGET: Final = "no_healthy_target"
KILLED_WITH_INSTANCE: Final = "killed_with_instance"
KILLED_AT_STOP_TIMEOUT: Final = "killed_at_stop_timeout"
CAUSES: Final = (NO_HEALTHY_TARGET, KILLED_WITH_INSTANCE, KILLED_AT_STOP_TIMEOUT)

# Mostly tens of milliseconds, with a tail of long requests up to 20 s: (seconds, share of requests).
DEFAULT_DURATIONS: Final[tuple[tuple[float, float], ...]] = (
    (0.02, 0.60),
    (0.05, 0.25),
    (0.2, 0.10),
    (1.0, 0.03),
    (5.0, 0.015),
    (20.0, 0.005),
)
DEFAULT_RATE: Final = 50.0  # requests a second per service


@dataclass
class Target:
    """One task's target: its requests in flight, as (end time, whether the request is counted)."""

    in_flight: list[tuple[float, bool]] = field(default_factory=list)

    def busy_at(self, t: float) -> int:
        self.in_flight = [(end, counted) for end, counted in self.in_flight if end > t]
        return len(self.in_flight)

    def counted_at(self, t: float) -> int:
        """The requests in flight at `t` that arrived while requests were counted."""
        self.busy_at(t)
        return sum(1 for _, counted in self.in_flight if counted)


@dataclass
class Traffic:
    rate: float = DEFAULT_RATE
    durations: tuple[tuple[float, float], ...] = DEFAULT_DURATIONS
    seed: int = 7
    requests: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    # Per whole second of simulated time: requests that arrived, and failures when they failed.
    arrived_at: Counter[int] = field(default_factory=Counter)
    failed_at: Counter[int] = field(default_factory=Counter)
    counting_from: float = -math.inf  # requests before this are not counted (the steady state before a rollover)
    counting_until: float = math.inf  # nor those from this on (the end of the measuring window)
    _targets: dict[str, Target] = field(default_factory=dict)  # task ARN -> its target
    _next: dict[str, int] = field(default_factory=dict)  # service -> index of its next arrival
    _phase: dict[str, float] = field(default_factory=dict)
    _turn: dict[str, int] = field(default_factory=dict)  # service -> round-robin position
    _rng: random.Random = field(init=False)
    _cumulative: list[float] = field(init=False)
    _t: float | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        total = 0.0
        self._cumulative = []
        for _seconds, share in self.durations:
            total += share
            self._cumulative.append(total)

    @property
    def total_failed(self) -> int:
        return sum(self.failed.values())

    def count_from(self, t: float) -> None:
        """Count requests from `t` on (the steady state before a rollover is not counted)."""
        self.counting_from = t
        for target in self._targets.values():  # what is in flight now arrived before: its failure is not counted
            target.in_flight = [(end, False) for end, _ in target.in_flight]
        self.requests = 0
        self.failed.clear()
        self.arrived_at.clear()
        self.failed_at.clear()

    def count_until(self, t: float) -> None:
        """The measuring window ends at `t`: what arrives or fails from then on is not counted."""
        self.counting_until = t

    def count(self, t: float) -> bool:
        return self.counting_from <= t < self.counting_until

    def failing_at(self, t: float, seconds: float = 60) -> int:
        """Failures in the `seconds` before `t` (a strategy still failing at the window's end shows here)."""
        return sum(n for second, n in self.failed_at.items() if t - seconds <= second < t)

    def _fail(self, cause: str, t: float, n: int = 1) -> None:
        if n and self.count(t):
            self.failed[cause] += n
            self.failed_at[int(t)] += n

    def _duration(self) -> float:
        pick = bisect.bisect_left(self._cumulative, self._rng.random() * self._cumulative[-1])
        return self.durations[min(pick, len(self.durations) - 1)][0]

    def advance(self, t: float, receiving_at: Callable[[float], Mapping[str, Sequence[str]]]) -> None:
        """Every request that arrives up to `t` (exclusive), with the targets as they are now (constant until then).

        `receiving_at(start)` names, per load-balanced service, the tasks (ARNs) whose targets receive requests: the
        ECS model knows which are healthy and not draining; this model only routes to them."""
        start = self._t if self._t is not None else t
        self._t = t
        if t <= start:
            return
        for name, receiving in receiving_at(start).items():
            phase = self._phase.setdefault(name, random.Random(f"{self.seed}:{name}").random())
            k = self._next.get(name, math.ceil(start * self.rate - phase))
            while (arrival := (k + phase) / self.rate) < t:
                k += 1
                if self.count(arrival):
                    self.requests += 1
                    self.arrived_at[int(arrival)] += 1
                if not receiving:
                    self._fail(NO_HEALTHY_TARGET, arrival)
                    continue
                turn = self._turn.get(name, 0)
                self._turn[name] = turn + 1
                target = self._targets.setdefault(receiving[turn % len(receiving)], Target())
                if len(target.in_flight) > 256:
                    target.busy_at(arrival)  # forget what has ended
                target.in_flight.append((arrival + self._duration(), self.count(arrival)))
            self._next[name] = k

    def in_flight(self, arn: str, t: float) -> int:
        target = self._targets.get(arn)
        return target.busy_at(t) if target else 0

    def busy_until(self, arn: str, t: float) -> float:
        """When the last request in flight on this task ends (t if none is)."""
        target = self._targets.get(arn)
        return max((end for end, _ in target.in_flight if end > t), default=t) if target else t

    def kill(self, arn: str, t: float, cause: str) -> int:
        """The task's container is gone at `t`: what was in flight fails."""
        target = self._targets.pop(arn, None)
        lost = target.busy_at(t) if target else 0
        # A request fails where it is counted: one that arrived before counting began is not a counted failure.
        self._fail(cause, t, target.counted_at(t) if target else 0)
        return lost
