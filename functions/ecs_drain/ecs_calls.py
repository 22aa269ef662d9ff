"""The ECS calls the drain makes, each batched to the API's documented maximum and paged to the end.

Ids, not ARNs, go in and come out: they keep the execution state small, and ECS takes either.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_ecs.type_defs import ContainerInstanceTypeDef, TaskTypeDef

DESCRIBE_LIMIT = 100  # DescribeContainerInstances and DescribeTasks
UPDATE_STATE_LIMIT = 10  # UpdateContainerInstancesState
DESCRIBE_SERVICES_LIMIT = 10
# ECS documents a 2,000-character cap on cluster query language expressions in placement constraints; none is
# documented for ListContainerInstances' `filter`, so its expressions stay under the same cap.
FILTER_MAX_CHARACTERS = 2000
GONE_STATUSES = frozenset({"INACTIVE", "DEREGISTERING"})


class ClusterGone(Exception):
    """The cluster no longer exists: there is nothing left to drain."""


def chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def last_part(arn: str) -> str:
    """The id at the end of an ARN (an id stays itself)."""
    return arn.rsplit("/", 1)[-1]


@dataclass
class Instance:
    """What one DescribeContainerInstances call tells about a container instance."""

    id: str
    ec2_instance_id: str
    status: str
    agent_connected: bool
    active_tasks: int  # desiredStatus RUNNING: runningTasksCount + pendingTasksCount
    remaining_cpu: int
    remaining_memory: int

    @classmethod
    def from_api(cls, data: ContainerInstanceTypeDef) -> Instance:
        remaining = {r["name"]: r.get("integerValue", 0) for r in data.get("remainingResources", [])}
        return cls(
            id=last_part(data["containerInstanceArn"]),
            ec2_instance_id=data.get("ec2InstanceId", "?"),
            status=data.get("status", "UNKNOWN"),
            agent_connected=data.get("agentConnected", False),
            active_tasks=data.get("runningTasksCount", 0) + data.get("pendingTasksCount", 0),
            remaining_cpu=remaining.get("CPU", 0),
            remaining_memory=remaining.get("MEMORY", 0),
        )


def filter_expressions(ec2_ids: Sequence[str]) -> list[str]:
    """`ec2InstanceId in [...]` expressions covering every id, each under FILTER_MAX_CHARACTERS."""
    expressions: list[str] = []
    quoted: list[str] = []
    length = 0
    for ec2_id in sorted(ec2_ids):
        item = f"'{ec2_id}'"
        if quoted and len("ec2InstanceId in []") + length + len(quoted) + len(item) >= FILTER_MAX_CHARACTERS:
            expressions.append("ec2InstanceId in [" + ",".join(quoted) + "]")
            quoted, length = [], 0
        quoted.append(item)
        length += len(item)
    if quoted:
        expressions.append("ec2InstanceId in [" + ",".join(quoted) + "]")
    return expressions


def container_instance_ids(ecs: ECSClient, cluster: str, ec2_ids: Sequence[str]) -> list[str]:
    """The container instance ids of those EC2 instances (registered ones only)."""
    found: list[str] = []
    try:
        for expression in filter_expressions(ec2_ids):
            paginator = ecs.get_paginator("list_container_instances")
            for page in paginator.paginate(cluster=cluster, filter=expression):
                found.extend(last_part(arn) for arn in page.get("containerInstanceArns", []))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ClusterNotFoundException":
            raise ClusterGone(cluster) from error
        raise
    return sorted(set(found))


def active_instance_ids(ecs: ECSClient, cluster: str) -> list[str]:
    """Every ACTIVE container instance of the cluster: this lists the whole cluster."""
    ids: list[str] = []
    for page in ecs.get_paginator("list_container_instances").paginate(cluster=cluster, status="ACTIVE"):
        ids.extend(last_part(a) for a in page.get("containerInstanceArns", []))
    return ids


def describe_instances(ecs: ECSClient, cluster: str, ids: Sequence[str]) -> tuple[dict[str, Instance], set[str]]:
    """Describe in batches of the API maximum; ids ECS no longer knows come back as missing."""
    found: dict[str, Instance] = {}
    missing: set[str] = set()
    for chunk in chunks(sorted(ids), DESCRIBE_LIMIT):
        reply = ecs.describe_container_instances(cluster=cluster, containerInstances=list(chunk))
        for data in reply.get("containerInstances", []):
            instance = Instance.from_api(data)
            found[instance.id] = instance
        missing.update(last_part(f.get("arn", "")) for f in reply.get("failures", []))
    missing.update(set(ids) - set(found) - missing)
    return found, missing


def list_task_arns(
    ecs: ECSClient, cluster: str, container_instance: str, desired_status: Literal["RUNNING", "STOPPED"]
) -> list[str]:
    arns: list[str] = []
    paginator = ecs.get_paginator("list_tasks")
    for page in paginator.paginate(cluster=cluster, containerInstance=container_instance, desiredStatus=desired_status):
        arns.extend(page.get("taskArns", []))
    return arns


def describe_tasks(ecs: ECSClient, cluster: str, arns: Sequence[str]) -> list[TaskTypeDef]:
    tasks: list[TaskTypeDef] = []
    for chunk in chunks(list(arns), DESCRIBE_LIMIT):
        tasks.extend(ecs.describe_tasks(cluster=cluster, tasks=list(chunk)).get("tasks", []))
    return tasks


def still_stopping(ecs: ECSClient, cluster: str, instance_ids: Sequence[str]) -> dict[str, list[str]]:
    """Per instance, the tasks told to stop that are not STOPPED yet (DEACTIVATING, STOPPING, DEPROVISIONING...).

    runningTasksCount no longer counts them, but they still serve their last requests. One ListTasks per
    instance; their DescribeTasks are batched 100 at a time across instances.
    """
    home = {arn: i for i in instance_ids for arn in list_task_arns(ecs, cluster, i, "STOPPED")}
    stopping: dict[str, list[str]] = {i: [] for i in instance_ids}
    for task in describe_tasks(ecs, cluster, list(home)):
        if task.get("lastStatus") != "STOPPED":
            stopping[home[task["taskArn"]]].append(task["taskArn"])
    return {i: sorted(arns) for i, arns in stopping.items()}


def daemon_services(ecs: ECSClient, cluster: str, names: Sequence[str]) -> set[str]:
    daemons: set[str] = set()
    for chunk in chunks(sorted(names), DESCRIBE_SERVICES_LIMIT):
        for service in ecs.describe_services(cluster=cluster, services=list(chunk)).get("services", []):
            if service.get("schedulingStrategy") == "DAEMON":
                daemons.add(service.get("serviceName", ""))
    return daemons


def set_draining(ecs: ECSClient, cluster: str, ids: Sequence[str]) -> list[str]:
    """Set ACTIVE instances DRAINING, ten per call (the API maximum); return per-instance failures."""
    problems: list[str] = []
    for chunk in chunks(sorted(ids), UPDATE_STATE_LIMIT):
        reply = ecs.update_container_instances_state(cluster=cluster, containerInstances=list(chunk), status="DRAINING")
        for failure in reply.get("failures", []):
            problems.append(f"{last_part(failure.get('arn', '?'))}: {failure.get('reason', 'failed')}")
    return problems


def stop_standalone_tasks(ecs: ECSClient, cluster: str, instance_id: str) -> int:
    """Stop the tasks that belong to no service: DRAINING never moves them."""
    stopped = 0
    for task in describe_tasks(ecs, cluster, list_task_arns(ecs, cluster, instance_id, "RUNNING")):
        if not task.get("group", "").startswith("service:") and task.get("desiredStatus") != "STOPPED":
            reason = f"ecs-drain: draining container instance {instance_id}"
            ecs.stop_task(cluster=cluster, task=task["taskArn"], reason=reason)
            stopped += 1
    return stopped
