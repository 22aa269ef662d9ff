"""The ECS calls the drain makes, each batched to the API's documented maximum and paged to the end.

Ids, not ARNs, go in and come out: they keep the execution state small, and ECS takes either.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from botocore.exceptions import ClientError

from ..decisions.placement import TaskNeeds
from ..model.arns import last_part
from ..model.container_instance import InstanceFacts
from .errors import error_code

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_ecs.type_defs import ServiceTypeDef, TaskTypeDef

DESCRIBE_LIMIT = 100  # DescribeContainerInstances and DescribeTasks
UPDATE_STATE_LIMIT = 10  # UpdateContainerInstancesState
DESCRIBE_SERVICES_LIMIT = 10
# ECS documents a 2,000-character cap on cluster query language expressions in placement constraints; none is
# documented for ListContainerInstances' `filter`, so its expressions stay under the same cap.
FILTER_MAX_CHARACTERS = 2000
GONE_STATUSES = frozenset({"INACTIVE", "DEREGISTERING"})


class ClusterGone(Exception):
    """The cluster no longer exists: there is nothing left to drain."""


def in_cluster[**P, R](call: Callable[P, R]) -> Callable[P, R]:
    """A call on a cluster (its second argument): ECS's ClusterNotFoundException becomes ClusterGone, here only."""

    @functools.wraps(call)
    def calling(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return call(*args, **kwargs)
        except ClientError as error:
            raise _translated(error, str(args[1]) if len(args) > 1 else "") from error

    return calling


def _translated(error: ClientError, cluster: str) -> Exception:
    return ClusterGone(cluster) if error_code(error) == "ClusterNotFoundException" else error


def chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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


@in_cluster
def container_instance_ids(ecs: ECSClient, cluster: str, ec2_ids: Sequence[str]) -> list[str]:
    """The container instance ids of those EC2 instances (registered ones only)."""
    found: list[str] = []
    for expression in filter_expressions(ec2_ids):
        paginator = ecs.get_paginator("list_container_instances")
        for page in paginator.paginate(cluster=cluster, filter=expression):
            found.extend(last_part(arn) for arn in page.get("containerInstanceArns", []))
    return sorted(set(found))


def active_instance_pages(ecs: ECSClient, cluster: str) -> Iterator[list[str]]:
    """The ACTIVE container instances of the cluster, a page (up to 100) at a time, as ListContainerInstances
    gives them: a caller that has seen enough stops listing."""
    try:
        for page in ecs.get_paginator("list_container_instances").paginate(cluster=cluster, status="ACTIVE"):
            yield [last_part(a) for a in page.get("containerInstanceArns", [])]
    except ClientError as error:  # raised while listing: in_cluster cannot see into a generator
        raise _translated(error, cluster) from error


@in_cluster
def describe_instances(ecs: ECSClient, cluster: str, ids: Sequence[str]) -> tuple[dict[str, InstanceFacts], set[str]]:
    """Describe in batches of the API maximum; ids ECS no longer knows come back as missing."""
    found: dict[str, InstanceFacts] = {}
    missing: set[str] = set()
    for chunk in chunks(sorted(ids), DESCRIBE_LIMIT):
        reply = ecs.describe_container_instances(cluster=cluster, containerInstances=list(chunk))
        for data in reply.get("containerInstances", []):
            instance = InstanceFacts.from_api(data)
            found[instance.id] = instance
        missing.update(last_part(f.get("arn", "")) for f in reply.get("failures", []))
    missing.update(set(ids) - set(found) - missing)
    return found, missing


@in_cluster
def list_task_arns(
    ecs: ECSClient, cluster: str, container_instance: str, desired_status: Literal["RUNNING", "STOPPED"]
) -> list[str]:
    arns: list[str] = []
    paginator = ecs.get_paginator("list_tasks")
    for page in paginator.paginate(cluster=cluster, containerInstance=container_instance, desiredStatus=desired_status):
        arns.extend(page.get("taskArns", []))
    return arns


@in_cluster
def describe_tasks(ecs: ECSClient, cluster: str, arns: Sequence[str]) -> list[TaskTypeDef]:
    tasks: list[TaskTypeDef] = []
    for chunk in chunks(list(arns), DESCRIBE_LIMIT):
        tasks.extend(ecs.describe_tasks(cluster=cluster, tasks=list(chunk)).get("tasks", []))
    return tasks


@in_cluster
def stopping_tasks(ecs: ECSClient, cluster: str, instance_id: str) -> list[str]:
    """The ARNs of the tasks on an instance told to stop (desiredStatus STOPPED), STOPPED ones included."""
    return list_task_arns(ecs, cluster, instance_id, "STOPPED")


LIST_TASKS_PAGE = 100  # ListTasks' maximum page


@in_cluster
def cluster_stopping_tasks(ecs: ECSClient, cluster: str, most_pages: int) -> list[str] | None:
    """The ARNs of every task in the cluster told to stop (desiredStatus STOPPED), STOPPED ones included; None
    when they run past `most_pages` pages (the listing stops there)."""
    arns: list[str] = []
    token: str | None = None
    for _ in range(most_pages):
        page = (
            ecs.list_tasks(cluster=cluster, desiredStatus="STOPPED", maxResults=LIST_TASKS_PAGE, nextToken=token)
            if token
            else ecs.list_tasks(cluster=cluster, desiredStatus="STOPPED", maxResults=LIST_TASKS_PAGE)
        )
        arns.extend(page.get("taskArns", []))
        token = page.get("nextToken")
        if not token:
            return arns
    return None


@in_cluster
def task_states(ecs: ECSClient, cluster: str, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Task id -> (its container instance id, its lastStatus); a task ECS no longer returns is left out."""
    return {
        last_part(t["taskArn"]): (last_part(t.get("containerInstanceArn", "")), t.get("lastStatus", "UNKNOWN"))
        for t in describe_tasks(ecs, cluster, ids)
    }


@dataclass
class ServiceView:
    """What DescribeServices tells about one service: counts, deployment configuration, constraints, events."""

    name: str
    task_definition: str
    daemon: bool
    desired: int
    running: int
    pending: int
    min_healthy_percent: int
    max_percent: int
    placement_constraints: list[str]  # "distinctInstance", "memberOf(attribute:x == y)"
    events: list[tuple[float, str]]  # (createdAt as epoch seconds, message), newest first
    target_groups: list[str] = field(default_factory=list)  # the load balancers' target groups it registers with
    capacity_providers: list[str] = field(default_factory=list)  # its capacityProviderStrategy; empty: none

    @classmethod
    def from_api(cls, data: ServiceTypeDef) -> ServiceView:
        deployment = data.get("deploymentConfiguration", {})
        constraints = [
            c.get("type", "?") + (f"({c['expression']})" if c.get("expression") else "")
            for c in data.get("placementConstraints", [])
        ]
        return cls(
            name=data.get("serviceName", "?"),
            task_definition=data.get("taskDefinition", ""),
            daemon=data.get("schedulingStrategy") == "DAEMON",
            desired=data.get("desiredCount", 0),
            running=data.get("runningCount", 0),
            pending=data.get("pendingCount", 0),
            # The defaults ECS applies when a service leaves them out.
            min_healthy_percent=deployment.get("minimumHealthyPercent", 100),
            max_percent=deployment.get("maximumPercent", 200),
            placement_constraints=constraints,
            events=[(e["createdAt"].timestamp(), e.get("message", "")) for e in data.get("events", [])],
            target_groups=[b["targetGroupArn"] for b in data.get("loadBalancers", []) if b.get("targetGroupArn")],
            capacity_providers=[s["capacityProvider"] for s in data.get("capacityProviderStrategy", [])],
        )


LIST_SERVICES_PAGE = 100  # ListServices' maximum page (its default is 10)


@in_cluster
def describe_services(ecs: ECSClient, cluster: str) -> list[ServiceView]:
    """Every ACTIVE service of the cluster: ListServices 100 a page, DescribeServices ten at a time."""
    arns: list[str] = []
    for page in ecs.get_paginator("list_services").paginate(
        cluster=cluster, PaginationConfig={"PageSize": LIST_SERVICES_PAGE}
    ):
        arns.extend(page.get("serviceArns", []))
    views: list[ServiceView] = []
    for chunk in chunks(sorted(arns), DESCRIBE_SERVICES_LIMIT):
        for service in ecs.describe_services(cluster=cluster, services=list(chunk)).get("services", []):
            if service.get("status") == "ACTIVE" and service.get("taskDefinition"):
                views.append(ServiceView.from_api(service))
    return views


@in_cluster
def service_tasks(ecs: ECSClient, cluster: str, service: str) -> dict[str, tuple[str, str]]:
    """Task id -> (container instance id, lastStatus), for the tasks of one service meant to run (ListTasks,
    DescribeTasks)."""
    arns: list[str] = []
    for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster, serviceName=service, desiredStatus="RUNNING"):
        arns.extend(page.get("taskArns", []))
    return task_states(ecs, cluster, arns)


def service_task_homes(ecs: ECSClient, cluster: str, service: str) -> dict[str, str]:
    """Task id -> container instance id, for the tasks of one service meant to run."""
    return {id_: home for id_, (home, _status) in service_tasks(ecs, cluster, service).items()}


class TaskDefinitions:
    """DescribeTaskDefinition once per definition, however many services or steps of one read ask for it."""

    def __init__(self, ecs: ECSClient) -> None:
        self.ecs = ecs
        self.known: dict[str, TaskNeeds] = {}

    def needs(self, arn: str) -> TaskNeeds:
        """What a task of this definition asks of an instance (its service not yet applied)."""
        if arn not in self.known:
            definition = self.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
            self.known[arn] = TaskNeeds.from_definition(definition)
        return self.known[arn]


@dataclass
class ServiceSizes:
    """What the cluster's services reserve per task, from their task definitions."""

    daemon_cpu: int = 0  # one task of every daemon service, together
    daemon_memory: int = 0
    largest_cpu: int = 0  # the largest task of any replica service that runs tasks
    largest_memory: int = 0
    replica_cpu: int = 0  # every task of every replica service in the cluster, together
    replica_memory: int = 0


def service_sizes(
    ecs: ECSClient, services: Sequence[ServiceView], definitions: TaskDefinitions | None = None
) -> ServiceSizes:
    """The services' task sizes: DescribeTaskDefinition once per task definition."""
    sizes = ServiceSizes()
    definitions = definitions or TaskDefinitions(ecs)
    for service in services:
        needs = definitions.needs(service.task_definition)
        cpu, memory = needs.cpu, needs.memory
        if service.daemon:
            sizes.daemon_cpu += cpu
            sizes.daemon_memory += memory
        elif tasks := service.running + service.pending:
            sizes.largest_cpu = max(sizes.largest_cpu, cpu)
            sizes.largest_memory = max(sizes.largest_memory, memory)
            sizes.replica_cpu += tasks * cpu
            sizes.replica_memory += tasks * memory
    return sizes


def batch_calls(items: int, limit: int) -> int:
    """The calls that take `items` in batches of at most `limit` (a reservation's length)."""
    return -(-items // limit)


@in_cluster
def set_draining(ecs: ECSClient, cluster: str, ids: Sequence[str]) -> list[str]:
    """Set ACTIVE instances DRAINING, ten per call (the API maximum); return per-instance failures."""
    problems: list[str] = []
    for chunk in chunks(sorted(ids), UPDATE_STATE_LIMIT):
        reply = ecs.update_container_instances_state(cluster=cluster, containerInstances=list(chunk), status="DRAINING")
        for failure in reply.get("failures", []):
            problems.append(f"{last_part(failure.get('arn', '?'))}: {failure.get('reason', 'failed')}")
    return problems


@in_cluster
def running_tasks(ecs: ECSClient, cluster: str, instance_id: str) -> list[TaskTypeDef]:
    """The tasks meant to run on an instance, described (their group tells service tasks from standalone ones)."""
    return describe_tasks(ecs, cluster, list_task_arns(ecs, cluster, instance_id, "RUNNING"))


@in_cluster
def stop_standalone_tasks(ecs: ECSClient, cluster: str, instance_id: str) -> int:
    """Stop the tasks that belong to no service: DRAINING never moves them."""
    stopped = 0
    for task in running_tasks(ecs, cluster, instance_id):
        if not task.get("group", "").startswith("service:") and task.get("desiredStatus") != "STOPPED":
            reason = f"ecs-drain: draining container instance {instance_id}"
            ecs.stop_task(cluster=cluster, task=task["taskArn"], reason=reason)
            stopped += 1
    return stopped
