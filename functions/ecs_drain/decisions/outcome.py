"""What the drain's end means for CloudFormation: the status, the Reason, and the summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..model.state import (
    ERROR_KEY,
    INVALID_PROPERTIES,
    LIFECYCLE_KEY,
    MODE_KEY,
    REQUEST_KEY,
    DrainOutput,
    DrainState,
    ExecutionInput,
    ExecutionOutput,
    Mode,
    OutputCommon,
    Phase,
    PreflightOutput,
    PreflightPhase,
    PreflightState,
    StepError,
    empty_summary,
    properties_of,
    step_of,
)
from . import reason
from .properties import on_timeout_policy, preflight_policy

PREFLIGHT_PASSED = "PREFLIGHT_PASSED"
PREFLIGHT_REPORTED = "PREFLIGHT_REPORTED"


@dataclass(frozen=True)
class Outcome:
    # DRAINED | NOTHING_TO_DRAIN | DEADLINE | BLOCKED | FAILED | ABORTED | TIMED_OUT; a preflight's: PREFLIGHT_PASSED
    # | PREFLIGHT_FAILED | PREFLIGHT_DEADLINE | PREFLIGHT_REPORTED (FAILED, ABORTED, TIMED_OUT as a drain's)
    outcome: str
    status: str  # SUCCESS | FAILED, as CloudFormation reads it
    reason: str
    physical_resource_id: str = ""  # the id the answer gives; empty: the request's
    data: dict[str, str] = field(default_factory=dict)


def is_preflight(state: ExecutionInput) -> bool:
    return state.get(MODE_KEY) == Mode.PREFLIGHT


def _failure(error: StepError) -> str:
    return reason.failure_of(error.get("Error", "error"), str(error.get("Cause", "")))


def _note(state: ExecutionInput, policy: str) -> str:
    """What the unfinished drain's ending makes CloudFormation, or the termination hook, do."""
    return reason.hook_policy_note(policy) if LIFECYCLE_KEY in state else reason.policy_note(policy)


def _unfinished(policy: str) -> str:
    return "SUCCESS" if policy == "CONTINUE" else "FAILED"


def of_state(state: ExecutionInput) -> Outcome:
    """The outcome of an execution that reached its answering step, normally or through a Catch."""
    if is_preflight(state):
        return of_preflight(state)
    step = step_of(state)
    drain, error = step.get("drain"), step.get(ERROR_KEY)
    policy = on_timeout_policy(properties_of(state))
    if error:
        failure = _failure(error)
        if error.get("Error") == INVALID_PROPERTIES:
            return Outcome(
                PreflightPhase.FAILED,
                _unfinished(policy),
                reason.could_not_go_on(failure, drain) + _note(state, policy),
            )
        # The state machine gave up only after failed tries in a row that outlast the deadline.
        said = reason.deadline_while_failing(failure, drain)
        return Outcome(Phase.DEADLINE, _unfinished(policy), said + _note(state, policy))
    if drain is None:
        return Outcome(PreflightPhase.FAILED, _unfinished(policy), reason.never_started() + _note(state, policy))
    phase = drain["phase"]
    if phase in (Phase.DRAINED, Phase.NOTHING_TO_DRAIN):
        return Outcome(phase, "SUCCESS", drain["message"])
    if phase == Phase.BLOCKED:
        return Outcome(Phase.BLOCKED, _unfinished(policy), drain["message"] + _note(state, policy))
    message = drain["message"] if phase == Phase.DEADLINE else reason.stopped_after_checks(drain)
    return Outcome(Phase.DEADLINE, _unfinished(policy), f"{message}{_note(state, policy)}")


def of_preflight(state: ExecutionInput) -> Outcome:
    """A preflight's answer: SUCCESS with the new id when it passed (or only reports), else FAILED with the old id,
    so CloudFormation rolls the update back."""
    step = step_of(state)
    checked, error = step.get("preflight"), step.get(ERROR_KEY)
    if error and error.get("Error") == INVALID_PROPERTIES:
        return Outcome(PreflightPhase.FAILED, "FAILED", reason.could_not_go_on(_failure(error), None))
    data = preflight_data(checked) if checked else {}
    if error or checked is None:
        outcome = "PREFLIGHT_DEADLINE"
        said = reason.preflight_could_not_run(_failure(error) if error else "never ran")
    elif checked["phase"] == PreflightPhase.PASSED:
        return Outcome(PREFLIGHT_PASSED, "SUCCESS", checked["message"], _new_id(state), data)
    else:
        outcome = "PREFLIGHT_FAILED" if checked["phase"] == PreflightPhase.FAILED else "PREFLIGHT_DEADLINE"
        said = checked["message"]
    if preflight_policy(properties_of(state)) == "REPORT":
        return Outcome(PREFLIGHT_REPORTED, "SUCCESS", reason.preflight_report_only(said), _new_id(state), data)
    return Outcome(outcome, "FAILED", said)


def preflight_data(checked: PreflightState) -> dict[str, str]:
    """The answer's Data (Fn::GetAtt-able strings): the new instances, and the room per service."""
    instances = checked["newInstances"]
    return {
        "InstancesListed": str(instances["listed"]),
        "InstancesRegistered": str(instances["registered"]),
        "InstancesReady": str(instances["daemonsRunning"]),
        "Room": "; ".join(f"{s['service']} {s['placed']} of {s['tasks']}" for s in checked["services"]),
        "Findings": str(len(checked["diagnosis"])),
        **({"ExpectedDrainSeconds": str(checked["expectedDrainSeconds"])} if "expectedDrainSeconds" in checked else {}),
    }


def _new_id(state: ExecutionInput) -> str:
    return (state.get(REQUEST_KEY) or {}).get("NewPhysicalResourceId", "")


def of_ended_execution(status: str, name: str, state: ExecutionInput) -> Outcome:
    """The outcome of an execution that ended without answering (failed, timed out or stopped)."""
    if is_preflight(state):
        said = reason.ended_without_answer(name, status)
        if preflight_policy(properties_of(state)) == "REPORT":
            return Outcome(status, "SUCCESS", reason.preflight_report_only(said), _new_id(state))
        return Outcome(status, "FAILED", said + " The update is rolled back rather than trusted.")
    policy = on_timeout_policy(properties_of(state))
    return Outcome(status, _unfinished(policy), reason.ended_without_answer(name, status) + _note(state, policy))


def summary(state: ExecutionInput, outcome: Outcome, answered: bool) -> ExecutionOutput:
    """The execution's output: what an operator reads in the console, and what a retried Delete reads."""
    step = step_of(state)
    preflight = is_preflight(state)
    drain = None if preflight else step.get("drain")
    checked = step.get("preflight") if preflight else None
    seconds = checked.get("seconds") if checked else drain["summary"].get("seconds") if drain else None
    common: OutputCommon = {
        "mode": Mode.PREFLIGHT if preflight else Mode.DRAIN,
        "outcome": outcome.outcome,
        "status": outcome.status,
        "reason": outcome.reason,
        "cluster": drain["cluster"] if drain else properties_of(state).get("Cluster"),
        "checks": checked["checks"] if checked else drain["checks"] if drain else 0,
        "seconds": seconds,
        "diagnosis": checked["diagnosis"] if checked else drain.get("diagnosis", []) if drain else [],
        "answeredCloudFormation": answered,
        "startedBy": _started_by(state),
    }
    return ExecutionOutput(**common, **_drain_output(drain, outcome), **_preflight_output(checked))


def _started_by(state: ExecutionInput) -> Literal["CloudFormation", "hand", "lifecycle hook"]:
    if state.get(REQUEST_KEY):
        return "CloudFormation"
    return "lifecycle hook" if LIFECYCLE_KEY in state else "hand"


def _drain_output(drain: DrainState | None, outcome: Outcome) -> DrainOutput:
    totals = drain["summary"] if drain else empty_summary()
    return {
        "instances": totals.get("instances", 0),
        "tasksAtStart": totals.get("tasksAtStart", 0),
        "tasksRemaining": totals.get("tasksRemaining", 0),
        "standaloneTasksStopped": totals.get("standaloneStopped", 0),
        "phaseSeconds": _phase_seconds(drain) if drain else {},
        "stillRunning": drain["remaining"] if drain and outcome.outcome != Phase.DRAINED else [],
        "eventsSince": drain.get("eventsSince", drain["startedAt"]) if drain else None,
    }


def _preflight_output(checked: PreflightState | None) -> PreflightOutput:
    return {
        "newTarget": checked["newTarget"] if checked else None,
        "oldTarget": checked["oldTarget"] if checked else None,
        "newInstances": checked["newInstances"] if checked else None,
        "services": checked["services"] if checked else [],
        "waitingFor": checked["waitingFor"] if checked else [],
    }


def _phase_seconds(drain: DrainState) -> dict[str, float]:
    """How long the drain waited for room elsewhere, and how long it drained."""
    timeline = drain["timeline"]
    started, ended = timeline["startedAt"], timeline.get("endedAt")
    capacity, draining_set = timeline.get("capacityReadyAt"), timeline.get("drainingSetAt")
    phases: dict[str, float] = {}
    if ended is None:
        return phases
    if capacity is not None:
        phases["waitingForCapacity"] = round(capacity - started, 1)
    if draining_set is not None:
        phases["draining"] = round(ended - draining_set, 1)
    elif capacity is None and drain["need"]["cpu"] + drain["need"]["memory"] > 0:
        phases["waitingForCapacity"] = round(ended - started, 1)
    return phases
