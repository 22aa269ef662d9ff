"""The preflight of a replacing Update: can the new capacity take over, while CloudFormation can still roll back?

The state machine runs it for the Update whose new PhysicalResourceId replaces the old (executions.preflight_input);
its answer is that Update's. Each step looks again and decides:
- the new target's instances: listed in EC2, registered in the cluster, ACTIVE with the agent connected, and running
  a task of every daemon service (a new AMI whose agent or containers never start shows here);
- the services with tasks on the old target: a deployment configuration that lets ECS neither start a replacement
  nor stop a task fails the preflight at once (capacity cannot fix it);
- once every new instance is ready: the old target's service tasks, placed task by task (placement) on every ACTIVE
  instance but the old target's. A task that fits nowhere fails the preflight, naming its service and why.
Until PreflightTimeoutSeconds it waits; then it fails, saying what it was still waiting for. Nothing is changed in
the account: the preflight only reads.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from ..aws import ecs_calls as calls
from ..aws.ecs_calls import ServiceView
from ..aws.load_balancers import deregistration_delays
from ..aws.targets import capacity_short, ec2_instance_ids
from ..decisions import reason, rule
from ..decisions.claims import CLAIM_MARGIN_SECONDS, PASSED_KEEP_SECONDS, Claim
from ..decisions.findings import Observation, blocking, merge
from ..decisions.placement import Placement
from ..decisions.properties import DrainProperties
from ..model.container_instance import InstanceFacts, latest_registrations
from ..model.state import (
    PREFLIGHT_FINAL_PHASES,
    Cause,
    Finding,
    NewInstances,
    PreflightPhase,
    PreflightState,
    ServiceRoom,
    TaskGroup,
    no_instances,
)
from .capacity import ClaimedFirst, PlacementReads, judged_placement, needs_of, other_instance_pages, task_groups
from .diagnosis import suspicions
from .room import ClaimedRoom, claim_room, read_room_last, release_room, settle_room

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient

    from ..aws.clients import Clients

# What a container gets between SIGTERM and SIGKILL when its task definition says nothing (ECS_CONTAINER_STOP_TIMEOUT).
DEFAULT_STOP_TIMEOUT_SECONDS = 30


def check(
    state: PreflightState, new: DrainProperties, old: DrainProperties, clients: Clients, now: float
) -> PreflightState:
    """One look, then the verdict (rule.decide_preflight), and the rollover's claim on the cluster's room kept as
    the verdict leaves it: passed, the old target's tasks keep it until their drain takes it over; failed, none."""
    decided = rule.decide_preflight(state, observe(new, old, clients, now, state), new)
    if decided["phase"] == PreflightPhase.PASSED:
        settle_room(clients, new.cluster_name, old.target_name, now + PASSED_KEEP_SECONDS)
    elif decided["phase"] in PREFLIGHT_FINAL_PHASES:
        release_room(clients, new.cluster_name, old.target_name)
    return decided


@dataclass(frozen=True)
class Targets:
    """The rollover's old and new targets, and their EC2 instances as EC2 lists them."""

    old: DrainProperties
    new: DrainProperties
    old_ec2: Sequence[str]
    new_ec2: Sequence[str]

    def claim(self, groups: Sequence[TaskGroup], until: float) -> Claim:
        """The rollover's claim: the old target leaves whatever happens, the new one stays only if the Update
        passes; the old target's service tasks need room."""
        return Claim(
            key=self.old.target_name,
            by=f"the rollover from {self.old.target_name} to {self.new.target_name}",
            leaving=frozenset(self.old_ec2),
            undecided=frozenset(self.new_ec2),
            groups=tuple(groups),
            expires_at=until,
        )


def observe(
    new: DrainProperties, old: DrainProperties, clients: Clients, now: float, state: PreflightState
) -> rule.PreflightSnapshot:
    """The new instances, what would block a drain of the old target, and (once the new instances are ready) the
    placement of the old target's service tasks, after what other rollovers and drains in flight claim of the
    room. Every ECS call of a look is made here; none changes anything."""
    ecs, cluster = clients.ecs, new.cluster
    services = calls.describe_services(ecs, cluster)
    old_ec2, new_ec2 = ec2_instance_ids(old, clients) or [], ec2_instance_ids(new, clients) or []
    old_ids = set(calls.container_instance_ids(ecs, cluster, old_ec2)) if old_ec2 else set()
    instances, waiting_for, _ = readiness(new, new_ec2, clients, services)
    seen = _configuration_findings(ecs, cluster, services, old_ids, now)
    # The old target's tasks are listed at the first look (so that the claim says from the start what they need) and
    # once the new instances are ready; in between, the claim keeps them.
    listed = bool(old_ids) and (not waiting_for or not state["checks"])
    groups = task_groups(ecs, cluster, old_ids, services) if listed else []
    mine = Targets(old, new, old_ec2, new_ec2).claim(groups, state["deadline"] + CLAIM_MARGIN_SECONDS)
    room = claim_room(clients, new.cluster_name, mine, now, keep_groups=not listed)
    if waiting_for or not old_ids:
        return rule.PreflightSnapshot(now, instances, tuple(waiting_for), tuple(seen))
    placed = _placement(clients, Looked(cluster, services, old_ids, groups), room)
    seen += placed.findings
    return rule.PreflightSnapshot(now, instances, (), tuple(seen), tuple(placed.rooms), placed.expected_seconds)


@dataclass(frozen=True)
class Verdict:
    """Would a drain of a target finish now: what would block it, and the room per service (`ecs-drain check`)."""

    instances: int  # the target's registered container instances
    services: list[ServiceRoom]
    findings: list[Finding]
    expected_seconds: int | None  # the longest an old task takes to stop once replaced (see state); None: not known
    unregistered: tuple[str, ...] = ()  # the target's EC2 instances not registered in the cluster

    @property
    def finishes(self) -> bool:
        return not blocking(self.findings)


def assess(target: DrainProperties, clients: Clients, now: float) -> Verdict:
    """The preflight's checks for draining `target` now, with no new target to wait for: what blocks a drain, and
    whether every other ACTIVE instance can take its service tasks, task by task. Only reads."""
    ecs, cluster = clients.ecs, target.cluster
    services = calls.describe_services(ecs, cluster)
    ec2_ids = ec2_instance_ids(target, clients) or []
    ids = set(calls.container_instance_ids(ecs, cluster, ec2_ids)) if ec2_ids else set()
    seen = _configuration_findings(ecs, cluster, services, ids, now)
    looked = Looked(cluster, services, ids, task_groups(ecs, cluster, ids, services) if ids else [])
    placed = _placement(clients, looked, read_room_last(clients, target, ec2_ids, now)) if ids else Placed([], [], None)
    findings = merge([], seen + placed.findings, now)
    return Verdict(len(ids), placed.rooms, findings, placed.expected_seconds, _unregistered(ecs, cluster, ec2_ids, ids))


def _unregistered(ecs: ECSClient, cluster: str, ec2_ids: Sequence[str], ids: set[str]) -> tuple[str, ...]:
    """The EC2 instances not registered in the cluster: described only when fewer are registered than given."""
    if len(ids) >= len(set(ec2_ids)):
        return ()
    found, _ = calls.describe_instances(ecs, cluster, sorted(ids)) if ids else ({}, set())
    return tuple(sorted(set(ec2_ids) - {i.ec2_instance_id for i in found.values()}))


class Readiness(NamedTuple):
    instances: NewInstances
    waiting_for: list[str]  # what is still missing, in words (empty: ready)
    ready: dict[str, InstanceFacts]  # the instances ACTIVE with the agent connected, as read


def readiness(
    new: DrainProperties, ec2_ids: Sequence[str], clients: Clients, services: Sequence[ServiceView]
) -> Readiness:
    """How far the new target's instances (`ec2_ids`, as EC2 lists them) have come, and what is still missing."""
    target, cluster = new.target_name, new.cluster_name
    if not ec2_ids:
        return Readiness(no_instances(), [reason.new_target_empty(target)], {})
    ids = calls.container_instance_ids(clients.ecs, new.cluster, ec2_ids)
    described, _ = calls.describe_instances(clients.ecs, new.cluster, ids) if ids else ({}, set())
    found = latest_registrations(described)
    short = capacity_short(new, clients)
    waiting = [reason.new_target_filling(target, *short)] if short is not None else []
    unregistered = sorted(set(ec2_ids) - {i.ec2_instance_id for i in found.values()})
    if unregistered:
        waiting.append(reason.new_not_registered(unregistered, len(ec2_ids), target, cluster))
    ready = {i.id: i for i in found.values() if i.status == "ACTIVE" and i.agent_connected}
    not_ready = sorted(i.ec2_instance_id or "?" for i in found.values() if i.id not in ready)
    if not_ready:
        waiting.append(reason.new_not_ready(not_ready, target))
    with_daemons = set(ready)
    # A daemon with placement constraints runs only where they hold, and one that runs nowhere else is not the new
    # fleet's trouble: neither is waited for (the drain does not depend on daemons; a good fleet is not failed).
    for daemon in (s for s in services if s.daemon and not s.placement_constraints):
        tasks = calls.service_tasks(clients.ecs, new.cluster, daemon.name).values()
        running = {home for home, status in tasks if status == "RUNNING"}
        if not running - set(ready):
            continue
        missing = sorted(ready[i].ec2_instance_id or "?" for i in ready if i not in running)
        if missing:
            waiting.append(reason.daemon_not_running(daemon.name, missing))
        with_daemons &= running
    instances: NewInstances = {
        "listed": len(ec2_ids),
        "registered": len(found),
        "ready": len(ready),
        "daemonsRunning": len(with_daemons),
    }
    return Readiness(instances, waiting, ready)


def _configuration_findings(
    ecs: ECSClient, cluster: str, services: Sequence[ServiceView], old_ids: set[str], now: float
) -> list[Observation]:
    """What the services' own descriptions say would hold a drain of the old target up, for those with tasks there."""
    found: list[Observation] = []
    for service in services:
        kept = [
            o
            for o in suspicions(service, now)
            if o.cause in (Cause.DEPLOYMENT_CONFIGURATION, Cause.SERVICE_UNAVAILABLE)
        ]
        if not kept or not old_ids:
            continue
        on_old = sum(1 for home in calls.service_task_homes(ecs, cluster, service.name).values() if home in old_ids)
        found += [
            Observation(o.cause, o.subject, on_old, reason.on_old_target(on_old, o.detail)) for o in kept if on_old
        ]
    return found


@dataclass(frozen=True)
class Placed:
    rooms: list[ServiceRoom]
    findings: list[Observation]
    expected_seconds: int | None


@dataclass(frozen=True)
class Looked:
    """What a look read of the cluster before placing: its services, the old target's instances and their tasks."""

    cluster: str
    services: Sequence[ServiceView]
    old_ids: set[str]
    groups: list[TaskGroup]


def _placement(clients: Clients, looked: Looked, room: ClaimedRoom | None = None) -> Placed:
    """Place the old target's service tasks, task by task, on every ACTIVE, connected instance but the old ones,
    after what other rollovers and drains in flight claim (`room`), and on none of theirs that may go away."""
    room = room or ClaimedRoom(ClaimedFirst())
    instances = [i for page in other_instance_pages(clients.ecs, looked.cluster, looked.old_ids) for i in page]
    reads = PlacementReads(claimed=room.claimed)
    placement = judged_placement(clients, looked.cluster, looked.groups, instances, looked.services, reads)
    left = Counter(u.task.service for u in placement.unplaced + placement.scaling)
    left.update(u.task.service for u in placement.unjudged)
    rows: list[ServiceRoom] = [
        {"service": g["service"], "tasks": g["tasks"], "placed": g["tasks"] - left[g["service"]]} for g in looked.groups
    ]
    findings = _placement_findings(placement, looked.groups, looked.services, room)
    return Placed(rows, findings, _expected_seconds(clients, looked.groups))


def _placement_findings(
    placement: Placement, groups: Sequence[TaskGroup], services: Sequence[ServiceView], room: ClaimedRoom
) -> list[Observation]:
    """Per service: tasks that fit nowhere (a failure: naming the other rollovers and drains in flight, whose room
    was not counted), that could not be judged, that wait for the group to grow."""
    on_old = {g["service"]: g["tasks"] for g in groups}
    constraints = {s.name: s.placement_constraints for s in services}
    found: list[Observation] = []
    for name, count in Counter(u.task.service for u in placement.unplaced).items():
        miss = next(u for u in placement.unplaced if u.task.service == name)
        detail = reason.tasks_fit_nowhere(on_old[name], count, miss.why, constraints[name], miss.closest)
        detail += reason.room_claimed_by(room.names())
        found.append(Observation(Cause.CANNOT_PLACE, f"service {name}", count, detail))
    if room.unread:
        found.append(Observation(Cause.NOT_JUDGED, "other rollovers", 0, reason.claims_unread()))
    for name, count in Counter(u.task.service for u in placement.unjudged).items():
        what = next(u.what for u in placement.unjudged if u.task.service == name)
        detail = reason.placement_not_judged(on_old[name], count, what)
        found.append(Observation(Cause.NOT_JUDGED, f"service {name}", count, detail))
    for name, count in Counter(u.task.service for u in placement.scaling).items():
        found.append(Observation(Cause.ROOM_FROM_SCALING, f"service {name}", count, reason.scales_out([name])))
    return found


def _expected_seconds(clients: Clients, groups: Sequence[TaskGroup]) -> int | None:
    """The longest deregistration delay plus stop timeout among the groups: the longest an old task spends stopping
    once its replacement is healthy (placing and starting the replacements comes first, and is not known ahead)."""
    arns = [arn for g in groups for arn in g["targetGroups"]]
    delays: dict[str, int] | None = {}
    if arns:
        delays = deregistration_delays(clients.elbv2, arns) if clients.elbv2 is not None else None
    if delays is None:
        return None
    return max((max((delays[a] for a in g["targetGroups"]), default=0) + _stop_timeout(g) for g in groups), default=0)


def _stop_timeout(group: TaskGroup) -> int:
    """Seconds from SIGTERM to SIGKILL: its containers' stopTimeout, or the agent's default."""
    return needs_of(group).stop_timeout or DEFAULT_STOP_TIMEOUT_SECONDS
