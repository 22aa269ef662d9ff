"""Room for the targets' tasks elsewhere: what the service tasks on the targets need, and what the rest has.

The need comes from what ECS already reports, not from listing every task on every target (at 1,000 targets that
would be over 1,000 reads, a minute of the account's budget): each target's registered minus remaining resources
is what its tasks hold (DescribeContainerInstances); less one task of each daemon service (the new instances run
their own); and never more than all the replica services' tasks in the cluster together (DescribeServices'
runningCount and pendingCount times their task definitions' size). The largest task is the largest of the replica
services' task definitions, but no larger than what any one target holds. Standalone tasks never move; where they
cannot be told apart from service tasks they are counted in: the need errs on the side of waiting.
The check is in aggregate (CPU, memory, and the largest task against the largest free instance).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from . import ecs_calls as calls
from .ecs_calls import Instance, ServiceView
from .state import Resources, Spare, no_resources

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


def spare_capacity(ecs: ECSClient, cluster: str, targets: set[str], need: Resources) -> Spare:
    """Room left on ACTIVE, connected instances that are not being drained: page by page, until there is room
    for `need` (then the figures count only the pages read) or the cluster has been read whole.

    This lists the cluster, so it runs only while waiting for capacity, never once draining has begun; stopping
    at enough room keeps many drains of one cluster from each reading all of it.
    """
    spare: Spare = {"instances": 0, "cpu": 0, "memory": 0, "largestCpu": 0, "largestMemory": 0}
    for page in calls.active_instance_pages(ecs, cluster):
        others = [i for i in page if i not in targets]
        found, _ = calls.describe_instances(ecs, cluster, others) if others else ({}, set())
        for instance in found.values():
            if instance.status == "ACTIVE" and instance.agent_connected:
                spare["instances"] += 1
                spare["cpu"] += instance.remaining_cpu
                spare["memory"] += instance.remaining_memory
                spare["largestCpu"] = max(spare["largestCpu"], instance.remaining_cpu)
                spare["largestMemory"] = max(spare["largestMemory"], instance.remaining_memory)
        if has_room(need, spare):
            break
    return spare


def has_room(need: Resources, spare: Spare) -> bool:
    if not need["cpu"] and not need["memory"]:
        return True
    return (
        spare["cpu"] >= need["cpu"]
        and spare["memory"] >= need["memory"]
        and spare["largestCpu"] >= need["largestCpu"]
        and spare["largestMemory"] >= need["largestMemory"]
    )
