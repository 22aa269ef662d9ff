"""Starting the drain: one Step Functions execution per CloudFormation Delete request."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from ..decisions.findings import blocking
from ..decisions.properties import DrainProperties
from ..decisions.rule import drain_seconds
from ..model.state import (
    REQUEST_KEY,
    WENT_ON,
    Chain,
    ExecutionInput,
    ExecutionOutput,
    LifecycleBatch,
    Mode,
    PreviousDrain,
    StepState,
    failed_tries_outlasting,
    no_failed_tries,
)
from ..runtime import clock

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_stepfunctions.type_defs import DescribeExecutionOutputTypeDef

# Step Functions takes names of up to 80 characters; the state machine names an execution's successors after it
# with "-<link>" (four digits at most: a chain of a drain by hand polled every 5 s holds about 90 executions), so
# the first name leaves five characters free.
MAX_NAME = 80 - 5
DIGEST = 12
_UNSAFE = re.compile(r"[^0-9A-Za-z_-]+")


PREFLIGHT_SUFFIX = "-preflight"
HOOK_PREFIX = "hook-"  # every termination hook's drain and launch hook's check


def execution_name(stack_id: str, logical_resource_id: str, request_id: str, *, preflight: bool = False) -> str:
    """Readable in the console (stack, logical id, and whether it is a preflight) and the same for a repeated
    delivery of one request.

    Only 0-9A-Za-z-_ so CloudWatch Logs accepts it; the request hash keeps distinct requests apart.
    """
    stack = stack_id.split("/")[1] if stack_id.count("/") >= 2 else stack_id
    digest = hashlib.sha256(request_id.encode()).hexdigest()[:DIGEST]
    head = _UNSAFE.sub("-", f"{stack}-{logical_resource_id}").strip("-")
    suffix = PREFLIGHT_SUFFIX if preflight else ""
    return f"{head[: MAX_NAME - DIGEST - 1 - len(suffix)]}{suffix}-{digest}"


def stack_prefix(stack_name: str) -> str:
    """What every execution name of a stack's drains starts with (long names are cut as execution_name cuts them)."""
    return _UNSAFE.sub("-", f"{stack_name}-").lstrip("-")[: MAX_NAME - DIGEST - 1]


def drain_input(given: Mapping[str, Any], props: DrainProperties, now: float, name: str) -> ExecutionInput:
    """An execution's input: the properties as given, when the drain was asked for, how many failed steps in a row
    outlast its deadline (until a step has run and set its own bound), and the chain it begins (`name`: its own)."""
    return _drain_input(given, drain_seconds(props), now, name)


def _drain_input(given: Mapping[str, Any], seconds: int, now: float, name: str) -> ExecutionInput:
    step: StepState = {"maxFailedTries": failed_tries_outlasting(seconds), "failedTries": no_failed_tries()}
    chain: Chain = {"name": name, "link": 1}
    return {"Properties": dict(given), "Mode": Mode.DRAIN, "RequestedAt": now, "step": step, "Chain": chain}


def hook_execution_name(group: str, hook: str, batch: int) -> str:
    """A termination hook's drain (or a launch hook's check): its group, hook and batch, readable in the console; the
    same for every event of the batch, so the batch's execution starts once."""
    digest = hashlib.sha256(f"{group}#{hook}".encode()).hexdigest()[:DIGEST]
    tail = f"-{batch}-{digest}"
    head = HOOK_PREFIX + _UNSAFE.sub("-", f"{group}-{hook}").strip("-")
    return f"{head[: MAX_NAME - len(tail)]}{tail}"


def hook_drain_input(
    given: Mapping[str, Any], lifecycle: LifecycleBatch, opened_at: float, name: str
) -> ExecutionInput:
    """A termination hook's drain's input: the binding's properties (its deadline the hook's), the batch, from when
    its first instance came. The same for every event of the batch (Step Functions then starts it once)."""
    execution_input = _drain_input(given, int(given["DrainTimeoutSeconds"]), opened_at, name)
    execution_input["Lifecycle"] = lifecycle
    return execution_input


def launch_check_input(
    given: Mapping[str, Any], props: DrainProperties, lifecycle: LifecycleBatch, opened_at: float, name: str
) -> ExecutionInput:
    """A launch hook's check's input: a preflight of the batch's new instances (the binding's properties, its
    deadline PreflightTimeoutSeconds from when the batch's first instance came). The same for every event of the
    batch."""
    return {
        "Properties": dict(given),
        "Mode": Mode.PREFLIGHT,
        "RequestedAt": opened_at,
        "step": {
            "maxFailedTries": failed_tries_outlasting(props.preflight_timeout_seconds),
            "failedTries": no_failed_tries(),
        },
        "Chain": {"name": name, "link": 1},
        "Lifecycle": lifecycle,
    }


def preflight_input(
    given: Mapping[str, Any], old_given: Mapping[str, Any], props: DrainProperties, now: float, name: str
) -> ExecutionInput:
    """A preflight's input: the new properties as given, the old ones, when it was asked for, how many failed
    steps in a row outlast its deadline, and the chain it begins."""
    return {
        "Properties": dict(given),
        "Mode": Mode.PREFLIGHT,
        "OldProperties": dict(old_given),
        "RequestedAt": now,
        "step": {
            "maxFailedTries": failed_tries_outlasting(props.preflight_timeout_seconds),
            "failedTries": no_failed_tries(),
        },
        "Chain": {"name": name, "link": 1},
    }


@dataclass(frozen=True)
class Started:
    arn: str
    closed: bool  # the execution of this name had ended already: the request was answered, nothing was started


def start(sfn: SFNClient, state_machine_arn: str, name: str, execution_input: ExecutionInput) -> Started:
    """Start the drain, or find the one a previous delivery of the same request started.

    The name is the request's (execution_name), so an execution of that name is this request's drain. Step
    Functions raises ExecutionAlreadyExists for it once it has ended (the request was answered already), and also
    while it runs when the input differs (a redelivery carries a later RequestedAt): then it is still draining.
    """
    document = json.dumps(execution_input, sort_keys=True, separators=(",", ":"))
    try:
        arn = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=document)["executionArn"]
    except sfn.exceptions.ExecutionAlreadyExists:
        arn = state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
        last = last_of_chain(sfn, sfn.describe_execution(executionArn=arn))
        return Started(last["executionArn"], closed=last["status"] != "RUNNING")
    return Started(arn, closed=False)


# A chain is at most this long: a drain by hand lasts 7 days, and an execution holds thousands of checks.
MAX_CHAIN = 10_000


def went_on_in(described: Mapping[str, Any]) -> str | None:
    """The next execution of the chain, where this one went on in it."""
    if described["status"] != "SUCCEEDED":
        return None
    output = json.loads(described.get("output") or "{}")
    return str(output["wentOnIn"]) if output.get("outcome") == WENT_ON and output.get("wentOnIn") else None


def last_of_chain(sfn: SFNClient, described: DescribeExecutionOutputTypeDef) -> DescribeExecutionOutputTypeDef:
    """The execution the chain that `described` belongs to has come to: where it runs, or where it ended."""
    for _ in range(MAX_CHAIN):
        following = went_on_in(described)
        if following is None:
            break
        described = sfn.describe_execution(executionArn=following)
    return described


# CloudFormation retries a Delete once the last try answered FAILED; that drain's execution is then in its last step
# and ends within moments.
PREVIOUS_SETTLE_SECONDS = 20
# A retried Delete comes at once after the FAILED answer; ECS repeats a placement event only after six hours, so a
# blocked attempt older than that tells nothing the new drain would not see for itself.
PREVIOUS_WINDOW_SECONDS = 6 * 3600
# Executions looked at, newest first (two pages): the retry follows its earlier attempt's answer within seconds.
PREVIOUS_SCAN_MAX = 200


def previous_blocked(
    sfn: SFNClient, state_machine_arn: str, name: str, request: Mapping[str, str], now: float
) -> PreviousDrain | None:
    """The latest earlier drain of the same resource, if it answered FAILED while blocked for a cause ECS cannot
    resolve: CloudFormation's retry of a failed Delete then answers at once, unless something changed."""
    head = name[: -(DIGEST + 1)]
    pages = sfn.get_paginator("list_executions").paginate(
        stateMachineArn=state_machine_arn, PaginationConfig={"PageSize": 100, "MaxItems": PREVIOUS_SCAN_MAX}
    )
    for page in pages:
        for item in page.get("executions", []):
            if item["name"] == name or item["name"][: -(DIGEST + 1)] != head:
                continue
            described = sfn.describe_execution(executionArn=item["executionArn"])
            earlier = json.loads(described.get("input") or "{}").get(REQUEST_KEY) or {}
            if any(earlier.get(k) != request.get(k) for k in ("StackId", "LogicalResourceId", "PhysicalResourceId")):
                continue
            described = _settled(sfn, described)
            summary = cast("ExecutionOutput", json.loads(described.get("output") or "{}"))
            findings = blocking(summary.get("diagnosis") or [])
            since = float(summary.get("eventsSince") or 0)
            if summary.get("status") != "FAILED" or not findings or now - since > PREVIOUS_WINDOW_SECONDS:
                return None  # the latest attempt was not blocked (or long ago): this one drains as usual
            return {"execution": item["name"], "startedAt": since, "diagnosis": findings}
    return None


def _settled(sfn: SFNClient, described: DescribeExecutionOutputTypeDef) -> DescribeExecutionOutputTypeDef:
    """The execution (the last of its chain), once it has ended (or as it is after PREVIOUS_SETTLE_SECONDS)."""
    described, waited = last_of_chain(sfn, described), 0
    while described["status"] == "RUNNING" and waited < PREVIOUS_SETTLE_SECONDS:
        clock.sleep(1)
        waited += 1
        described = last_of_chain(sfn, sfn.describe_execution(executionArn=described["executionArn"]))
    return described
