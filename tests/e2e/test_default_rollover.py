"""The default AMI rollover, run once per worker and read by every test here: the real template, ASL and handlers
drain the old fleet and answer CloudFormation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from emulation.cloudformation import Answer
from emulation.scenarios import World, rollover_world
from tests.e2e.helpers import assert_no_secret_leaked, drain_steps, drains, preflights


@dataclass(frozen=True)
class Rollover:
    world: World
    sent_at: float
    update: Answer | None
    answer: Answer | None


@pytest.fixture(scope="module")
def rollover() -> Iterator[Rollover]:
    with rollover_world() as world:
        sent_at = world.aws.clock.now()
        update, answer = world.rollover()
        yield Rollover(world, sent_at, update, answer)
        assert_no_secret_leaked(world)  # the autouse check closes with each test's own world; this one is shared


def test_it_drains_a_rollover_and_answers_cloudformation_once(rollover: Rollover) -> None:
    world, update, answer = rollover.world, rollover.update, rollover.answer
    assert update is not None and update.body["Status"] == "SUCCESS"
    assert update.body["PhysicalResourceId"] != world.physical_id
    assert answer is not None and answer.body["Status"] == "SUCCESS", answer
    assert answer.body["PhysicalResourceId"] == world.physical_id
    assert "Drained 3 container instances" in answer.body["Reason"]
    # exactly one answer per request, whatever happened
    assert all(len(world.server.answers_for(a.request_id)) == 1 for a in world.server.answers)
    # no task was killed with its instance, and no service fell below its minimum healthy count
    assert world.sim.record.killed == []
    assert world.sim.record.lowest_healthy["web"] >= 6
    assert world.sim.record.lowest_healthy["worker"] >= 2
    (execution,) = drains(world)
    assert execution["status"] == "SUCCEEDED"


def test_it_answers_only_after_the_last_task_reached_stopped(rollover: Rollover) -> None:
    world, answer = rollover.world, rollover.answer
    assert answer is not None
    stopped = [t.stopped_at for t in world.sim.tasks.values() if t.instance_id in world.old.container_ids]
    assert all(s is not None for s in stopped)
    last_stop = max(s for s in stopped if s is not None)
    # the web tasks spend 120 s DEACTIVATING: the answer must not come before they are STOPPED
    assert answer.at >= last_stop
    assert answer.at - last_stop <= 15 + 1  # detected within one poll interval
    assert answer.at - rollover.sent_at > 120


def test_it_reports_the_drain_in_the_execution_output(rollover: Rollover) -> None:
    (execution,) = drains(rollover.world)
    summary = json.loads(execution["output"])
    assert summary["outcome"] == "DRAINED"
    assert summary["instances"] == 3
    assert summary["tasksAtStart"] == 12
    assert summary["phaseSeconds"]["waitingForCapacity"] > 0
    assert summary["answeredCloudFormation"] is True


def test_it_stays_within_the_ecs_api_limits_and_counts_calls(rollover: Rollover) -> None:
    world = rollover.world
    calls = world.aws.calls.by_action(caller="DrainFunction")
    assert calls["ecs:UpdateContainerInstancesState"] == 1
    assert not [i for i in world.aws.invocations if i.error]
    # One preflight for the Update, one drain for the Delete.
    assert world.aws.calls.by_action(caller="CustomResourceFunction")["stepfunctions:StartExecution"] == 2


def test_it_raises_no_diagnosis_in_a_default_rollover(rollover: Rollover) -> None:
    answer = rollover.answer
    assert answer is not None and answer.body["Status"] == "SUCCESS"
    assert all(step["diagnosis"] == [] for step in drain_steps(rollover.world))
    assert "Warning" not in answer.body["Reason"]


def test_it_passes_the_preflight_with_no_finding_once_the_new_fleet_has_registered(rollover: Rollover) -> None:
    world, update = rollover.world, rollover.update
    assert update is not None and update.body["Status"] == "SUCCESS"
    assert update.body["Reason"].startswith("Preflight passed: 3 instances")
    assert update.body["Data"]["Room"] == "web 6 of 6; worker 3 of 3"
    # web: a 120 s deregistration delay (its target group, read from ELB) and the 30 s default stop timeout.
    assert update.body["Data"]["ExpectedDrainSeconds"] == "150"
    (preflight,) = preflights(world)
    summary = json.loads(preflight["output"])
    assert summary["outcome"] == "PREFLIGHT_PASSED" and summary["diagnosis"] == []
    # Answered within the new fleet's registration (the last instance at 100 s, its daemon task 5 s later) and
    # two polls; the old fleet was not touched before.
    registered = max(world.sim.record.events, key=lambda e: e[0] if "registered" in e[1] else 0)[0]
    assert update.at - registered <= 2 * 15
    assert min(world.sim.record.draining_set_at.values()) > update.at
    assert [s for _, s in world.cfn.statuses] == [
        "UPDATE_IN_PROGRESS",
        "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
        "UPDATE_COMPLETE",
    ]
