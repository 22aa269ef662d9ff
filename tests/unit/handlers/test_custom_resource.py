"""The custom resource handler: what it answers at once, which executions it starts, what it refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ecs_drain.handlers import custom_resource
from ecs_drain.runtime import clock
from tests.conftest import load_event
from tests.fakes import LambdaContext
from tests.unit.handlers.conftest import PREFIX, STATE_MACHINE, World, published


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
