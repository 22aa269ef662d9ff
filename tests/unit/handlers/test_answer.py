"""The answer handler: exactly one answer to CloudFormation, and nothing published when there is nothing to say."""

from __future__ import annotations

import json

from ecs_drain.handlers import answer, custom_resource
from ecs_drain.model.state import execution_state
from tests.conftest import load_event
from tests.fakes import LambdaContext
from tests.unit.handlers.conftest import World, step


def test_it_answers_the_drain_once_and_forgets_the_url(world: World) -> None:
    custom_resource.handler(load_event("delete"), LambdaContext())
    [(document, _)] = world.sfn.executions.values()
    state = step("plan", execution_state(json.loads(document)))  # the fleet lists no instances: nothing to drain
    summary = answer.handler({"State": state, "ExecutionName": "x"}, LambdaContext())
    assert summary is not None
    [body] = world.answers
    assert (body["Status"], summary["outcome"], summary["answeredCloudFormation"]) == (
        "SUCCESS",
        "NOTHING_TO_DRAIN",
        True,
    )
    assert world.ssm.parameters == {}
    again = answer.handler({"State": state, "ExecutionName": "x"}, LambdaContext())
    assert again is not None and again["answeredCloudFormation"] is False
    assert len(world.answers) == 1


def test_it_answers_an_aborted_execution_as_on_timeout_says(world: World) -> None:
    event = load_event("execution_aborted")
    request = json.loads(event["detail"]["input"])["CloudFormation"]
    world.ssm.parameters[request["ResponseParameter"]] = "https://example.invalid/answer"
    summary = answer.handler(event, LambdaContext())
    [body] = world.answers
    assert body["Status"] == "FAILED"  # the input says OnTimeout FAIL
    assert "ended ABORTED" in body["Reason"]
    assert summary is not None and summary["outcome"] == "ABORTED"
    assert world.ssm.parameters == {}


def test_it_publishes_nothing_rather_than_an_empty_metric_set() -> None:
    # pyproject.toml turns Powertools' "No application metrics" warning into an error in every test.
    summary = answer.handler({"detail": {"status": "SUCCEEDED", "name": "x"}}, LambdaContext())
    assert summary is None  # a status that needs no answer: nothing answered, nothing published
