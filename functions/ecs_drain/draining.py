"""The drain rule: plan once, then check until every task on the targets is STOPPED or the deadline comes.

An instance is drained only when ECS no longer knows it, or it is DRAINING and no task on it is anything but
STOPPED (census). Each step is a function of the state, the properties and the clients: the ECS calls are in
ecs_calls, the state's shape in state, the sentences in reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from . import ecs_calls as calls
from . import reason
from .capacity import has_room, inventory, listing_reads, spare_capacity, task_groups
from .census import Census, at_start, count
from .diagnosis import Observation, blocked, diagnose, merge, only_blocked_left, unchanged
from .ecs_calls import ClusterGone, ServiceView
from .properties import MAX_MANUAL_DRAIN_SECONDS, DrainProperties
from .schedules import call_budget_tables
from .state import (
    BLOCKED,
    DEADLINE,
    DRAINED,
    DRAINING,
    NOTHING_TO_DRAIN,
    SEPARATE_SCHEDULES,
    WAITING_FOR_CAPACITY,
    WARNING_CAUSES,
    DrainState,
    Phase,
    PreviousDrain,
    new_state,
    pack_ids,
    unpack_ids,
)
from .targets import ec2_instance_ids

if TYPE_CHECKING:
    from .aws import Clients

REPORTED_INSTANCES = 20  # how many still-busy instances the state and the Reason name
BACKLOG_RECHECK_SECONDS = 1  # the next check, when listings wait for the budget rather than for ECS


@dataclass(frozen=True)
class Ending:
    phase: Phase
    message: str


def retry_until(props: DrainProperties, started: float) -> float:
    """Until when a failing step is tried again: the deadline (the drain's start plus DrainTimeoutSeconds), or the
    longest drain by hand."""
    return started + (props.drain_timeout_seconds or MAX_MANUAL_DRAIN_SECONDS)


def plan(
    props: DrainProperties,
    clients: Clients,
    now: float,
    previous: PreviousDrain | None = None,
    requested_at: float | None = None,
) -> DrainState:
    """Resolve the targets and take stock; the first check follows at once. The deadline counts from the request
    (`requested_at`), so time lost to failed tries of this step is not given back."""
    state = _new_drain(props, now, requested_at)
    target = f"{props.target_kind} {props.target[0]}" if len(props.target) == 1 else props.target_kind
    ec2_ids = ec2_instance_ids(props, clients)
    if not ec2_ids:
        said = reason.target_gone(target) if ec2_ids is None else reason.target_empty(target)
        return _finish(state, now, Ending(NOTHING_TO_DRAIN, said))
    try:
        ids = calls.container_instance_ids(clients.ecs, props.cluster, ec2_ids)
        if not ids:
            said = reason.not_registered(len(ec2_ids), target, props.cluster_name)
            return _finish(state, now, Ending(NOTHING_TO_DRAIN, said))
        found, _ = calls.describe_instances(clients.ecs, props.cluster, ids)
        services = calls.describe_services(clients.ecs, props.cluster)
        tasks, need = inventory(clients.ecs, found.values(), services)
    except ClusterGone:
        return _finish(state, now, Ending(NOTHING_TO_DRAIN, reason.cluster_gone(props.cluster_name)))
    state["pending"], state["pendingCount"], state["need"] = pack_ids(ids), len(ids), need
    state["summary"] |= {"instances": len(ids), "tasksAtStart": tasks, "tasksRemaining": tasks}
    if previous is not None:  # a retried Delete: placement events ECS will not repeat for hours still count
        state["eventsSince"] = min(now, previous["startedAt"])
        state["diagnosis"] = previous["diagnosis"]  # what it found, and since when
    # Targets already DRAINING (an earlier attempt set them) are being emptied: waiting for room changes nothing.
    still_active = any(i.status == "ACTIVE" and i.active_tasks for i in found.values())
    if props.wait_for_capacity and need["cpu"] + need["memory"] > 0 and still_active:
        state["phase"] = WAITING_FOR_CAPACITY
        # Task by task where listing the services' tasks is cheap; aggregates otherwise (capacity).
        most = min(listing_reads(len(ids)), clients.budget.affordable_reads())
        groups = task_groups(clients.ecs, props.cluster, set(ids), services, most_reads=most)
        if groups is not None:
            state["groups"] = groups
    census = at_start(list(found.values()))
    state["diagnosis"] = diagnose(state, clients.ecs, services, census, clients.budget, now, standalone_wait=False)
    tables = call_budget_tables(clients.cloudformation) if clients.cloudformation is not None else None
    if tables is not None and len(tables) > 1:  # once per drain: who else books is read at its start
        warned = Observation(SEPARATE_SCHEDULES, "account", 0, reason.separate_schedules(tables))
        state["diagnosis"] = merge(state["diagnosis"], [warned], now)
    return state


def check(
    state: DrainState, props: DrainProperties, clients: Clients, now: float, previous: PreviousDrain | None = None
) -> DrainState:
    """One turn of the loop: observe (and act: set DRAINING, stop standalone tasks), decide, report."""
    state["checkedAt"], state["checks"] = now, state["checks"] + 1
    _upgrade(state)
    before = (state["summary"]["tasksRemaining"], state["pendingCount"])
    try:
        census = _observe(state, props, clients, now)
        services = calls.describe_services(clients.ecs, state["cluster"]) if census.busy else []
        if census.busy:
            waits = props.standalone_tasks == "WAIT"
            progressed = (census.tasks, len(census.busy)) < before
            state["diagnosis"] = diagnose(state, clients.ecs, services, census, clients.budget, now, waits, progressed)
        _record(state, census)
        ending = _decide(state, props, clients, census, services, now, previous)
    except ClusterGone:
        ending = Ending(NOTHING_TO_DRAIN, reason.cluster_gone(props.cluster_name))
    if ending is not None:
        return _finish(state, now, ending)
    _schedule_next(state, props, census, now)
    return state


def give_up(
    drain: DrainState | None, props: DrainProperties, now: float, requested_at: float | None, error: Exception
) -> DrainState:
    """The deadline has come while the step kept failing: end as at any deadline (OnTimeout applies), saying so."""
    failure = f"{type(error).__name__}: {str(error)[:300]}"
    state = drain if drain is not None else _new_drain(props, now, requested_at)
    return _finish(state, now, Ending(DEADLINE, reason.deadline_while_failing(failure, drain)))


def _observe(state: DrainState, props: DrainProperties, clients: Clients, now: float) -> Census:
    """Count what still runs; once there is room elsewhere, set the targets DRAINING (and stop standalone tasks
    under STOP)."""
    ecs, cluster = clients.ecs, state["cluster"]
    pending = unpack_ids(state["pending"])
    census = count(ecs, cluster, pending, unpack_ids(state["watched"]), clients.budget)
    if state["phase"] == WAITING_FOR_CAPACITY:
        state["spare"] = spare_capacity(clients, cluster, set(pending), state["need"], state.get("groups"))
        if has_room(state["need"], state["spare"]) or not census.busy:
            state["phase"] = DRAINING
            state["timeline"]["capacityReadyAt"] = now
    # An empty target is set DRAINING at once, even while waiting for capacity: nothing moves, and ECS places
    # nothing new on it. The others wait for room elsewhere.
    draining = state["phase"] == DRAINING
    if draining:
        state["timeline"].setdefault("drainingSetAt", now)
    active = [i for i, view in census.views.items() if view.status == "ACTIVE" and (draining or not view.active_tasks)]
    state["problems"] = (state["problems"] + (calls.set_draining(ecs, cluster, active) if active else []))[-5:]
    if draining and props.standalone_tasks == "STOP":
        _stop_standalone_tasks(state, census, clients)
    return census


def _decide(
    state: DrainState,
    props: DrainProperties,
    clients: Clients,
    census: Census,
    services: list[ServiceView],
    now: float,
    previous: PreviousDrain | None,
) -> Ending | None:
    """Whether this check ends the drain, and how."""
    if not census.busy:
        state["diagnosis"] = [f for f in state["diagnosis"] if f["cause"] in WARNING_CAUSES]
        return Ending(DRAINED, reason.drained(state["summary"]["instances"], state["diagnosis"]))

    def nothing_else_left() -> bool:
        return only_blocked_left(clients.ecs, state["cluster"], census, state["diagnosis"], services, clients.budget)

    # A retried Delete after a blocked attempt: the same block, and nothing else left to wait for, answers now.
    if previous is not None and unchanged(previous["diagnosis"], state["diagnosis"]) and nothing_else_left():
        return Ending(BLOCKED, reason.still_blocked(previous["execution"], state))
    timeout = props.blocked_timeout_seconds
    stuck = blocked(state["diagnosis"], now, timeout) if timeout else None
    if timeout and stuck is not None and nothing_else_left():
        return Ending(BLOCKED, reason.blocked_for(now - stuck["stuckSince"], timeout, state))
    deadline = state["deadline"]
    if (deadline is not None and now >= deadline) or state["checks"] >= state["maxChecks"]:
        return Ending(DEADLINE, reason.deadline_reached(state))
    return None


def _schedule_next(state: DrainState, props: DrainProperties, census: Census, now: float) -> None:
    # Listings the allowance could not afford wait for the budget, not for ECS: the next check comes at once.
    wait = BACKLOG_RECHECK_SECONDS if census.out_of_time else props.poll_interval_seconds
    if state["deadline"] is not None:
        wait = min(wait, math.ceil(state["deadline"] - now))  # the last check falls on the deadline
    state["nextCheckInSeconds"] = max(1, wait)
    findings = state["diagnosis"]
    first = findings[0] if findings else None
    state["message"] = reason.progress(
        state, census.tasks, len(census.busy), census.unlisted, first, max(0, len(findings) - 1)
    )


def _stop_standalone_tasks(state: DrainState, census: Census, clients: Clients) -> None:
    # One ListTasks and DescribeTasks per instance: what the allowance does not afford waits for the next check.
    done = set(unpack_ids(state["standaloneStopped"]))
    for busy in census.busy:
        if busy.instance.id not in done and busy.active and clients.budget.affords(2):
            stopped = calls.stop_standalone_tasks(clients.ecs, state["cluster"], busy.instance.id)
            state["summary"]["standaloneStopped"] = state["summary"].get("standaloneStopped", 0) + stopped
            done.add(busy.instance.id)
    state["standaloneStopped"] = pack_ids(done & {b.instance.id for b in census.busy})


def _record(state: DrainState, census: Census) -> None:
    state["pending"] = pack_ids(b.instance.id for b in census.busy)
    state["pendingCount"] = len(census.busy)
    state["watched"] = pack_ids(census.watched)
    state["summary"]["drained"] = state["summary"]["instances"] - len(census.busy)
    state["summary"]["tasksRemaining"] = census.tasks
    busiest = sorted(census.busy, key=lambda b: -b.tasks)
    state["remaining"] = [b.report() for b in busiest[:REPORTED_INSTANCES]]


def _upgrade(state: DrainState) -> None:
    """A drain started by an earlier version: no diagnosis yet, and its watched tasks under their old name."""
    state.setdefault("diagnosis", [])
    legacy = cast("dict[str, Any]", state).pop("probes", None)
    if legacy is not None:
        state["watched"] = legacy


def _new_drain(props: DrainProperties, now: float, requested_at: float | None) -> DrainState:
    started = min(now, requested_at) if requested_at is not None else now
    seconds = props.drain_timeout_seconds or MAX_MANUAL_DRAIN_SECONDS
    deadline = started + props.drain_timeout_seconds if props.drain_timeout_seconds else None
    checks = math.ceil(seconds / props.poll_interval_seconds) + 2
    return new_state(props.cluster, started, deadline, checks, retry_until(props, started))


def _finish(state: DrainState, now: float, ending: Ending) -> DrainState:
    state["phase"], state["message"], state["nextCheckInSeconds"] = ending.phase, ending.message, 0
    state["timeline"]["endedAt"] = now
    state["summary"]["seconds"] = round(now - state["startedAt"], 1)
    return state
