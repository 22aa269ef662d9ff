"""Room for the targets' tasks elsewhere: what the service tasks on the targets need, and what the rest has.

The need comes from what ECS already reports, not from listing every task on every target (at 1,000 targets that
would be over 1,000 reads, a minute of the account's budget): each target's registered minus remaining resources
is what its tasks hold (DescribeContainerInstances); less one task of each daemon service (the new instances run
their own); and never more than all the replica services' tasks in the cluster together (DescribeServices'
runningCount and pendingCount times their task definitions' size). The largest task is the largest of the replica
services' task definitions, but no larger than what any one target holds. Standalone tasks never move; where they
cannot be told apart from service tasks they are counted in: the need errs on the side of waiting.
Where listing the targets' tasks is cheap (services' tasks, at most PLACEMENT_LISTING_READS reads), they are placed
task by task instead (placement: CPU, memory, static host ports, distinctInstance, memberOf), the model the preflight
uses too; otherwise the check is in aggregate (CPU, memory, and the largest task against the largest free instance).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from . import ecs_calls as calls
from .ecs_calls import Instance, ServiceView
from .placement import Placement, Room, TaskShape, place
from .state import Resources, Spare, TaskGroup, no_resources

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient


def inventory(ecs: ECSClient, instances: Iterable[Instance], services: Sequence[ServiceView]) -> tuple[int, Resources]:
    """What runs on the targets at the start: how many tasks, and the room their service tasks need."""
    targets = list(instances)
    tasks = sum(i.active_tasks for i in targets)
    need = no_resources()
    if not any(i.reserved != (0, 0) for i in targets):
        return tasks, need
    sizes = calls.service_sizes(ecs, services)
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
# DescribeTasks per service, 100 tasks a page); beyond it the gate compares aggregates, as at 1,000 targets.
PLACEMENT_LISTING_READS = 40
# What a container gets between SIGTERM and SIGKILL when its task definition says nothing (ECS_CONTAINER_STOP_TIMEOUT).
DEFAULT_STOP_TIMEOUT_SECONDS = 30
# Tasks placed one by one at most, for the same reason: placing costs tasks x instances on every check that waits.
PLACEMENT_MAX_TASKS = 500


def task_groups(
    ecs: ECSClient, cluster: str, targets: set[str], services: Sequence[ServiceView], most_reads: int | None = None
) -> list[TaskGroup] | None:
    """The targets' service tasks by service, with what each asks of an instance; None when listing them would take
    more than `most_reads` reads."""
    replicas = [s for s in services if not s.daemon and s.running + s.pending]
    reads = sum(2 * math.ceil(max(1, s.running + s.pending) / calls.DESCRIBE_LIMIT) for s in replicas)
    tasks = sum(s.running + s.pending for s in replicas)
    if most_reads is not None and (reads > most_reads or tasks > PLACEMENT_MAX_TASKS):
        return None
    groups: list[TaskGroup] = []
    definitions: dict[str, calls.TaskDefinitionShape] = {}
    for service in replicas:
        homes = list(calls.service_task_homes(ecs, cluster, service.name).values())
        on_targets = sum(1 for home in homes if home in targets)
        if not on_targets:
            continue
        if service.task_definition not in definitions:
            definitions[service.task_definition] = calls.task_definition_shape(ecs, service.task_definition)
        definition = definitions[service.task_definition]
        distinct = "distinctInstance" in service.placement_constraints
        member_of = [
            c.removeprefix("memberOf(").removesuffix(")")
            for c in service.placement_constraints
            if c.startswith("memberOf(")
        ]
        groups.append(
            {
                "service": service.name,
                "tasks": on_targets,
                "cpu": definition.cpu,
                "memory": definition.memory,
                "hostPorts": sorted(definition.host_ports),
                "distinctInstance": distinct,
                "memberOf": member_of + list(definition.member_of),
                "heldOn": sorted({h for h in homes if h not in targets}) if distinct else [],
                "stopTimeout": definition.stop_timeout or DEFAULT_STOP_TIMEOUT_SECONDS,
                "targetGroups": list(service.target_groups),
            }
        )
    return groups


def place_groups(groups: Sequence[TaskGroup], instances: Iterable[Instance]) -> Placement:
    """Place every task of the groups on these instances (ACTIVE, connected, not among the targets), task by task."""
    tasks = [
        TaskShape(
            service=g["service"],
            cpu=g["cpu"],
            memory=g["memory"],
            host_ports=frozenset(g["hostPorts"]),
            distinct_instance=g["distinctInstance"],
            member_of=tuple(g["memberOf"]),
        )
        for g in groups
        for _ in range(g["tasks"])
    ]
    rooms = [
        Room(
            instance=i.id,
            cpu=i.remaining_cpu,
            memory=i.remaining_memory,
            ports_in_use=set(i.ports_in_use),
            attributes=dict(i.attributes),
            services=Counter(g["service"] for g in groups if i.id in g["heldOn"]),
        )
        for i in instances
    ]
    return place(tasks, rooms)


def spare_capacity(
    ecs: ECSClient, cluster: str, targets: set[str], need: Resources, groups: Sequence[TaskGroup] | None = None
) -> Spare:
    """Room left on ACTIVE, connected instances that are not being drained: page by page, until there is room
    for `need` (then the figures count only the pages read) or the cluster has been read whole. With the targets'
    task groups, room means that every task of them is placed, task by task.

    This lists the cluster, so it runs only while waiting for capacity, never once draining has begun; stopping
    at enough room keeps many drains of one cluster from each reading all of it.
    """
    spare: Spare = {"instances": 0, "cpu": 0, "memory": 0, "largestCpu": 0, "largestMemory": 0}
    seen: list[Instance] = []
    for page in other_instance_pages(ecs, cluster, targets):
        for instance in page:
            seen.append(instance)
            spare["instances"] += 1
            spare["cpu"] += instance.remaining_cpu
            spare["memory"] += instance.remaining_memory
            spare["largestCpu"] = max(spare["largestCpu"], instance.remaining_cpu)
            spare["largestMemory"] = max(spare["largestMemory"], instance.remaining_memory)
        # Task by task only once the sums allow it: placing costs tasks x instances, and the sums are necessary.
        if groups is not None and _sums_allow(need, spare):
            placement = place_groups(groups, seen)
            spare["fits"] = placement.fits
            if not placement.fits:
                miss = placement.unplaced[0]
                spare["unplaced"] = f"service {miss.task.service}: {miss.why}"
            else:
                spare.pop("unplaced", None)
        if has_room(need, spare):
            break
    return spare


def other_instance_pages(ecs: ECSClient, cluster: str, targets: set[str]) -> Iterator[list[Instance]]:
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
        return spare["fits"] and _sums_allow(need, spare)
    return _sums_allow(need, spare)


def _sums_allow(need: Resources, spare: Spare) -> bool:
    return (
        spare["cpu"] >= need["cpu"]
        and spare["memory"] >= need["memory"]
        and spare["largestCpu"] >= need["largestCpu"]
        and spare["largestMemory"] >= need["largestMemory"]
    )
