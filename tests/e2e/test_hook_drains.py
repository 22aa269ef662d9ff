"""A termination hook's drains (issue 47) on the emulation: many instances held at once drained as one, within the
account's ECS limits; a drain that outlasts the hook's heartbeat timeout; one blocked past its deadline and
abandoned into a group that retains such instances; copies of Auto Scaling's events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from emulation.ecs_events import Delivery
from emulation.scenarios import LIFECYCLE_EVENTS, World, pinned_services, rollover_world, services
from emulation.throttling import CATEGORIES, CLUSTER_READ, busiest_second
from tests.e2e.helpers import executions, group_in_capacity_provider


def hold_every_old_instance(world: World) -> float:
    """Scale the old group to 0: its termination hook holds every instance at once. When (simulated time)."""
    with world.aws.calls.acting_as("driver"):
        world.aws.client("autoscaling").set_desired_capacity(
            AutoScalingGroupName=world.old.request_id, DesiredCapacity=0
        )
    return world.aws.clock.now()


@contextmanager
def held_world(heartbeat: int, policy: dict[str, str] | None = None, **options: Any) -> Iterator[World]:
    """Three old instances of a group with room on three others, the hook bound (`policy`: the resource's other
    properties); the test holds them."""
    with rollover_world(
        kind="AutoScalingGroup", new_instances=3, new_fleet_registers=None, log_level="ERROR", **options
    ) as world:
        assert world.bind_termination_hook("drain", heartbeat, **(policy or {})) is not None
        yield world


def hook_outputs(world: World) -> list[dict[str, Any]]:
    sfn = world.aws.sfn()
    return [
        json.loads(sfn.describe_execution(executionArn=e["executionArn"]).get("output") or "{}")
        for e in executions(world)
        if e["name"].startswith("hook-")
    ]


@pytest.mark.slow
@pytest.mark.parametrize("events", ["delivered", "lost"])
def test_it_drains_100_instances_held_within_seconds_as_one_drain_within_the_accounts_read_limits(events: str) -> None:
    """The benchmark's row of 100 targets in a 5,000-instance cluster, the targets held by the hook at once: one
    drain, its cluster reads 0.3 a target at most (the Delete's drain of that row reads 0.2), 10 a second at most,
    none throttled; it completes the actions within two polls of the last task STOPPED. With every event lost, the
    minute's read finds the 100 and the same holds."""
    with rollover_world(
        kind="AutoScalingGroup",
        old_instances=100,
        new_instances=4900,
        new_fleet_registers=None,
        services=services(5000, 1),
        lifecycle_events=Delivery(lost_share=1.0) if events == "lost" else LIFECYCLE_EVENTS,
        log_level="WARNING",
    ) as world:
        assert world.bind_termination_hook("drain", heartbeat=300) is not None
        held_at = hold_every_old_instance(world)
        world.aws.clock.advance(90)
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
        assert world.api.lifecycle is not None
        ended = [a.ended for a in world.api.lifecycle.actions.actions if a.ended is not None]
        stopped = [t.stopped_at for t in world.sim.tasks.values() if t.instance_id in world.old.container_ids]
        last_stop = max((s for s in stopped if s is not None), default=held_at)
        assert len(ended) == 100 and max(ended) - last_stop <= 2 * 15
        [counts] = world.lifecycle_events.values()
        assert counts.lost == (100 if events == "lost" else 0)


def test_it_finds_held_instances_whose_event_never_came_within_a_minute() -> None:
    with held_world(300, lifecycle_events=Delivery(lost_share=1.0)) as world:
        held_at = hold_every_old_instance(world)
        world.aws.clock.advance(120)
        assert world.aws.wait_for_executions(wall_seconds=300)
        [output] = hook_outputs(world)
        assert output["outcome"] == "DRAINED" and output["lifecycleActions"]["result"] == "CONTINUE"
        found = [
            i
            for i in world.aws.invocations
            if i.function == "LifecycleHookFunction" and i.calls["stepfunctions:StartExecution"]
        ]
        assert found and found[0].at - found[0].sim_seconds - held_at <= 60  # the next minute's read
        assert world.sim.record.killed == []


def test_it_holds_an_instance_past_its_hooks_heartbeat_timeout_to_its_last_stopped_task() -> None:
    """A 60 s heartbeat timeout and tasks that take 300 s to leave their load balancer: the drain records a heartbeat
    every 30 s or so, and completes the action only once the last task is STOPPED, 5 minutes on."""
    with held_world(60, services=services(6, 1, deregistration_delay=300)) as world:
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
    """A 100/100 service pins its tasks (on the old instances: the others register once the services are placed, so
    that where ECS put them is not left to chance); BlockedTimeoutSeconds 60 and OnTimeout ABANDON, on a group whose
    instance lifecycle policy retains abandoned terminations: the instances stay (Retained), their tasks running,
    and the output and Reason say so."""
    policy = {"BlockedTimeoutSeconds": "60", "OnTimeout": "ABANDON"}
    options: dict[str, Any] = {"new_instances": 3, "new_fleet_registers": (5.0, 10.0), "log_level": "ERROR"}
    with rollover_world(kind="AutoScalingGroup", services=pinned_services(), **options) as world:
        assert world.bind_termination_hook("drain", 300, **policy) is not None
        world.aws.clock.advance(15)  # the other instances have registered
        assert world.api.lifecycle is not None
        world.api.lifecycle.retain_on_abandon.add(world.old.request_id)
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
    with held_world(300, lifecycle_events=Delivery(duplicate_share=1.0, redelivery_seconds=60.0, seed=5)) as world:
        hold_every_old_instance(world)
        world.aws.clock.advance(120)
        assert world.aws.wait_for_executions(wall_seconds=300)
        outputs = hook_outputs(world)
        assert [o["instances"] for o in outputs] == [3], outputs  # the copies, a minute later, started nothing
        [counts] = world.lifecycle_events.values()
        assert (counts.matched, counts.duplicated, counts.delivered) == (3, 3, 6)


def test_it_drains_once_when_the_events_come_40_seconds_late() -> None:
    """Each event 40 s late (the minute's read may find an instance first: taken once, either way)."""
    with held_world(120, lifecycle_events=Delivery(delay_seconds=40.0, jitter_seconds=0.0)) as world:
        hold_every_old_instance(world)
        world.aws.clock.advance(120)
        assert world.aws.wait_for_executions(wall_seconds=300)
        outputs = hook_outputs(world)
        assert sum(o["instances"] for o in outputs) == 3 and {o["outcome"] for o in outputs} == {"DRAINED"}
        assert world.api.lifecycle is not None
        assert all(a.result == "CONTINUE" and not a.timed_out for a in world.api.lifecycle.actions.actions)
        assert world.sim.record.killed == []


def test_it_ends_a_drain_whose_hook_is_deleted_midway_saying_no_instance_was_still_held() -> None:
    """The hook deleted 60 s into a drain of tasks that take 300 s to leave their load balancer: Auto Scaling
    completes its actions with CONTINUE at once and the instances go, tasks and all (no drain can keep them); the
    drain counts them drained, ends within two polls, and its output says none was still held."""
    with held_world(120, services=services(6, 1, deregistration_delay=300)) as world:
        held_at = hold_every_old_instance(world)
        autoscaling = world.aws.client("autoscaling")

        def delete_hook() -> None:
            with world.aws.calls.acting_as("driver"):
                autoscaling.delete_lifecycle_hook(AutoScalingGroupName=world.old.request_id, LifecycleHookName="drain")

        world.sim.at(held_at + 60, delete_hook)
        world.aws.clock.advance(120)
        assert world.aws.wait_for_executions(wall_seconds=300)
        [output] = hook_outputs(world)
        assert output["outcome"] == "DRAINED" and output["lifecycleActions"]["held"] == 0, output
        assert output["seconds"] <= 60 + 2 * 15


def test_it_ends_a_drain_whose_instance_is_terminated_outside_the_group() -> None:
    """One held instance terminated in EC2 mid-drain: counted drained; the others drain to their last task; the
    actions are completed (the gone one's too, as Auto Scaling still holds it)."""
    with held_world(120, services=services(6, 1, deregistration_delay=120)) as world:
        held_at = hold_every_old_instance(world)
        victim = world.old.container_ids[0]
        world.sim.at(held_at + 45, lambda: world.sim.terminate_instance(victim))
        world.aws.clock.advance(120)
        assert world.aws.wait_for_executions(wall_seconds=300)
        [output] = hook_outputs(world)
        assert output["outcome"] == "DRAINED" and output["instances"] == 3, output
        assert output["lifecycleActions"]["result"] == "CONTINUE"
        others = set(world.old.container_ids) - {victim}
        assert not [arn for arn in world.sim.record.killed if world.sim.tasks[arn].instance_id in others]


def test_it_drains_the_instances_already_held_when_the_refresh_is_cancelled() -> None:
    """An instance refresh cancelled while the first instance's drain runs: the refresh starts nothing more, the
    instance already held is drained to its last task and completed; the others keep serving."""
    with rollover_world(kind="AutoScalingGroup", new_instances=0, log_level="ERROR") as world:
        assert world.bind_termination_hook("drain", heartbeat=120) is not None
        autoscaling = world.aws.client("autoscaling")

        def cancel() -> None:
            with world.aws.calls.acting_as("driver"):
                autoscaling.cancel_instance_refresh(AutoScalingGroupName=world.old.request_id)

        world.sim.at(world.aws.clock.now() + 60, cancel)
        refresh = world.refresh_in_place(wall_seconds=300, MinHealthyPercentage=50, InstanceWarmup=60)
        assert refresh["Status"] == "Cancelled", refresh
        world.aws.clock.advance(300)
        assert world.aws.wait_for_executions(wall_seconds=300)
        [output] = hook_outputs(world)
        assert output["outcome"] == "DRAINED" and output["instances"] == 1, output
        assert world.sim.record.killed == []
        states = {
            i["InstanceId"]: i["LifecycleState"]
            for i in autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[world.old.request_id])[
                "AutoScalingGroups"
            ][0]["Instances"]
        }
        assert sum(1 for e in world.old.ec2_ids if states.get(e) == "InService") == 2


def test_it_refuses_a_termination_hook_on_a_group_ecs_managed_draining_drains_already() -> None:
    """The old group is a capacity provider's (its managed draining on, by default): the Update that names the hook
    fails, saying why and what to change; nothing is bound."""
    with rollover_world(kind="AutoScalingGroup", new_instances=0, log_level="ERROR") as world:
        group_in_capacity_provider(world)
        answer = world.bind_termination_hook("drain", heartbeat=120)
        assert answer is not None and answer.body["Status"] == "FAILED", answer
        assert "managed instance draining" in answer.body["Reason"] and "DISABLED" in answer.body["Reason"]
        assert "TerminationHook" not in world.properties
