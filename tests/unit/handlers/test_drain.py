"""The drain handler: the plan and the checks as the state machine runs them, and a step that keeps failing."""

from __future__ import annotations

import json

import pytest

from ecs_drain.aws.clients import AwsThrottled
from ecs_drain.model.state import ExecutionState
from ecs_drain.runtime import clock
from tests.unit.handlers.conftest import World, drain_input, published, step


def test_it_plans_then_checks_through_the_drain_handler_carrying_the_properties_once(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [f"i-{n:08x}" for n in range(1000)]
    given = {"Cluster": "web", "InstanceIds": ids, "PollIntervalSeconds": "30"}
    state = step("plan", drain_input(given))
    assert state["step"]["drain"]["pendingCount"] == 0  # none of these is registered
    world.ecs.add_instance("00000001")
    state = step("plan", drain_input(given))
    assert state["step"]["drain"]["pendingCount"] == 1
    state = step("check", state)
    assert state["step"]["drain"]["nextCheckInSeconds"] == 30  # the properties are read from the input at every step
    assert json.dumps(state).count("i-00000002") == 1  # the 1,000 ids travel once
    assert "TasksRemaining" in published(capsys)


def test_it_refuses_an_unknown_drain_action(world: World) -> None:
    with pytest.raises(ValueError, match="Action 'sleep'"):
        step("sleep", drain_input({"Cluster": "web", "InstanceIds": ["i-aaaaaaaa"]}))


def test_it_tries_a_failing_step_again_before_the_deadline_and_ends_it_there(world: World) -> None:
    world.ecs.add_task("aaaaaaaa", "t1")
    given = {"Cluster": "web", "InstanceIds": ["i-aaaaaaaa"], "DrainTimeoutSeconds": "600"}
    now = [1000.0]
    clock.use(lambda: now[0], lambda seconds: now.__setitem__(0, now[0] + seconds))
    try:
        planned = step("plan", drain_input(given, requested_at=1000.0))
        assert planned["step"]["drain"]["deadline"] == 1600.0  # from the request, not from the step
        world.ecs.fail, now[0] = "ThrottlingException", 1599.0
        with pytest.raises(AwsThrottled):  # a second before the deadline: the state machine tries again
            step("check", planned)
        world.ecs.fail, now[0] = "ServerException", 1600.0
        failed: ExecutionState = {
            **planned,
            "step": {**planned["step"], "error": {"Error": "AwsThrottled", "Cause": "x"}},
        }
        ended = step("check", failed)
    finally:
        clock.reset()
    drained = ended["step"]["drain"]
    assert drained["phase"] == "DEADLINE"  # answered as OnTimeout says, never before the deadline
    assert drained["message"].startswith("Deadline reached while the drain step kept failing (ClientError")
    assert drained["summary"]["failedSteps"] == 1 and "error" not in ended["step"]
