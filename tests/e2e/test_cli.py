"""The ecs-drain command line against the offline emulation."""

from __future__ import annotations

import json
import threading

import pytest

from ecs_drain.aws.room_claims import RoomBook
from ecs_drain.decisions.claims import Claim
from ecs_drain.decisions.placement import TaskNeeds
from ecs_drain.model.state import TaskGroup
from ecs_drain_cli.main import main
from emulation.ecs_simulator import ServiceSpec
from emulation.scenarios import World, pinned_services, rollover_world


def run(world: World, *args: str) -> int:
    return main(["--state-machine-arn", world.aws.state_machine_arn, *args, "--plain", "--interval", "0.05"])


def test_it_starts_a_drain_by_hand_and_follows_it_to_the_end(capsys: pytest.CaptureFixture[str]) -> None:
    with rollover_world(new_fleet_registers=None) as world:
        code = run(world, "start", "--cluster", "web", "--spot-fleet", world.old.request_id, "--watch")
        out = capsys.readouterr().out
        assert code == 0
        assert "Started arn:aws:states:" in out and ":manual-web-" in out
        assert "Outcome: DRAINED" in out
        assert len(world.server.answers) == 1  # only the Create: a drain by hand answers nobody
        assert all(world.sim.not_stopped(i) == 0 for i in world.old.container_ids)


def test_it_gives_scripts_one_json_document_per_command(capsys: pytest.CaptureFixture[str]) -> None:
    with rollover_world(new_fleet_registers=None) as world:
        target = ["--cluster", "web", "--spot-fleet", world.old.request_id, "--output", "json"]
        assert main(["check", *target]) == 0
        verdict = json.loads(capsys.readouterr().out)
        assert verdict["finishes"] is True and verdict["instances"] == 3
        # The services with tasks on the old fleet: ties between equally empty instances go by container instance id,
        # which moto draws at random, so the worker may or may not have a task there.
        old = set(world.old.container_ids)
        placed = {t.service for t in world.sim.tasks.values() if t.instance_id in old and t.last == "RUNNING"}
        assert "web" in placed and {r["service"] for r in verdict["services"]} == placed - {"log-agent"}
        assert run(world, "start", *target) == 0
        started = json.loads(capsys.readouterr().out)
        assert (
            main(["watch", "--execution-arn", started["executionArn"], "--interval", "0.05", "--output", "json"]) == 0
        )
        ended = json.loads(capsys.readouterr().out)
        assert ended["executionArn"] == started["executionArn"] and ended["outcome"] == "DRAINED"
        assert ended["exitStatus"] == 0 and ended["instances"] == 3


def test_it_watches_the_drain_of_a_stack_by_its_name(capsys: pytest.CaptureFixture[str]) -> None:
    with rollover_world() as world:
        request = world.cfn.request("Delete", "ECSDrain", world.properties, physical_id=world.physical_id)
        sender = threading.Thread(target=world.cfn.send, args=(request,))
        sender.start()
        sender.join()
        code = run(world, "watch", "--stack", "web-cluster")
        out = capsys.readouterr().out
        assert code == 0
        assert "Following arn:aws:states:" in out and ":web-cluster-ECSDrain-" in out  # which drain it follows
        assert "Outcome: DRAINED (SUCCESS)" in out
        assert world.cfn.wait_for_answer(request) is not None


def test_it_exits_non_zero_when_the_drain_hits_its_deadline(capsys: pytest.CaptureFixture[str]) -> None:
    with rollover_world(new_instances=0) as world:
        code = run(
            world, "start", "--cluster", "web", "--spot-fleet", world.old.request_id, "--timeout", "300", "--watch"
        )
        assert code == 1
        assert "Outcome: DEADLINE" in capsys.readouterr().out


def test_it_shows_why_a_blocked_drain_cannot_finish(capsys: pytest.CaptureFixture[str]) -> None:
    with rollover_world(services=pinned_services()) as world:
        code = run(
            world, "start", "--cluster", "web", "--spot-fleet", world.old.request_id, "--timeout", "300", "--watch"
        )
        out = capsys.readouterr().out
        assert code == 1
        assert "why: service pinned: DEPLOYMENT_CONFIGURATION, 3 tasks" in out
        assert "maximumPercent 100" in out


@pytest.mark.parametrize(
    ("given", "named"),
    [(["--poll", "1"], "PollIntervalSeconds"), (["--timeout", "5"], "DrainTimeoutSeconds")],
)
def test_it_refuses_invalid_properties_before_starting_anything(
    given: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with rollover_world(create=False, new_instances=0) as world:
        code = run(world, "start", "--cluster", "web", "--spot-fleet", world.old.request_id, *given)
        err = capsys.readouterr().err
        assert code == 2
        assert named in err and "Traceback" not in err
        assert world.aws.sfn().list_executions(stateMachineArn=world.aws.state_machine_arn)["executions"] == []


def failed(capsys: pytest.CaptureFixture[str], world: World, *args: str) -> str:
    code = main(["--state-machine-arn", world.aws.state_machine_arn, *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and 1 <= len(err.strip().splitlines()) <= 2, err
    return err


def test_it_says_in_one_line_that_an_execution_or_a_stack_has_no_drain(capsys: pytest.CaptureFixture[str]) -> None:
    with rollover_world(create=False, new_instances=0) as world:
        unknown = world.aws.state_machine_arn.replace(":stateMachine:", ":execution:") + ":nope"
        assert "AWS refused DescribeExecution: ExecutionDoesNotExist" in failed(
            capsys, world, "watch", "--execution-arn", unknown
        )
        assert "no drain of stack nope was found" in failed(capsys, world, "watch", "--stack", "nope")


def test_it_refuses_a_cluster_or_a_target_that_does_not_exist(capsys: pytest.CaptureFixture[str]) -> None:
    with rollover_world(create=False, new_instances=0) as world:
        fleet = world.old.request_id
        err = failed(capsys, world, "start", "--cluster", "nope", "--spot-fleet", fleet)
        assert "cluster nope does not exist" in err
        invented = "sfr-00000000-0000-4000-8000-000000000000"
        assert f"SpotFleet {invented} does not exist" in failed(
            capsys, world, "start", "--cluster", "web", "--spot-fleet", invented
        )
        assert world.aws.sfn().list_executions(stateMachineArn=world.aws.state_machine_arn)["executions"] == []


def test_it_watches_a_stack_by_its_exact_name_only(capsys: pytest.CaptureFixture[str]) -> None:
    with rollover_world() as world:
        request = world.cfn.request("Delete", "ECSDrain", world.properties, physical_id=world.physical_id)
        world.cfn.send(request)
        # The drain of stack web-cluster is not stack web's, though its execution's name starts with "web-".
        assert "no drain of stack web was found" in failed(capsys, world, "watch", "--stack", "web")
        assert world.cfn.wait_for_answer(request) is not None


def test_it_gives_two_drains_started_in_the_same_second_their_own_names(capsys: pytest.CaptureFixture[str]) -> None:
    with rollover_world(new_fleet_registers=None) as world:
        ids = world.old.ec2_ids
        for instance in ids[:2]:
            assert run(world, "start", "--cluster", "web", "--instance-ids", instance) == 0
        started = world.aws.sfn().list_executions(stateMachineArn=world.aws.state_machine_arn)["executions"]
        assert len({e["name"] for e in started}) == 2
        out = capsys.readouterr().out
        assert out.count("Started arn:aws:states:") == 2


def test_it_checks_a_target_against_the_room_other_drains_in_flight_claim(capsys: pytest.CaptureFixture[str]) -> None:
    """One spare instance (4 places) after the services settled. A drain of the other old fleet, in flight, claims
    it for 4 of its tasks: a check of the old fleet then finds no room, naming that drain; with no claim, it fits."""
    with rollover_world(
        services=[ServiceSpec("web", cpu=512, memory=512, desired=8, min_healthy_percent=50)],
        other_old_fleets=1,
        new_instances=1,
        new_fleet_registers=(1.0, 1.0),
    ) as world:
        world.sim.run_until(world.aws.clock.now() + 30)  # the spare instance registers
        target = ["check", "--cluster", "web", "--spot-fleet", world.old.request_id, "--output", "json"]
        assert main(target) == 0, capsys.readouterr()
        capsys.readouterr()
        other = world.others[0]
        book = RoomBook(world.aws.client("dynamodb"), world.aws.outputs["CallBudgetTable"])
        needs = TaskNeeds("web", 512, 512).to_json()
        group: TaskGroup = {"service": "web", "tasks": 4, "heldOn": [], "targetGroups": [], "needs": needs}
        drain = Claim(
            f"SpotFleet {other.request_id}",
            f"the drain of SpotFleet {other.request_id}",
            frozenset(other.ec2_ids),
            frozenset(),
            (group,),
            world.aws.clock.now() + 3600,
        )
        assert book.write("web", drain) is not None
        assert main(target) == 1
        verdict = json.loads(capsys.readouterr().out)
        assert verdict["finishes"] is False
        said = " ".join(f["detail"] for f in verdict["findings"])
        assert f"the drain of SpotFleet {other.request_id} (4 tasks of SpotFleet {other.request_id})" in said, said


def test_it_watches_the_drain_a_groups_termination_hook_started(capsys: pytest.CaptureFixture[str]) -> None:
    with rollover_world(kind="AutoScalingGroup", new_instances=3, new_fleet_registers=None) as world:
        assert world.bind_termination_hook("drain", heartbeat=120) is not None
        with world.aws.calls.acting_as("driver"):
            world.aws.client("autoscaling").set_desired_capacity(
                AutoScalingGroupName=world.old.request_id, DesiredCapacity=2
            )
        world.aws.clock.advance(5)  # the hook's event comes, the batch's drain starts
        code = run(world, "watch", "--auto-scaling-group", world.old.request_id)
        out = capsys.readouterr().out
        assert code == 0
        assert "Following arn:aws:states:" in out and ":hook-" in out
        assert "Outcome: DRAINED (SUCCESS)" in out
        assert "Lifecycle actions completed with CONTINUE: 1 of 1 instances still held by the hook" in out
        assert run(world, "watch", "--auto-scaling-group", "another-group") == 2  # none: a clear error
        assert "no drain or launch check of a hook of the group another-group" in capsys.readouterr().err


def test_it_checks_whether_a_groups_hooks_would_bind_naming_what_to_change(capsys: pytest.CaptureFixture[str]) -> None:
    with rollover_world(kind="AutoScalingGroup", new_instances=3, new_fleet_registers=None) as world:
        autoscaling = world.aws.client("autoscaling")
        for name, transition, heartbeat in (("drain", "TERMINATING", 300), ("check", "LAUNCHING", 600)):
            autoscaling.put_lifecycle_hook(
                AutoScalingGroupName=world.old.request_id,
                LifecycleHookName=name,
                LifecycleTransition=f"autoscaling:EC2_INSTANCE_{transition}",
                HeartbeatTimeout=heartbeat,
            )
        target = ["check", "--cluster", "web", "--auto-scaling-group", world.old.request_id]
        assert main([*target, "--termination-hook", "drain"]) == 0
        assert (
            f"Would bind: TerminationHook drain on AutoScalingGroup {world.old.request_id}." in capsys.readouterr().out
        )
        # The launch hook's 600 s cannot hold a new instance through a 900 s check: refused, as an Update would be.
        assert main([*target, "--termination-hook", "drain", "--launch-hook", "check", "--output", "json"]) == 1
        verdict = json.loads(capsys.readouterr().out)
        assert verdict["finishes"] is True
        [problem] = verdict["hookProblems"]
        assert problem.startswith("LaunchHook 'check': its HeartbeatTimeout 600 would let a new instance go")
        assert main(["check", "--cluster", "web", "--spot-fleet", "sfr-12345678", "--launch-hook", "check"]) == 2
        assert "LaunchHook is a lifecycle hook of an Auto Scaling group" in capsys.readouterr().err


def test_it_watches_the_launch_check_a_groups_launch_hook_started(capsys: pytest.CaptureFixture[str]) -> None:
    with rollover_world(kind="AutoScalingGroup", new_instances=0, log_level="ERROR") as world:
        assert world.bind_hooks({"LaunchHook": ("check", 1200)}) is not None
        world.scale_out_in_place(1)
        world.aws.clock.advance(5)  # the hook's event comes, the batch's check starts
        code = run(world, "watch", "--auto-scaling-group", world.old.request_id)
        out = capsys.readouterr().out
        assert code == 0
        assert "Following arn:aws:states:" in out and ":hook-" in out and "-check-1-" in out
        assert "preflight WAITING_FOR_INSTANCES" in out and "0 of 1 new instances ready" in out
        assert "Outcome: PREFLIGHT_PASSED (SUCCESS). Launch check passed: 1 instance of InstanceIds i-" in out
        assert "Lifecycle actions completed with CONTINUE: 1 of 1 instances still held by the hook" in out
        assert "Room for the old target's tasks" not in out
