"""What a check decides from what it saw: the drain's next state or its ending, and the preflight's verdict.

Each step is observe -> decide -> render: `observe` (in draining and preflight) makes the ECS calls and returns a
frozen snapshot; `decide_*` here is a pure function of the state before, that snapshot and the properties, and
returns the state after (a new one: the one before is left as it was); `reason` renders its sentences. No client,
no clock, no I/O here (an import-linter contract holds it to that), so the rule is pinned by tables of states and
snapshots (tests/unit/test_rule.py).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..model.state import (
    CHECKS_PER_EXECUTION,
    Cause,
    CountMemory,
    DrainState,
    Finding,
    NewInstances,
    Phase,
    PreflightPhase,
    PreflightState,
    PreviousDrain,
    RemainingInstance,
    ServiceRoom,
    Spare,
    TaskEvents,
    new_state,
    no_instances,
    pack_ids,
)
from . import reason
from .findings import Observation, blocked, blocking, merge, unchanged, warnings
from .properties import MAX_MANUAL_DRAIN_SECONDS, DrainProperties

BACKLOG_RECHECK_SECONDS = 1  # the next check, when listings wait for the budget rather than for ECS
RECONCILE_POLLS = 2  # while events come, the tasks they did not report are read every this many polls


# One shape for both workflows: when it started, its deadline, its bound on checks, when it looks next.
def started_at(now: float, requested_at: float | None) -> float:
    """The deadline counts from the request, so time lost to failed tries of the first step is not given back."""
    return min(now, requested_at) if requested_at is not None else now


def check_bound(seconds: float, poll_seconds: int) -> int:
    """The most checks a loop of `seconds` polled every `poll_seconds` makes (its deadline's, and two to spare)."""
    return math.ceil(seconds / poll_seconds) + 2


def next_check_in(wait: float, deadline: float | None, now: float) -> int:
    """Seconds to the next check: `wait`, shortened so the last check falls on the deadline; at least 1."""
    if deadline is not None:
        wait = min(wait, math.ceil(deadline - now))
    return max(1, math.ceil(wait))


def drain_seconds(props: DrainProperties) -> int:
    """How long a drain may take: DrainTimeoutSeconds, or the longest drain by hand."""
    return props.drain_timeout_seconds or MAX_MANUAL_DRAIN_SECONDS


def retry_until(props: DrainProperties, started: float) -> float:
    """Until when a failing drain step is tried again: its deadline."""
    return started + drain_seconds(props)


def new_drain(props: DrainProperties, now: float, requested_at: float | None) -> DrainState:
    started = started_at(now, requested_at)
    deadline = started + props.drain_timeout_seconds if props.drain_timeout_seconds else None
    return new_state(props.cluster, started, deadline, check_bound(drain_seconds(props), props.poll_interval_seconds))


def counted_in_execution(state: DrainState, link: int) -> DrainState:
    """Count the step against this execution's share of the history (`link`: which execution of the chain this
    is): after CHECKS_PER_EXECUTION of them a drain not yet over goes on in the next execution."""
    if state.get("link") != link:
        state["link"], state["linkChecks"] = link, 0
    state["linkChecks"] = state.get("linkChecks", 0) + 1
    state["goOn"] = not state["over"] and state["linkChecks"] >= CHECKS_PER_EXECUTION
    return state


@dataclass(frozen=True)
class Ending:
    phase: Phase
    message: str


def finish(state: DrainState, now: float, ending: Ending) -> DrainState:
    state["phase"], state["message"], state["nextCheckInSeconds"] = ending.phase, ending.message, 0
    state["timeline"]["endedAt"] = now
    state["summary"]["seconds"] = round(now - state["startedAt"], 1)
    return state


def cluster_gone(props: DrainProperties) -> Ending:
    return Ending(Phase.NOTHING_TO_DRAIN, reason.cluster_gone(props.cluster_name))


def plan_ending(props: DrainProperties, ec2_instances: int | None, registered: int) -> Ending | None:
    """The plan's: nothing to drain when the target is gone (`ec2_instances` None), empty, or none of its instances
    is registered in the cluster."""
    if ec2_instances is None:
        return Ending(Phase.NOTHING_TO_DRAIN, reason.target_gone(props.target_name))
    if not ec2_instances:
        return Ending(Phase.NOTHING_TO_DRAIN, reason.target_empty(props.target_name))
    if not registered:
        return Ending(
            Phase.NOTHING_TO_DRAIN, reason.not_registered(ec2_instances, props.target_name, props.cluster_name)
        )
    return None


def gate_opens(need_cpu: int, need_memory: int, room: bool, anything_busy: bool) -> bool:
    """Whether the targets are set DRAINING now, while the drain waits for capacity: once there is room elsewhere
    for what they run, or nothing on them needs any."""
    return room or not anything_busy or need_cpu + need_memory == 0


@dataclass(frozen=True)
class DrainSnapshot:
    """What one check saw (and did: set targets DRAINING, stopped standalone tasks), for `decide_drain`."""

    now: float
    cluster_gone: bool = False
    count: CountMemory | None = None  # what the count remembers for the next check (None: nothing counted)
    busy: int = 0  # the target instances that still run something
    tasks: int = 0  # not STOPPED, on the busy instances
    unlisted: int = 0  # busy instances whose stopping tasks are still to be listed
    only_watched_left: bool = False  # every busy instance listed: only its watched tasks are left to stop
    events_on: bool = False  # ECS events report to this drain's watch (the rule on, the watch kept)
    reported: int = 0  # watched tasks events reported STOPPED since the last check
    reconciled: bool = False  # the watched tasks no event reported were read
    missed: int = 0  # of those, STOPPED for a while with no event
    out_of_time: bool = False  # listings the step's allowance could not afford wait for the next check
    remaining: tuple[RemainingInstance, ...] = ()  # the busiest, as the Reason names them
    spare: Spare | None = None  # the capacity gate's reading, while the drain waited for room
    draining: bool = False  # the targets are being set DRAINING (the gate is open)
    problems: tuple[str, ...] = ()  # what UpdateContainerInstancesState refused this check
    standalone_stopped: int = 0  # standalone tasks stopped this check (StandaloneTasks STOP)
    standalone_done: tuple[str, ...] = ()  # the busy instances whose standalone tasks were stopped
    findings: tuple[Finding, ...] = ()  # the diagnosis, merged with the previous check's
    # Whether every task left belongs to a blocked service or a daemon: read only when an early answer hinges on
    # it (see early_answer_possible); None: not read.
    only_blocked_left: bool | None = None


def early_answer_possible(
    findings: Sequence[Finding], props: DrainProperties, now: float, previous: PreviousDrain | None
) -> bool:
    """Whether this check could answer early (the same block as a retried Delete's, or BlockedTimeoutSeconds
    reached): only then is it worth reading whether nothing but the blocked tasks is left."""
    if previous is not None and unchanged(previous["diagnosis"], findings):
        return True
    timeout = props.blocked_timeout_seconds
    return timeout is not None and timeout > 0 and blocked(findings, now, timeout) is not None


def decide_drain(
    before: DrainState, seen: DrainSnapshot, props: DrainProperties, previous: PreviousDrain | None = None
) -> DrainState:
    """The drain's state after a check: the next check's, or its ending."""
    state = copy.deepcopy(before)
    now = seen.now
    state["checkedAt"], state["checks"] = now, state["checks"] + 1
    if seen.cluster_gone:
        return finish(state, now, cluster_gone(props))
    _record(state, seen)
    ending = _ending(state, seen, props, previous)
    if ending is not None:
        return finish(state, now, ending)
    # Listings the allowance could not afford wait for the budget, not for ECS: the next check comes at once.
    wait = BACKLOG_RECHECK_SECONDS if seen.out_of_time else props.poll_interval_seconds
    state["nextCheckInSeconds"] = next_check_in(wait, state["deadline"], now)
    state["maxChecks"] = _bound_ahead(state, props, now)
    findings = state["diagnosis"]
    first = findings[0] if findings else None
    state["message"] = reason.progress(state, seen.tasks, seen.busy, seen.unlisted, first, max(0, len(findings) - 1))
    return state


def _record(state: DrainState, seen: DrainSnapshot) -> None:
    """What the check saw, kept for the next (and for the Reason)."""
    if seen.spare is not None:
        state["spare"] = seen.spare
    if state["phase"] == Phase.WAITING_FOR_CAPACITY and seen.draining:
        state["phase"] = Phase.DRAINING
        state["timeline"]["capacityReadyAt"] = seen.now
    if seen.draining:
        state["timeline"].setdefault("drainingSetAt", seen.now)
    state["problems"] = (state["problems"] + list(seen.problems))[-5:]
    if seen.standalone_stopped:
        state["summary"]["standaloneStopped"] = state["summary"].get("standaloneStopped", 0) + seen.standalone_stopped
    state["standaloneStopped"] = pack_ids(seen.standalone_done)
    if seen.busy:
        state["diagnosis"] = list(seen.findings)
    if seen.count is not None:
        state.update(seen.count)  # type: ignore[typeddict-item]  # the count's own record, kept whole
    state["events"] = _task_events(state["events"], seen)
    state["summary"]["drained"] = state["summary"]["instances"] - seen.busy
    state["summary"]["tasksRemaining"] = seen.tasks
    state["remaining"] = list(seen.remaining)


def _task_events(before: TaskEvents, seen: DrainSnapshot) -> TaskEvents:
    events: TaskEvents = {
        "on": seen.events_on,
        "reported": before["reported"] + seen.reported,
        "missed": before["missed"] + seen.missed,
        # Only watched tasks left, every busy instance listed: the last one reported STOPPED ends the wait.
        "wake": seen.events_on and seen.only_watched_left,
    }
    reconciled_at = seen.now if seen.reconciled else before.get("reconciledAt")
    if reconciled_at is not None:
        events["reconciledAt"] = reconciled_at
    return events


def reconcile_due(events: TaskEvents, poll_seconds: int, now: float) -> bool:
    """Whether this check reads the watched tasks no event reported: always without events, or once they missed a
    STOPPED task; else every RECONCILE_POLLS polls, so that a lost event costs at most that long."""
    if not events["on"] or events["missed"]:
        return True
    last = events.get("reconciledAt")
    return last is None or now - last >= RECONCILE_POLLS * poll_seconds - 1


def _ending(
    state: DrainState, seen: DrainSnapshot, props: DrainProperties, previous: PreviousDrain | None
) -> Ending | None:
    """Whether this check ends the drain, and how (docs/how-it-works.md, "What ends a drain")."""
    now = seen.now
    if not seen.busy:
        state["diagnosis"] = warnings(state["diagnosis"])
        return Ending(Phase.DRAINED, reason.drained(state["summary"]["instances"], state["diagnosis"]))
    # A retried Delete after a blocked attempt: the same block, and nothing else left to wait for, answers now.
    nothing_else_left = seen.only_blocked_left is True
    if previous is not None and unchanged(previous["diagnosis"], state["diagnosis"]) and nothing_else_left:
        return Ending(Phase.BLOCKED, reason.still_blocked(previous["execution"], state))
    timeout = props.blocked_timeout_seconds
    stuck = blocked(state["diagnosis"], now, timeout) if timeout else None
    if timeout and stuck is not None and nothing_else_left:
        return Ending(Phase.BLOCKED, reason.blocked_for(now - stuck["stuckSince"], timeout, state))
    if now >= retry_until(props, state["startedAt"]):  # only time ends a drain by time (checks may come early)
        return Ending(Phase.DEADLINE, reason.deadline_reached(state))
    return None


def _bound_ahead(state: DrainState, props: DrainProperties, now: float) -> int:
    """The state machine's bound on checks, kept ahead of the checks made: a check that came early (a backlog, a
    last task's event) never brings the loop's end nearer than the deadline. It never grows past what polling to the
    deadline needs, so the loop stays bounded: by time, through the function, and by the execution's own timeout."""
    left = max(0.0, retry_until(props, state["startedAt"]) - now)
    return max(state["maxChecks"], state["checks"] + check_bound(left, props.poll_interval_seconds))


def give_up_drain(before: DrainState, now: float, error: Exception) -> DrainState:
    """The deadline has come while the step kept failing: end as at any deadline (OnTimeout applies), saying so."""
    state = copy.deepcopy(before)
    return finish(state, now, Ending(Phase.DEADLINE, reason.deadline_while_failing(reason.failure(error), before)))


# The preflight


def new_preflight(new: DrainProperties, old: DrainProperties, now: float, requested_at: float | None) -> PreflightState:
    started = started_at(now, requested_at)
    timeout = new.preflight_timeout_seconds
    return {
        "phase": PreflightPhase.WAITING_FOR_INSTANCES,
        "startedAt": started,
        "deadline": started + timeout,
        "checks": 0,
        "maxChecks": check_bound(timeout, new.poll_interval_seconds),
        "nextCheckInSeconds": 0,
        "over": False,
        "newTarget": new.target_name,
        "oldTarget": old.target_name,
        "newInstances": no_instances(),
        "waitingFor": [],
        "services": [],
        "diagnosis": [],
        "message": "",
    }


@dataclass(frozen=True)
class PreflightSnapshot:
    """What one look of the preflight saw, for `decide_preflight`."""

    now: float
    instances: NewInstances
    waiting_for: tuple[str, ...] = ()  # what the new target's instances still lack, in words (empty: ready)
    observations: tuple[Observation, ...] = ()  # what would hold a drain of the old target up, seen this look
    services: tuple[ServiceRoom, ...] | None = None  # the room per service, once placed (the new instances ready)
    expected_seconds: int | None = None  # the longest an old task takes to stop once replaced; None: not known

    @property
    def ready(self) -> bool:
        return not self.waiting_for


def decide_preflight(before: PreflightState, seen: PreflightSnapshot, props: DrainProperties) -> PreflightState:
    """The preflight's state after a look: waiting still, or its verdict (PASSED, FAILED, DEADLINE)."""
    state = copy.deepcopy(before)
    now = seen.now
    state["checks"] += 1
    state["newInstances"], state["waitingFor"] = seen.instances, list(seen.waiting_for)
    if seen.services is not None:
        state["services"] = list(seen.services)
    if seen.expected_seconds is not None:
        state["expectedDrainSeconds"] = seen.expected_seconds
    state["diagnosis"] = merge(state["diagnosis"], seen.observations, now)
    if blocking(state["diagnosis"]):
        return _verdict(
            state, now, PreflightPhase.FAILED, reason.preflight_failed(state["oldTarget"], state["diagnosis"])
        )
    if not seen.ready and (now >= state["deadline"] or state["checks"] >= state["maxChecks"]):
        timeout = round(state["deadline"] - state["startedAt"])
        said = reason.preflight_deadline(timeout, state["newTarget"], list(seen.waiting_for))
        not_ready = Observation(
            Cause.NOT_READY, state["newTarget"], seen.instances["listed"], "; ".join(seen.waiting_for)
        )
        state["diagnosis"] = merge(state["diagnosis"], [not_ready], now)
        return _verdict(state, now, PreflightPhase.DEADLINE, said)
    if not seen.ready:
        state["nextCheckInSeconds"] = next_check_in(props.poll_interval_seconds, state["deadline"], now)
        state["message"] = reason.preflight_waiting(state["newTarget"], list(seen.waiting_for))
        return state
    ready, services = seen.instances["ready"], len(state["services"])
    expected = state.get("expectedDrainSeconds")
    said = reason.preflight_passed(state["newTarget"], ready, services, expected, warnings(state["diagnosis"]))
    return _verdict(state, now, PreflightPhase.PASSED, said)


def _verdict(state: PreflightState, now: float, phase: PreflightPhase, message: str) -> PreflightState:
    state["phase"], state["message"], state["nextCheckInSeconds"] = phase, message, 0
    state["seconds"] = round(now - state["startedAt"], 1)
    return state


def give_up_preflight(before: PreflightState, error: Exception) -> PreflightState:
    """The deadline has come while the step kept failing: nothing was checked, so the preflight fails."""
    state = copy.deepcopy(before)
    state["phase"], state["nextCheckInSeconds"] = PreflightPhase.DEADLINE, 0
    state["seconds"] = round(state["deadline"] - state["startedAt"], 1)
    state["message"] = reason.preflight_could_not_run(reason.failure(error))
    return state
