"""The state machine's drain steps: plan once, then check until drained or the deadline."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from .. import clock, draining, preflight
from ..aws import AwsThrottled, drain_clients, is_throttling
from ..budget import BudgetUnavailable
from ..diagnosis import blocking
from ..observability import log_metrics, logger, metrics, tracer
from ..properties import DrainProperties, parse
from ..state import (
    SEPARATE_SCHEDULES,
    DrainState,
    ExecutionState,
    PreflightState,
    StepEvent,
    execution_state,
    failed_tries_outlasting,
    properties_of,
)

ACTIONS = ("plan", "check", "preflight")


@logger.inject_lambda_context(clear_state=True)
@log_metrics
@tracer.capture_lambda_handler
def handler(event: StepEvent, context: Any) -> ExecutionState:  # noqa: ARG001
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
    if action == "preflight":
        return _preflight_step(state, props)
    drain = _run_step(action, state, props)
    # If the next steps fail without running at all, the state machine answers after this many in a row.
    drain["maxFailedTries"] = failed_tries_outlasting(draining.retry_until(props, drain["startedAt"]) - clock.now())
    state["drain"] = drain
    metrics.add_metric(name="TasksRemaining", unit="Count", value=drain["summary"]["tasksRemaining"])
    # The alarm's metric: findings ECS cannot resolve by itself (a deployment configuration, unplaceable tasks).
    metrics.add_metric(name="BlockingProblems", unit="Count", value=len(blocking(drain["diagnosis"])))
    # The alarm's metric: 1 where the account's providers keep more than one schedule (a warning in the Reason).
    separate = any(f["cause"] == SEPARATE_SCHEDULES for f in drain["diagnosis"])
    metrics.add_metric(name="SeparateSchedules", unit="Count", value=int(separate))
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


def _run_step(action: str, state: ExecutionState, props: DrainProperties) -> DrainState:
    """Plan or check. Our own trouble (throttling, the budget's table, a crash) is raised for the state machine to
    try again until the deadline, never answered early; at the deadline the drain ends as any drain does there."""
    if state.pop("error", None) is not None and "drain" in state:  # the previous try of this step failed
        summary = state["drain"]["summary"]
        summary["failedSteps"] = summary.get("failedSteps", 0) + 1
    state.pop("failedTries", None)
    clients = drain_clients()
    clients.budget.begin_step()
    now, requested_at, current = clock.now(), state.get("RequestedAt"), state.get("drain")
    try:
        if action == "plan":
            return draining.plan(props, clients, now, state.get("PreviousAttempt"), requested_at)
        assert current is not None, "a check follows the plan"
        return draining.check(current, props, clients, now, state.get("PreviousAttempt"))
    except Exception as error:
        started = current["startedAt"] if current is not None else requested_at if requested_at is not None else now
        if clock.now() < draining.retry_until(props, started):
            raise _retryable(error) from error
        logger.warning("Deadline reached while the drain step kept failing", extra={"error": repr(error)})
        return draining.give_up(current, props, clock.now(), requested_at, error)


def _preflight_step(state: ExecutionState, props: DrainProperties) -> ExecutionState:
    """One look of the preflight; our own trouble is tried again until its deadline, as a drain step's is."""
    state.pop("error", None)
    state.pop("failedTries", None)
    old = parse(state.get("OldProperties"), from_cloudformation="CloudFormation" in state)
    clients = drain_clients()
    clients.budget.begin_step()
    now = clock.now()
    current: PreflightState = state.get("preflight") or preflight.begin(props, old, now, state.get("RequestedAt"))
    try:
        checked = preflight.check(current, props, old, clients, now)
    except Exception as error:
        if clock.now() < current["deadline"]:
            raise _retryable(error) from error
        logger.warning("Preflight deadline reached while its step kept failing", extra={"error": repr(error)})
        checked = preflight.give_up(current, error)
    state["preflight"] = checked
    # If the next steps fail without running at all, the state machine answers after this many in a row.
    state["MaxFailedTries"] = failed_tries_outlasting(checked["deadline"] - clock.now())
    logger.info(
        "Preflight: %s",
        checked["phase"],
        extra={"new_instances": checked["newInstances"], "waiting_for": checked["waitingFor"]},
    )
    return state


def _retryable(error: Exception) -> Exception:
    """The error the state machine sees: throttling that outlasted the SDK's retries is named and counted."""
    if isinstance(error, ClientError) and is_throttling(error):
        metrics.add_metric(name="ThrottledSteps", unit="Count", value=1)
        return AwsThrottled(str(error))
    if isinstance(error, BudgetUnavailable):
        metrics.add_metric(name="ThrottledSteps", unit="Count", value=1)
    return error
