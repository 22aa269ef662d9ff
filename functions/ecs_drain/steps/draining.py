"""The drain's steps: plan once, then check until every task on the targets is STOPPED or the drain ends.

An instance is drained only when ECS no longer knows it, or it is DRAINING and no task on it is anything but
STOPPED (census). A check is observe -> decide: `observe` here makes every ECS call (and sets DRAINING, stops
standalone tasks) and returns a snapshot; rule.decide_drain, a pure function, gives the state after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from ..aws import ecs_calls as calls
from ..aws.ecs_calls import ClusterGone, ServiceView
from ..aws.schedules import call_budget_tables
from ..aws.targets import ec2_instance_ids
from ..aws.watch import TaskWatch
from ..decisions import reason, rule
from ..decisions.claims import CLAIM_MARGIN_SECONDS, DRAINING_CLAIM_SECONDS, Claim
from ..decisions.findings import Observation, merge
from ..decisions.properties import DrainProperties
from ..model.state import (
    FINAL_PHASES,
    Cause,
    DrainState,
    Finding,
    Phase,
    PreviousDrain,
    Spare,
    no_task_events,
    pack_ids,
    unpack_ids,
)
from .capacity import has_room, inventory, listing_cost, listing_reads, spare_capacity, task_groups
from .census import Census, Pending, at_start, count
from .diagnosis import Gate, Looked, StandaloneWait, diagnose, only_blocked_left
from .room import claim_room, hold_room_until, read_room, release_room

if TYPE_CHECKING:
    from ..aws.clients import Clients

REPORTED_INSTANCES = 20  # how many still-busy instances the state and the Reason name


def plan(
    props: DrainProperties,
    clients: Clients,
    now: float,
    previous: PreviousDrain | None = None,
    requested_at: float | None = None,
) -> DrainState:
    """Resolve the targets and take stock; the first check follows at once. The deadline counts from the request
    (`requested_at`), so time lost to failed tries of this step is not given back."""
    state = rule.new_drain(props, now, requested_at)
    ec2_ids = ec2_instance_ids(props, clients)
    try:
        ids = calls.container_instance_ids(clients.ecs, props.cluster, ec2_ids) if ec2_ids else []
        ending = rule.plan_ending(props, None if ec2_ids is None else len(ec2_ids), len(ids))
        if ending is not None:
            return rule.finish(state, now, ending)
        found, _ = calls.describe_instances(clients.ecs, props.cluster, ids)
        services = calls.describe_services(clients.ecs, props.cluster)
        definitions = calls.TaskDefinitions(clients.ecs)  # read once for the need and the task groups
        tasks, need = inventory(clients.ecs, found.values(), services, definitions)
    except ClusterGone:
        return rule.finish(state, now, rule.cluster_gone(props))
    state["pending"], state["pendingCount"], state["need"] = pack_ids(ids), len(ids), need
    state["summary"] |= {"instances": len(ids), "tasksAtStart": tasks, "tasksRemaining": tasks}
    if previous is not None:  # a retried Delete: placement events ECS will not repeat for hours still count
        state["eventsSince"] = min(now, previous["startedAt"])
        state["diagnosis"] = previous["diagnosis"]  # what it found, and since when
    # Targets already DRAINING (an earlier attempt set them) are being emptied: waiting for room changes nothing.
    still_active = any(i.status == "ACTIVE" and i.active_tasks for i in found.values())
    if props.wait_for_capacity and need["cpu"] + need["memory"] > 0 and still_active:
        state["phase"] = Phase.WAITING_FOR_CAPACITY
        # Task by task where listing the services' tasks is cheap; aggregates otherwise (capacity).
        cost = listing_cost(services)
        if cost <= min(listing_reads(len(ids)), clients.budget.affordable_reads()):
            state["groups"] = task_groups(clients.ecs, props.cluster, set(ids), services, definitions)
    state["diagnosis"] = _first_diagnosis(state, clients, services, at_start(list(found.values())), now)
    claim_room(clients, props.cluster_name, drain_claim(props, state, ec2_ids or []), now)
    return state


def drain_claim(props: DrainProperties, state: DrainState, ec2_ids: Sequence[str]) -> Claim:
    """The drain's claim on the cluster's room: its targets leave, and their service tasks need room elsewhere."""
    ends = rule.retry_until(props, state["startedAt"])  # the deadline, or the longest drain by hand
    return Claim(
        key=props.target_name,
        by=f"the drain of {props.target_name}",
        leaving=frozenset(ec2_ids),
        undecided=frozenset(),
        groups=tuple(state.get("groups") or ()),
        expires_at=ends + CLAIM_MARGIN_SECONDS,
    )


def _first_diagnosis(
    state: DrainState, clients: Clients, services: list[ServiceView], census: Census, now: float
) -> list[Finding]:
    """What the plan finds: the services' own findings and the gate's, and other providers' schedules (read once
    per drain, at its start)."""
    gate = Gate(state["phase"] == Phase.WAITING_FOR_CAPACITY, None, None)
    findings = diagnose(state, gate, Looked(clients.ecs, clients.budget, services, census, now))
    tables = call_budget_tables(clients.cloudformation) if clients.cloudformation is not None else None
    if tables is not None and len(tables) > 1:
        warned = Observation(Cause.SEPARATE_SCHEDULES, "account", 0, reason.separate_schedules(tables))
        findings = merge(findings, [warned], now)
    return findings


def check(
    state: DrainState,
    props: DrainProperties,
    clients: Clients,
    now: float,
    previous: PreviousDrain | None = None,
    watch: TaskWatch | None = None,
) -> DrainState:
    """One turn of the loop: observe (and act: set DRAINING, stop standalone tasks), then decide."""
    _upgrade(state)
    try:
        seen = observe(state, props, clients, now, previous, watch)
    except ClusterGone:
        seen = rule.DrainSnapshot(now, cluster_gone=True)
    decided = rule.decide_drain(state, seen, props, previous)
    if decided["phase"] in FINAL_PHASES:
        release_room(clients, props.cluster_name, props.target_name)
    return decided


def observe(
    state: DrainState,
    props: DrainProperties,
    clients: Clients,
    now: float,
    previous: PreviousDrain | None,
    watch: TaskWatch | None = None,
) -> rule.DrainSnapshot:
    """Count what still runs; once there is room elsewhere, set the targets DRAINING (and stop standalone tasks
    under STOP); say why it cannot finish. Every ECS call of a check is made here."""
    pending = _pending(state, props, watch, now)
    census = count(clients.ecs, state["cluster"], pending, clients.budget, now, clients.sweeps)
    events_on = _keep_watch(watch, list(pending.watched) if state["events"]["on"] else [], census.watched, now)
    acted = _act(state, props, clients, census, now)
    turn = _Turn(props, clients, now, previous)
    findings, only_blocked = _why(state, turn, census, acted) if census.busy else ([], None)
    busiest = sorted(census.busy, key=lambda b: -b.tasks)
    return rule.DrainSnapshot(
        now=now,
        count=census.memory(),
        busy=len(census.busy),
        tasks=census.tasks,
        unlisted=census.unlisted,
        only_watched_left=census.only_watched_left,
        events_on=events_on,
        reported=len(pending.reported),
        reconciled=census.reconciled,
        missed=census.missed,
        out_of_time=census.out_of_time,
        remaining=tuple(b.report() for b in busiest[:REPORTED_INSTANCES]),
        spare=acted.spare,
        draining=acted.draining,
        problems=tuple(acted.problems),
        standalone_stopped=acted.standalone_stopped,
        standalone_done=tuple(sorted(acted.standalone_done & {b.instance.id for b in census.busy})),
        findings=tuple(findings),
        only_blocked_left=only_blocked,
    )


def _pending(state: DrainState, props: DrainProperties, watch: TaskWatch | None, now: float) -> Pending:
    """What the last check left to count, with what ECS events reported since (where they report to this drain):
    the watched tasks they did not report are read at the reconcile cadence, or at every check without them."""
    events = state["events"]
    unreported = watch.not_reported() if watch is not None and events["on"] else None
    names = {r["containerInstance"]: r["ec2InstanceId"] for r in state["remaining"]}
    reconcile = unreported is None or rule.reconcile_due(events, props.poll_interval_seconds, now)
    return Pending.remembered(state, names, frozenset(unreported) if unreported is not None else None, reconcile)


def _keep_watch(watch: TaskWatch | None, before: list[str], after: list[str], now: float) -> bool:
    """Keep the watch ECS events report to in step with the watched tasks (the rule switched on while there are
    any): whether events report to it. Trouble here only means the tasks are read instead."""
    if watch is None or not after:
        return False
    kept = set(before)
    added = [t for t in after if t not in kept]
    return watch.switch_on() and watch.update(added, kept - set(after), now)


@dataclass(frozen=True)
class _Acted:
    spare: Spare | None  # the gate's reading, while waiting for room
    draining: bool  # the gate is open: the targets are set DRAINING
    problems: list[str]
    standalone_stopped: int
    standalone_done: set[str]


def _act(state: DrainState, props: DrainProperties, clients: Clients, census: Census, now: float) -> _Acted:
    """The gate (room elsewhere for the targets' tasks), then what an open gate does: set the targets DRAINING,
    and under StandaloneTasks STOP, stop the tasks of no service."""
    ecs, cluster, need = clients.ecs, state["cluster"], state["need"]
    waiting = state["phase"] == Phase.WAITING_FOR_CAPACITY
    spare = None
    if waiting:
        room = read_room(clients, props.cluster_name, props.target_name, now)
        targets = set(unpack_ids(state["pending"]))
        spare = spare_capacity(clients, cluster, targets, need, state.get("groups"), room.claimed)
        if room.unread:
            spare["claimsUnread"] = True
    fits = spare is not None and has_room(need, spare)
    draining = not waiting or rule.gate_opens(need["cpu"], need["memory"], fits, bool(census.busy))
    if waiting and draining:  # the gate opens: the claim holds while ECS places the replacements
        hold_room_until(clients, props.cluster_name, props.target_name, now + DRAINING_CLAIM_SECONDS)
    # An empty target is set DRAINING at once, even while waiting for capacity: nothing moves, and ECS places
    # nothing new on it. The others wait for room elsewhere.
    active = [i for i, view in census.views.items() if view.status == "ACTIVE" and (draining or not view.active_tasks)]
    # The run of calls books its slots together: DRAINING is set at the full modify rate.
    clients.budget.reserve("UpdateContainerInstancesState", calls.batch_calls(len(active), calls.UPDATE_STATE_LIMIT))
    problems = calls.set_draining(ecs, cluster, active) if active else []
    stopped, done = 0, set(unpack_ids(state["standaloneStopped"]))
    if draining and props.standalone_tasks == "STOP":
        stopped, done = _stop_standalone_tasks(state["cluster"], census, clients, done)
    return _Acted(spare, draining, problems, stopped, done)


@dataclass(frozen=True)
class _Turn:
    """One check's setting: the properties, the clients, when, and the blocked attempt a retried Delete follows."""

    props: DrainProperties
    clients: Clients
    now: float
    previous: PreviousDrain | None


def _why(state: DrainState, turn: _Turn, census: Census, acted: _Acted) -> tuple[list[Finding], bool | None]:
    """The diagnosis, and (only when an early answer hinges on it) whether nothing but blocked tasks is left."""
    props, clients, now, previous = turn.props, turn.clients, turn.now, turn.previous
    ecs, cluster = clients.ecs, state["cluster"]
    services = calls.describe_services(ecs, cluster)
    since = state["timeline"].get("drainingSetAt", now if acted.draining else None)
    gate = Gate(not acted.draining, acted.spare if acted.spare is not None else state.get("spare"), since)
    progressed = (census.tasks, len(census.busy)) < (state["summary"]["tasksRemaining"], state["pendingCount"])
    standalone = StandaloneWait(progressed) if props.standalone_tasks == "WAIT" else None
    findings = diagnose(state, gate, Looked(ecs, clients.budget, services, census, now), standalone)
    if not rule.early_answer_possible(findings, props, now, previous):
        return findings, None
    return findings, only_blocked_left(ecs, cluster, census, findings, services, clients.budget)


def _stop_standalone_tasks(cluster: str, census: Census, clients: Clients, done: set[str]) -> tuple[int, set[str]]:
    """Stop the tasks of no service on the busy targets: how many, and on which instances it is done. One ListTasks
    and DescribeTasks per instance: what the allowance does not afford waits for the next check."""
    done, stopped = set(done), 0
    for busy in census.busy:
        if busy.instance.id not in done and busy.active and clients.budget.affords(2):
            stopped += calls.stop_standalone_tasks(clients.ecs, cluster, busy.instance.id)
            done.add(busy.instance.id)
    return stopped, done


def _upgrade(state: DrainState) -> None:
    """A drain started by an earlier version: no diagnosis yet, its watched tasks under their old name, no
    listed instances (each is listed again once)."""
    state.setdefault("diagnosis", [])
    state.setdefault("listed", "")
    state.setdefault("events", no_task_events())
    legacy = cast("dict[str, Any]", state).pop("probes", None)
    if legacy is not None:
        state["watched"] = legacy
