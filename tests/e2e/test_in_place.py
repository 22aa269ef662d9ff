"""Capacity CloudFormation changes in place (issue 47), on the emulation: an instance refresh of the Auto Scaling group
the services run on, a rolling update, a scale-in. What happens to the tasks with no drain (the baseline), and with
ecs-drain on the group's hooks (the launch hook's checks: test_launch_checks.py)."""

from __future__ import annotations

from typing import Any

import pytest

from emulation.in_place import measure_in_place
from emulation.scenarios import World, rollover_world


def hook(world: World, heartbeat: int, default: str) -> None:
    world.aws.client("autoscaling").put_lifecycle_hook(
        AutoScalingGroupName=world.old.request_id,
        LifecycleHookName="drain",
        LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
        HeartbeatTimeout=heartbeat,
        DefaultResult=default,
    )


def killed_on_old(world: World) -> int:
    return sum(1 for arn in world.sim.record.killed if world.sim.tasks[arn].instance_id in world.old.container_ids)


@pytest.mark.parametrize("with_hook", [False, True])
def test_it_kills_the_old_instances_tasks_in_a_refresh_nobody_drains_hook_or_not(with_hook: bool) -> None:
    """MinHealthyPercentage 50 of 3 instances: one old instance at a time goes. With no hook it goes at once; with a
    termination hook nobody completes, it serves its 60 s heartbeat timeout and goes all the same (CONTINUE): in
    both, the tasks on it are killed with it, none set DRAINING first. The refresh itself ends Successful, the
    services back on the new instances."""
    options: dict[str, Any] = {"kind": "AutoScalingGroup", "new_instances": 0, "log_level": "ERROR"}
    with rollover_world(**options) as world:
        if with_hook:
            hook(world, 60, "CONTINUE")
        started = world.aws.clock.now()
        refresh = world.refresh_in_place(wall_seconds=120, MinHealthyPercentage=50, InstanceWarmup=60)
        assert refresh["Status"] == "Successful" and refresh["PercentageComplete"] == 100
        assert world.new is not None and len(world.new.container_ids) == 3
        assert killed_on_old(world) > 0
        assert not set(world.sim.record.draining_set_at) & set(world.old.container_ids)
        # Each old instance goes at once, or once the hook held it its 60 s heartbeat timeout, nobody completing it.
        assert world.api.lifecycle is not None
        actions = world.api.lifecycle.actions.actions
        if with_hook:
            assert len(actions) == 3 and all(a.timed_out and a.ended == a.started + 60 for a in actions)
            assert actions[0].started == started
        else:
            assert not actions and min(world.sim.record.gone_at[e] for e in world.old.ec2_ids) - started <= 10


def test_it_moves_on_while_the_termination_hook_still_holds_the_batch_in_a_rolling_update() -> None:
    """AutoScalingRollingUpdate with MaxBatchSize 1 and PauseTime 60 s on 3 instances, a termination hook of 600 s
    nobody completes: the update ends at 180 s with all three old instances still held in Terminating:Wait (as
    reported of it: it does not wait for termination hooks), and when the hook's timeout runs out they go with
    their tasks."""
    with rollover_world(kind="AutoScalingGroup", new_instances=0, log_level="ERROR") as world:
        hook(world, 600, "CONTINUE")
        started = world.aws.clock.now()
        ended = world.rolling_update(max_batch_size=1, pause_seconds=60)
        assert ended - started == 180
        autoscaling = world.aws.client("autoscaling")
        [group] = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[world.old.request_id])[
            "AutoScalingGroups"
        ]
        states = {i["InstanceId"]: i["LifecycleState"] for i in group["Instances"]}
        assert {states[e] for e in world.old.ec2_ids} == {"Terminating:Wait"}
        assert sum(1 for state in states.values() if state == "InService") == 3  # the replacements
        assert killed_on_old(world) == 0  # still serving, held
        world.aws.clock.advance(600)
        assert killed_on_old(world) > 0 and not set(world.sim.record.draining_set_at) & set(world.old.container_ids)


def test_it_drains_each_old_instance_its_bound_termination_hook_holds_in_a_refresh_and_kills_no_task() -> None:
    """The same refresh, the hook bound by the stack's Custom::ECSDrain (TerminationHook): each old instance the hook
    holds is set DRAINING and held until its tasks are STOPPED, then its action is completed with CONTINUE, never
    left to the hook's timeout. No task is killed."""
    with rollover_world(kind="AutoScalingGroup", new_instances=0, log_level="ERROR") as world:
        answer = world.bind_termination_hook("drain", heartbeat=120)
        assert answer is not None and answer.body["Status"] == "SUCCESS", answer
        refresh = world.refresh_in_place(wall_seconds=300, MinHealthyPercentage=50, InstanceWarmup=60)
        assert refresh["Status"] == "Successful", refresh
        assert world.aws.wait_for_executions(wall_seconds=60)
        assert killed_on_old(world) == 0
        assert set(world.sim.record.draining_set_at) >= set(world.old.container_ids)
        assert world.api.lifecycle is not None
        actions = world.api.lifecycle.actions.actions
        assert len(actions) == 3 and all(a.result == "CONTINUE" and not a.timed_out for a in actions), actions


@pytest.mark.parametrize("scenario", ["instance-refresh", "rolling-update", "scale-in"])
def test_it_fails_no_request_and_kills_no_task_where_instances_are_replaced_in_place(scenario: str) -> None:
    """The in-place scenarios with room (the rows of docs/benchmarks.md, "In-place changes"), under ecs-drain: every
    old instance that goes is set DRAINING first, no task on it is killed, no request fails."""
    run = measure_in_place(scenario, "ecs-drain")
    assert run.failed == 0 and run.tasks_killed == 0, run
    assert run.old_gone >= 1 and run.old_set_draining == run.old_gone, run


def test_it_fails_the_refresh_and_keeps_the_blocked_instance_serving() -> None:
    """A 100/100 service in the refresh: the drain is blocked, HookDrainBlocked puts the refresh's alarm in ALARM,
    the refresh fails and the stack update rolls back (a refresh back); the blocked instance, abandoned into a group
    that retains it, serves on."""
    run = measure_in_place("refresh-blocked", "ecs-drain")
    assert run.refresh == "Failed" and run.stack == "UPDATE_ROLLBACK_COMPLETE", run
    assert run.failed == 0 and run.tasks_killed == 0, run
    assert run.old_gone == 0, run
