"""Auto Scaling lifecycle actions as the user guide describes them, pinned by hand."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from emulation.ecs_events import Delivery
from emulation.lifecycle_hooks import LAUNCHING, TERMINATING, LifecycleActions, LifecycleError
from emulation.scenarios import World, rollover_world

GROUP, HOOK, INSTANCE = "web-asg", "drain", "i-0123456789abcdef0"


def terminating(actions: LifecycleActions, heartbeat: int, default: str = "ABANDON", now: float = 0.0) -> str:
    action = actions.begin(GROUP, HOOK, INSTANCE, TERMINATING, now, HeartbeatTimeout=heartbeat, DefaultResult=default)
    assert action.state == "Terminating:Wait"
    return action.token


def test_it_ends_an_action_nobody_completes_at_its_heartbeat_timeout_with_the_default_result() -> None:
    actions = LifecycleActions()
    terminating(actions, 300)
    assert actions.expire(299.0) == []
    [ended] = actions.expire(300.0)
    assert (ended.result, ended.ended, ended.timed_out) == ("ABANDON", 300.0, True)
    # A termination hook is best effort: abandoned, the instance is terminated all the same, unless the group's
    # instance lifecycle policy retains it.
    assert ended.outcome(retain_on_abandon=False) == "Terminated"
    assert ended.outcome(retain_on_abandon=True) == "Retained"


def test_it_keeps_an_instance_held_while_heartbeats_come_up_to_100_heartbeat_timeouts() -> None:
    """HeartbeatTimeout 300: 100 timeouts are 30,000 s, less than 48 h (172,800 s)."""
    actions = LifecycleActions()
    token = terminating(actions, 300, default="CONTINUE")
    for now in range(250, 30_000, 250):
        actions.heartbeat(GROUP, HOOK, float(now), token=token)
    assert actions.holding(INSTANCE)
    [ended] = actions.expire(30_000.0)
    assert (ended.ended, ended.result, ended.outcome(retain_on_abandon=True)) == (30_000.0, "CONTINUE", "Terminated")
    with pytest.raises(LifecycleError, match="No active Lifecycle Action"):
        actions.heartbeat(GROUP, HOOK, 30_001.0, token=token)


def test_it_ends_an_action_at_48_hours_when_100_heartbeat_timeouts_would_be_longer() -> None:
    """HeartbeatTimeout 7,200: 100 timeouts are 720,000 s; 48 h (172,800 s) comes first."""
    actions = LifecycleActions()
    terminating(actions, 7200)
    [action] = actions.actions
    assert action.last_moment == 172_800.0
    for now in range(7000, 172_800, 7000):
        actions.heartbeat(GROUP, HOOK, float(now), instance_id=INSTANCE)
    assert action.due == 172_800.0  # the last heartbeat, at 168,000 s, would have held it to 175,200 s


def test_it_completes_by_token_or_by_instance_and_refuses_an_action_that_has_ended() -> None:
    actions = LifecycleActions()
    token = terminating(actions, 3600)
    actions.complete(GROUP, HOOK, "CONTINUE", 100.0, token=token)
    [action] = actions.actions
    assert (action.result, action.ended, action.timed_out) == ("CONTINUE", 100.0, False)
    with pytest.raises(LifecycleError):
        actions.complete(GROUP, HOOK, "CONTINUE", 101.0, instance_id=INSTANCE)
    with pytest.raises(LifecycleError):  # by instance, but another hook's
        actions.begin(GROUP, "other", INSTANCE, TERMINATING, 0.0)
        actions.complete(GROUP, HOOK, "ABANDON", 1.0, instance_id=INSTANCE)


def test_it_sends_a_launch_in_service_on_continue_and_terminates_it_on_abandon() -> None:
    actions = LifecycleActions()
    kept = actions.begin(GROUP, HOOK, "i-1", LAUNCHING, 0.0)
    dropped = actions.begin(GROUP, HOOK, "i-2", LAUNCHING, 0.0)
    assert kept.state == "Pending:Wait" and kept.heartbeat_seconds == 3600 and kept.default_result == "ABANDON"
    actions.complete(GROUP, HOOK, "CONTINUE", 10.0, instance_id="i-1")
    actions.complete(GROUP, HOOK, "ABANDON", 10.0, instance_id="i-2")
    assert kept.outcome(retain_on_abandon=True) == "InService"
    assert dropped.outcome(retain_on_abandon=True) == "Terminated"


@pytest.mark.parametrize(("settings", "said"), [
    ({"HeartbeatTimeout": 29}, "HeartbeatTimeout must be from 30 to 7200"),
    ({"HeartbeatTimeout": 7201}, "HeartbeatTimeout must be from 30 to 7200"),
    ({"DefaultResult": "STOP"}, "DefaultResult must be CONTINUE or ABANDON"),
])  # fmt: skip
def test_it_refuses_a_hook_setting_auto_scaling_refuses(settings: dict[str, object], said: str) -> None:
    with pytest.raises(LifecycleError, match=said):
        LifecycleActions().begin(GROUP, HOOK, INSTANCE, TERMINATING, 0.0, **settings)


@dataclass
class Held:
    """A rollover world on Auto Scaling groups whose old group has a termination hook (heartbeat 60 s)."""

    world: World
    autoscaling: Any
    group: str
    instance: str  # an old instance's EC2 id
    container: str  # its container instance

    def state(self) -> str:
        found = self.autoscaling.describe_auto_scaling_instances(InstanceIds=[self.instance])["AutoScalingInstances"]
        return str(found[0]["LifecycleState"]) if found else "gone"

    def terminate(self) -> None:
        self.autoscaling.terminate_instance_in_auto_scaling_group(
            InstanceId=self.instance, ShouldDecrementDesiredCapacity=True
        )

    def heartbeat(self) -> None:
        self.autoscaling.record_lifecycle_action_heartbeat(
            AutoScalingGroupName=self.group, LifecycleHookName=HOOK, InstanceId=self.instance
        )


def held(default_result: str) -> Iterator[Held]:
    with rollover_world(kind="AutoScalingGroup", new_instances=3, new_fleet_registers=None, log_level="ERROR") as world:
        autoscaling = world.aws.client("autoscaling")
        group = world.old.request_id
        autoscaling.put_lifecycle_hook(
            AutoScalingGroupName=group,
            LifecycleHookName=HOOK,
            LifecycleTransition=TERMINATING,
            HeartbeatTimeout=60,
            DefaultResult=default_result,
        )
        yield Held(world, autoscaling, group, world.old.ec2_ids[0], world.old.container_ids[0])


def test_it_holds_an_instance_a_termination_hook_holds_until_the_action_is_completed() -> None:
    with contextmanager(held)("ABANDON") as it:
        it.terminate()
        assert it.state() == "Terminating:Wait"
        it.world.aws.clock.advance(50)
        it.heartbeat()
        it.world.aws.clock.advance(50)  # 100 s in: past the first timeout, within the one the heartbeat restarted
        assert it.state() == "Terminating:Wait"
        assert it.world.sim.instances[it.container].status == "ACTIVE"  # still serving
        it.autoscaling.complete_lifecycle_action(
            AutoScalingGroupName=it.group,
            LifecycleHookName=HOOK,
            InstanceId=it.instance,
            LifecycleActionResult="CONTINUE",
        )
        assert it.state() == "gone" and it.instance in it.world.sim.record.gone_at
        with pytest.raises(ClientError, match="No active Lifecycle Action"):
            it.heartbeat()


def test_it_terminates_an_instance_at_its_heartbeat_timeout_or_retains_it_where_the_policy_says() -> None:
    with contextmanager(held)("CONTINUE") as it:
        it.terminate()
        it.world.aws.clock.advance(59)
        assert it.state() == "Terminating:Wait"
        it.world.aws.clock.advance(2)
        assert it.state() == "gone" and it.instance in it.world.sim.record.gone_at
    with contextmanager(held)("ABANDON") as it:
        assert it.world.api.lifecycle is not None
        it.world.api.lifecycle.retain_on_abandon.add(it.group)
        it.terminate()
        it.world.aws.clock.advance(61)
        assert it.state() == "Retained" and it.instance not in it.world.sim.record.gone_at


def test_it_completes_a_deleted_hooks_outstanding_termination_with_continue_first() -> None:
    """DeleteLifecycleHook: "If there are any outstanding lifecycle actions, they are completed first (ABANDON for
    launching instances, CONTINUE for terminating instances)": the held instance goes at once, even where abandoned
    terminations are retained; the hook is gone."""
    with contextmanager(held)("ABANDON") as it:
        assert it.world.api.lifecycle is not None
        it.world.api.lifecycle.retain_on_abandon.add(it.group)
        it.terminate()
        it.world.aws.clock.advance(10)
        it.autoscaling.delete_lifecycle_hook(AutoScalingGroupName=it.group, LifecycleHookName=HOOK)
        assert it.state() == "gone" and it.world.sim.record.gone_at[it.instance] == it.world.aws.clock.now()
        [action] = it.world.api.lifecycle.actions.actions
        assert action.result == "CONTINUE" and not action.timed_out
        assert it.autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=it.group)["LifecycleHooks"] == []


@pytest.mark.parametrize("lost", [False, True])
def test_it_tells_eventbridge_that_a_hook_holds_an_instance_best_effort(lost: bool) -> None:
    with contextmanager(held)("ABANDON") as it:
        assert it.world.bus is not None
        got: list[dict[str, Any]] = []
        pattern = {"source": ["aws.autoscaling"], "detail-type": ["EC2 Instance-terminate Lifecycle Action"]}
        it.world.bus.put_rule("hooks", pattern, got.append, Delivery(lost_share=1.0 if lost else 0.0))
        it.terminate()
        it.world.aws.clock.advance(5)  # delivered 0.5 to 2.5 s after
        assert it.state() == "Terminating:Wait"  # held whether or not the event came: a read finds it
        if lost:
            assert got == []
            return
        [event] = got
        detail = event["detail"]
        assert (detail["EC2InstanceId"], detail["AutoScalingGroupName"], detail["LifecycleHookName"]) == (
            it.instance,
            it.group,
            HOOK,
        )
        assert detail["LifecycleTransition"] == TERMINATING and event["resources"][0].endswith(f"/{it.group}")
        it.autoscaling.complete_lifecycle_action(
            AutoScalingGroupName=it.group,
            LifecycleHookName=HOOK,
            LifecycleActionToken=detail["LifecycleActionToken"],
            LifecycleActionResult="CONTINUE",
        )
        assert it.state() == "gone"


def test_it_holds_the_instances_a_scale_in_takes_out_and_terminates_them_once_completed() -> None:
    with contextmanager(held)("ABANDON") as it:
        before = len(it.world.old.ec2_ids)
        it.autoscaling.set_desired_capacity(AutoScalingGroupName=it.group, DesiredCapacity=before - 1)
        group = it.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[it.group])["AutoScalingGroups"][0]
        states = {i["InstanceId"]: i["LifecycleState"] for i in group["Instances"]}
        assert group["DesiredCapacity"] == before - 1
        assert sorted(states.values()) == sorted(["Terminating:Wait"] + ["InService"] * (before - 1))
        [taken] = [i for i, state in states.items() if state == "Terminating:Wait"]
        it.world.aws.clock.advance(30)
        assert taken not in it.world.sim.record.gone_at  # serving while held
        it.autoscaling.complete_lifecycle_action(
            AutoScalingGroupName=it.group, LifecycleHookName=HOOK, InstanceId=taken, LifecycleActionResult="CONTINUE"
        )
        assert taken in it.world.sim.record.gone_at
        assert len(it.autoscaling.describe_auto_scaling_instances(InstanceIds=[taken])["AutoScalingInstances"]) == 0


def test_it_holds_the_instances_a_launch_hook_holds_until_continue_puts_them_in_service() -> None:
    with contextmanager(held)("ABANDON") as it:
        it.autoscaling.put_lifecycle_hook(
            AutoScalingGroupName=it.group,
            LifecycleHookName="check",
            LifecycleTransition=LAUNCHING,
            HeartbeatTimeout=120,
        )
        before = {i for i in it.world.old.ec2_ids}
        it.autoscaling.set_desired_capacity(AutoScalingGroupName=it.group, DesiredCapacity=len(before) + 2)
        group = it.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[it.group])["AutoScalingGroups"][0]
        launched = {i["InstanceId"]: i["LifecycleState"] for i in group["Instances"] if i["InstanceId"] not in before}
        assert sorted(launched.values()) == ["Pending:Wait", "Pending:Wait"]
        kept, dropped = sorted(launched)
        names = {"AutoScalingGroupName": it.group, "LifecycleHookName": "check"}
        it.autoscaling.complete_lifecycle_action(**names, InstanceId=kept, LifecycleActionResult="CONTINUE")
        it.world.aws.clock.advance(121)  # the other times out: ABANDON, the default, terminates a launch
        states = {
            i["InstanceId"]: i["LifecycleState"]
            for i in it.autoscaling.describe_auto_scaling_instances(InstanceIds=[kept, dropped])["AutoScalingInstances"]
        }
        assert states == {kept: "InService"}


def test_it_counts_the_instances_a_launch_hook_holds_toward_the_desired_capacity() -> None:
    """A second SetDesiredCapacity to the same size while the first one's launches are held launches nothing more
    (AWS counts Pending:Wait instances in the group's capacity; moto counts InService ones alone)."""
    with contextmanager(held)("ABANDON") as it:
        it.autoscaling.put_lifecycle_hook(
            AutoScalingGroupName=it.group,
            LifecycleHookName="check",
            LifecycleTransition=LAUNCHING,
            HeartbeatTimeout=120,
        )
        size = len(it.world.old.ec2_ids) + 2
        for _ in range(2):
            it.autoscaling.set_desired_capacity(AutoScalingGroupName=it.group, DesiredCapacity=size)
        group = it.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[it.group])["AutoScalingGroups"][0]
        assert len(group["Instances"]) == size and group["DesiredCapacity"] == size
        assert sorted(i["LifecycleState"] for i in group["Instances"]).count("Pending:Wait") == 2
