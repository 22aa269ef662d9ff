"""What is known of one container instance: the one shape the census, the placement model, the cluster query
language and the emulation read, made from what DescribeContainerInstances tells (`from_api`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .arns import last_part

if TYPE_CHECKING:
    from mypy_boto3_ecs.type_defs import ContainerInstanceTypeDef


@dataclass(frozen=True)
class InstanceFacts:
    """One container instance as read; None where a fact was not read (a query on it is then not judged)."""

    id: str
    ec2_instance_id: str | None = None
    status: str = "UNKNOWN"
    agent_connected: bool | None = None
    active_tasks: int = 0  # desiredStatus RUNNING: runningTasksCount + pendingTasksCount
    remaining_cpu: int = 0
    remaining_memory: int = 0
    registered_cpu: int = 0
    registered_memory: int = 0
    # Host ports in use (the agent's reserved ones and those of its tasks: remainingResources' PORTS), and the
    # instance's attributes (ECS's and custom ones, e.g. ECS_INSTANCE_ATTRIBUTES), for placement.
    ports_in_use: frozenset[int] = frozenset()
    attributes: Mapping[str, str | None] = field(default_factory=dict)  # None: an attribute with no value
    agent_version: str | None = None
    registered_at: float | None = None  # epoch seconds
    running_tasks_count: int | None = None
    capacity_provider: str | None = None
    gpus_free: int | None = None  # remainingResources' GPU ids; None where not known
    task_groups: frozenset[str] | None = None  # the groups of the tasks it runs or will run; None: not read

    @property
    def reserved(self) -> tuple[int, int]:
        """CPU and MiB held by the tasks on it that are not STOPPED (registered minus remaining)."""
        return self.registered_cpu - self.remaining_cpu, self.registered_memory - self.remaining_memory

    @classmethod
    def from_api(cls, data: ContainerInstanceTypeDef) -> InstanceFacts:
        remaining = {r["name"]: r.get("integerValue", 0) for r in data.get("remainingResources", [])}
        registered = {r["name"]: r.get("integerValue", 0) for r in data.get("registeredResources", [])}
        return cls(
            id=last_part(data["containerInstanceArn"]),
            ec2_instance_id=data.get("ec2InstanceId", "?"),
            status=data.get("status", "UNKNOWN"),
            agent_connected=data.get("agentConnected", False),
            active_tasks=data.get("runningTasksCount", 0) + data.get("pendingTasksCount", 0),
            remaining_cpu=remaining.get("CPU", 0),
            remaining_memory=remaining.get("MEMORY", 0),
            registered_cpu=registered.get("CPU", 0),
            registered_memory=registered.get("MEMORY", 0),
            ports_in_use=_ports(data),
            attributes={a["name"]: a.get("value") for a in data.get("attributes", [])},
            agent_version=data.get("versionInfo", {}).get("agentVersion"),
            registered_at=data["registeredAt"].timestamp() if "registeredAt" in data else None,
            running_tasks_count=data.get("runningTasksCount", 0),
            capacity_provider=data.get("capacityProviderName"),
            gpus_free=next(
                (len(r.get("stringSetValue", [])) for r in data.get("remainingResources", []) if r["name"] == "GPU"),
                None,
            ),
        )


def latest_registrations(found: Mapping[str, InstanceFacts]) -> dict[str, InstanceFacts]:
    """Each EC2 instance's latest registration. An instance whose root volume was replaced (an instance refresh's
    ReplaceRootVolume) comes back with an agent that registers anew: its earlier registration, DRAINING or
    disconnected, is not what the instance is now."""
    latest: dict[str, InstanceFacts] = {}
    for facts in found.values():
        kept = latest.get(facts.ec2_instance_id or facts.id)
        if kept is None or (facts.registered_at or 0.0) > (kept.registered_at or 0.0):
            latest[facts.ec2_instance_id or facts.id] = facts
    return {facts.id: facts for facts in latest.values()}


def _ports(data: ContainerInstanceTypeDef) -> frozenset[int]:
    return frozenset(
        int(port)
        for resources in (data.get("registeredResources", []), data.get("remainingResources", []))
        for r in resources
        if r["name"] == "PORTS"
        for port in r.get("stringSetValue", [])
        if port.isdigit()
    )
