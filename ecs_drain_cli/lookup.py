"""Looking drains up in Step Functions: the state machine, a stack's drain, its progress (clients are passed in)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ecs_drain.aws.clients import Clients
from ecs_drain.aws.executions import HOOK_PREFIX, MAX_NAME, stack_prefix
from ecs_drain.aws.targets import ec2_instance_ids
from ecs_drain.decisions.properties import DrainProperties
from ecs_drain.model.state import LIFECYCLE_KEY, REQUEST_KEY, ExecutionInput

STATE_MACHINE_OUTPUT = "StateMachineArn"
BUDGET_TABLE_OUTPUT = "CallBudgetTable"  # where the provider's drains keep their schedule and their claims on room


def state_machine_arn(cloudformation: Any, provider_stack: str) -> str:
    """The drain state machine, from the outputs of the stack that deployed ecs-drain."""
    stack = cloudformation.describe_stacks(StackName=provider_stack)["Stacks"][0]
    for output in stack.get("Outputs", []):
        if output["OutputKey"] == STATE_MACHINE_OUTPUT:
            return str(output["OutputValue"])
    raise LookupError(f"Stack {provider_stack} has no {STATE_MACHINE_OUTPUT} output: is it ecs-drain's?")


def budget_table(cloudformation: Any, provider_stack: str) -> str | None:
    """The provider's call budget table, from its stack's outputs; None where the stack cannot be read (the check
    then judges the room as ECS shows it, and says so)."""
    try:
        stack = cloudformation.describe_stacks(StackName=provider_stack)["Stacks"][0]
    except (ClientError, BotoCoreError):
        return None
    found = [o["OutputValue"] for o in stack.get("Outputs", []) if o["OutputKey"] == BUDGET_TABLE_OUTPUT]
    return str(found[0]) if found else None


def find_execution(sfn: Any, machine_arn: str, stack_name: str) -> str:
    """The drain of a consumer stack, by the stack's exact name: its running execution, or else its latest.

    Execution names start with the stack name, but "web-" also starts "web-cluster-...": each candidate's input
    names the request's stack, and only that stack's drains count.
    """
    found = _executions(sfn, machine_arn, stack_prefix(stack_name), lambda given: _stack_of(given) == stack_name)
    if not found:
        raise LookupError(f"no drain of stack {stack_name} was found in {machine_arn}: check the stack's name.")
    return _running_or_latest(found)


def find_hook_execution(sfn: Any, machine_arn: str, group: str) -> str:
    """The drain (or launch check) of the instances a group's hook holds: its running execution, or else its latest
    (named `hook-<group>-<hook>-<batch>-...`; each candidate's input names its group)."""
    found = _executions(sfn, machine_arn, HOOK_PREFIX, lambda given: _group_of(given) == group)
    if not found:
        raise LookupError(f"no drain or launch check of a hook of the group {group} was found in {machine_arn}.")
    return _running_or_latest(found)


def _executions(
    sfn: Any, machine_arn: str, prefix: str, belongs: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """The executions whose name starts with `prefix` and whose input `belongs` (each described once)."""
    found: list[dict[str, Any]] = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine_arn):
        for execution in page["executions"]:
            if execution["name"].startswith(prefix):
                described = sfn.describe_execution(executionArn=execution["executionArn"])
                if belongs(json.loads(described.get("input") or "{}")):
                    found.append(execution)
    return found


def _running_or_latest(found: list[dict[str, Any]]) -> str:
    running = [e for e in found if e["status"] == "RUNNING"]
    return str(max(running or found, key=lambda e: e["startDate"])["executionArn"])


def _group_of(given: dict[str, Any]) -> str | None:
    """The Auto Scaling group of a hook's batch."""
    group = (given.get(LIFECYCLE_KEY) or {}).get("AutoScalingGroupName")
    return str(group) if group is not None else None


def _stack_of(given: dict[str, Any]) -> str | None:
    """The stack name of the request an execution answers (its StackId: arn:...:stack/<name>/<id>)."""
    stack_id = str((given.get(REQUEST_KEY) or {}).get("StackId", ""))
    return stack_id.split("/")[1] if stack_id.count("/") >= 2 else None


def manual_name(cluster_name: str) -> str:
    """A drain by hand: named after its cluster and when it started, unique even for two in the same second."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"manual-{cluster_name}-{stamp}-{secrets.token_hex(3)}"[-MAX_NAME:]


def target_instances(props: DrainProperties, clients: Clients) -> list[str] | None:
    """The target's EC2 instances, or None when the target does not exist."""
    return ec2_instance_ids(props, clients)


def latest_drain(sfn: Any, execution_arn: str, key: str = "drain") -> dict[str, Any]:
    """The drain state (or with `key` "preflight", the preflight's) after the most recent step, read from the
    execution's history (the step's result, StepResult, as its function returned it)."""
    history = sfn.get_execution_history(executionArn=execution_arn, reverseOrder=True, maxResults=100)
    for event in history["events"]:
        if event["type"] == "TaskSucceeded":
            output = json.loads(event["taskSucceededEventDetails"].get("output") or "{}")
            state = (output.get("Payload") or {}).get(key)
            if state:
                return dict(state)
    return {}


def start(sfn: Any, machine_arn: str, name: str, execution_input: ExecutionInput) -> str:
    document = json.dumps(execution_input)
    return str(sfn.start_execution(stateMachineArn=machine_arn, name=name, input=document)["executionArn"])
