"""The answer to CloudFormation, sent once: at the end of the drain, or when the execution ends without it."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from ..aws import cfn_answer, watch
from ..aws.clients import autoscaling_client, dynamodb_client, events_client, sfn_client, ssm_client
from ..decisions import outcome
from ..model.events import ExecutionEnded, ExecutionStatusChange
from ..model.state import (
    LIFECYCLE_KEY,
    REQUEST_KEY,
    AnswerStepEvent,
    ExecutionOutput,
    ExecutionState,
    LifecycleCompletion,
    Phase,
    execution_state,
    step_of,
)
from ..runtime import clock
from ..runtime.environment import WATCH_TABLE, Environment, required
from ..runtime.observability import log_metrics, logger, metrics, report_group, tracer
from ..steps import hooks

ENDED_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")
# The endings of a lifecycle hook's batch that leave its group's alarm quiet.
FINE_OUTCOMES = (Phase.DRAINED, Phase.NOTHING_TO_DRAIN, outcome.PREFLIGHT_PASSED, outcome.PREFLIGHT_REPORTED)


@logger.inject_lambda_context(clear_state=True)
@log_metrics
@tracer.capture_lambda_handler
def handler(event: AnswerStepEvent | ExecutionEnded, context: Any) -> ExecutionOutput | None:  # noqa: ARG001
    """The state machine's last step (AnswerStepEvent), or EventBridge's word that an execution ended without it."""
    if "detail" in event:
        ended = cast("ExecutionEnded", event)["detail"]
        logger.append_keys(execution_name=ended.get("name"))
        return on_execution_ended(ended)
    step = cast("AnswerStepEvent", event)
    logger.append_keys(execution_name=step.get("ExecutionName"))
    state = execution_state(step["State"])
    result = outcome.of_state(state)
    _record(state, result)
    try:
        completed = _complete_lifecycle_actions(state, result)
        answered = deliver(state, result)
    finally:
        _switch_events_off_when_idle(step.get("ExecutionName", ""))
    return _with_completion(outcome.summary(state, result, answered), completed)


def _complete_lifecycle_actions(state: ExecutionState, result: outcome.Outcome) -> LifecycleCompletion | None:
    """A lifecycle hook's batch: its instances' lifecycle actions are completed as its drain or check ended (None:
    not one)."""
    lifecycle = state.get(LIFECYCLE_KEY)
    if lifecycle is None:
        return None
    table = required(Environment.read().watch_table, WATCH_TABLE)
    completion = hooks.complete_batch(
        autoscaling_client(), dynamodb_client(), table, lifecycle, result.status, clock.now()
    )
    if completion["result"] == "ABANDON":
        metrics.add_metric(name="AbandonedLifecycleActions", unit="Count", value=completion["instances"])
    # Not drained, or a launch check failed (the deadline, blocked, failed or stopped): the group's alarm fires,
    # whatever OnTimeout said. A launch check with Preflight REPORT only reports.
    report_group(lifecycle["AutoScalingGroupName"], int(result.outcome not in FINE_OUTCOMES))
    return completion


def _with_completion(output: ExecutionOutput, completed: LifecycleCompletion | None) -> ExecutionOutput:
    if completed is not None:
        output["lifecycleActions"] = completed
    return output


def _switch_events_off_when_idle(own: str) -> None:
    """The last drain to end switches the task-stopped rule off: the account's task churn then invokes nothing.
    Trouble here is logged, never raised: the answer is what matters."""
    env = Environment.read()
    rule, state_machine = env.task_stopped_rule, env.state_machine
    if not rule or not state_machine:
        return
    try:
        if watch.switch_off_when_idle(events_client(), sfn_client(), rule, state_machine, own):
            logger.info("No drain runs: the task-stopped rule is switched off")
    except (ClientError, BotoCoreError) as error:
        logger.warning("The task-stopped rule could not be switched off", extra={"error": repr(error)})


def on_execution_ended(detail: ExecutionStatusChange) -> ExecutionOutput | None:
    """EventBridge: an execution failed, timed out or was stopped. Answer if nobody has yet (None: its status
    needs no answer)."""
    status, name = detail.get("status", ""), detail.get("name", "")
    if status not in ENDED_STATUSES:
        logger.info("Status %s needs no answer", status)
        return None
    # The event carries the execution's input (a few hundred bytes here: properties and the request's ids).
    state = execution_state(json.loads(detail.get("input") or "{}"))
    result = outcome.of_ended_execution(status, name, state)
    _record(state, result)
    completed = None
    try:
        completed = _complete_lifecycle_actions(state, result)
        answered = deliver(state, result)
    finally:
        # The last chance to answer: the parameter must not outlive it.
        request = state.get(REQUEST_KEY)
        if request:
            cfn_answer.forget_response_url(ssm_client(), request["ResponseParameter"])
        _switch_events_off_when_idle(name)
    return _with_completion(outcome.summary(state, result, answered), completed)


def deliver(state: ExecutionState, result: outcome.Outcome) -> bool:
    """Answer the request behind this execution; False when it was started by hand or answered already."""
    data = state.get(REQUEST_KEY)
    if not data:
        logger.info("Started by hand: no CloudFormation request to answer")
        return False
    request = cfn_answer.CloudFormationRequest.from_json(data)
    logger.append_keys(
        stack_id=request.stack_id, logical_resource_id=request.logical_resource_id, request_id=request.request_id
    )
    url = cfn_answer.response_url(ssm_client(), request.response_parameter)
    if url is None:
        logger.info("CloudFormation was answered already")
        return False
    if result.physical_resource_id:  # a preflight that passed: the replacement's id
        request = dataclasses.replace(request, physical_resource_id=result.physical_resource_id)
    try:
        cfn_answer.send(url, request, result.status, result.reason, result.data)
    except cfn_answer.InsecureResponseUrl as error:
        logger.error("Refused to answer CloudFormation", extra={"error": str(error)})
        metrics.add_metric(name="AnswerFailures", unit="Count", value=1)
        cfn_answer.forget_response_url(ssm_client(), request.response_parameter)
        raise
    except cfn_answer.AnswerError as error:
        logger.error("Could not answer CloudFormation", extra={"error": str(error)})
        metrics.add_metric(name="AnswerFailures", unit="Count", value=1)
        raise
    cfn_answer.forget_response_url(ssm_client(), request.response_parameter)
    logger.info("Answered CloudFormation", extra={"status": result.status, "outcome": result.outcome})
    return True


def _record(state: ExecutionState, result: outcome.Outcome) -> None:
    drain = step_of(state).get("drain")
    if drain is not None:
        seconds = drain["summary"].get("seconds")
        if seconds is not None:
            metrics.add_metric(name="DrainDurationSeconds", unit="Seconds", value=float(seconds))
    remaining = drain["summary"]["tasksRemaining"] if drain is not None else 0
    metrics.add_metric(name="TasksRemaining", unit="Count", value=remaining)
    if result.outcome in ("DEADLINE", "FAILED", "ABORTED", "TIMED_OUT"):
        metrics.add_metric(
            name="DrainTimeouts" if result.outcome == "DEADLINE" else "DrainFailures", unit="Count", value=1
        )
