"""The state machine's drain steps: plan once, then check until drained or the deadline."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from .. import clock, draining
from ..aws import AwsThrottled, drain_clients, is_throttling
from ..observability import logger, metrics, tracer
from ..properties import parse

ACTIONS = ("plan", "check")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:  # noqa: ARG001
    """Takes the execution's state and returns it with `drain` brought up to date."""
    action, state = event["Action"], dict(event["State"])
    request = state.get("CloudFormation") or {}
    logger.append_keys(
        execution_name=event.get("ExecutionName"),
        stack_id=request.get("StackId"),
        logical_resource_id=request.get("LogicalResourceId"),
        request_id=request.get("RequestId"),
    )
    if action not in ACTIONS:
        raise ValueError(f"Action {action!r} is not one of {ACTIONS}")
    try:
        if action == "plan":
            given = {k: v for k, v in state.items() if k != "CloudFormation"}
            props = parse(given, from_cloudformation="CloudFormation" in state)
            state["drain"] = draining.plan(props, drain_clients(), clock.now())
        else:
            state["drain"] = draining.check(state["drain"], drain_clients(), clock.now())
    except ClientError as error:
        if is_throttling(error):
            raise AwsThrottled(str(error)) from error
        raise
    drain = state["drain"]
    metrics.add_metric(name="TasksRemaining", unit="Count", value=drain["summary"]["tasksRemaining"])
    logger.info(
        "Drain %s: %s",
        action,
        drain["phase"],
        extra={"pending_instances": drain["pendingCount"], "tasks_remaining": drain["summary"]["tasksRemaining"]},
    )
    return state
