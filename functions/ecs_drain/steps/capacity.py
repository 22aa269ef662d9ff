"""Room for the targets' tasks elsewhere: what the service tasks on the targets need, and what the rest has.

The need comes from what ECS already reports, not from listing every task on every target (at 1,000 targets that
would be over 1,000 reads, a minute of the account's budget): each target's registered minus remaining resources
is what its tasks hold (DescribeContainerInstances); less one task of each daemon service (the new instances run
their own); and never more than all the replica services' tasks in the cluster together (DescribeServices'
runningCount and pendingCount times their task definitions' size). The largest task is the largest of the replica
services' task definitions, but no larger than what any one target holds. Standalone tasks never move; where they
cannot be told apart from service tasks they are counted in: the need errs on the side of waiting.
Where the drain's step affords listing the services' tasks (listing_reads), they are placed task by task instead, by
every rule of `placement` (the model the preflight uses too), with what those rules need read first (room_facts);
otherwise the check is in aggregate (CPU, memory, and the largest task against the largest free instance).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ..aws import ecs_calls as calls
from ..aws import instance_types
from ..aws.ecs_calls import ServiceView
from ..aws.instance_types import TypeFigures
from ..decisions import reason
from ..decisions.cluster_query import comparisons
from ..decisions.placement import Placement, Room, TaskNeeds, Unjudged, place
from ..model.container_instance import InstanceFacts
from ..model.state import Resources, Spare, TaskGroup, no_resources

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient

    from ..aws.clients import Clients


def inventory(
    ecs: ECSClient,
    instances: Iterable[InstanceFacts],
    services: Sequence[ServiceView],
    definitions: calls.TaskDefinitions | None = None,
) -> tuple[int, Resources]:
    """What runs on the targets at the start: how many tasks, and the room their service tasks need."""
    targets = list(instances)
    tasks = sum(i.active_tasks for i in targets)
    need = no_resources()
    if not any(i.reserved != (0, 0) for i in targets):
        return tasks, need
    sizes = calls.service_sizes(ecs, services, definitions)
    for instance in targets:
        cpu, memory = instance.reserved
        if instance.active_tasks:  # a daemon runs one task on each instance; the new ones have their own
            cpu, memory = cpu - sizes.daemon_cpu, memory - sizes.daemon_memory
        cpu, memory = max(0, cpu), max(0, memory)
        need["cpu"] += cpu
        need["memory"] += memory
        need["largestCpu"] = max(need["largestCpu"], cpu)
        need["largestMemory"] = max(need["largestMemory"], memory)
    need["cpu"] = min(need["cpu"], sizes.replica_cpu)
    need["memory"] = min(need["memory"], sizes.replica_memory)
    need["largestCpu"] = min(need["largestCpu"], sizes.largest_cpu)
    need["largestMemory"] = min(need["largestMemory"], sizes.largest_memory)
    return tasks, need


# Reads the drain's plan may spend listing the services' tasks to place them task by task (ListTasks and
# DescribeTasks per service, 100 tasks a page), at the least; a drain of many targets may spend one read for every
# PLACEMENT_TARGETS_PER_READ targets (its census spends about one per target). Beyond that, or when the schedule
# cannot afford it, the gate compares aggregates.
PLACEMENT_LISTING_READS = 40
PLACEMENT_TARGETS_PER_READ = 2


def listing_reads(targets: int) -> int:
    """The reads a drain of this many targets may spend listing its services' tasks once, for placement."""
    return max(PLACEMENT_LISTING_READS, targets // PLACEMENT_TARGETS_PER_READ)


def listing_cost(services: Sequence[ServiceView]) -> int:
    """The reads that list the replica services' tasks (ListTasks and DescribeTasks, 100 tasks a page)."""
    return sum(2 * math.ceil(max(1, s.running + s.pending) / calls.DESCRIBE_LIMIT) for s in _replicas(services))


def task_groups(
    ecs: ECSClient,
    cluster: str,
    targets: set[str],
    services: Sequence[ServiceView],
    definitions: calls.TaskDefinitions | None = None,
) -> list[TaskGroup]:
    """The targets' service tasks by service, with what each asks of an instance (listing_cost reads)."""
    groups: list[TaskGroup] = []
    definitions = definitions or calls.TaskDefinitions(ecs)
    for service in _replicas(services):
        homes = list(calls.service_task_homes(ecs, cluster, service.name).values())
        on_targets = sum(1 for home in homes if home in targets)
        if on_targets:
            groups.append(_group(service, definitions.needs(service.task_definition), homes, on_targets, targets))
    return groups


def _replicas(services: Sequence[ServiceView]) -> list[ServiceView]:
    return [s for s in services if not s.daemon and s.running + s.pending]


def _group(service: ServiceView, needs: TaskNeeds, homes: list[str], on_targets: int, targets: set[str]) -> TaskGroup:
    needs = needs.for_service(service.name, service.placement_constraints, service.capacity_providers)
    return {
        "service": service.name,
        "tasks": on_targets,
        "heldOn": sorted({h for h in homes if h not in targets}) if needs.distinct_instance else [],
        "targetGroups": list(service.target_groups),
        "needs": needs.to_json(),
    }


def needs_of(group: TaskGroup) -> TaskNeeds:
    """What each task of the group asks of an instance."""
    return TaskNeeds.from_json(group["service"], group.get("needs", group))


@dataclass(frozen=True)
class RoomFacts:
    """What placing on the instances needs beyond DescribeContainerInstances: awsvpc tasks per instance and the
    interfaces its type takes, the task groups the expressions ask about, instance types' GPUs."""

    awsvpc_tasks: Counter[str] = field(default_factory=Counter)  # instance -> awsvpc tasks not STOPPED
    types: dict[str, TypeFigures | None] = field(default_factory=dict)
    groups_on: dict[str, set[str]] | None = field(default_factory=dict)  # instance -> groups; None: not read


def room_facts(
    clients: Clients,
    cluster: str,
    groups: Sequence[TaskGroup],
    instances: Sequence[InstanceFacts],
    services: Sequence[ServiceView] | None = None,
    read: RoomFacts | None = None,
) -> RoomFacts:
    """Read what the groups' rules need to be judged, and only that: nothing when no group is awsvpc, asks for GPUs
    or places by task group (then the services are described, unless given). With what an earlier page `read`, only
    the instance types are looked up (each once per Lambda container)."""
    ecs, ec2, per_group = clients.ecs, clients.ec2, [needs_of(g) for g in groups]
    types: dict[str, TypeFigures | None] = {}
    if any(s.awsvpc or s.gpus for s in per_group) and ec2 is not None:
        types = instance_types.figures(ec2, {t for i in instances if (t := i.attributes.get("ecs.instance-type"))})
    if read is not None:
        return replace(read, types=types)
    asked = _asked_groups(per_group)
    if services is None and (asked != set() or any(s.awsvpc for s in per_group)):
        services = calls.describe_services(ecs, cluster)
    services = services or []
    awsvpc = Counter[str]()
    if any(s.awsvpc for s in per_group):
        definitions = calls.TaskDefinitions(ecs)
        for service in services:
            if definitions.needs(service.task_definition).awsvpc:
                awsvpc.update(calls.service_task_homes(ecs, cluster, service.name).values())
    return RoomFacts(awsvpc, types, _groups_on(ecs, cluster, services, asked))


def _asked_groups(per_group: Sequence[TaskNeeds]) -> set[str] | None:
    """The task groups the memberOf expressions ask about by name (`==`, `in`); None where one tests every group
    (`=~`, `exists`): those cannot be read cheaply."""
    asked: set[str] = set()
    for needs in per_group:
        for comparison in (c for tree in needs.parsed() for c in comparisons(tree)):
            if comparison.subject != "task:group":
                continue
            if comparison.operator not in ("equals", "in"):
                return None
            asked.update(comparison.values)
    return asked


def _groups_on(
    ecs: ECSClient, cluster: str, services: Sequence[ServiceView], asked: set[str] | None
) -> dict[str, set[str]] | None:
    """The asked task groups per instance: service groups by ListTasks of the service; a group that is not a
    service's, or one not asked by name, cannot be read cheaply: None."""
    names = {s.name for s in services}
    if asked is None or any(not g.startswith("service:") or g.removeprefix("service:") not in names for g in asked):
        return None
    found: dict[str, set[str]] = {}
    for group in sorted(asked):
        for home in calls.service_task_homes(ecs, cluster, group.removeprefix("service:")).values():
            found.setdefault(home, set()).add(group)
    return found


@dataclass(frozen=True)
class ClaimedFirst:
    """The room other claims take before this one's tasks are placed (decisions/claims.py): their tasks, each with
    the instances it may not count, placed first in their order; and the instances this one may not count."""

    first: tuple[tuple[tuple[TaskGroup, ...], frozenset[str]], ...] = ()  # (groups, EC2 ids not theirs to count)
    not_room: frozenset[str] = frozenset()  # EC2 ids: other claims' old targets, and new ones undecided
    by: tuple[str, ...] = ()  # the other claims, as the Reason names them

    def groups(self) -> list[TaskGroup]:
        return [g for groups, _ in self.first for g in groups]


def _tasks_of(groups: Sequence[TaskGroup]) -> list[TaskNeeds]:
    return [needs for g in groups for needs in [needs_of(g)] * g["tasks"]]  # one reading per group


def place_groups(
    groups: Sequence[TaskGroup],
    instances: Iterable[InstanceFacts],
    facts: RoomFacts | None = None,
    claimed: ClaimedFirst | None = None,
) -> Placement:
    """Place every task of the groups on these instances (ACTIVE, connected, not among the targets), task by task;
    with `claimed`, on what the earlier claims leave of the instances this drain may count."""
    facts = facts if facts is not None else RoomFacts()
    claimed = claimed or ClaimedFirst()
    every = [*groups, *claimed.groups()]
    rooms = [_room(i, every, facts) for i in instances]
    for their_groups, not_theirs in claimed.first:
        place(_tasks_of(their_groups), [r for r in rooms if r.facts.ec2_instance_id not in not_theirs])
    return place(_tasks_of(groups), [r for r in rooms if r.facts.ec2_instance_id not in claimed.not_room])


def _room(instance: InstanceFacts, groups: Sequence[TaskGroup], facts: RoomFacts) -> Room:
    """The instance as placing sees it: its GPUs (none where its type has none), the task groups read on it, and the
    network interfaces its type leaves for awsvpc tasks."""
    kind = instance.attributes.get("ecs.instance-type")
    known = facts.types.get(kind) if kind else None
    takes = instance_types.awsvpc_tasks(kind, instance_types.TRUNK_ATTRIBUTE in instance.attributes, facts.types)
    gpus = instance.gpus_free if instance.gpus_free is not None else (0 if known and not known.gpus else None)
    groups_on = frozenset(facts.groups_on.get(instance.id, set())) if facts.groups_on is not None else None
    return Room(
        replace(instance, gpus_free=gpus, task_groups=groups_on),
        services=Counter(g["service"] for g in groups if instance.id in g["heldOn"]),
        enis_free=takes - facts.awsvpc_tasks[instance.id] if takes is not None else None,
    )


@dataclass
class PlacementReads:
    """What one judgement of the room read, kept for the next page of the same listing."""

    facts: RoomFacts | None = None
    growing: dict[tuple[str, ...], set[str] | None] = field(default_factory=dict)  # providers -> scaling ones
    claimed: ClaimedFirst = field(default_factory=ClaimedFirst)  # the other claims on the room, as read


def judged_placement(
    clients: Clients,
    cluster: str,
    groups: Sequence[TaskGroup],
    instances: Sequence[InstanceFacts],
    services: Sequence[ServiceView] | None = None,
    reads: PlacementReads | None = None,
) -> Placement:
    """The groups placed on these instances with every rule the model knows (what the rules need is read first), and
    the tasks that fit nowhere now but whose capacity provider scales out told apart; after the earlier claims on
    the same room, where `reads` holds them."""
    reads = reads if reads is not None else PlacementReads()
    every = [*groups, *reads.claimed.groups()]
    reads.facts = room_facts(clients, cluster, every, instances, services, reads.facts)
    placement = place_groups(groups, instances, reads.facts, reads.claimed)
    providers = tuple(sorted({p for u in placement.unplaced for p in u.task.capacity_providers}))
    if providers:
        if providers not in reads.growing:
            reads.growing[providers] = scaling_providers(clients, providers)
        growing = reads.growing[providers]
        stay = [u for u in placement.unplaced if growing is not None and not set(u.task.capacity_providers) & growing]
        moved = [u for u in placement.unplaced if u not in stay]
        placement.unplaced = stay
        if growing is None:  # what the providers do could not be read: not judged
            placement.unjudged += [Unjudged(u.task, reason.cannot_read_providers(providers)) for u in moved]
        else:
            placement.scaling += moved
    return placement


def scaling_providers(clients: Clients, names: Sequence[str]) -> set[str] | None:
    """The capacity providers among `names` that ECS scales out for tasks it cannot place (managed scaling on, the
    group below its maximum size); None when that cannot be read."""
    try:
        providers = clients.ecs.describe_capacity_providers(capacityProviders=list(names))["capacityProviders"]
        groups: dict[str, str] = {}  # group name -> provider
        for provider in providers:
            scaling = provider.get("autoScalingGroupProvider", {})
            if scaling.get("managedScaling", {}).get("status") == "ENABLED":
                groups[scaling["autoScalingGroupArn"].rsplit("autoScalingGroupName/", 1)[-1]] = provider["name"]
        if not groups:
            return set()
        described = clients.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=sorted(groups))
    except (ClientError, BotoCoreError, KeyError):
        return None
    return {
        groups[g["AutoScalingGroupName"]]
        for g in described.get("AutoScalingGroups", [])
        if g["DesiredCapacity"] < g["MaxSize"] and g["AutoScalingGroupName"] in groups
    }


def spare_capacity(
    clients: Clients,
    cluster: str,
    targets: set[str],
    need: Resources,
    groups: Sequence[TaskGroup] | None = None,
    claimed: ClaimedFirst | None = None,
) -> Spare:
    """Room left on ACTIVE, connected instances that are not being drained: page by page, until there is room
    for `need` (then the figures count only the pages read) or the cluster has been read whole. With the targets'
    task groups, room means that every task of them is placed, task by task. With `claimed`, only what the earlier
    claims on the cluster's room leave, on instances no other claim may take away.

    This lists the cluster, so it runs only while waiting for capacity, never once draining has begun; stopping
    at enough room keeps many drains of one cluster from each reading all of it.
    """
    claimed = claimed or ClaimedFirst()
    # The sums start below zero by what the earlier claims' tasks take: what is left of the room is theirs first.
    taken = [needs_of(g) for g in claimed.groups() for _ in range(g["tasks"])]
    spare: Spare = {"instances": 0, "cpu": -sum(t.cpu for t in taken), "memory": -sum(t.memory for t in taken),
                    "largestCpu": 0, "largestMemory": 0}  # fmt: skip
    seen: list[InstanceFacts] = []
    reads = PlacementReads(claimed=claimed)
    for page in other_instance_pages(clients.ecs, cluster, targets):
        for instance in page:
            seen.append(instance)
            if instance.ec2_instance_id not in claimed.not_room:
                _add_room(spare, instance)
        # Task by task only once the sums allow it: placing costs tasks x instances, and the sums are necessary.
        # (A capacity provider that scales out adds room the sums cannot see: those groups are placed anyway.)
        if groups is not None and (_sums_allow(need, spare) or any(needs_of(g).capacity_providers for g in groups)):
            _record_placement(spare, judged_placement(clients, cluster, groups, seen, reads=reads))
        if has_room(need, spare):
            break
    if claimed.by:
        spare["claimedBy"] = list(claimed.by)
    return spare


def _add_room(spare: Spare, instance: InstanceFacts) -> None:
    spare["instances"] += 1
    spare["cpu"] += instance.remaining_cpu
    spare["memory"] += instance.remaining_memory
    spare["largestCpu"] = max(spare["largestCpu"], instance.remaining_cpu)
    spare["largestMemory"] = max(spare["largestMemory"], instance.remaining_memory)


def _record_placement(spare: Spare, placement: Placement) -> None:
    """What placing the task groups on the instances read so far says, in place of what an earlier page said."""
    spare["fits"] = placement.fits
    spare.pop("unplaced", None)
    spare.pop("unjudged", None)
    spare.pop("scaling", None)
    if not placement.fits:
        miss = placement.unplaced[0]
        closest = f" (closest: {miss.closest})" if miss.closest else ""
        spare["unplaced"] = f"service {miss.task.service}: {miss.why}{closest}"
    if placement.unjudged:  # left to ECS: the sums decide for these tasks
        unjudged = placement.unjudged[0]
        spare["unjudged"] = f"service {unjudged.task.service}: {unjudged.what}"
    if placement.scaling:  # ECS scales the group out only once the tasks wait to be placed: never held
        spare["scaling"] = reason.scales_out(sorted({u.task.service for u in placement.scaling}))


def other_instance_pages(ecs: ECSClient, cluster: str, targets: set[str]) -> Iterator[list[InstanceFacts]]:
    """The cluster's ACTIVE, connected instances that are not among the targets, described, a page at a time: where
    their tasks could go. A caller that has seen enough stops listing."""
    for page in calls.active_instance_pages(ecs, cluster):
        others = [i for i in page if i not in targets]
        found, _ = calls.describe_instances(ecs, cluster, others) if others else ({}, set())
        yield [i for i in found.values() if i.status == "ACTIVE" and i.agent_connected]


def has_room(need: Resources, spare: Spare) -> bool:
    if not need["cpu"] and not need["memory"]:
        return True
    if "fits" in spare:  # placed task by task (only tried once the sums allowed it)
        # Room a scaling provider adds comes only once the drain begins: the sums cannot count it yet.
        return spare["fits"] and (_sums_allow(need, spare) or "scaling" in spare)
    return _sums_allow(need, spare)


def _sums_allow(need: Resources, spare: Spare) -> bool:
    return (
        spare["cpu"] >= need["cpu"]
        and spare["memory"] >= need["memory"]
        and spare["largestCpu"] >= need["largestCpu"]
        and spare["largestMemory"] >= need["largestMemory"]
    )
