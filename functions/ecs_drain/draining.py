"""Draining and counting: the steps of the drain loop, each a pure function of its state and its clients.

The state is a small JSON document carried by the state machine between checks. Only container instances
that are not drained yet are kept in it, packed, so it stays a few tens of KB at 1,000 targets.
"""

from __future__ import annotations

import base64
import math
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from .properties import MAX_MANUAL_DRAIN_SECONDS, DrainProperties
from .targets import Clients, ClusterGone, chunks, container_instance_ids, ec2_instance_ids

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_ecs.type_defs import ContainerInstanceTypeDef, TaskTypeDef

DESCRIBE_LIMIT = 100  # DescribeContainerInstances and DescribeTasks
UPDATE_STATE_LIMIT = 10  # UpdateContainerInstancesState
DESCRIBE_SERVICES_LIMIT = 10
REPORTED_INSTANCES = 20  # how many still-busy instances the state and the Reason name
GONE_STATUSES = {"INACTIVE", "DEREGISTERING"}

NOTHING_TO_DRAIN = "NOTHING_TO_DRAIN"
WAITING_FOR_CAPACITY = "WAITING_FOR_CAPACITY"
DRAINING = "DRAINING"
DRAINED = "DRAINED"
DEADLINE = "DEADLINE"
FINAL_PHASES = (NOTHING_TO_DRAIN, DRAINED, DEADLINE)


_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def pack_ids(ids: Iterable[str]) -> str:
    """A compact string for many ids: ECS ids are 32 hex digits (16 bytes), packed raw when they all are."""
    ordered = sorted(set(ids))
    if not ordered:
        return ""
    for tag, shape in (("h", _HEX32), ("u", _UUID)):
        if all(shape.match(i) for i in ordered):
            raw = b"".join(bytes.fromhex(i.replace("-", "")) for i in ordered)
            return f"{tag}:" + base64.b64encode(raw).decode()
    return "z:" + base64.b64encode(zlib.compress(",".join(ordered).encode(), 9)).decode()


def unpack_ids(packed: str) -> list[str]:
    if not packed:
        return []
    tag, data = packed.split(":", 1)
    raw = base64.b64decode(data)
    if tag == "z":
        return zlib.decompress(raw).decode().split(",")
    ids = [raw[n : n + 16].hex() for n in range(0, len(raw), 16)]
    return ids if tag == "h" else [f"{i[:8]}-{i[8:12]}-{i[12:16]}-{i[16:20]}-{i[20:]}" for i in ids]


@dataclass
class Instance:
    """What one DescribeContainerInstances call tells about a container instance."""

    id: str
    ec2_instance_id: str
    status: str
    agent_connected: bool
    active_tasks: int  # desiredStatus RUNNING or PENDING
    remaining_cpu: int
    remaining_memory: int

    @classmethod
    def from_api(cls, data: ContainerInstanceTypeDef) -> Instance:
        remaining = {r["name"]: r.get("integerValue", 0) for r in data.get("remainingResources", [])}
        return cls(
            id=data["containerInstanceArn"].rsplit("/", 1)[-1],
            ec2_instance_id=data.get("ec2InstanceId", "?"),
            status=data.get("status", "UNKNOWN"),
            agent_connected=data.get("agentConnected", False),
            active_tasks=data.get("runningTasksCount", 0) + data.get("pendingTasksCount", 0),
            remaining_cpu=remaining.get("CPU", 0),
            remaining_memory=remaining.get("MEMORY", 0),
        )


@dataclass
class Busy:
    """An instance that still runs something: tasks meant to run, and tasks stopping but not STOPPED yet."""

    instance: Instance
    active: int
    stopping: int = 0
    probe: str = ""  # one task still stopping: watched by DescribeTasks instead of listing the instance again

    def to_json(self) -> dict[str, Any]:
        return {
            "ec2InstanceId": self.instance.ec2_instance_id,
            "containerInstance": self.instance.id,
            "status": self.instance.status,
            "tasks": self.active + self.stopping,
            "stopping": self.stopping,
        }


@dataclass
class Census:
    """The outcome of one count over the pending instances."""

    busy: list[Busy] = field(default_factory=list)
    drained: list[str] = field(default_factory=list)
    views: dict[str, Instance] = field(default_factory=dict)

    @property
    def tasks(self) -> int:
        return sum(b.active + b.stopping for b in self.busy)


def describe_instances(ecs: ECSClient, cluster: str, ids: Sequence[str]) -> tuple[dict[str, Instance], set[str]]:
    """Describe in batches of the API maximum; ids ECS no longer knows come back as missing."""
    found: dict[str, Instance] = {}
    missing: set[str] = set()
    for chunk in chunks(sorted(ids), DESCRIBE_LIMIT):
        reply = ecs.describe_container_instances(cluster=cluster, containerInstances=list(chunk))
        for data in reply.get("containerInstances", []):
            instance = Instance.from_api(data)
            found[instance.id] = instance
        missing.update(f.get("arn", "").rsplit("/", 1)[-1] for f in reply.get("failures", []))
    missing.update(set(ids) - set(found) - missing)
    return found, missing


def list_task_arns(ecs: ECSClient, cluster: str, container_instance: str, desired_status: str) -> list[str]:
    arns: list[str] = []
    paginator = ecs.get_paginator("list_tasks")
    for page in paginator.paginate(
        cluster=cluster,
        containerInstance=container_instance,
        desiredStatus=desired_status,  # type: ignore[arg-type]
    ):
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


def _reservation(task: TaskTypeDef) -> tuple[int, int]:
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


def _daemon_services(ecs: ECSClient, cluster: str, names: Sequence[str]) -> set[str]:
    daemons: set[str] = set()
    for chunk in chunks(sorted(names), DESCRIBE_SERVICES_LIMIT):
        for service in ecs.describe_services(cluster=cluster, services=list(chunk)).get("services", []):
            if service.get("schedulingStrategy") == "DAEMON":
                daemons.add(service.get("serviceName", ""))
    return daemons


def inventory(ecs: ECSClient, cluster: str, instances: Iterable[Instance]) -> dict[str, Any]:
    """What runs on the targets at the start, by kind, and the room the service tasks need elsewhere.

    Daemon tasks need no room (the new instances run their own) and standalone tasks never move.
    """
    arns = [arn for i in instances if i.active_tasks for arn in list_task_arns(ecs, cluster, i.id, "RUNNING")]
    tasks = describe_tasks(ecs, cluster, arns)
    groups = {t.get("group", "") for t in tasks}
    services = sorted(g.split(":", 1)[1] for g in groups if g.startswith("service:"))
    daemons = _daemon_services(ecs, cluster, services) if services else set()
    counts = {"service": 0, "daemon": 0, "standalone": 0}
    need = {"cpu": 0, "memory": 0, "largestCpu": 0, "largestMemory": 0}
    for task in tasks:
        group = task.get("group", "")
        if not group.startswith("service:"):
            counts["standalone"] += 1
        elif group.split(":", 1)[1] in daemons:
            counts["daemon"] += 1
        else:
            counts["service"] += 1
            cpu, memory = _reservation(task)
            need["cpu"] += cpu
            need["memory"] += memory
            need["largestCpu"] = max(need["largestCpu"], cpu)
            need["largestMemory"] = max(need["largestMemory"], memory)
    return {"tasks": len(tasks), "byKind": counts, "need": need}


def spare_capacity(ecs: ECSClient, cluster: str, targets: set[str]) -> dict[str, int]:
    """Room left on ACTIVE, connected instances that are not being drained.

    This lists the cluster, so it runs only while waiting for capacity, never once draining has begun.
    """
    others: list[str] = []
    paginator = ecs.get_paginator("list_container_instances")
    for page in paginator.paginate(cluster=cluster, status="ACTIVE"):
        others.extend(a.rsplit("/", 1)[-1] for a in page.get("containerInstanceArns", []))
    found, _ = describe_instances(ecs, cluster, [i for i in others if i not in targets])
    usable = [i for i in found.values() if i.status == "ACTIVE" and i.agent_connected]
    return {
        "instances": len(usable),
        "cpu": sum(i.remaining_cpu for i in usable),
        "memory": sum(i.remaining_memory for i in usable),
        "largestCpu": max((i.remaining_cpu for i in usable), default=0),
        "largestMemory": max((i.remaining_memory for i in usable), default=0),
    }


def has_room(need: dict[str, int], spare: dict[str, int]) -> bool:
    if not need.get("cpu") and not need.get("memory"):
        return True
    return (
        spare["cpu"] >= need["cpu"]
        and spare["memory"] >= need["memory"]
        and spare["largestCpu"] >= need["largestCpu"]
        and spare["largestMemory"] >= need["largestMemory"]
    )


def set_draining(ecs: ECSClient, cluster: str, ids: Sequence[str]) -> list[str]:
    """Set ACTIVE instances DRAINING, ten per call (the API maximum); return per-instance failures."""
    problems: list[str] = []
    for chunk in chunks(sorted(ids), UPDATE_STATE_LIMIT):
        reply = ecs.update_container_instances_state(cluster=cluster, containerInstances=list(chunk), status="DRAINING")
        for failure in reply.get("failures", []):
            problems.append(f"{failure.get('arn', '?').rsplit('/', 1)[-1]}: {failure.get('reason', 'failed')}")
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


def count(ecs: ECSClient, cluster: str, ids: Sequence[str], probe_tasks: Sequence[str] = ()) -> Census:
    """One pass over the instances not drained yet.

    About ceil(n/100) DescribeContainerInstances calls, ceil(probes/100) DescribeTasks calls for instances
    whose tasks are stopping, and a ListTasks/DescribeTasks pair only for an instance that just reached zero
    running tasks or whose watched task just stopped.
    """
    census = Census()
    # instance id -> (watched task id, its lastStatus)
    probes = {
        t.get("containerInstanceArn", "").rsplit("/", 1)[-1]: (t["taskArn"].rsplit("/", 1)[-1], t.get("lastStatus"))
        for t in describe_tasks(ecs, cluster, probe_tasks)
    }
    found, missing = describe_instances(ecs, cluster, ids)
    census.views = found
    census.drained.extend(sorted(missing))  # deregistered or terminated: nothing runs there any more
    to_verify = []
    for instance_id in sorted(found):
        instance = found[instance_id]
        probe, probe_status = probes.get(instance_id, ("", "STOPPED"))
        if instance.status in GONE_STATUSES:
            census.drained.append(instance_id)
        elif instance.active_tasks or instance.status == "ACTIVE":
            # Still ACTIVE, ECS may place tasks on it: drained only once it is DRAINING and empty.
            census.busy.append(Busy(instance, instance.active_tasks))
        elif probe_status != "STOPPED":
            census.busy.append(Busy(instance, 0, 1, probe))
        else:
            to_verify.append(instance_id)
    for instance_id, stopping in still_stopping(ecs, cluster, to_verify).items():
        if stopping:
            census.busy.append(Busy(found[instance_id], 0, len(stopping), stopping[-1]))
        else:
            census.drained.append(instance_id)
    return census


def plan(props: DrainProperties, clients: Clients, now: float) -> dict[str, Any]:
    """Resolve the targets and take stock; the first check follows at once."""
    budget = props.drain_timeout_seconds or MAX_MANUAL_DRAIN_SECONDS
    state: dict[str, Any] = {
        "phase": DRAINING,
        "cluster": props.cluster,
        "properties": props.to_json(),
        "startedAt": now,
        "deadline": now + props.drain_timeout_seconds if props.drain_timeout_seconds else None,
        "maxChecks": math.ceil(budget / props.poll_interval_seconds) + 2,
        "checks": 0,
        "nextCheckInSeconds": 0,
        "pending": "",
        "probes": "",
        "pendingCount": 0,
        "standaloneStopped": "",
        "summary": {"instances": 0, "tasksAtStart": 0, "drained": 0, "tasksRemaining": 0},
        "timeline": {"startedAt": now},
        "remaining": [],
        "problems": [],
        "message": "",
    }
    target = f"{props.target_kind} {props.target[0]}" if len(props.target) == 1 else props.target_kind
    ec2_ids = ec2_instance_ids(props, clients)
    if ec2_ids is None:
        return _finish(state, NOTHING_TO_DRAIN, now, f"{target} no longer exists: nothing to drain.")
    if not ec2_ids:
        return _finish(state, NOTHING_TO_DRAIN, now, f"{target} has no running instances: nothing to drain.")
    try:
        ids = container_instance_ids(clients.ecs, props.cluster, ec2_ids)
        if not ids:
            unregistered = f"None of the {len(ec2_ids)} instances of {target} is registered in {props.cluster_name}"
            return _finish(state, NOTHING_TO_DRAIN, now, unregistered + ": nothing to drain.")
        found, _ = describe_instances(clients.ecs, props.cluster, ids)
        stock = inventory(clients.ecs, props.cluster, found.values())
    except ClusterGone:
        return _finish(state, NOTHING_TO_DRAIN, now, _cluster_gone(props))
    state.update(pending=pack_ids(ids), pendingCount=len(ids), need=stock["need"])
    state["summary"].update(
        instances=len(ids), tasksAtStart=stock["tasks"], tasksByKind=stock["byKind"], tasksRemaining=stock["tasks"]
    )
    if props.wait_for_capacity and stock["need"]["cpu"] + stock["need"]["memory"] > 0:
        state["phase"] = WAITING_FOR_CAPACITY
    return state


def check(state: dict[str, Any], clients: Clients, now: float) -> dict[str, Any]:
    """One turn of the loop: wait for room, set DRAINING, count what still runs, decide what comes next."""
    props = DrainProperties.from_json(state["properties"])
    cluster, ecs = state["cluster"], clients.ecs
    state["checkedAt"] = now
    pending = unpack_ids(state["pending"])
    probes = unpack_ids(state.get("probes", ""))
    state["checks"] += 1
    problems: list[str] = []
    try:
        census = count(ecs, cluster, pending, probes)
        if state["phase"] == WAITING_FOR_CAPACITY:
            spare = spare_capacity(ecs, cluster, set(pending))
            state["spare"] = spare
            if has_room(state["need"], spare) or not census.busy:
                state["phase"] = DRAINING
                state["timeline"]["capacityReadyAt"] = now
        # An empty target is set DRAINING at once, even while waiting for capacity: nothing moves, and ECS
        # places nothing new on it. The others wait for room elsewhere.
        active = [
            i
            for i, view in census.views.items()
            if view.status == "ACTIVE" and (state["phase"] == DRAINING or not view.active_tasks)
        ]
        if active:
            problems.extend(set_draining(ecs, cluster, active))
            if state["phase"] == DRAINING:
                state["timeline"].setdefault("drainingSetAt", now)
        if state["phase"] == DRAINING and props.standalone_tasks == "STOP":
            done = set(unpack_ids(state["standaloneStopped"]))
            for busy in census.busy:
                if busy.instance.id not in done and busy.active:
                    state["summary"]["standaloneStopped"] = state["summary"].get("standaloneStopped", 0) + (
                        stop_standalone_tasks(ecs, cluster, busy.instance.id)
                    )
                    done.add(busy.instance.id)
            state["standaloneStopped"] = pack_ids(done & {b.instance.id for b in census.busy})
    except ClusterGone:
        return _finish(state, NOTHING_TO_DRAIN, now, _cluster_gone(props))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ClusterNotFoundException":
            return _finish(state, NOTHING_TO_DRAIN, now, _cluster_gone(props))
        raise

    busy_ids = [b.instance.id for b in census.busy]
    state.update(
        pending=pack_ids(busy_ids),
        pendingCount=len(busy_ids),
        probes=pack_ids(b.probe.rsplit("/", 1)[-1] for b in census.busy if b.probe),
        problems=(state["problems"] + problems)[-5:],
    )
    state["summary"].update(drained=state["summary"]["instances"] - len(busy_ids), tasksRemaining=census.tasks)
    busiest = sorted(census.busy, key=lambda b: -(b.active + b.stopping))
    state["remaining"] = [b.to_json() for b in busiest[:REPORTED_INSTANCES]]

    if not census.busy:
        drained = state["summary"]["instances"]
        return _finish(state, DRAINED, now, f"Drained {drained} container instances: every task on them is STOPPED.")
    deadline = state["deadline"]
    if (deadline is not None and now >= deadline) or state["checks"] >= state["maxChecks"]:
        return _finish(state, DEADLINE, now, f"Deadline reached with tasks still running. {describe_remaining(state)}")
    wait = props.poll_interval_seconds
    if deadline is not None:
        wait = min(wait, math.ceil(deadline - now))  # the last check falls on the deadline
    state["nextCheckInSeconds"] = max(1, wait)
    state["message"] = (
        f"Waiting for capacity: need {state['need']['cpu']} CPU / {state['need']['memory']} MiB elsewhere. "
        if state["phase"] == WAITING_FOR_CAPACITY
        else ""
    ) + f"{census.tasks} tasks on {len(census.busy)} instances still running."
    return state


def describe_remaining(state: dict[str, Any]) -> str:
    """Name what still runs, per instance, for the Reason CloudFormation shows."""
    remaining = state.get("remaining", [])
    if not remaining:
        return ""
    parts = [
        f"{r['ec2InstanceId']} ({r['status']}): {r['tasks']} tasks"
        + (f", {r['stopping']} stopping" if r["stopping"] else "")
        for r in remaining
    ]
    more = state.get("pendingCount", len(remaining)) - len(remaining)
    waiting = (
        " Busy instances were not set DRAINING: spare capacity never became enough."
        if state.get("phase") == WAITING_FOR_CAPACITY
        else ""
    )
    return "Still running: " + "; ".join(parts) + (f"; and {more} more instances." if more > 0 else ".") + waiting


def _cluster_gone(props: DrainProperties) -> str:
    return f"Cluster {props.cluster_name} no longer exists: nothing left to drain."


def _finish(state: dict[str, Any], phase: str, now: float, message: str) -> dict[str, Any]:
    state.update(phase=phase, message=message, nextCheckInSeconds=0)
    state["timeline"]["endedAt"] = now
    state["summary"]["seconds"] = round(now - state["startedAt"], 1)
    return state
