"""What the drain's end means for CloudFormation: the status, the Reason, and the summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .draining import DEADLINE, DRAINED, NOTHING_TO_DRAIN, describe_remaining


@dataclass(frozen=True)
class Outcome:
    outcome: str  # DRAINED | NOTHING_TO_DRAIN | DEADLINE | FAILED | ABORTED | TIMED_OUT
    status: str  # SUCCESS | FAILED, as CloudFormation reads it
    reason: str


def on_timeout_policy(state: dict[str, Any]) -> str:
    drain = state.get("drain") or {}
    policy = (drain.get("properties") or {}).get("on_timeout") or state.get("OnTimeout") or "CONTINUE"
    return "FAIL" if str(policy).strip().upper() == "FAIL" else "CONTINUE"


def _unfinished(policy: str) -> str:
    return "SUCCESS" if policy == "CONTINUE" else "FAILED"


def _policy_note(policy: str) -> str:
    if policy == "CONTINUE":
        return " OnTimeout=CONTINUE: CloudFormation goes on and deletes the old capacity."
    return " OnTimeout=FAIL: CloudFormation keeps the old capacity."


def of_state(state: dict[str, Any]) -> Outcome:
    """The outcome of an execution that reached its answering step, normally or through a Catch."""
    drain = state.get("drain") or {}
    policy = on_timeout_policy(state)
    error = state.get("error")
    if error:
        cause = str(error.get("Cause", ""))[:600]
        reason = f"The drain failed before it finished ({error.get('Error', 'error')}: {cause})."
        reason += " " + describe_remaining(drain) if drain else ""
        return Outcome("FAILED", _unfinished(policy), reason.strip() + _policy_note(policy))
    phase = drain.get("phase")
    if phase in (DRAINED, NOTHING_TO_DRAIN):
        return Outcome(str(phase), "SUCCESS", str(drain.get("message", "")))
    message = (
        drain.get("message")
        if phase == DEADLINE
        else f"The drain stopped after {drain.get('checks', 0)} checks. {describe_remaining(drain)}"
    )
    return Outcome(DEADLINE, _unfinished(policy), f"{message}{_policy_note(policy)}")


def of_ended_execution(status: str, name: str, state: dict[str, Any]) -> Outcome:
    """The outcome of an execution that ended without answering (failed, timed out or stopped)."""
    policy = on_timeout_policy(state)
    reason = f"The drain execution {name} ended {status} before it answered CloudFormation."
    return Outcome(status, _unfinished(policy), reason + _policy_note(policy))


def summary(state: dict[str, Any], outcome: Outcome, answered: bool) -> dict[str, Any]:
    """The execution's output: what an operator reads in the console."""
    drain = state.get("drain") or {}
    timeline = drain.get("timeline") or {}
    totals = drain.get("summary") or {}
    started, ended = timeline.get("startedAt"), timeline.get("endedAt")
    capacity, draining_set = timeline.get("capacityReadyAt"), timeline.get("drainingSetAt")
    phases: dict[str, float] = {}
    if started is not None and ended is not None:
        if capacity is not None and drain.get("need"):
            phases["waitingForCapacity"] = round(capacity - started, 1)
        if draining_set is not None:
            phases["draining"] = round(ended - draining_set, 1)
        elif capacity is None and drain.get("need") and drain["properties"].get("wait_for_capacity"):
            phases["waitingForCapacity"] = round(ended - started, 1)
    return {
        "outcome": outcome.outcome,
        "status": outcome.status,
        "reason": outcome.reason,
        "cluster": drain.get("cluster") or state.get("Cluster"),
        "instances": totals.get("instances", 0),
        "tasksAtStart": totals.get("tasksAtStart", 0),
        "tasksByKind": totals.get("tasksByKind", {}),
        "tasksRemaining": totals.get("tasksRemaining", 0),
        "standaloneTasksStopped": totals.get("standaloneStopped", 0),
        "checks": drain.get("checks", 0),
        "seconds": totals.get("seconds"),
        "phaseSeconds": phases,
        "stillRunning": drain.get("remaining", []) if outcome.outcome != DRAINED else [],
        "answeredCloudFormation": answered,
        "startedBy": "CloudFormation" if state.get("CloudFormation") else "hand",
    }
