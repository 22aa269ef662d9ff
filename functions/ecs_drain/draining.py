"""The drain rule: plan once, then check until every task on the targets is STOPPED or the deadline comes.

An instance is drained only when ECS no longer knows it, or it is DRAINING and no task on it is anything but
STOPPED. Each step is a function of the state, the properties and the clients; the ECS calls are in ecs_calls,
the state's shape in state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from . import ecs_calls as calls
from .capacity import has_room, inventory, spare_capacity
from .diagnosis import blocked, describe, diagnose, only_blocked_left, unchanged
from .ecs_calls import ClusterGone, Instance, last_part
from .outcome import describe_remaining, describe_why
from .properties import MAX_MANUAL_DRAIN_SECONDS, DrainProperties
from .state import (
    BLOCKED,
    DEADLINE,
    DRAINED,
    DRAINING,
    NOTHING_TO_DRAIN,
    SERVICE_UNAVAILABLE,
    WAITING_FOR_CAPACITY,
    DrainState,
    Finding,
    Phase,
    PreviousDrain,
    RemainingInstance,
    new_state,
    pack_ids,
    unpack_ids,
)
from .targets import ec2_instance_ids

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient

    from .aws import Clients
    from .budget import CallBudget

REPORTED_INSTANCES = 20  # how many still-busy instances the state and the Reason name
# Tasks watched at once (16 bytes each in the state): every stopping task of an instance whose running tasks are
# gone, so its last one stopping is seen without listing it again. 5,000 keep the state under ~110 KB of 256 KB.
WATCH_MAX = 5000
BACKLOG_RECHECK_SECONDS = 1


@dataclass
class Busy:
    """An instance that still runs something: tasks meant to run, and tasks stopping but not STOPPED yet."""

    instance: Instance
    active: int
    stopping: list[str] = field(default_factory=list)  # ids of its watched tasks not STOPPED yet
    unlisted: bool = False  # nothing runs, but its stopping tasks are still to be listed (carried over)

    def report(self) -> RemainingInstance:
        return {
            "ec2InstanceId": self.instance.ec2_instance_id,
            "containerInstance": self.instance.id,
            "status": self.instance.status,
            "tasks": self.active + len(self.stopping),
            "stopping": len(self.stopping),
        }


@dataclass
class Census:
    """The outcome of one count over the pending instances."""

    busy: list[Busy] = field(default_factory=list)
    drained: list[str] = field(default_factory=list)
    views: dict[str, Instance] = field(default_factory=dict)

    @property
    def tasks(self) -> int:
        return sum(b.active + len(b.stopping) for b in self.busy)

    out_of_time: bool = False  # listings were left for the next check because the step's allowance ran out

    @property
    def unlisted(self) -> int:
        return sum(1 for b in self.busy if b.unlisted)


def count(ecs: ECSClient, cluster: str, ids: Sequence[str], watched: Sequence[str], budget: CallBudget) -> Census:
    """One pass over the instances not drained yet.

    An instance is drained when ECS no longer knows it, or when it is DRAINING with no task meant to run and every
    task told to stop on it, as listed once its running tasks were gone, is STOPPED. Calls: DescribeTasks for the
    watched tasks (100 a call), DescribeContainerInstances (100 a call), and one ListTasks for each instance whose
    running tasks just went, as many as the step's allowance affords; the rest wait for the next check.
    """
    census = Census()
    states = calls.task_states(ecs, cluster, watched)
    on_instance: dict[str, list[str]] = {}  # instance -> its watched tasks not STOPPED (listed instances only)
    for task_id, (instance_id, status) in states.items():
        stopping = on_instance.setdefault(instance_id, [])
        if status != "STOPPED":
            stopping.append(task_id)
    found, missing = calls.describe_instances(ecs, cluster, ids)
    census.views = found
    census.drained.extend(sorted(missing))  # deregistered or terminated: nothing runs there any more
    to_list: list[str] = []
    for instance_id in sorted(found):
        instance = found[instance_id]
        if instance.status in calls.GONE_STATUSES:
            census.drained.append(instance_id)
        elif instance.active_tasks or instance.status == "ACTIVE":
            # Still ACTIVE, ECS may place tasks on it: drained only once it is DRAINING and empty.
            census.busy.append(Busy(instance, instance.active_tasks))
        elif on_instance.get(instance_id):
            census.busy.append(Busy(instance, 0, on_instance[instance_id]))
        elif instance_id in on_instance:
            census.drained.append(instance_id)  # every task it was stopping is STOPPED
        else:
            to_list.append(instance_id)
    _list_stopping(ecs, cluster, [found[i] for i in to_list], census, budget)
    return census


def _list_stopping(ecs: ECSClient, cluster: str, instances: list[Instance], census: Census, budget: CallBudget) -> None:
    """List the tasks told to stop on instances whose running tasks are gone, while the allowance lasts."""
    room = WATCH_MAX - sum(len(b.stopping) for b in census.busy)
    home: dict[str, str] = {}
    listed: list[Instance] = []
    for instance in instances:
        if room <= 0 or not budget.affords(2):  # its ListTasks, and a share of the DescribeTasks after
            census.busy.append(Busy(instance, 0, unlisted=True))
            census.out_of_time |= room > 0
            continue
        arns = calls.stopping_tasks(ecs, cluster, instance.id)
        home.update((last_part(arn), instance.id) for arn in arns)
        room -= len(arns)
        listed.append(instance)
    stopping: dict[str, list[str]] = {i.id: [] for i in listed}
    for task_id, (_, status) in calls.task_states(ecs, cluster, sorted(home)).items():
        if status != "STOPPED":
            stopping[home[task_id]].append(task_id)
    for instance in listed:
        if stopping[instance.id]:
            census.busy.append(Busy(instance, 0, sorted(stopping[instance.id])))
        else:
            census.drained.append(instance.id)


def retry_until(props: DrainProperties, requested_at: float) -> float:
    """Until when a failing step is tried again: the deadline, or the longest drain by hand."""
    return requested_at + (props.drain_timeout_seconds or MAX_MANUAL_DRAIN_SECONDS)


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
    if ec2_ids is None:
        return _finish(state, NOTHING_TO_DRAIN, now, f"{target} no longer exists: nothing to drain.")
    if not ec2_ids:
        return _finish(state, NOTHING_TO_DRAIN, now, f"{target} has no running instances: nothing to drain.")
    try:
        ids = calls.container_instance_ids(clients.ecs, props.cluster, ec2_ids)
        if not ids:
            unregistered = f"None of the {len(ec2_ids)} instances of {target} is registered in {props.cluster_name}"
            return _finish(state, NOTHING_TO_DRAIN, now, unregistered + ": nothing to drain.")
        found, _ = calls.describe_instances(clients.ecs, props.cluster, ids)
        services = calls.describe_services(clients.ecs, props.cluster)
        tasks, need = inventory(clients.ecs, found.values(), services)
    except ClusterGone:
        return _finish(state, NOTHING_TO_DRAIN, now, _cluster_gone(props))
    state["pending"], state["pendingCount"], state["need"] = pack_ids(ids), len(ids), need
    state["summary"] |= {"instances": len(ids), "tasksAtStart": tasks, "tasksRemaining": tasks}
    if previous is not None:  # a retried Delete: placement events ECS will not repeat for hours still count
        state["eventsSince"] = min(now, previous["startedAt"])
        state["diagnosis"] = previous["diagnosis"]  # what it found, and since when
    # Targets already DRAINING (an earlier attempt set them) are being emptied: waiting for room changes nothing.
    still_active = any(i.status == "ACTIVE" and i.active_tasks for i in found.values())
    if props.wait_for_capacity and need["cpu"] + need["memory"] > 0 and still_active:
        state["phase"] = WAITING_FOR_CAPACITY
    census = Census(busy=[Busy(i, i.active_tasks) for i in found.values() if i.status not in calls.GONE_STATUSES])
    state["diagnosis"] = diagnose(
        state, clients.ecs, services, census, clients.budget, now, standalone_wait=False, progressed=True
    )
    return state


def check(
    state: DrainState, props: DrainProperties, clients: Clients, now: float, previous: PreviousDrain | None = None
) -> DrainState:
    """One turn of the loop: wait for room, set DRAINING, count what still runs, say why it cannot finish if it
    cannot, decide what comes next."""
    cluster, ecs = state["cluster"], clients.ecs
    state["checkedAt"] = now
    state["checks"] += 1
    state.setdefault("diagnosis", [])  # a drain started by an earlier version has none yet
    pending = unpack_ids(state["pending"])
    before = (state["summary"]["tasksRemaining"], state["pendingCount"])
    try:
        census = count(ecs, cluster, pending, unpack_ids(state["probes"]), clients.budget)
        if state["phase"] == WAITING_FOR_CAPACITY:
            state["spare"] = spare_capacity(ecs, cluster, set(pending), state["need"])
            if has_room(state["need"], state["spare"]) or not census.busy:
                state["phase"] = DRAINING
                state["timeline"]["capacityReadyAt"] = now
        problems = _set_draining(state, census, ecs, now)
        if state["phase"] == DRAINING and props.standalone_tasks == "STOP":
            _stop_standalone_tasks(state, census, ecs, clients.budget)
        services = calls.describe_services(ecs, cluster) if census.busy else []
        if census.busy:
            state["diagnosis"] = diagnose(
                state,
                ecs,
                services,
                census,
                clients.budget,
                now,
                standalone_wait=props.standalone_tasks == "WAIT",
                progressed=(census.tasks, len(census.busy)) < before,
            )
    except ClusterGone:
        return _finish(state, NOTHING_TO_DRAIN, now, _cluster_gone(props))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ClusterNotFoundException":
            return _finish(state, NOTHING_TO_DRAIN, now, _cluster_gone(props))
        raise
    _record(state, census, problems)

    if not census.busy:
        drained = state["summary"]["instances"]
        done = f"Drained {drained} container instances: every task on them is STOPPED."
        state["diagnosis"] = [f for f in state["diagnosis"] if f["cause"] == SERVICE_UNAVAILABLE]
        return _finish(state, DRAINED, now, done + _warnings(state["diagnosis"]))
    why = describe_why(state)

    def nothing_else_left() -> bool:
        return only_blocked_left(ecs, cluster, census, state["diagnosis"], services, clients.budget)

    # A retried Delete after a blocked attempt: the same block, and nothing else left to wait for, answers now.
    repeated = previous is not None and unchanged(previous["diagnosis"], state["diagnosis"])
    if previous is not None and repeated and nothing_else_left():
        return _finish(
            state,
            BLOCKED,
            now,
            f"Still blocked, as the previous attempt ({previous['execution']}) found; nothing has changed since. "
            f"{why}{describe_remaining(state)}",
        )
    stuck = blocked(state["diagnosis"], now, props.blocked_timeout_seconds) if props.blocked_timeout_seconds else None
    if stuck is not None and nothing_else_left():
        held = round(now - stuck["stuckSince"])
        return _finish(
            state,
            BLOCKED,
            now,
            f"Blocked for {held} s by a cause ECS cannot resolve by itself, with nothing else left to drain "
            f"(BlockedTimeoutSeconds {props.blocked_timeout_seconds}). {why}{describe_remaining(state)}",
        )
    deadline = state["deadline"]
    if (deadline is not None and now >= deadline) or state["checks"] >= state["maxChecks"]:
        return _finish(
            state, DEADLINE, now, f"Deadline reached with tasks still running. {why}{describe_remaining(state)}"
        )
    # Listings the allowance could not afford wait for the budget, not for ECS: the next check comes at once.
    wait = BACKLOG_RECHECK_SECONDS if census.out_of_time else props.poll_interval_seconds
    if deadline is not None:
        wait = min(wait, math.ceil(deadline - now))  # the last check falls on the deadline
    state["nextCheckInSeconds"] = max(1, wait)
    need = state["need"]
    waiting = state["phase"] == WAITING_FOR_CAPACITY
    state["message"] = (
        f"Waiting for capacity: need {need['cpu']} CPU / {need['memory']} MiB elsewhere. " if waiting else ""
    ) + f"{census.tasks} tasks on {len(census.busy)} instances still running."
    if census.unlisted:
        state["message"] += f" {census.unlisted} instances with no running task are still to be listed."
    if state["diagnosis"]:
        first = state["diagnosis"][0]
        more = len(state["diagnosis"]) - 1
        state["message"] += f" Diagnosis: {first['subject']}: {first['cause']}" + (f" (+{more} more)." if more else ".")
    return state


def _warnings(findings: list[Finding]) -> str:
    """What users of a service saw during a drain that finished: named, since the drain caused it."""
    return f" Warning: {describe(findings)}" if findings else ""


def _set_draining(state: DrainState, census: Census, ecs: ECSClient, now: float) -> list[str]:
    # An empty target is set DRAINING at once, even while waiting for capacity: nothing moves, and ECS places
    # nothing new on it. The others wait for room elsewhere.
    draining = state["phase"] == DRAINING
    if draining:
        state["timeline"].setdefault("drainingSetAt", now)
    active = [i for i, view in census.views.items() if view.status == "ACTIVE" and (draining or not view.active_tasks)]
    return calls.set_draining(ecs, state["cluster"], active) if active else []


def _stop_standalone_tasks(state: DrainState, census: Census, ecs: ECSClient, budget: CallBudget) -> None:
    # One ListTasks and DescribeTasks per instance: what the allowance does not afford waits for the next check.
    done = set(unpack_ids(state["standaloneStopped"]))
    for busy in census.busy:
        if busy.instance.id not in done and busy.active and budget.affords(2):
            stopped = calls.stop_standalone_tasks(ecs, state["cluster"], busy.instance.id)
            state["summary"]["standaloneStopped"] = state["summary"].get("standaloneStopped", 0) + stopped
            done.add(busy.instance.id)
    state["standaloneStopped"] = pack_ids(done & {b.instance.id for b in census.busy})


def _record(state: DrainState, census: Census, problems: list[str]) -> None:
    state["pending"] = pack_ids(b.instance.id for b in census.busy)
    state["pendingCount"] = len(census.busy)
    state["probes"] = pack_ids(task for b in census.busy for task in b.stopping)
    state["problems"] = (state["problems"] + problems)[-5:]
    state["summary"]["drained"] = state["summary"]["instances"] - len(census.busy)
    state["summary"]["tasksRemaining"] = census.tasks
    busiest = sorted(census.busy, key=lambda b: -(b.active + len(b.stopping)))
    state["remaining"] = [b.report() for b in busiest[:REPORTED_INSTANCES]]


def _new_drain(props: DrainProperties, now: float, requested_at: float | None) -> DrainState:
    started = min(now, requested_at) if requested_at is not None else now
    seconds = props.drain_timeout_seconds or MAX_MANUAL_DRAIN_SECONDS
    deadline = started + props.drain_timeout_seconds if props.drain_timeout_seconds else None
    checks = math.ceil(seconds / props.poll_interval_seconds) + 2
    return new_state(props.cluster, started, deadline, checks, retry_until(props, started))


def give_up(
    drain: DrainState | None, props: DrainProperties, now: float, requested_at: float | None, error: Exception
) -> DrainState:
    """The deadline has come while the step kept failing: end as at any deadline (OnTimeout applies), saying so."""
    failure = f"{type(error).__name__}: {str(error)[:300]}"
    if drain is None:
        state = _new_drain(props, now, requested_at)
        return _finish(state, DEADLINE, now, f"Deadline reached before the drain could start: {failure}.")
    return _finish(
        drain,
        DEADLINE,
        now,
        f"Deadline reached while the drain step kept failing ({failure}). {describe_why(drain)}"
        f"{describe_remaining(drain)}",
    )


def _cluster_gone(props: DrainProperties) -> str:
    return f"Cluster {props.cluster_name} no longer exists: nothing left to drain."


def _finish(state: DrainState, phase: Phase, now: float, message: str) -> DrainState:
    state["phase"], state["message"], state["nextCheckInSeconds"] = phase, message, 0
    state["timeline"]["endedAt"] = now
    state["summary"]["seconds"] = round(now - state["startedAt"], 1)
    return state
