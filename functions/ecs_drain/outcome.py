"""What the drain's end means for CloudFormation: the status, the Reason, and the summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import reason
from .properties import on_timeout_policy
from .state import (
    BLOCKED,
    DEADLINE,
    DRAINED,
    NOTHING_TO_DRAIN,
    DrainState,
    ExecutionState,
    empty_summary,
    properties_of,
)


@dataclass(frozen=True)
class Outcome:
    outcome: str  # DRAINED | NOTHING_TO_DRAIN | DEADLINE | BLOCKED | FAILED | ABORTED | TIMED_OUT
    status: str  # SUCCESS | FAILED, as CloudFormation reads it
    reason: str


def _unfinished(policy: str) -> str:
    return "SUCCESS" if policy == "CONTINUE" else "FAILED"


def of_state(state: ExecutionState) -> Outcome:
    """The outcome of an execution that reached its answering step, normally or through a Catch."""
    drain = state.get("drain")
    policy = on_timeout_policy(properties_of(state))
    error = state.get("error")
    if error:
        failure = f"{error.get('Error', 'error')}: {str(error.get('Cause', ''))[:600]}"
        if error.get("Error") == "InvalidProperties":
            return Outcome(
                "FAILED", _unfinished(policy), reason.could_not_go_on(failure, drain) + reason.policy_note(policy)
            )
        # The state machine gave up only after failed tries in a row that outlast the deadline.
        said = reason.deadline_while_failing(failure, drain)
        return Outcome(DEADLINE, _unfinished(policy), said + reason.policy_note(policy))
    if drain is None:
        return Outcome("FAILED", _unfinished(policy), reason.never_started() + reason.policy_note(policy))
    phase = drain["phase"]
    if phase in (DRAINED, NOTHING_TO_DRAIN):
        return Outcome(phase, "SUCCESS", drain["message"])
    if phase == BLOCKED:
        return Outcome(BLOCKED, _unfinished(policy), drain["message"] + reason.policy_note(policy))
    message = drain["message"] if phase == DEADLINE else reason.stopped_after_checks(drain)
    return Outcome(DEADLINE, _unfinished(policy), f"{message}{reason.policy_note(policy)}")


def of_ended_execution(status: str, name: str, state: ExecutionState) -> Outcome:
    """The outcome of an execution that ended without answering (failed, timed out or stopped)."""
    policy = on_timeout_policy(properties_of(state))
    return Outcome(status, _unfinished(policy), reason.ended_without_answer(name, status) + reason.policy_note(policy))


def summary(state: ExecutionState, outcome: Outcome, answered: bool) -> dict[str, Any]:
    """The execution's output: what an operator reads in the console."""
    drain = state.get("drain")
    totals = drain["summary"] if drain else empty_summary()
    return {
        "outcome": outcome.outcome,
        "status": outcome.status,
        "reason": outcome.reason,
        "cluster": drain["cluster"] if drain else properties_of(state).get("Cluster"),
        "instances": totals.get("instances", 0),
        "tasksAtStart": totals.get("tasksAtStart", 0),
        "tasksRemaining": totals.get("tasksRemaining", 0),
        "standaloneTasksStopped": totals.get("standaloneStopped", 0),
        "checks": drain["checks"] if drain else 0,
        "seconds": totals.get("seconds"),
        "phaseSeconds": _phase_seconds(drain) if drain else {},
        "stillRunning": drain["remaining"] if drain and outcome.outcome != DRAINED else [],
        "diagnosis": drain.get("diagnosis", []) if drain else [],
        "eventsSince": drain.get("eventsSince", drain["startedAt"]) if drain else None,
        "answeredCloudFormation": answered,
        "startedBy": "CloudFormation" if state.get("CloudFormation") else "hand",
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
