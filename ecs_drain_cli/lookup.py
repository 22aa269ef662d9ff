"""Looking drains up in Step Functions: the state machine, a stack's drain, its progress (clients are passed in)."""

from __future__ import annotations

import json
from typing import Any

from ecs_drain.executions import stack_prefix

STATE_MACHINE_OUTPUT = "StateMachineArn"


def state_machine_arn(cloudformation: Any, provider_stack: str) -> str:
    """The drain state machine, from the outputs of the stack that deployed ecs-drain."""
    stack = cloudformation.describe_stacks(StackName=provider_stack)["Stacks"][0]
    for output in stack.get("Outputs", []):
        if output["OutputKey"] == STATE_MACHINE_OUTPUT:
            return str(output["OutputValue"])
    raise LookupError(f"Stack {provider_stack} has no {STATE_MACHINE_OUTPUT} output: is it ecs-drain's?")


def find_execution(sfn: Any, machine_arn: str, stack_name: str) -> str:
    """The drain of a consumer stack: its running execution, or else its latest. Names start with the stack name."""
    prefix = stack_prefix(stack_name)
    found: list[dict[str, Any]] = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine_arn):
        found += [e for e in page["executions"] if e["name"].startswith(prefix)]
    if not found:
        raise LookupError(f"No drain of stack {stack_name} found in {machine_arn}")
    running = [e for e in found if e["status"] == "RUNNING"]
    return str(max(running or found, key=lambda e: e["startDate"])["executionArn"])


def latest_drain(sfn: Any, execution_arn: str) -> dict[str, Any]:
    """The drain state after the most recent step, read from the execution's history."""
    history = sfn.get_execution_history(executionArn=execution_arn, reverseOrder=True, maxResults=100)
    for event in history["events"]:
        if event["type"] == "TaskSucceeded":
            output = json.loads(event["taskSucceededEventDetails"].get("output") or "{}")
            drain = (output.get("Payload") or {}).get("drain")
            if drain:
                return dict(drain)
    return {}


def start(sfn: Any, machine_arn: str, name: str, properties: dict[str, Any]) -> str:
    return str(
        sfn.start_execution(stateMachineArn=machine_arn, name=name, input=json.dumps(properties))["executionArn"]
    )
