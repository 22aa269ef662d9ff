"""ECS Task State Change events wake the drain when its last task stops, and only ever speed it up: late, doubled,
out of order or lost, the drain still ends right, on its reads."""

from __future__ import annotations

import boto3
import pytest

from emulation.ecs_events import Delivery
from emulation.offline_aws import REGION
from emulation.scenarios import World, rollover_world, services

POLL = 15
RULE = "ecs-drain-task-stopped"


def drain(ecs_events: Delivery | None) -> tuple[World, float, float, str]:
    """20 targets, one task each behind a load balancer (60 s deregistration delay): the answer's time and the
    last task's STOPPED, in seconds after the Delete, and the rule's state after the drain."""
    with rollover_world(
        old_instances=20,
        new_instances=40,
        new_fleet_registers=None,
        services=services(40, 1, deregistration_delay=60),
        log_level="WARNING",
        ecs_events=ecs_events,
    ) as world:
        deleted_at = world.aws.clock.now()
        _, answer = world.drain_old(wall_seconds=300)
        assert answer is not None and answer.body["Status"] == "SUCCESS", answer
        stopped = [t.stopped_at for t in world.sim.tasks.values() if t.instance_id in set(world.old.container_ids)]
        assert all(s is not None and s <= answer.at for s in stopped)  # nothing called STOPPED before it was
        last_stop = max(s for s in stopped if s is not None)
        assert world.aws.wait_for_executions(wall_seconds=60)  # the answering step goes on after its answer
        rule = boto3.client("events", region_name=REGION).describe_rule(Name=RULE)["State"]
        return world, answer.at - deleted_at, last_stop - deleted_at, rule


def test_it_answers_within_seconds_of_the_last_task_stopping_when_its_event_comes() -> None:
    world, answered, last_stop, rule = drain(Delivery())
    assert answered - last_stop <= 5  # the event's delivery (at most 2.5 s late) and one check
    (counts,) = world.ecs_events.values()
    assert counts.delivered > 0 and counts.lost == 0  # the STOPPED events while the rule was on
    assert world.aws.calls.by_action(caller="TaskStoppedFunction")["dynamodb:UpdateItem"] > 0  # reported to the watch
    # The last drain to end switched the rule off: the account's task churn invokes nothing any more.
    assert rule == "DISABLED"


@pytest.mark.parametrize(
    "delivery",
    [
        Delivery(lost_share=1.0),  # the rule's target throttled past its retries, for the whole drain
        Delivery(duplicate_share=0.5, jitter_seconds=20.0),  # doubled, and late enough to come out of order
    ],
    ids=["every-event-lost", "doubled-and-out-of-order"],
)
def test_it_ends_right_on_its_reads_whatever_the_events_do(delivery: Delivery) -> None:
    world, answered, last_stop, _ = drain(delivery)
    # The watched tasks no event reported are read every two polls: the answer comes within two polls and a check.
    assert answered - last_stop <= 2 * POLL + 5
    (counts,) = world.ecs_events.values()
    assert counts.lost == counts.matched if delivery.lost_share else counts.duplicated > 0


def test_it_drains_on_its_reads_alone_when_ecs_sends_no_event() -> None:
    world, answered, last_stop, _ = drain(None)
    assert answered - last_stop <= 2 * POLL + 5
    assert world.aws.calls.by_action(caller="TaskStoppedFunction") == {}
