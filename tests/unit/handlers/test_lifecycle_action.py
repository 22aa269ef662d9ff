"""The LifecycleHookFunction: a bound hook's held instance joins its batch and the batch's drain (a termination hook)
or check (a launch hook) starts once; a copy of an event, a hook nobody bound, or another transition starts nothing;
the minute's read finds held instances whose event never came. DynamoDB on moto; Step Functions and Auto Scaling as
fakes that record what they are asked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ecs_drain.aws import hook_bindings
from ecs_drain.handlers import lifecycle_action
from ecs_drain.model.state import failed_tries_outlasting
from ecs_drain.runtime import clock, environment
from tests.fakes import LambdaContext, create_watch_table

TABLE = "watch"
STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:ecs-drain-drain"
BOUND = {"Cluster": "web", "AutoScalingGroup": "asg", "TerminationHook": "drain", "PollIntervalSeconds": "15"}
CHECKED = {**BOUND, "LaunchHook": "check", "PreflightTimeoutSeconds": "300"}


@dataclass
class Recorded:
    """Step Functions (executions started, by name and input) and Auto Scaling (the groups' held instances)."""

    started: dict[str, dict[str, Any]] = field(default_factory=dict)
    held: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # group -> (instance, LifecycleState)

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, str]:
        self.started.setdefault(name, json.loads(input))
        return {"executionArn": f"{stateMachineArn}:{name}".replace(":stateMachine:", ":execution:")}

    def get_paginator(self, _name: str) -> Any:
        held = self.held

        class Pages:
            def paginate(self, AutoScalingGroupNames: list[str]) -> list[dict[str, Any]]:
                groups = [
                    {
                        "AutoScalingGroupName": g,
                        "Instances": [{"InstanceId": i, "LifecycleState": s} for i, s in held.get(g, [])],
                    }
                    for g in AutoScalingGroupNames
                ]
                return [{"AutoScalingGroups": groups}]

        return Pages()


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorded]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_watch_table(dynamodb, TABLE)
        hook_bindings.bind(dynamodb, TABLE, hook_bindings.Binding("asg", "drain", BOUND, 120), 1000.0)
        check = hook_bindings.Binding("asg", "check", CHECKED, 1200, "autoscaling:EC2_INSTANCE_LAUNCHING")
        hook_bindings.bind(dynamodb, TABLE, check, 1000.0)
        fakes = Recorded()
        monkeypatch.setenv(environment.WATCH_TABLE, TABLE)
        monkeypatch.setenv(environment.STATE_MACHINE, STATE_MACHINE)
        monkeypatch.setattr(lifecycle_action, "dynamodb_client", lambda: dynamodb)
        monkeypatch.setattr(lifecycle_action, "sfn_client", lambda: fakes)
        monkeypatch.setattr(lifecycle_action, "autoscaling_client", lambda: fakes)
        monkeypatch.setattr(clock, "now", lambda: 2000.0)
        yield fakes


def held(
    instance: str, token: str, hook: str = "drain", transition: str = "autoscaling:EC2_INSTANCE_TERMINATING"
) -> Any:
    detail = {
        "AutoScalingGroupName": "asg",
        "LifecycleHookName": hook,
        "EC2InstanceId": instance,
        "LifecycleActionToken": token,
        "LifecycleTransition": transition,
    }
    return {"source": "aws.autoscaling", "detail-type": "EC2 Instance-terminate Lifecycle Action", "detail": detail}


def test_it_starts_one_drain_for_the_instances_of_a_batch_and_none_for_a_copy(recorded: Recorded) -> None:
    first = lifecycle_action.handler(held("i-0a", "t1"), LambdaContext())
    second = lifecycle_action.handler(held("i-0b", "t2"), LambdaContext())
    assert first is not None and second is not None and first == second  # one drain, the same execution
    assert lifecycle_action.handler(held("i-0a", "t1"), LambdaContext()) is None  # a copy
    [(name, execution_input)] = recorded.started.items()
    assert name.startswith("hook-asg-drain-1-")
    lifecycle = execution_input["Lifecycle"]
    assert (lifecycle["AutoScalingGroupName"], lifecycle["LifecycleHookName"], lifecycle["batch"]) == (
        "asg",
        "drain",
        1,
    )
    assert lifecycle["heartbeatSeconds"] == 120 and "gathered" not in lifecycle
    # The drain's properties: the binding's, no target of its own (the batch's instances are gathered), a deadline
    # within what the hook can hold (100 x 120 s, less 120 s).
    assert execution_input["Properties"] == {
        "Cluster": "web",
        "PollIntervalSeconds": "15",
        "DrainTimeoutSeconds": 11880,
    }
    assert execution_input["RequestedAt"] == 2000.0 and "CloudFormation" not in execution_input


def test_it_starts_nothing_for_a_hook_nobody_bound_or_of_another_transition_than_its_binding(
    recorded: Recorded,
) -> None:
    assert lifecycle_action.handler(held("i-0a", "t1", hook="other"), LambdaContext()) is None
    launch = held("i-0a", "t2", transition="autoscaling:EC2_INSTANCE_LAUNCHING")
    assert lifecycle_action.handler(launch, LambdaContext()) is None  # "drain" is bound as a termination hook
    assert lifecycle_action.handler(held("i-0a", "t3", hook="check"), LambdaContext()) is None
    assert recorded.started == {}


def test_it_starts_one_launch_check_for_the_new_instances_of_a_batch(recorded: Recorded) -> None:
    launch = "autoscaling:EC2_INSTANCE_LAUNCHING"
    first = lifecycle_action.handler(held("i-0a", "t1", hook="check", transition=launch), LambdaContext())
    second = lifecycle_action.handler(held("i-0b", "t2", hook="check", transition=launch), LambdaContext())
    assert first is not None and first == second
    [(name, execution_input)] = recorded.started.items()
    assert name.startswith("hook-asg-check-1-")
    # A preflight of the batch's instances: the binding's properties (no target, no hooks), its deadline
    # PreflightTimeoutSeconds, the batch to gather.
    assert execution_input["Mode"] == "preflight" and "OldProperties" not in execution_input
    assert execution_input["Properties"] == {
        "Cluster": "web",
        "PollIntervalSeconds": "15",
        "PreflightTimeoutSeconds": "300",
    }
    assert execution_input["Lifecycle"]["LifecycleHookName"] == "check" and execution_input["RequestedAt"] == 2000.0
    assert execution_input["step"]["maxFailedTries"] == failed_tries_outlasting(300)


def test_it_finds_held_instances_whose_event_never_came_once(recorded: Recorded) -> None:
    lifecycle_action.handler(held("i-0a", "t1"), LambdaContext())  # came with its event
    recorded.held["asg"] = [("i-0a", "Terminating:Wait"), ("i-0b", "Terminating:Wait"), ("i-0c", "Pending:Wait")]
    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    assert lifecycle_action.handler(scheduled, LambdaContext()) == {"found": 2}  # i-0b, and i-0c on the launch hook
    assert lifecycle_action.handler(scheduled, LambdaContext()) == {"found": 0}  # taken now
    # i-0a and i-0b in the first batch's drain, i-0c in the launch hook's first check.
    assert sorted(name.rsplit("-", 2)[0] for name in recorded.started) == ["hook-asg-check", "hook-asg-drain"]
