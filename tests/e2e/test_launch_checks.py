"""A launch hook's checks (issue 47) on the emulation: each new instance of an in-place change held until it is
ready and would take the group's tasks, then CONTINUE; one that never gets there ABANDONed, the refresh failed by the
alarm and rolled back while the old instances serve."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulation.ecs_events import Delivery
from emulation.ecs_simulator import ServiceSpec
from emulation.in_place import measure_in_place
from emulation.lifecycle_hooks import LAUNCHING
from emulation.scenarios import LIFECYCLE_EVENTS, REFRESH_REGISTERS_SECONDS, World, default_services, rollover_world
from tests.e2e.helpers import executions

ALARM = "hook-drain-blocked"
TIERED = ServiceSpec(
    "tiered",
    cpu=256,
    memory=256,
    desired=3,
    placement_constraints=[{"type": "memberOf", "expression": "attribute:tier == web"}],
)


def check_outputs(world: World) -> list[dict[str, Any]]:
    """The launch checks' outputs, oldest first."""
    found = [e for e in executions(world) if e["name"].startswith("hook-") and "-check-" in e["name"]]
    return [json.loads(e.get("output") or "{}") for e in sorted(found, key=lambda e: e["startDate"])]


def launch_actions(world: World) -> list[Any]:
    assert world.api.lifecycle is not None
    return [a for a in world.api.lifecycle.actions.actions if a.transition == LAUNCHING]


def bound(world: World, launch_heartbeat: int = 1200, **policy: str) -> None:
    hooks = {"TerminationHook": ("drain", 300), "LaunchHook": ("check", launch_heartbeat)}
    answer = world.bind_hooks(hooks, **policy)
    assert answer is not None and answer.body["Status"] == "SUCCESS", answer


def killed_on_old(world: World) -> int:
    return sum(1 for arn in world.sim.record.killed if world.sim.tasks[arn].instance_id in world.old.container_ids)


@pytest.mark.parametrize("events", ["delivered", "lost"])
def test_it_continues_each_new_instance_of_a_refresh_once_it_is_ready_and_takes_the_groups_tasks(events: str) -> None:
    """Each instance the refresh launches is held in Pending:Wait until it has registered (45 s after launch), is
    ACTIVE and runs its daemons, and the group's service tasks would be placed on it; then CONTINUE, never the
    hook's timeout. With every Auto Scaling event lost, the minute's read of the bound groups finds them."""
    delivery = LIFECYCLE_EVENTS if events == "delivered" else Delivery(lost_share=1.0)
    options: dict[str, Any] = {"new_instances": 0, "log_level": "ERROR", "lifecycle_events": delivery}
    with rollover_world(kind="AutoScalingGroup", **options) as world:
        bound(world)
        refresh = world.refresh_in_place(wall_seconds=300, MinHealthyPercentage=50, InstanceWarmup=60)
        assert refresh["Status"] == "Successful", refresh
        actions = launch_actions(world)
        assert len(actions) == 3 and all(a.result == "CONTINUE" and not a.timed_out for a in actions), actions
        assert all(a.ended - a.started >= REFRESH_REGISTERS_SECONDS for a in actions)
        found_within = 60 if events == "lost" else 0  # the next minute's read
        assert all(a.ended - a.started <= REFRESH_REGISTERS_SECONDS + found_within + 15 + 2 * 15 + 5 for a in actions)
        outputs = check_outputs(world)
        assert {o["outcome"] for o in outputs} == {"PREFLIGHT_PASSED"} and len(outputs) == 3
        assert all(o["lifecycleActions"]["result"] == "CONTINUE" for o in outputs)
        assert outputs[0]["reason"].startswith("Launch check passed: 1 instance of InstanceIds i-")
        assert killed_on_old(world) == 0


def test_it_abandons_at_once_new_instances_a_services_constraint_refuses_and_the_refresh_rolls_back() -> None:
    """The old instances carry the custom attribute tier=web that service tiered's memberOf needs; the new launch
    template's do not. The first new instance is ABANDONed once ready (not at PreflightTimeoutSeconds), the Reason
    naming the service and the rule; HookDrainBlocked puts the refresh's alarm in ALARM, it rolls back (the
    rollback's instances, of the configuration of before, pass), and no task is killed."""
    options: dict[str, Any] = {"services": [*default_services(), TIERED], "old_attributes": {"tier": "web"}}
    with rollover_world(kind="AutoScalingGroup", new_instances=0, log_level="ERROR", **options) as world:
        assert world.api.lifecycle is not None
        world.api.lifecycle.retain_on_abandon.add(world.old.request_id)
        world.alarm_on_hook_drains(ALARM)
        bound(world)
        preferences: dict[str, Any] = {"MinHealthyPercentage": 50, "InstanceWarmup": 60, "AutoRollback": True}
        refresh = world.refresh_in_place(
            wall_seconds=600,
            attributes=(None, {"tier": "web"}),
            AlarmSpecification={"Alarms": [ALARM]},
            **preferences,
        )
        assert refresh["Status"] == "RollbackSuccessful", refresh
        first = check_outputs(world)[0]
        assert first["outcome"] == "PREFLIGHT_FAILED" and first["lifecycleActions"]["result"] == "ABANDON", first
        assert first["reason"].startswith("Launch check failed: InstanceIds i-")
        assert "Why: service tiered: " in first["reason"] and "tasks on the group's other instances" in first["reason"]
        assert "memberOf(attribute:tier == web)" in first["reason"]
        assert first["seconds"] < 120  # once ready, not at the 900 s deadline
        assert [o["outcome"] for o in check_outputs(world)][-1] == "PREFLIGHT_PASSED"  # the rollback's instance
        assert killed_on_old(world) == 0


def test_it_fails_the_refresh_whose_new_instances_never_register_and_rolls_it_back_serving_every_request() -> None:
    """refresh-bad-ami (docs/benchmarks.md, "In-place changes"): the launch check ABANDONs each new instance at its
    300 s, the alarm fails the refresh, the stack update rolls back (a refresh back, its instance passing its check);
    no request fails, no task is killed."""
    run = measure_in_place("refresh-bad-ami", "ecs-drain")
    assert run.refresh == "Failed" and run.stack == "UPDATE_ROLLBACK_COMPLETE", run
    assert run.failed == 0 and run.tasks_killed == 0, run


def test_it_refuses_a_launch_hook_that_would_let_an_instance_go_before_its_check_ends() -> None:
    with rollover_world(kind="AutoScalingGroup", new_instances=0, log_level="ERROR") as world:
        answer = world.bind_hooks({"LaunchHook": ("check", 600)})
        assert answer is not None and answer.body["Status"] == "FAILED", answer
        assert "LaunchHook 'check': its HeartbeatTimeout 600 would let a new instance go" in answer.body["Reason"]
        assert "set the hook's HeartbeatTimeout to 1035 or more" in answer.body["Reason"]


def test_it_checks_the_instances_a_group_launched_before_its_launch_hook_was_bound() -> None:
    """A stack's creation: the group's launch hook holds its first instances before the Custom::ECSDrain that names
    it exists (their events find no binding). Once bound, the minute's read finds them in Pending:Wait and checks
    them: CONTINUE, well within the hook's HeartbeatTimeout."""
    with rollover_world(kind="AutoScalingGroup", new_instances=0, log_level="ERROR") as world:
        with world.aws.calls.acting_as("driver"):
            world.aws.client("autoscaling").put_lifecycle_hook(
                AutoScalingGroupName=world.old.request_id,
                LifecycleHookName="check",
                LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING",
                HeartbeatTimeout=1200,
                DefaultResult="CONTINUE",
            )
        world.scale_out_in_place(1)
        world.aws.clock.advance(90)  # its event came, found no binding, and started nothing
        assert check_outputs(world) == []
        bound(world)
        world.aws.clock.advance(150)
        assert world.aws.wait_for_executions(wall_seconds=120)
        [action] = launch_actions(world)
        assert action.result == "CONTINUE" and not action.timed_out and action.ended - action.started <= 90 + 150
        [output] = check_outputs(world)
        assert output["outcome"] == "PREFLIGHT_PASSED", output
