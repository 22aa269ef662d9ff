"""AWS's ECS request throttling, as documented: token buckets per account and Region, shared by every caller.

"Request throttling for the Amazon ECS API" (ECS API Reference): one bucket per category of actions; a bucket
holds at most its size (the burst) and refills continuously at its rate (the sustained rate); each request takes
one token, and a request that finds its bucket empty fails with ThrottlingException. The three categories a
drain touches are modelled; other ECS actions are not throttled here. A *neighbour* is another caller in the same
account (a console, a monitoring agent) making steady cluster reads; it takes from the same bucket, and its
throttled calls are counted (it does not retry: each of its calls is one attempt).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

CLUSTER_READ = "cluster-read"
CLUSTER_MODIFY = "cluster-modify"
SERVICE_READ = "service-read"
CATEGORIES: dict[str, str] = {
    **dict.fromkeys(
        ("ListTasks", "DescribeTasks", "DescribeContainerInstances", "ListContainerInstances", "ListAttributes"),
        CLUSTER_READ,
    ),
    **dict.fromkeys(
        (
            "UpdateContainerInstancesState",
            "StopTask",
            "RunTask",
            "StartTask",
            "PutAttributes",
            "DeleteAttributes",
        ),
        CLUSTER_MODIFY,
    ),
    **dict.fromkeys(("DescribeServices", "ListServices"), SERVICE_READ),
}
# (bucket size, refill per second), per account and Region.
ECS_BUCKETS: dict[str, tuple[float, float]] = {
    CLUSTER_READ: (100, 20),
    CLUSTER_MODIFY: (100, 40),
    SERVICE_READ: (100, 20),
}


@dataclass
class TokenBucket:
    size: float
    refill_per_second: float
    tokens: float
    updated: float

    def take(self, now: float) -> bool:
        """One token at `now` (never earlier than the last take), or False when the bucket is empty."""
        now = max(now, self.updated)
        self.tokens = min(self.size, self.tokens + (now - self.updated) * self.refill_per_second)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class EcsBuckets:
    """The ECS buckets of one account and Region: every caller in it takes from these."""

    buckets: dict[str, TokenBucket]
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def full(cls, now: float, limits: dict[str, tuple[float, float]] | None = None) -> EcsBuckets:
        limits = limits or ECS_BUCKETS
        return cls({name: TokenBucket(size, rate, size, now) for name, (size, rate) in limits.items()})

    def take(self, action: str, now: float) -> bool:
        category = CATEGORIES.get(action)
        if category is None:
            return True
        with self.lock:
            return self.buckets[category].take(now)


@dataclass
class Neighbour:
    """Another caller in the account making `reads_per_second` cluster reads, evenly spaced."""

    reads_per_second: float
    next_at: float
    calls: int = 0
    throttled: int = 0
    throttled_at: list[float] = field(default_factory=list)

    def run_until(self, t: float, buckets: EcsBuckets) -> None:
        if self.reads_per_second <= 0:
            return
        while self.next_at <= t:
            self.calls += 1
            if not buckets.take("DescribeContainerInstances", self.next_at):
                self.throttled += 1
                self.throttled_at.append(self.next_at)
            self.next_at += 1.0 / self.reads_per_second


def busiest_second(times: list[float]) -> int:
    """The most calls in any window of one second, [t, t + 1), over sorted or unsorted call times."""
    ordered = sorted(times)
    best = start = 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best
