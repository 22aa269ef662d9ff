"""Starting the drain: one Step Functions execution per CloudFormation Delete request."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

MAX_NAME = 80
DIGEST = 12
_UNSAFE = re.compile(r"[^0-9A-Za-z_-]+")


def execution_name(stack_id: str, logical_resource_id: str, request_id: str) -> str:
    """Readable in the console (stack, logical id) and the same for a repeated delivery of one request.

    Only 0-9A-Za-z-_ so CloudWatch Logs accepts it; the request hash keeps distinct requests apart.
    """
    stack = stack_id.split("/")[1] if stack_id.count("/") >= 2 else stack_id
    digest = hashlib.sha256(request_id.encode()).hexdigest()[:DIGEST]
    head = _UNSAFE.sub("-", f"{stack}-{logical_resource_id}").strip("-")
    return f"{head[: MAX_NAME - DIGEST - 1]}-{digest}"


def stack_prefix(stack_name: str) -> str:
    """What every execution name of a stack's drains starts with (long names are cut as execution_name cuts them)."""
    return _UNSAFE.sub("-", f"{stack_name}-").lstrip("-")[: MAX_NAME - DIGEST - 1]


@dataclass(frozen=True)
class Started:
    arn: str
    closed: bool  # the execution of this name had ended already: the request was answered, nothing was started


def start(sfn: SFNClient, state_machine_arn: str, name: str, execution_input: dict[str, Any]) -> Started:
    """Start the drain, or find the one a previous delivery of the same request started.

    Step Functions returns the running execution for the same name and input; a closed one raises
    ExecutionAlreadyExists, and that request was answered already.
    """
    document = json.dumps(execution_input, sort_keys=True, separators=(",", ":"))
    try:
        arn = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=document)["executionArn"]
    except sfn.exceptions.ExecutionAlreadyExists:
        return Started(state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}", closed=True)
    return Started(arn, closed=False)
