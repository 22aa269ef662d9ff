"""Room for the targets' tasks elsewhere: what the service tasks on the targets need, and what the rest has.

Daemon tasks need no room (the new instances run their own) and standalone tasks never move, so only service
tasks count. The check is in aggregate (CPU, memory, and the largest task against the largest free instance).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from . import ecs_calls as calls
from .ecs_calls import Instance
from .state import Resources, Spare, TasksByKind, no_resources

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_ecs.type_defs import TaskTypeDef


def inventory(ecs: ECSClient, cluster: str, instances: Iterable[Instance]) -> tuple[int, TasksByKind, Resources]:
    """What runs on the targets at the start: how many tasks, by kind, and the room their service tasks need."""
    arns = [arn for i in instances if i.active_tasks for arn in calls.list_task_arns(ecs, cluster, i.id, "RUNNING")]
    tasks = calls.describe_tasks(ecs, cluster, arns)
    services = sorted({g.split(":", 1)[1] for t in tasks if (g := t.get("group", "")).startswith("service:")})
    daemons = calls.daemon_services(ecs, cluster, services) if services else set()
    kinds: TasksByKind = {"service": 0, "daemon": 0, "standalone": 0}
    need = no_resources()
    for task in tasks:
        group = task.get("group", "")
        if not group.startswith("service:"):
            kinds["standalone"] += 1
        elif group.split(":", 1)[1] in daemons:
            kinds["daemon"] += 1
        else:
            kinds["service"] += 1
            cpu, memory = _reservation(task)
            need["cpu"] += cpu
            need["memory"] += memory
            need["largestCpu"] = max(need["largestCpu"], cpu)
            need["largestMemory"] = max(need["largestMemory"], memory)
    return len(tasks), kinds, need


def spare_capacity(ecs: ECSClient, cluster: str, targets: set[str]) -> Spare:
    """Room left on ACTIVE, connected instances that are not being drained.

    This lists the cluster, so it runs only while waiting for capacity, never once draining has begun.
    """
    others = [i for i in calls.active_instance_ids(ecs, cluster) if i not in targets]
    found, _ = calls.describe_instances(ecs, cluster, others)
    usable = [i for i in found.values() if i.status == "ACTIVE" and i.agent_connected]
    return {
        "instances": len(usable),
        "cpu": sum(i.remaining_cpu for i in usable),
        "memory": sum(i.remaining_memory for i in usable),
        "largestCpu": max((i.remaining_cpu for i in usable), default=0),
        "largestMemory": max((i.remaining_memory for i in usable), default=0),
    }


def has_room(need: Resources, spare: Spare) -> bool:
    if not need["cpu"] and not need["memory"]:
        return True
    return (
        spare["cpu"] >= need["cpu"]
        and spare["memory"] >= need["memory"]
        and spare["largestCpu"] >= need["largestCpu"]
        and spare["largestMemory"] >= need["largestMemory"]
    )


def _reservation(task: TaskTypeDef) -> tuple[int, int]:
    """A task's CPU units and MiB: its task-level size, or the sum of its containers' reservations."""

    def number(value: object) -> int:
        try:
            return int(str(value))
        except ValueError:
            return 0

    cpu, memory = number(task.get("cpu", 0)), number(task.get("memory", 0))
    if not cpu or not memory:
        containers = task.get("containers", [])
        cpu = cpu or sum(number(c.get("cpu", 0)) for c in containers)
        memory = memory or sum(number(c.get("memoryReservation", c.get("memory", 0))) for c in containers)
    return cpu, memory
