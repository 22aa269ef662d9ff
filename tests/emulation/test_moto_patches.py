"""The emulation's patches of moto internals load only on the moto they were written for, and change how fast moto
answers, not what it answers (but for the quotas AWS enforces and moto does not)."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import pytest


def test_it_refuses_to_patch_a_moto_it_was_not_written_for(monkeypatch: pytest.MonkeyPatch) -> None:
    from emulation import moto_patches

    monkeypatch.setattr(importlib.metadata, "version", lambda _name: "9.9.9")
    with pytest.raises(ImportError, match=f"written for moto {moto_patches.MOTO_VERSION}, but moto 9.9.9"):
        importlib.reload(moto_patches)
    monkeypatch.undo()
    importlib.reload(moto_patches)


class ContainerInstance:
    """A moto-like model object: snake_case attributes, most members of the shape unset, a list of dicts."""

    def __init__(self, arn: str, attributes: Any) -> None:
        self.container_instance_arn = arn
        self.ec2_instance_id = "i-0123456789abcdef0"
        self.status = "DRAINING"
        self.running_tasks_count = 2
        self.pending_tasks_count = 0
        self.agent_connected = True
        self.attributes = attributes
        self.registered_resources = [{"name": "CPU", "type": "INTEGER", "integerValue": 2048}]


def both_ways(serialize: Callable[[], Any]) -> tuple[Any, Any]:
    from emulation import moto_patches

    as_moto = serialize()
    with ExitStack() as stack:
        moto_patches.planned_json_structures(stack)
        planned = serialize()
        planned_again = serialize()  # from the plan made by the first
    assert planned == planned_again
    return as_moto, planned


INSTANCES = [ContainerInstance(f"arn:ci/{n}", [{"name": "tier", "value": "old"}]) for n in range(3)]
TASKS = [
    {"taskArn": "arn:task/1", "lastStatus": "RUNNING", "containers": [{"name": "web", "exitCode": 0}]},
    {"taskArn": "arn:task/2", "lastStatus": "STOPPED", "stoppedReason": "drained", "tags": []},
]
ITEM = {"Item": {"pk": {"S": "drain#1"}, "slots": {"L": [{"N": "1"}, {"M": {"at": {"N": "2.5"}}}]}}}


@pytest.mark.parametrize(
    ("service", "action", "result", "written"),
    [
        ("ecs", "DescribeContainerInstances", {"containerInstances": INSTANCES, "failures": []}, "arn:ci/2"),
        ("ecs", "DescribeTasks", {"tasks": TASKS, "failures": [{"arn": "arn:task/3"}]}, '"exitCode": 0'),
        ("dynamodb", "GetItem", ITEM, '"at": {"N": "2.5"}'),
        # a REST serializer places members in headers and the status code: left to moto's own path
        ("lambda", "Invoke", {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": b"{}"}, "Unhandled"),
    ],
)
def test_it_writes_json_responses_byte_for_byte_as_moto_does(
    service: str, action: str, result: dict[str, Any], written: str
) -> None:
    from emulation import moto_patches

    as_moto, planned = both_ways(lambda: moto_patches.serialized(service, action, result))
    assert planned == as_moto
    assert written in str(planned)  # the values were written (body or headers), not an empty body twice


def test_it_leaves_members_a_response_transformer_names_to_moto() -> None:
    """ECS rewrites container instances' attributes on the way out (RESPONSE_KEY_PATH_TO_TRANSFORMER): the plan must
    not write them around the transformer."""
    from moto.core.serialize import XFormedAttributePicker, get_serializer_class
    from moto.core.utils import get_service_model
    from moto.ecs.responses import EC2ContainerServiceResponse

    model = get_service_model("ecs")
    transformers = EC2ContainerServiceResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER
    assert any(path.endswith(".attributes") for path in transformers)
    instances = [ContainerInstance("arn:ci/1", {"ecs.os-type": "linux"})]  # as moto keeps them: a dict

    def serialize() -> Any:
        serializer = get_serializer_class("ecs", model.protocol)(
            operation_model=model.operation_model("DescribeContainerInstances"),
            pretty_print=False,
            value_picker=XFormedAttributePicker(response_transformers=transformers),
        )
        return serializer.serialize({"containerInstances": instances, "failures": []})["body"]

    as_moto, planned = both_ways(serialize)
    assert planned == as_moto
    assert '"ecs.os-type"' in planned


def test_it_fails_an_execution_whose_history_is_full_as_step_functions_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """With room for 20 events, a loop of one Pass state: ExecutionStarted, then 2 events a pass; the 10th pass's
    PassStateExited would be the 21st, so the execution fails there, its failure the one event past the limit."""
    import boto3
    from moto import mock_aws

    from emulation import moto_patches
    from emulation.offline_aws import MOTO_CONFIG

    monkeypatch.setattr(moto_patches, "HISTORY_EVENTS_LIMIT", 20)
    with ExitStack() as stack:
        stack.enter_context(mock_aws(config=MOTO_CONFIG))
        moto_patches.history_limit(stack)
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        loop = {"StartAt": "Again", "States": {"Again": {"Type": "Pass", "Comment": "forever", "Next": "Again"}}}
        machine = sfn.create_state_machine(
            name="loop", definition=json.dumps(loop), roleArn="arn:aws:iam::123456789012:role/r"
        )["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
        for _ in range(200):
            if sfn.describe_execution(executionArn=arn)["status"] != "RUNNING":
                break
            time.sleep(0.05)
        assert sfn.describe_execution(executionArn=arn)["status"] == "FAILED"
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        assert len(events) == 21 and [e["type"] for e in events].count("PassStateEntered") == 10
        failed = events[-1]
        assert failed["type"] == "ExecutionFailed"
        assert "history holds 20 events" in failed["executionFailedEventDetails"]["cause"]


def run_to_end(definition: dict[str, Any], patch: Callable[[ExitStack], None] | None = None) -> list[dict[str, Any]]:
    """Run `definition` once on moto (with `patch` made) and return the executions of its state machine once ended."""
    import boto3
    from moto import mock_aws

    from emulation.offline_aws import MOTO_CONFIG

    with ExitStack() as stack:
        stack.enter_context(mock_aws(config=MOTO_CONFIG))
        if patch is not None:
            patch(stack)
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name="m", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/r"
        )["stateMachineArn"]
        sfn.start_execution(stateMachineArn=machine, name="first", input='{"n": 1}')
        for _ in range(200):
            listed = sfn.list_executions(stateMachineArn=machine)["executions"]
            if all(e["status"] != "RUNNING" for e in listed):
                break
            time.sleep(0.05)
        return [dict(sfn.describe_execution(executionArn=e["executionArn"])) for e in listed]


def test_it_fails_a_state_whose_output_passes_256_kb_as_step_functions_does() -> None:
    """moto's own check (States.DataLimitExceeded): 262,144 bytes of UTF-8 at most between states."""
    big = {"StartAt": "Grow", "States": {"Grow": {"Type": "Pass", "Comment": "300 KB", "Result": "x" * 300_000,
                                                   "End": True}}}  # fmt: skip
    [execution] = run_to_end(big)
    assert execution["status"] == "FAILED" and execution["error"] == "States.DataLimitExceeded"


def test_it_starts_an_execution_from_a_task_with_the_apis_names_both_ways() -> None:
    """`arn:aws:states:::states:startExecution` takes StateMachineArn, Name and Input, and returns ExecutionArn, as
    Step Functions' integration does (moto passes boto3 the names unchanged: step_functions_integration_names)."""
    from emulation import moto_patches

    chain = {
        "StartAt": "Last?",
        "States": {
            "Last?": {
                "Type": "Choice",
                "Comment": "two",
                "Choices": [{"Variable": "$.n", "NumericEquals": 2, "Next": "Done"}],
                "Default": "Next",
            },
            "Next": {
                "Type": "Task",
                "Comment": "go on",
                "Resource": "arn:aws:states:::states:startExecution",
                "Parameters": {"StateMachineArn.$": "$$.StateMachine.Id", "Name": "second", "Input": {"n": 2}},
                "ResultSelector": {"next.$": "$.ExecutionArn"},
                "End": True,
            },
            "Done": {"Type": "Succeed", "Comment": "end"},
        },
    }
    executions = {e["name"]: e for e in run_to_end(chain, moto_patches.step_functions_integration_names)}
    assert set(executions) == {"first", "second"}
    assert json.loads(executions["first"]["output"]) == {"next": executions["second"]["executionArn"]}
    assert executions["second"]["status"] == "SUCCEEDED" and json.loads(executions["second"]["input"]) == {"n": 2}
