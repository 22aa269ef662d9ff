"""The three handlers on fakes: what each reads, calls and answers. No network: answers are recorded, not sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from ecs_drain import cfn_answer, clock
from ecs_drain.aws import AwsThrottled
from ecs_drain.handlers import answer, custom_resource, drain
from ecs_drain.state import ExecutionState, StepState, execution_state
from tests.conftest import load_event
from tests.fakes import FakeCloudFormation, FakeEcs, FakeSfn, FakeSsm, LambdaContext, clients

STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:ecs-drain-drain"
PREFIX = "/ecs-drain/test/responses/"


@dataclass
class World:
    ecs: FakeEcs = field(default_factory=FakeEcs)
    ssm: FakeSsm = field(default_factory=FakeSsm)
    sfn: FakeSfn = field(default_factory=FakeSfn)
    cloudformation: FakeCloudFormation = field(default_factory=FakeCloudFormation)
    answers: list[dict[str, Any]] = field(default_factory=list)  # the bodies PUT to a ResponseURL


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    world = World()
    world.ecs.add_instance("aaaaaaaa")
    for module in (custom_resource, answer, drain):
        for name, fake in (
            ("ssm_client", lambda: world.ssm.client),
            ("sfn_client", lambda: world.sfn.client),
            ("drain_clients", lambda: clients(world.ecs)),
            ("ecs_client", lambda: world.ecs.client),
            ("cloudformation_client", lambda: world.cloudformation.client),
        ):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, fake)

    def put(url: str, payload: bytes) -> int:
        if not cfn_answer.is_https(url):
            raise cfn_answer.InsecureResponseUrl(url)
        world.answers.append(json.loads(payload))
        return 200

    monkeypatch.setattr(cfn_answer, "put", put)
    monkeypatch.setenv("STATE_MACHINE_ARN", STATE_MACHINE)
    monkeypatch.setenv("RESPONSE_PARAMETER_PREFIX", PREFIX)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "ECSDrain")
    yield world


def published(capsys: pytest.CaptureFixture[str]) -> set[str]:
    """The metric names the handler printed as CloudWatch EMF."""
    names: set[str] = set()
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{") and "_aws" in line:
            record = json.loads(line)
            names |= {m["Name"] for d in record["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    return names


def test_it_answers_create_with_the_physical_resource_id(world: World) -> None:
    custom_resource.handler(load_event("create"), LambdaContext())
    [body] = world.answers
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == "ecs-drain:web:SpotFleet:sfr-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"


def test_it_gives_a_replaced_fleet_a_new_physical_resource_id_with_the_preflight_off(world: World) -> None:
    event = load_event("update_replacement")
    event["ResourceProperties"]["Preflight"] = "OFF"
    custom_resource.handler(event, LambdaContext())
    [body] = world.answers
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"].endswith("sfr-9f8e7d6c-5b4a-4321-8fed-cba987654321")
    assert world.sfn.executions == {}


def test_it_starts_a_preflight_for_a_replacing_update_without_answering(world: World) -> None:
    world.cloudformation.status = "UPDATE_IN_PROGRESS"
    event = load_event("update_replacement")
    result = custom_resource.handler(event, LambdaContext())
    assert world.answers == []
    [(name, (document, _closed))] = world.sfn.executions.items()
    assert "-preflight-" in name and result is not None and result["executionArn"].endswith(name)
    execution_input = json.loads(document)
    assert execution_input["Mode"] == "preflight"
    assert execution_input["Properties"]["SpotFleet"] == "sfr-9f8e7d6c-5b4a-4321-8fed-cba987654321"
    assert execution_input["OldProperties"]["SpotFleet"] == "sfr-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
    assert "ServiceToken" not in execution_input["OldProperties"]
    request = execution_input["CloudFormation"]
    assert request["PhysicalResourceId"] == event["PhysicalResourceId"]  # a FAILED answer keeps the old id
    assert request["NewPhysicalResourceId"].endswith("sfr-9f8e7d6c-5b4a-4321-8fed-cba987654321")
    assert "SECRETSIGNATURE" not in document


def test_it_answers_an_update_at_once_while_the_stack_rolls_back(world: World) -> None:
    world.cloudformation.status = "UPDATE_ROLLBACK_IN_PROGRESS"
    custom_resource.handler(load_event("update_replacement"), LambdaContext())
    [body] = world.answers
    assert body["Status"] == "SUCCESS" and world.sfn.executions == {}


def test_it_drains_nothing_when_the_stack_keeps_the_target(world: World) -> None:
    """The resource removed from the template, the fleet kept: its Delete comes in the update's cleanup."""
    fleet = "sfr-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
    world.cloudformation.status = "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
    world.cloudformation.resources = [
        {"LogicalResourceId": "Fleet", "PhysicalResourceId": fleet, "ResourceStatus": "CREATE_COMPLETE"}
    ]
    world.cloudformation.template = (
        "Resources:\n  Fleet:\n    Type: AWS::EC2::SpotFleet\n    Properties:\n      X: !Ref Y\n"
    )
    custom_resource.handler(load_event("delete"), LambdaContext())
    [body] = world.answers
    assert body["Status"] == "SUCCESS" and "stays in the stack" in body["Reason"]
    assert world.sfn.executions == {}


@pytest.mark.parametrize(
    ("status", "template"),
    [
        ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", {"Resources": {"Other": {}}}),  # removed by this same update
        ("DELETE_IN_PROGRESS", {"Resources": {"Fleet": {}}}),  # the stack is being deleted, the fleet with it
        (None, {}),  # the stack cannot be read: keep the safe path
        ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "Resources: [unreadable"),
    ],
)
def test_it_drains_where_it_cannot_be_sure_the_target_stays(world: World, status: str | None, template: object) -> None:
    world.cloudformation.status = status
    world.cloudformation.resources = [
        {
            "LogicalResourceId": "Fleet",
            "PhysicalResourceId": "sfr-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
            "ResourceStatus": "CREATE_COMPLETE",
        }
    ]
    world.cloudformation.template = template
    custom_resource.handler(load_event("delete"), LambdaContext())
    assert world.answers == [] and len(world.sfn.executions) == 1


def test_it_starts_a_drain_on_delete_without_answering_and_keeps_the_url_out_of_the_input(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    event = load_event("delete")
    result = custom_resource.handler(event, LambdaContext())
    assert world.answers == []
    [(document, closed)] = world.sfn.executions.values()
    assert not closed
    assert "ResponseURL" not in document and "SECRETSIGNATURE" not in document
    assert json.loads(document)["Properties"]["Cluster"] == "web"
    [(name, url)] = world.ssm.parameters.items()
    assert name.startswith(PREFIX) and url == event["ResponseURL"]
    assert result == {
        "executionArn": STATE_MACHINE.replace(":stateMachine:", ":execution:") + ":" + name[len(PREFIX) :]
    }
    assert "Requests" in published(capsys)


def test_it_refuses_a_request_whose_response_url_is_not_https_before_anything_starts(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    event = load_event("delete")
    event["ResponseURL"] = event["ResponseURL"].replace("https://", "http://")
    custom_resource.handler(event, LambdaContext())
    assert (world.sfn.executions, world.ssm.parameters, world.answers) == ({}, {}, [])
    assert world.ecs.instances["aaaaaaaa"]["status"] == "ACTIVE"
    assert "RefusedRequests" in published(capsys)


def test_it_leaves_nothing_behind_for_a_delete_delivered_again_after_its_drain_answered(world: World) -> None:
    event = load_event("delete")
    custom_resource.handler(event, LambdaContext())
    [name] = world.sfn.executions
    world.sfn.close(name)
    world.ssm.parameters.clear()  # the answer step forgot the URL when it answered
    custom_resource.handler(event, LambdaContext())
    assert world.ssm.parameters == {}
    assert world.answers == []


def test_it_answers_success_at_once_to_the_delete_after_a_failed_create(world: World) -> None:
    custom_resource.handler(load_event("delete_after_failed_create"), LambdaContext())
    [body] = world.answers
    assert body["Status"] == "SUCCESS"
    assert world.sfn.executions == {}


@pytest.mark.parametrize(
    ("bad", "named"),
    # A missing property and a value out of range, on Create and on Update; every rule is pinned in test_properties.py.
    [({"Cluster": None}, "Cluster is required"), ({"DrainTimeoutSeconds": "7200"}, "DrainTimeoutSeconds")],
)
def test_it_fails_create_and_update_with_invalid_properties_naming_the_property(
    world: World, bad: dict[str, Any], named: str
) -> None:
    for name in ("create", "update_replacement"):
        event = load_event(name)
        given = {**event["ResourceProperties"], **bad}
        event["ResourceProperties"] = {k: v for k, v in given.items() if v is not None}
        custom_resource.handler(event, LambdaContext())
    assert [(b["Status"], named in b["Reason"]) for b in world.answers] == [("FAILED", True), ("FAILED", True)]
    assert world.sfn.executions == {}


def test_it_fails_create_for_a_cluster_that_does_not_exist(world: World) -> None:
    event = load_event("create")
    event["ResourceProperties"]["Cluster"] = "nope"
    custom_resource.handler(event, LambdaContext())
    [body] = world.answers
    assert body["Status"] == "FAILED" and "Cluster 'nope' does not exist" in body["Reason"]


def test_it_fails_an_unknown_request_type_with_a_clear_reason(world: World) -> None:
    event = {**load_event("delete"), "RequestType": "Replace"}
    custom_resource.handler(event, LambdaContext())
    [body] = world.answers
    assert body["Status"] == "FAILED" and "RequestType 'Replace' is not one of" in body["Reason"]
    assert world.sfn.executions == {}


def test_it_answers_the_reverse_update_of_a_rollback_at_once_with_no_execution(world: World) -> None:
    """A rollback sends Update back to the old properties with the old PhysicalResourceId: nothing changes hands, so
    it is answered SUCCESS at once with that id, and nothing is drained (UPDATE_ROLLBACK_FAILED must never come from
    here)."""
    event = load_event("update_replacement")
    event["ResourceProperties"], event["OldResourceProperties"] = (
        event["OldResourceProperties"],
        event["ResourceProperties"],
    )
    custom_resource.handler(event, LambdaContext())
    [body] = world.answers
    assert body["Status"] == "SUCCESS" and body["PhysicalResourceId"] == event["PhysicalResourceId"]
    assert world.sfn.executions == {}
    assert world.ecs.calls["UpdateContainerInstancesState"] == 0


def drain_input(given: dict[str, Any], requested_at: float = 0.0) -> ExecutionState:
    """An execution's input for a drain started by hand, as `ecs-drain start` gives it."""
    return execution_state({"Properties": given, "Mode": "drain", "RequestedAt": requested_at, "step": {}})


def step(action: str, state: ExecutionState) -> ExecutionState:
    """One task of the state machine: the handler's result put at $.step, as the ASL's ResultPath puts it."""
    result = drain.handler({"Action": action, "State": state, "ExecutionName": "x"}, LambdaContext())
    return {**state, "step": cast("StepState", result)}


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


def test_it_finds_the_running_drain_for_a_delete_delivered_again_while_it_drains(world: World) -> None:
    event = load_event("delete")
    first = custom_resource.handler(event, LambdaContext())
    clock.use(lambda: 1_800_000_060.0, lambda _: None)  # a minute later: the input's RequestedAt differs
    try:
        again = custom_resource.handler(event, LambdaContext())
    finally:
        clock.reset()
    assert again == first and len(world.sfn.executions) == 1
    assert world.answers == [] and len(world.ssm.parameters) == 1  # still draining: the URL is kept


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
