"""The state machine's drain steps: plan once, then check until drained or the deadline."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from .. import clock, draining
from ..aws import AwsThrottled, drain_clients, is_throttling
from ..diagnosis import blocking
from ..observability import log_metrics, logger, metrics, tracer
from ..properties import parse
from ..state import ExecutionState, execution_state, properties_of

ACTIONS = ("plan", "check")


@logger.inject_lambda_context(clear_state=True)
@log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> ExecutionState:  # noqa: ARG001
    """Takes the execution's state and returns it with `drain` brought up to date."""
    action, state = event["Action"], execution_state(event["State"])
    request = state.get("CloudFormation") or {}
    logger.append_keys(
        execution_name=event.get("ExecutionName"),
        stack_id=request.get("StackId"),
        logical_resource_id=request.get("LogicalResourceId"),
        request_id=request.get("RequestId"),
    )
    if action not in ACTIONS:
        raise ValueError(f"Action {action!r} is not one of {ACTIONS}")
    # The properties travel once, as given; each step reads them again (the same input gives the same result).
    props = parse(properties_of(state), from_cloudformation="CloudFormation" in state)
    clients = drain_clients()
    clients.budget.begin_step()
    try:
        previous = state.get("PreviousAttempt")
        if action == "plan":
            drain = draining.plan(props, clients, clock.now(), previous)
        else:
            drain = draining.check(state["drain"], props, clients, clock.now(), previous)
    except ClientError as error:
        if is_throttling(error):
            metrics.add_metric(name="ThrottledSteps", unit="Count", value=1)
            raise AwsThrottled(str(error)) from error
        raise
    state["drain"] = drain
    metrics.add_metric(name="TasksRemaining", unit="Count", value=drain["summary"]["tasksRemaining"])
    # The alarm's metric: findings ECS cannot resolve by itself (a deployment configuration, unplaceable tasks).
    metrics.add_metric(name="BlockingProblems", unit="Count", value=len(blocking(drain["diagnosis"])))
    logger.info(
        "Drain %s: %s",
        action,
        drain["phase"],
        extra={
            "pending_instances": drain["pendingCount"],
            "tasks_remaining": drain["summary"]["tasksRemaining"],
            "diagnosis": [f"{f['subject']}: {f['cause']}" for f in drain["diagnosis"]],
        },
    )
    return state
