"""The preflight of a replacing Update, end to end on the emulation: broken new capacity is caught while CloudFormation
can still roll back, and the rollback itself is never held up."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from ecs_drain.aws import cfn_answer
from ecs_drain_cli.main import main
from ecs_drain_cli.options import TARGET_NOT_IN_CLUSTER
from emulation import strategies
from emulation.catalog import SCENARIOS, world_options
from emulation.ecs_simulator import ServiceSpec
from emulation.scenarios import World, default_services, rollover_world

from .helpers import drains, preflights

POLL = 15


def measured(world: World, scenario: str, strategy: str = "ecs-drain") -> strategies.Run:
    return strategies.run(world, scenario, strategy, SCENARIOS[scenario].policy)


def update_answer(world: World) -> Any:
    """The answer to the Update of the rollover (the first request after the Create)."""
    return world.server.answers[1]


def assert_rolled_back_safely(world: World, run: strategies.Run) -> None:
    assert run.stack_status == "UPDATE_ROLLBACK_COMPLETE"
    assert [s for _, s in world.cfn.statuses][-1] == "UPDATE_ROLLBACK_COMPLETE"
    assert run.failed == 0 and run.old_tasks_killed == 0
    assert not set(world.sim.record.draining_set_at) & set(world.old.container_ids)  # never DRAINING
    assert all(i in world.sim.instances for i in world.old.container_ids)  # the old fleet still serves
    assert drains(world) == []
    # The reverse Update was answered SUCCESS at once, with no execution of its own.
    reverse = world.server.answers[2]
    assert reverse.body["Status"] == "SUCCESS" and reverse.body["PhysicalResourceId"] == world.physical_id
    assert world.aws.calls.by_action(caller="CustomResourceFunction")["stepfunctions:StartExecution"] == 1


def test_it_rolls_a_new_fleet_whose_agent_never_registers_back_at_the_preflight_deadline() -> None:
    with rollover_world(log_level="WARNING", **world_options(SCENARIOS["bad-ami"])) as world:
        sent = world.aws.clock.now()
        run = measured(world, "bad-ami")
        answer = update_answer(world)
        assert answer.body["Status"] == "FAILED" and answer.body["PhysicalResourceId"] == world.physical_id
        assert 900 <= answer.at - sent <= 900 + POLL
        assert world.new is not None and all(i in answer.body["Reason"] for i in world.new.ec2_ids)
        assert "never registered in cluster web" in answer.body["Reason"]
        assert_rolled_back_safely(world, run)


@pytest.mark.parametrize(
    ("scenario", "named"),
    [
        ("small-fleet", ["service web", "CPU units free"]),
        ("blocked", ["service pinned", "maximumPercent 100"]),
        ("graviton", ["service web", "service worker", "cpuArchitecture X86_64", "arm64"]),
        ("eni", ["service web", "network interface free for another awsvpc task", "RESOURCE:ENI"]),
        ("missing-attribute", ["service web", "ecs.capability.secrets.asm.environment-variables", "MISSING_ATTRIBUTE"]),
    ],
)
def test_it_rolls_back_a_new_fleet_the_old_tasks_cannot_move_to_within_two_polls(
    scenario: str, named: list[str]
) -> None:
    with rollover_world(log_level="WARNING", **world_options(SCENARIOS[scenario])) as world:
        sent = world.aws.clock.now()
        run = measured(world, scenario)
        answer = update_answer(world)
        assert answer.body["Status"] == "FAILED" and answer.body["PhysicalResourceId"] == world.physical_id
        # From the Update, or the last new instance's registration before the answer (a rollback deletes the rest).
        registered = max(
            [sent] + [at for at, what in world.sim.record.events if "registered" in what and at <= answer.at]
        )
        assert answer.at - registered <= 2 * POLL
        assert all(n in answer.body["Reason"] for n in named), answer.body["Reason"]
        assert_rolled_back_safely(world, run)


def test_it_names_the_attribute_a_member_of_constraint_needs_that_the_new_fleet_lacks() -> None:
    tiered = ServiceSpec(
        "tiered",
        cpu=256,
        memory=256,
        desired=3,
        min_healthy_percent=50,
        placement_constraints=[{"type": "memberOf", "expression": "attribute:tier == web"}],
    )
    with rollover_world(services=[*default_services(), tiered], old_attributes={"tier": "web"}) as world:
        update, _ = world.rollover()
        assert update is not None and update.body["Status"] == "FAILED"
        reason = update.body["Reason"]
        assert "service tiered" in reason and "memberOf(attribute:tier == web)" in reason
        assert world.cfn.status == "UPDATE_ROLLBACK_COMPLETE"
        (preflight,) = preflights(world)
        summary = json.loads(preflight["output"])
        assert {"service": "tiered", "tasks": 3, "placed": 0} in summary["services"]


def test_it_shows_the_outcome_without_the_preflight_when_it_is_off() -> None:
    with rollover_world(log_level="WARNING", **world_options(SCENARIOS["small-fleet"])) as world:
        # A 10-minute deadline instead of 55: the drain waits for room the new fleet never has, either way.
        run = strategies.run(world, "small-fleet", "ecs-drain-no-preflight", {"DrainTimeoutSeconds": "600"})
        assert run.stack_status == "UPDATE_COMPLETE" and run.old_tasks_killed > 0  # the cleanup cannot undo
        assert preflights(world) == []


def test_it_reports_without_failing_the_update_when_told_to() -> None:
    with rollover_world(log_level="WARNING", **world_options(SCENARIOS["blocked"])) as world:
        update, answer = world.rollover(Preflight="REPORT", BlockedTimeoutSeconds="60", OnTimeout="CONTINUE")
        assert update is not None and update.body["Status"] == "SUCCESS"
        assert update.body["PhysicalResourceId"] != world.physical_id  # the replacement goes on
        assert update.body["Reason"].startswith("Preflight=REPORT, so the update goes on. Preflight failed")
        assert "service pinned" in update.body["Reason"] and update.body["Data"]["Findings"] == "1"
        # The cleanup's drain follows, and answers once only the blocked service is left, as OnTimeout says.
        assert len(drains(world)) == 1 and answer is not None and answer.body["Status"] == "SUCCESS"


def test_it_rolls_back_rather_than_trusts_a_fleet_it_could_not_check() -> None:
    """Our own trouble never answers early: a preflight whose steps cannot run answers at its deadline, FAILED."""
    with rollover_world(log_level="ERROR") as world:
        world.aws.held_back["DrainFunction"] = lambda _now: True
        sent = world.aws.clock.now()
        update, _ = world.rollover(PreflightTimeoutSeconds="300")
        assert update is not None and update.body["Status"] == "FAILED"
        assert update.body["PhysicalResourceId"] == world.physical_id
        assert update.at - sent >= 300
        assert "rolled back rather than trusted" in update.body["Reason"]
        assert world.cfn.status == "UPDATE_ROLLBACK_COMPLETE"


@pytest.mark.parametrize("with_fleet", [False, True])
def test_it_drains_a_removed_resources_fleet_only_when_the_fleet_goes_too(with_fleet: bool) -> None:
    with rollover_world() as world:
        answer = world.remove(with_fleet=with_fleet)
        assert answer is not None and answer.body["Status"] == "SUCCESS"
        assert world.cfn.status == "UPDATE_COMPLETE"
        draining = set(world.sim.record.draining_set_at) & set(world.old.container_ids)
        if with_fleet:  # removed in the same update: it goes after this Delete, so it is drained
            assert draining == set(world.old.container_ids) and world.sim.record.killed == []
        else:  # the live fleet stays: never DRAINING
            assert draining == set() and "stays in the stack" in answer.body["Reason"]
            assert drains(world) == []


def test_it_checks_from_the_command_line_whether_a_drain_would_finish(capsys: pytest.CaptureFixture[str]) -> None:
    with rollover_world(new_fleet_registers=None) as world:
        args = ["--state-machine-arn", world.aws.state_machine_arn, "check", "--cluster", "web"]
        assert main([*args, "--spot-fleet", world.old.request_id]) == 0
        out = capsys.readouterr().out
        assert "Would finish" in out and "web" in out
        assert world.sim.record.draining_set_at == {}  # read only
        world.sim.terminate_instance(world.new.container_ids[0] if world.new else "")
        world.sim.terminate_instance(world.new.container_ids[1] if world.new else "")
        world.sim.terminate_instance(world.new.container_ids[2] if world.new else "")
        assert main([*args, "--spot-fleet", world.old.request_id]) == 1
        out = capsys.readouterr().out
        assert "Would be blocked" in out and "service web" in out and "fit on no instance" in out


def test_it_warns_of_instance_ids_not_in_the_cluster_with_an_exit_code_of_their_own(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with rollover_world(new_fleet_registers=None) as world:
        typo = "i-0badc0ffee0000000"
        code = main(["check", "--cluster", "web", "--instance-ids", world.old.ec2_ids[0], typo])
        said = capsys.readouterr()
        assert code == TARGET_NOT_IN_CLUSTER == 3
        assert f"warning: not registered in web: {typo}" in said.err and world.old.ec2_ids[0] not in said.err
        assert "Would finish" in said.out  # the registered one was checked
        assert main(["check", "--cluster", "web", "--instance-ids", *world.old.ec2_ids]) == 0


def test_it_checks_a_blocked_service_from_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    with rollover_world(**world_options(SCENARIOS["blocked"])) as world:  # before the new fleet registers
        code = main(["check", "--cluster", "web", "--spot-fleet", world.old.request_id])
        out = " ".join(capsys.readouterr().out.split())
        assert code == 1 and "service pinned" in out and "maximumPercent 100" in out


def refusing_handler(event: dict[str, Any], _context: Any) -> None:
    """A provider that fails every Update (and so the rollback's reverse one too), keeping the request's id."""
    status = "FAILED" if event["RequestType"] == "Update" else "SUCCESS"
    identity = cfn_answer.RequestIdentity.of_event(event, event.get("PhysicalResourceId") or "refused")
    cfn_answer.send(event["ResponseURL"], identity, status, "refused")


def test_it_ends_the_stack_update_rollback_failed_when_the_reverse_update_fails_as_cloudformation_does() -> None:
    """The emulation's CloudFormation: what ecs-drain must never cause, shown by a provider that causes it."""
    with rollover_world(log_level="ERROR") as world:
        world.aws.functions["CustomResourceFunction"].handler = f"{__name__}.refusing_handler"
        world.rollover()
        assert [s for _, s in world.cfn.statuses] == [
            "UPDATE_IN_PROGRESS",
            "UPDATE_ROLLBACK_IN_PROGRESS",
            "UPDATE_ROLLBACK_FAILED",
        ]
        assert not [what for _, what in world.cfn.events if what.startswith("new SpotFleet")]  # not deleted


def test_it_waits_for_the_daemon_tasks_of_a_new_fleet_whose_containers_never_start() -> None:
    with rollover_world(log_level="WARNING", new_fleet_fault="containers") as world:
        update, _ = world.rollover(PreflightTimeoutSeconds="300")
        assert update is not None and update.body["Status"] == "FAILED"
        reason = update.body["Reason"]
        assert "daemon service log-agent has no RUNNING task on 3 new instances" in reason
        assert world.cfn.status == "UPDATE_ROLLBACK_COMPLETE"


def test_it_follows_a_stacks_preflight_from_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    with rollover_world(log_level="WARNING", **world_options(SCENARIOS["small-fleet"])) as world:
        sender = threading.Thread(target=world.rollover)
        sender.start()
        while not preflights(world):  # the Update's execution has started
            time.sleep(0.01)
        follow = ["watch", "--stack", "web-cluster", "--plain", "--interval", "0.05"]
        code = main(["--state-machine-arn", world.aws.state_machine_arn, *follow])
        sender.join()
        out = " ".join(capsys.readouterr().out.split())
        assert code == 1 and "-preflight-" in out and "preflight FAILED 3 of 3 new instances ready" in out
        assert "Outcome: PREFLIGHT_FAILED (FAILED)" in out and "Room for the old target's tasks: web" in out
