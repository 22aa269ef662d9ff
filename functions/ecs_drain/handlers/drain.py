"""The state machine's steps of the DrainFunction: the drain's plan and checks, and the preflight's looks."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from ..aws import watch
from ..aws.budget import BudgetUnavailable
from ..aws.clients import (
    AwsThrottled,
    Clients,
    drain_clients,
    dynamodb_client,
    events_client,
    is_throttling,
    sfn_client,
)
from ..decisions import rule
from ..decisions.findings import blocking
from ..decisions.properties import DrainProperties, parse
from ..model.state import (
    ERROR_KEY,
    FINAL_PHASES,
    LIFECYCLE_KEY,
    MAX_FAILED_TRIES_KEY,
    OLD_PROPERTIES_KEY,
    PREFLIGHT_FINAL_PHASES,
    PREVIOUS_ATTEMPT_KEY,
    REQUEST_KEY,
    REQUESTED_AT_KEY,
    STEP_KEY,
    Cause,
    DrainState,
    ExecutionState,
    GatheredInstances,
    PreflightState,
    StepEvent,
    StepResult,
    WaitEvent,
    chain_of,
    execution_state,
    failed_tries_outlasting,
    properties_of,
    step_of,
)
from ..runtime import clock
from ..runtime.environment import WATCH_TABLE, Environment, required
from ..runtime.observability import log_metrics, logger, metrics, report_group, tracer
from ..steps import draining, hooks, launch_check, preflight

ACTIONS = ("plan", "check", "preflight", "gather", "wait")


@logger.inject_lambda_context(clear_state=True)
@log_metrics
@tracer.capture_lambda_handler
def handler(event: StepEvent | WaitEvent, context: Any) -> StepResult | GatheredInstances:  # noqa: ARG001
    """Takes the execution's state and returns the step's result (the state machine keeps it at $.step); or, for
    the wait between checks, keeps its task token where the last task's event finds it; or, first in a termination
    hook's drain, gathers the instances held together ($.Lifecycle.gathered)."""
    if event["Action"] == "wait":
        _wait(event)
        return {}
    action, state = step_action(event), execution_state(event["State"])
    lifecycle = state.get(LIFECYCLE_KEY)
    if action == "gather" and lifecycle is not None:
        table = required(Environment.read().watch_table, WATCH_TABLE)
        return hooks.gather(dynamodb_client(), table, lifecycle, clock.now())
    request = state.get(REQUEST_KEY) or {}
    logger.append_keys(
        execution_name=event.get("ExecutionName"),
        stack_id=request.get("StackId"),
        logical_resource_id=request.get("LogicalResourceId"),
        request_id=request.get("RequestId"),
    )
    if action not in ACTIONS:
        raise ValueError(f"Action {action!r} is not one of {ACTIONS}")
    # The properties travel once, as given; each step reads them again (the same input gives the same result).
    props = parse(properties_of(state), from_cloudformation=REQUEST_KEY in state)
    if action == "preflight":
        checked = _preflight_step(state, props)
        checked["over"] = checked["phase"] in PREFLIGHT_FINAL_PHASES  # the state machine's one test of the loop
        # If the next steps fail without running at all, the state machine answers after this many in a row.
        return {"preflight": checked, MAX_FAILED_TRIES_KEY: failed_tries_outlasting(checked["deadline"] - clock.now())}
    chain = chain_of(state, event.get("ExecutionName"))
    drain = _drain_step(action, state, props, chain["name"])
    drain["over"] = drain["phase"] in FINAL_PHASES
    if lifecycle is not None:
        drain = hooks.keep_held(drain_clients().autoscaling, lifecycle, drain, clock.now())
        report_group(lifecycle["AutoScalingGroupName"], len(blocking(drain["diagnosis"])))
    drain = rule.counted_in_execution(drain, chain["link"])
    _report(action, drain)
    until = rule.retry_until(props, drain["startedAt"])
    return {"drain": drain, MAX_FAILED_TRIES_KEY: failed_tries_outlasting(until - clock.now())}


def step_action(event: StepEvent) -> str:
    """What the step does: the ASL's check is the plan while the drain has none (an earlier ASL says "plan")."""
    if event["Action"] == "check" and "drain" not in (event["State"].get(STEP_KEY) or {}):
        return "plan"
    return event["Action"]


def _drain_step(action: str, state: ExecutionState, props: DrainProperties, drain_name: str) -> DrainState:
    """One step of the drain; `drain_name` (its chain's) keeps its watch across the chain's executions."""
    step, now, requested_at = step_of(state), clock.now(), state.get(REQUESTED_AT_KEY)
    current = step.get("drain")
    if step.get(ERROR_KEY) is not None and current is not None:  # the previous try of this step failed
        current["summary"]["failedSteps"] = current["summary"].get("failedSteps", 0) + 1
    if current is None:
        current = rule.new_drain(props, now, requested_at)
    clients = _clients()
    previous = state.get(PREVIOUS_ATTEMPT_KEY)
    if action == "plan":
        work = partial(draining.plan, props, clients, now, previous, requested_at)
    else:
        task_watch = watch.TaskWatch.from_environment(dynamodb_client(), events_client(), drain_name)
        work = partial(draining.check, current, props, clients, now, previous, task_watch)

    def give_up(error: Exception) -> DrainState:
        return rule.give_up_drain(current, clock.now(), error)

    return _run_step(work, rule.retry_until(props, current["startedAt"]), give_up)


def _preflight_step(state: ExecutionState, props: DrainProperties) -> PreflightState:
    """A look of a replacing Update's preflight, or of a launch hook's check of its batch (`Lifecycle`)."""
    now, requested_at, lifecycle = clock.now(), state.get(REQUESTED_AT_KEY), state.get(LIFECYCLE_KEY)
    clients = _clients()
    look: Callable[[PreflightState], PreflightState]
    give_up: Callable[[PreflightState, Exception], PreflightState]
    if lifecycle is not None:
        group = lifecycle["AutoScalingGroupName"]
        current = step_of(state).get("preflight") or launch_check.new_check(props, group, now, requested_at)
        look = partial(launch_check.check, new=props, group=group, clients=clients, now=now)
        give_up = partial(launch_check.give_up, group=group)
    else:
        old = parse(state.get(OLD_PROPERTIES_KEY), from_cloudformation=REQUEST_KEY in state)
        current = step_of(state).get("preflight") or rule.new_preflight(props, old, now, requested_at)
        look = partial(preflight.check, new=props, old=old, clients=clients, now=now)
        give_up = rule.give_up_preflight
    checked = _run_step(lambda: look(current), current["deadline"], lambda error: give_up(current, error))
    logger.info(
        "Preflight: %s",
        checked["phase"],
        extra={"new_instances": checked["newInstances"], "waiting_for": checked["waitingFor"]},
    )
    return checked


def _wait(event: WaitEvent) -> None:
    """Between checks: the state machine waits for its token, or for the poll interval (its timeout)."""
    table = Environment.read().watch_table
    if table:
        woken = watch.wait_for_wake(
            dynamodb_client(),
            sfn_client(),
            table,
            event.get("Drain") or event["ExecutionName"],
            event["TaskToken"],
            event["Wake"],
        )
        logger.info("Waiting for the next check", extra={"wake_on_last_stop": event["Wake"], "woken_at_once": woken})


def _clients() -> Clients:
    clients = drain_clients()
    clients.budget.begin_step()
    return clients


def _run_step[T: (DrainState, PreflightState)](
    step: Callable[[], T], retry_until: float, give_up: Callable[[Exception], T]
) -> T:
    """One step of either workflow. Our own trouble (throttling, the budget's table, a crash) is raised for the state
    machine to try again until the deadline, never answered early; at the deadline the step ends the workflow as
    any step there does (a drain as OnTimeout says; a preflight failed, nothing having been checked)."""
    try:
        return step()
    except Exception as error:
        if clock.now() < retry_until:
            raise _retryable(error) from error
        logger.warning("Deadline reached while the step kept failing", extra={"error": repr(error)})
        return give_up(error)


def _report(action: str, drain: DrainState) -> None:
    metrics.add_metric(name="TasksRemaining", unit="Count", value=drain["summary"]["tasksRemaining"])
    # The alarm's metric: findings ECS cannot resolve by itself (a deployment configuration, unplaceable tasks).
    metrics.add_metric(name="BlockingProblems", unit="Count", value=len(blocking(drain["diagnosis"])))
    # The alarm's metric: 1 where the account's providers keep more than one schedule (a warning in the Reason).
    separate = any(f["cause"] == Cause.SEPARATE_SCHEDULES for f in drain["diagnosis"])
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


def _retryable(error: Exception) -> Exception:
    """The error the state machine sees: throttling that outlasted the SDK's retries is named and counted."""
    if isinstance(error, ClientError) and is_throttling(error):
        metrics.add_metric(name="ThrottledSteps", unit="Count", value=1)
        return AwsThrottled(str(error))
    if isinstance(error, BudgetUnavailable):
        metrics.add_metric(name="ThrottledSteps", unit="Count", value=1)
    return error
