"""The drain's share of the account's ECS API budget, enforced where every ECS call is made.

ECS throttles per account and Region with token buckets every caller shares: cluster reads 100 refilled at 20 per
second, modify calls 100 at 40/s, service reads 100 at 20/s (ECS API Reference, "Request throttling"). The drain
takes at most its share of the refill: by default 10 reads and 20 modify calls per second, spread evenly over time
(never a burst), so the account's other tools keep at least half. One step runs at a time across every drain of
the provider stack (the DrainFunction's reserved concurrency), so the share is ecs-drain's, not one drain's.

The pacing is a botocore `before-call` hook on the ECS client: no call can bypass it. A step also has a time
allowance; work that does not fit (per-instance listings) waits for the next check instead of bursting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import clock

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient

READ = "read"
MODIFY = "modify"
SERVICE_READ = "service-read"
CATEGORY = {
    "ListContainerInstances": READ,
    "DescribeContainerInstances": READ,
    "ListTasks": READ,
    "DescribeTasks": READ,
    "UpdateContainerInstancesState": MODIFY,
    "StopTask": MODIFY,
    "ListServices": SERVICE_READ,
    "DescribeServices": SERVICE_READ,
    # Not in the three documented categories; paced with the service reads to be safe.
    "DescribeTaskDefinition": SERVICE_READ,
}
DEFAULT_READS_PER_SECOND = 10.0
DEFAULT_MODIFY_CALLS_PER_SECOND = 20.0
DEFAULT_STEP_SECONDS = 30.0  # a tenth of the DrainFunction's 300 s timeout
# Spacing a hair over 1/rate keeps "at most N in any second" true under floating-point clocks.
SPACING_MARGIN = 1.001


@dataclass
class CallBudget:
    """Paces ECS calls per category and tells a step how much time it has left."""

    reads_per_second: float = DEFAULT_READS_PER_SECOND
    modify_calls_per_second: float = DEFAULT_MODIFY_CALLS_PER_SECOND
    step_seconds: float = DEFAULT_STEP_SECONDS
    step_started: float = field(default_factory=clock.now)
    next_call: dict[str, float] = field(default_factory=dict)  # category -> earliest time of its next call

    @classmethod
    def from_environment(cls) -> CallBudget:
        """The provider stack's parameters, split between the drain steps that may run at once."""
        steps = max(1, int(os.environ.get("ECS_DRAIN_CONCURRENT_STEPS", "1") or 1))
        return cls(
            reads_per_second=float(os.environ.get("ECS_READS_PER_SECOND", DEFAULT_READS_PER_SECOND)) / steps,
            modify_calls_per_second=float(
                os.environ.get("ECS_MODIFY_CALLS_PER_SECOND", DEFAULT_MODIFY_CALLS_PER_SECOND)
            )
            / steps,
        )

    def interval(self, category: str) -> float:
        rate = self.modify_calls_per_second if category == MODIFY else self.reads_per_second
        return SPACING_MARGIN / rate

    def begin_step(self) -> None:
        """A new step: its allowance starts now, and each category's first call waits one interval, so steps
        that follow each other (in this container or another) never exceed the rate together."""
        now = clock.now()
        self.step_started = now
        for category in (READ, MODIFY, SERVICE_READ):
            self.next_call[category] = max(self.next_call.get(category, 0.0), now + self.interval(category))

    def wait_turn(self, action: str) -> None:
        category = CATEGORY.get(action, SERVICE_READ)
        now = clock.now()
        due = self.next_call.get(category, now)
        if due > now:
            clock.sleep(due - now)
            now = due
        self.next_call[category] = now + self.interval(category)

    def seconds_left(self) -> float:
        return self.step_seconds - (clock.now() - self.step_started)

    def affords(self, reads: int) -> bool:
        """Whether `reads` more cluster reads fit in what is left of this step's allowance."""
        backlog = max(0.0, self.next_call.get(READ, 0.0) - clock.now())
        return backlog + reads * self.interval(READ) <= self.seconds_left()

    def attach(self, ecs: ECSClient) -> None:
        """Every call of this client waits its turn first."""

        def before_call(model: Any, **_: Any) -> None:
            self.wait_turn(model.name)

        ecs.meta.events.register("before-call.ecs", before_call, unique_id="ecs-drain-call-budget")
