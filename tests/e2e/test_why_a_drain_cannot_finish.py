"""Diagnosis of drains that cannot finish, end to end: each cause named within two checks, shown in the Reason;
the early answer when asked for; CloudFormation's three tries of a failed Delete; no false alarms."""

from __future__ import annotations

import json
from typing import Any

from ecs_drain.steps.diagnosis import CAPACITY_GRACE_SECONDS
from emulation.ecs_simulator import ServiceSpec
from emulation.scenarios import World, pinned_services, rollover_world

from .helpers import drain_steps, executions, first_step_naming


def checks_between(steps: list[dict[str, Any]], since: float, step: dict[str, Any]) -> int:
    """How many checks ran from `since` up to and including `step`."""
    return sum(1 for s in steps if "checkedAt" in s and since <= s["checkedAt"] <= step["checkedAt"])


def assert_named_within_two_checks(world: World, cause: str, service: str) -> dict[str, Any]:
    """The service's first placement event appears; a check names it within two checks of that."""
    steps = drain_steps(world)
    event_at = world.sim.record.service_events[service][0][0]
    step = first_step_naming(steps, cause, f"service {service}")
    assert step is not None, [s.get("diagnosis") for s in steps]
    assert checks_between(steps, event_at, step) <= 2
    finding: dict[str, Any] = next(f for f in step["diagnosis"] if f["subject"] == f"service {service}")
    assert finding["tasks"] >= 1
    return finding


def test_it_names_a_service_pinned_by_its_deployment_configuration_and_answers_early_when_asked() -> None:
    with rollover_world(services=pinned_services()) as world:
        start = world.aws.clock.now()
        _, answer = world.drain_old(BlockedTimeoutSeconds="60", DrainTimeoutSeconds="1800")
        assert answer is not None and answer.at - start <= 300
        assert answer.body["Status"] == "SUCCESS"  # OnTimeout=CONTINUE
        # It answered once the other services had left, so deleting the old fleet kills only what never moves.
        on_old = [world.sim.tasks[a] for i in world.old.container_ids for a in world.sim.by_instance[i]]
        assert {t.service for t in on_old if t.last != "STOPPED"} == {"pinned", "log-agent"}
        reason = answer.body["Reason"]
        assert reason.startswith("Blocked for") and "service pinned" in reason and "maximumPercent 100" in reason
        steps = drain_steps(world)
        assert steps[0]["diagnosis"][0]["cause"] == "DEPLOYMENT_CONFIGURATION"  # named at the plan step
        assert steps[0]["diagnosis"][0]["tasks"] == 3
        summary = json.loads(executions(world)[0]["output"])
        assert summary["outcome"] == "BLOCKED" and summary["diagnosis"][0]["subject"] == "service pinned"


def test_it_waits_to_the_deadline_for_a_pinned_service_without_the_early_answer_and_says_why() -> None:
    with rollover_world(services=pinned_services()) as world:
        start = world.aws.clock.now()
        _, answer = world.drain_old(DrainTimeoutSeconds="600")
        assert answer is not None and answer.at - start >= 600
        reason = answer.body["Reason"]
        assert reason.startswith("Deadline reached") and reason.index("service pinned") < reason.index("Still running")


def assert_unplaceable_named(spec: ServiceSpec, requirement: str, **options: Any) -> None:
    """Only this service, on three old instances and a new fleet of two, drained without waiting for room (as a drain
    of a large cluster, whose room is counted in aggregate, may be): its replacements cannot all be placed, and the
    drain names it, with the requirement, in its diagnosis and its Reason."""
    with rollover_world(services=[spec], new_instances=2, **options) as world:
        _, answer = world.drain_old(DrainTimeoutSeconds="600", WaitForCapacity="false")
        assert answer is not None
        assert_named_within_two_checks(world, "CANNOT_PLACE", spec.name)
        # The latest event's requirement (the first, before the new fleet registered, could name no instance).
        assert f"service {spec.name}" in answer.body["Reason"] and requirement in answer.body["Reason"]


def test_it_names_replacements_a_distinct_instance_constraint_cannot_place() -> None:
    spread = ServiceSpec("spread", cpu=256, memory=256, desired=3, placement_constraints=[{"type": "distinctInstance"}])
    assert_unplaceable_named(spread, "placement constraints: distinctInstance")


def test_it_waits_for_room_task_by_task_instead_of_draining_into_a_placement_ecs_cannot_make() -> None:
    spread = ServiceSpec("spread", cpu=256, memory=256, desired=3, placement_constraints=[{"type": "distinctInstance"}])
    with rollover_world(services=[spread], new_instances=2) as world:
        _, answer = world.drain_old(DrainTimeoutSeconds="600")
        assert answer is not None and world.sim.record.draining_set_at == {}  # nothing was set DRAINING
        assert world.sim.record.service_events["spread"] == []  # so ECS never had to place a replacement
        reason = answer.body["Reason"]
        assert "placed task by task, service spread: " in reason and "distinctInstance" in reason


def test_it_names_replacements_a_member_of_constraint_cannot_place_on_the_new_instances() -> None:
    constraint = {"type": "memberOf", "expression": "attribute:generation == old"}
    legacy = ServiceSpec("legacy", 256, 256, desired=2, min_healthy_percent=50, placement_constraints=[constraint])
    assert_unplaceable_named(legacy, "memberOf(attribute:generation == old)", old_attributes={"generation": "old"})


def test_it_names_replacements_a_static_host_port_cannot_place() -> None:
    edge = ServiceSpec("edge", cpu=256, memory=256, desired=3, host_port=80)
    assert_unplaceable_named(edge, "the closest instance is already using a port required by your task")


def test_it_names_standalone_tasks_it_waits_for_with_their_group_and_age() -> None:
    with rollover_world(standalone=[(0, None)]) as world:
        _, answer = world.drain_old(StandaloneTasks="WAIT", DrainTimeoutSeconds="600")
        assert answer is not None
        steps = drain_steps(world)
        subject = "task group family:nightly-report (started by batch-job)"
        step = first_step_naming(steps, "STANDALONE_TASKS", subject)
        assert step is not None
        draining_set = step["timeline"]["drainingSetAt"]
        assert checks_between(steps, draining_set, step) <= 2
        assert subject in answer.body["Reason"] and "running for" in answer.body["Reason"]


def test_it_warns_of_a_service_the_drain_takes_to_zero_healthy_tasks_and_still_drains() -> None:
    solo = ServiceSpec("solo", cpu=256, memory=256, desired=1, min_healthy_percent=0, max_percent=100)
    with rollover_world(services=[solo]) as world:
        _, answer = world.drain_old()
        assert answer is not None and answer.body["Status"] == "SUCCESS"
        assert world.sim.record.lowest_healthy["solo"] == 0  # what the warning is about
        assert "Warning: service solo" in answer.body["Reason"]
        assert drain_steps(world)[0]["diagnosis"][0]["cause"] == "SERVICE_UNAVAILABLE"
        summary = json.loads(executions(world)[0]["output"])
        assert [f["subject"] for f in summary["diagnosis"]] == ["service solo"]


def test_it_says_how_much_capacity_is_missing_once_waiting_is_no_longer_normal() -> None:
    with rollover_world(new_instances=0) as world:
        _, answer = world.drain_old(DrainTimeoutSeconds="600")
        assert answer is not None
        steps = drain_steps(world)
        step = first_step_naming(steps, "NOT_ENOUGH_CAPACITY", "cluster web")
        assert step is not None
        grace_over = step["startedAt"] + CAPACITY_GRACE_SECONDS
        assert checks_between(steps, grace_over, step) <= 2
        assert "3072 CPU units and 6144 MiB missing" in answer.body["Reason"]


def test_it_answers_cloudformations_retries_of_a_blocked_delete_at_once_and_the_cleanup_goes_on() -> None:
    with rollover_world(services=pinned_services()) as world:
        world.rollover(BlockedTimeoutSeconds="60", OnTimeout="FAIL", Preflight="OFF")  # the drain's own way
        tries = world.cfn.delete_tries
        assert [a.body["Status"] if a else None for _, a in tries] == ["FAILED"] * 3
        first, *retries = [a for _, a in tries if a is not None]
        assert "three times" in first.body["Reason"]
        for earlier, retry in zip([first, *retries], retries, strict=False):
            assert retry.at - earlier.at < 30
            assert retry.body["Reason"].startswith("Still blocked, as the previous attempt")
            assert "service pinned" in retry.body["Reason"]
        assert world.cfn.skipped == ["ECSDrain"]
        # The cleanup went on and deleted the old fleet (the unsafe reading): only what could never move was killed.
        killed = {world.sim.tasks[a].service for a in world.sim.record.killed}
        assert killed == {"pinned", "log-agent"}


def test_it_drains_as_usual_when_a_retry_finds_the_cause_resolved() -> None:
    with rollover_world(services=pinned_services()) as world:
        _, first = world.drain_old(BlockedTimeoutSeconds="120", OnTimeout="FAIL")
        assert first is not None and first.body["Status"] == "FAILED"
        world.sim.services["pinned"].max_percent = 200  # the user fixed the service
        world.sim.instances_changed()
        _, retry = world.drain_old(BlockedTimeoutSeconds="120", OnTimeout="FAIL")
        assert retry is not None
        assert retry.body["Status"] == "SUCCESS", retry.body["Reason"]
