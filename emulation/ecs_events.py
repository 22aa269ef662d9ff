"""ECS Task State Change events, delivered as EventBridge delivers them: late, sometimes twice, out of order, or
never.

ECS sends an event to EventBridge at every change of a task's lastStatus or desiredStatus ("Amazon ECS task state
change events"); the event's `detail` is close to the task DescribeTasks returns, with its timestamps as ISO strings
and a `version` that goes up by one at each change. Delivery is at least once and not in order: "you might receive
multiple copies of a given event", "events may not be delivered to your event listeners in the order in which the
events occurred"; duplicates carry the same `detail.version` ("Handling Amazon ECS events"). How late an event
comes is not documented: here it is a fixed delay plus a random jitter, so that events of one task a moment apart
can swap places. A lost event (`lost_share`) models what at least once does not promise against: a rule disabled
for a while, a target throttled past its retries.

Deliveries are counted per rule: what was emitted and matched, delivered (copies included), duplicated and lost.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .ecs_simulator import EcsSimulator, SimTask

SOURCE = "aws.ecs"
TASK_STATE_CHANGE = "ECS Task State Change"


@dataclass(frozen=True)
class Delivery:
    """How EventBridge delivers to a rule's target. The defaults: every event once, 0.5 to 2.5 s after it happened."""

    delay_seconds: float = 0.5
    jitter_seconds: float = 2.0  # each copy a further 0 to this late: events close in time may swap
    duplicate_share: float = 0.0  # events delivered twice
    redelivery_seconds: float = 60.0  # how much later the second copy comes (retries after about a minute are seen)
    lost_share: float = 0.0  # events never delivered (the fault)
    seed: int = 11


@dataclass
class Deliveries:
    """What one rule was sent."""

    matched: int = 0  # events the rule's pattern matched
    delivered: int = 0  # copies handed to the target (a duplicated event counts twice)
    duplicated: int = 0
    lost: int = 0
    log: list[tuple[float, dict[str, Any]]] = field(default_factory=list)  # (when delivered, the event)


@dataclass
class Rule:
    name: str
    pattern: dict[str, Any]
    target: Callable[[dict[str, Any]], None]
    delivery: Delivery
    counts: Deliveries = field(default_factory=Deliveries)
    enabled: Callable[[], bool] = lambda: True  # a disabled rule matches nothing
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.delivery.seed)


class EventBus:
    """The account's default event bus: the ECS events of one simulated cluster, and what other services publish
    (Auto Scaling's lifecycle actions: `autoscaling_api`)."""

    def __init__(self, sim: EcsSimulator, account: str, region: str) -> None:
        self.sim, self.account, self.region = sim, account, region
        self.rules: dict[str, Rule] = {}
        sim.on_task_change.append(self._task_changed)

    def put_rule(
        self,
        name: str,
        pattern: dict[str, Any],
        target: Callable[[dict[str, Any]], None],
        delivery: Delivery,
        enabled: Callable[[], bool] = lambda: True,
    ) -> Deliveries:
        """A rule and its one target (it runs at the time of delivery, on a thread of its own); its counts."""
        self.rules[name] = Rule(name, pattern, target, delivery, enabled=enabled)
        return self.rules[name].counts

    def delete_rule(self, name: str) -> None:
        self.rules.pop(name, None)

    def _task_changed(self, task: SimTask) -> None:
        self.publish(task_state_change(self.sim, task, self.account, self.region))

    def publish(self, event: dict[str, Any]) -> None:
        """An event a service sends: each enabled rule whose pattern matches it delivers it, as its Delivery says."""
        for rule in list(self.rules.values()):
            if rule.enabled() and matches(rule.pattern, event):
                self._schedule(rule, event)

    def _schedule(self, rule: Rule, event: dict[str, Any]) -> None:
        rule.counts.matched += 1
        delivery, rng = rule.delivery, rule.rng
        if rng.random() < delivery.lost_share:
            rule.counts.lost += 1
            return
        at = self.sim.now + delivery.delay_seconds + rng.random() * delivery.jitter_seconds
        # The target runs at that moment on a thread of its own (a function taking simulated time for its calls).
        self.sim.clock.call_at(at, lambda: self._deliver(rule, event))
        if rng.random() < delivery.duplicate_share:
            rule.counts.duplicated += 1
            again = at + delivery.redelivery_seconds + rng.random() * delivery.jitter_seconds
            self.sim.clock.call_at(again, lambda: self._deliver(rule, event))

    def _deliver(self, rule: Rule, event: dict[str, Any]) -> None:
        if self.rules.get(rule.name) is not rule:
            return  # the rule is gone: what it had not delivered yet never comes
        rule.counts.delivered += 1
        rule.counts.log.append((self.sim.now, event))
        rule.target(event)


def task_state_change(sim: EcsSimulator, task: SimTask, account: str, region: str) -> dict[str, Any]:
    """The event ECS sends for the task as it is now."""
    moto = task.moto
    detail: dict[str, Any] = {
        "clusterArn": moto.cluster_arn,
        "containerInstanceArn": moto.container_instance_arn,
        "taskArn": task.arn,
        "taskDefinitionArn": moto.task_definition_arn,
        "group": moto.group,
        "startedBy": moto.started_by,
        "launchType": "EC2",
        "lastStatus": task.last,
        "desiredStatus": task.desired,
        "cpu": str(task.cpu),
        "memory": str(task.memory),
        "version": task.version,
        "createdAt": _iso(task.created_at),
        "updatedAt": _iso(datetime.fromtimestamp(sim.now, UTC)),
    }
    started = getattr(moto, "started_at", None)
    if started is not None:
        detail["startedAt"] = _iso(started)
    if task.desired == "STOPPED":
        detail["stoppedReason"] = moto.stopped_reason
        if task.stopped_at is not None:
            detail["stoppedAt"] = _iso(datetime.fromtimestamp(task.stopped_at, UTC))
    return {
        "version": "0",
        "id": str(uuid.UUID(int=random.Random(f"{task.arn}:{task.version}").getrandbits(128))),
        "detail-type": TASK_STATE_CHANGE,
        "source": SOURCE,
        "account": account,
        "time": _iso(datetime.fromtimestamp(sim.now, UTC)),
        "region": region,
        "resources": [task.arn],
        "detail": detail,
    }


def matches(pattern: Any, event: Any) -> bool:
    """An EventBridge event pattern, in the part this emulation uses: nested fields, and lists of allowed values."""
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(k in event and matches(v, event[k]) for k, v in pattern.items())
    if isinstance(pattern, list):
        return event in pattern
    return bool(pattern == event)


def _iso(moment: Any) -> str:
    when = moment if isinstance(moment, datetime) else datetime.fromtimestamp(float(moment), UTC)
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
