"""A termination hook's drains (issue 47) on the emulation: many instances held at once drained as one, within the
account's ECS limits; a drain that outlasts the hook's heartbeat timeout; one blocked past its deadline and
abandoned into a group that retains such instances; copies of Auto Scaling's events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulation.ecs_events import Delivery
from emulation.scenarios import World, pinned_services, rollover_world, services
from emulation.throttling import CATEGORIES, CLUSTER_READ, busiest_second
from tests.e2e.helpers import executions


def hold_every_old_instance(world: World) -> float:
    """Scale the old group to 0: its termination hook holds every instance at once. When (simulated time)."""
    with world.aws.calls.acting_as("driver"):
        world.aws.client("autoscaling").set_desired_capacity(
            AutoScalingGroupName=world.old.request_id, DesiredCapacity=0
        )
    return world.aws.clock.now()


def hook_outputs(world: World) -> list[dict[str, Any]]:
    sfn = world.aws.sfn()
    return [
        json.loads(sfn.describe_execution(executionArn=e["executionArn"]).get("output") or "{}")
        for e in executions(world)
        if e["name"].startswith("hook-")
    ]


@pytest.mark.slow
def test_it_drains_100_instances_held_within_seconds_as_one_drain_within_the_accounts_read_limits() -> None:
    with rollover_world(
        kind="AutoScalingGroup",
        old_instances=100,
        new_instances=100,
        new_fleet_registers=None,
        services=services(200, 1),
        log_level="WARNING",
    ) as world:
        assert world.bind_termination_hook("drain", heartbeat=300) is not None
        hold_every_old_instance(world)
        world.aws.clock.advance(30)
        assert world.aws.wait_for_executions(wall_seconds=600)
        [output] = hook_outputs(world)  # one drain of the 100, not 100 drains
        assert output["outcome"] == "DRAINED" and output["instances"] == 100, output
        assert output["lifecycleActions"] == {"result": "CONTINUE", "instances": 100, "held": 100}
        calls = world.aws.calls.ecs_calls("DrainFunction")
        reads = [c.at for c in calls if CATEGORIES.get(c.action) == CLUSTER_READ]
        assert len(reads) / 100 <= 0.3, len(reads)
        assert busiest_second(reads) <= 10 and not [c for c in calls if c.throttled]
        assert world.account.neighbour.throttled == 0
        assert world.sim.record.killed == []


def test_it_holds_an_instance_past_its_hooks_heartbeat_timeout_to_its_last_stopped_task() -> None:
    """A 60 s heartbeat timeout and tasks that take 300 s to leave their load balancer: the drain records a heartbeat
    every 30 s or so, and completes the action only once the last task is STOPPED, 5 minutes on."""
    with rollover_world(
        kind="AutoScalingGroup",
        new_instances=3,
        new_fleet_registers=None,
        services=services(6, 1, deregistration_delay=300),
        log_level="ERROR",
    ) as world:
        assert world.bind_termination_hook("drain", heartbeat=60) is not None
        held_at = hold_every_old_instance(world)
        world.aws.clock.advance(30)
        assert world.aws.wait_for_executions(wall_seconds=300)
        assert world.api.lifecycle is not None
        actions = world.api.lifecycle.actions.actions
        stopped = [t.stopped_at for t in world.sim.tasks.values() if t.instance_id in world.old.container_ids]
        assert stopped and None not in stopped and max(s for s in stopped if s is not None) - held_at >= 300
        assert all(a.result == "CONTINUE" and not a.timed_out for a in actions), actions
        assert all(a.ended is not None and a.ended >= max(s for s in stopped if s is not None) for a in actions)
        assert world.sim.record.killed == []
        beats = world.aws.calls.by_action(caller="DrainFunction")["autoscaling:RecordLifecycleActionHeartbeat"]
        assert beats >= 3 * 9  # each of 3 instances, every 30 s of a drain over 300 s


def test_it_keeps_an_instance_blocked_past_its_deadline_when_abandoned_into_a_retaining_group() -> None:
    """A 100/100 service pins its tasks; BlockedTimeoutSeconds 60 and OnTimeout ABANDON, on a group whose instance
    lifecycle policy retains abandoned terminations: the instances stay (Retained), their tasks running, and the
    output and Reason say so."""
    with rollover_world(
        kind="AutoScalingGroup",
        new_instances=3,
        new_fleet_registers=None,
        services=pinned_services(),
        log_level="ERROR",
    ) as world:
        assert world.api.lifecycle is not None
        world.api.lifecycle.retain_on_abandon.add(world.old.request_id)
        policy = {"BlockedTimeoutSeconds": "60", "OnTimeout": "ABANDON"}
        assert world.bind_termination_hook("drain", heartbeat=300, **policy) is not None
        hold_every_old_instance(world)
        world.aws.clock.advance(30)
        assert world.aws.wait_for_executions(wall_seconds=300)
        [output] = hook_outputs(world)
        assert output["outcome"] == "BLOCKED" and output["lifecycleActions"]["result"] == "ABANDON", output
        assert "pinned" in output["reason"] and "TerminateHookAbandon: retain" in output["reason"]
        autoscaling = world.aws.client("autoscaling")
        [group] = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[world.old.request_id])[
            "AutoScalingGroups"
        ]
        assert {i["LifecycleState"] for i in group["Instances"]} == {"Retained"}
        pinned = [
            t for t in world.sim.tasks.values() if t.service == "pinned" and t.instance_id in world.old.container_ids
        ]
        assert pinned and all(t.last == "RUNNING" and t.stopped_at is None for t in pinned)


def test_it_takes_each_lifecycle_action_once_when_its_event_comes_twice() -> None:
    with rollover_world(
        kind="AutoScalingGroup",
        new_instances=3,
        new_fleet_registers=None,
        lifecycle_events=Delivery(duplicate_share=1.0, redelivery_seconds=60.0, seed=5),
        log_level="ERROR",
    ) as world:
        assert world.bind_termination_hook("drain", heartbeat=300) is not None
        hold_every_old_instance(world)
        world.aws.clock.advance(120)
        assert world.aws.wait_for_executions(wall_seconds=300)
        outputs = hook_outputs(world)
        assert [o["instances"] for o in outputs] == [3], outputs  # the copies, a minute later, started nothing
        joined = [i for i in world.aws.invocations if i.function == "LifecycleHookFunction"]
        assert len(joined) == 6
