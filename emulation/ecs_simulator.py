"""An ECS scheduler simulator on top of moto's ECS data.

moto stores clusters, container instances and tasks but schedules nothing. This model does what ECS does
for a drain (see docs/emulation.md): services keep their desired count on ACTIVE instances with room;
DRAINING stops pending service tasks at once and replaces running ones within minimumHealthyPercent and
maximumPercent, the replacement counting only once healthy; a stopping task walks RUNNING -> DEACTIVATING
(deregistration delay) -> STOPPING (stop timeout) -> DEPROVISIONING -> STOPPED, with desiredStatus STOPPED
from the start; daemon tasks stop last; standalone tasks run until stopped.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.autoscaling.models import autoscaling_backends
from moto.ec2.models import ec2_backends
from moto.ec2.models.instance_types import INSTANCE_TYPES
from moto.ecs.models import EC2ContainerServiceBackend, Task

from ecs_drain.decisions.cluster_query import Expression, QueryError, evaluate, parse
from ecs_drain.model.container_instance import InstanceFacts

from .sim_clock import SimClock
from .traffic import KILLED_AT_STOP_TIMEOUT, KILLED_WITH_INSTANCE, Traffic

DEPROVISION_SECONDS = 2.0
# ECS omits a repeated service event until its cause is resolved or six hours pass (service event messages page).
EVENT_REPEAT_SECONDS = 6 * 3600
UNABLE_TO_PLACE = "service {name} was unable to place a task because no container instance met all of its requirements."
CLOSEST = " The closest matching container-instance {instance} {why}."
STOP_TIMEOUT_SECONDS = 30.0  # ECS_CONTAINER_STOP_TIMEOUT default
MISSING_ATTRIBUTE = "is missing an attribute required by your task"
NO_ENI = 'encountered error "RESOURCE:ENI"'
NO_GPU = 'encountered error "RESOURCE:GPU"'
# What a current ECS agent (Linux, Docker) registers besides ECS's own attributes: capability attributes, from which
# ECS matches task definitions' requiresAttributes (a few of the many, the ones the scenarios' definitions need).
AGENT_VERSION = "1.89.0"
AGENT_CAPABILITIES = (
    "com.amazonaws.ecs.capability.docker-remote-api.1.17",
    "com.amazonaws.ecs.capability.docker-remote-api.1.19",
    "com.amazonaws.ecs.capability.docker-remote-api.1.21",
    "com.amazonaws.ecs.capability.docker-remote-api.1.24",
    "com.amazonaws.ecs.capability.logging-driver.awslogs",
    "com.amazonaws.ecs.capability.task-iam-role",
    "ecs.capability.execution-role-awslogs",
    "ecs.capability.secrets.asm.environment-variables",
    "ecs.capability.secrets.ssm.environment-variables",
    "ecs.capability.task-eni",
    "ecs.capability.container-health-check",
)
TRUNK_ATTRIBUTE = "ecs.awsvpc-trunk-id"
# awsvpc tasks an instance with ENI trunking takes (ECS developer guide, the trunking table; the types scenarios use).
TRUNKED_TASKS = {"c5.large": 10, "c5.xlarge": 20, "m5.large": 10, "m5.xlarge": 20, "m5.2xlarge": 40}
# ECS runs Java: its `=~` is String.matches (the whole value), case counts. The emulation takes that reading (the
# product judges both readings, and leaves to ECS what they disagree on). Java's POSIX classes, which Python's
# regular expressions lack, are translated.
_JAVA_CLASSES = {
    r"\p{Lower}": "[a-z]",
    r"\p{Upper}": "[A-Z]",
    r"\p{Alpha}": "[A-Za-z]",
    r"\p{Digit}": "[0-9]",
    r"\p{Alnum}": "[A-Za-z0-9]",
}


@dataclass
class ServiceSpec:
    name: str
    cpu: int
    memory: int
    desired: int = 0  # ignored for daemons: one per ACTIVE instance
    min_healthy_percent: int = 100
    max_percent: int = 200
    daemon: bool = False
    deregistration_delay: float = 0.0  # behind a load balancer: the target group's delay
    start_seconds: float = 10.0  # placement, image pull, start
    health_check_seconds: float = 30.0  # until the first passing health check
    shutdown_seconds: float = 5.0  # how long the app takes to exit after SIGTERM
    # As in CreateService: {"type": "distinctInstance"} or {"type": "memberOf", "expression": "attribute:k == v"}
    placement_constraints: list[dict[str, str]] = field(default_factory=list)
    host_port: int | None = None  # a static host port (bridge mode): one task of it per instance
    load_balanced: bool = False  # behind a load balancer: it gets requests (emulation/traffic.py)
    awsvpc: bool = False  # network mode awsvpc: each task takes a network interface of its instance
    cpu_architecture: str | None = None  # runtimePlatform: X86_64 or ARM64 (ECS requires ecs.cpu-architecture)
    requires_attributes: list[str] = field(default_factory=list)  # what the definition's features require
    gpus: int = 0  # GPU resourceRequirements of its container
    capacity_providers: list[str] = field(default_factory=list)  # capacityProviderStrategy; empty: none

    @property
    def required(self) -> list[tuple[str, str | None]]:
        """requiresAttributes as ECS derives them, runtimePlatform's architecture included."""
        arch = {"X86_64": "x86_64", "ARM64": "arm64"}.get(self.cpu_architecture or "")
        return [(a, None) for a in self.requires_attributes] + ([("ecs.cpu-architecture", arch)] if arch else [])

    @property
    def ceiling(self) -> int:
        """Tasks the service may run at once (maximumPercent of desired, rounded down)."""
        return math.floor(self.desired * self.max_percent / 100)

    @property
    def floor(self) -> int:
        """Healthy tasks it must keep (minimumHealthyPercent of desired, rounded up)."""
        return math.ceil(self.desired * self.min_healthy_percent / 100)


@dataclass
class CapacityProviderSpec:
    """An Auto Scaling group capacity provider: with managed scaling, ECS grows the group when tasks of a service
    whose strategy names it cannot be placed (one instance at a time here, up to the group's maximum), and the new
    instance registers once it has booted."""

    name: str
    group: str  # the Auto Scaling group's name
    managed_scaling: bool = True
    instance_size: tuple[int, int] = (2048, 3840)
    boot_seconds: float = 90.0


@dataclass
class SimTask:
    moto: Task
    instance_id: str
    cpu: int
    memory: int
    service: str | None
    healthy_at: float | None = None
    stop_requested_at: float | None = None
    stopped_at: float | None = None
    created_at: float = 0.0
    version: int = 0  # as ECS counts a task's changes: up by one at each (DescribeTasks and its events carry it)

    @property
    def arn(self) -> str:
        return str(self.moto.task_arn)

    @property
    def last(self) -> str:
        return str(self.moto.last_status)

    @property
    def desired(self) -> str:
        return str(self.moto.desired_status)


@dataclass
class Record:
    """What tests and the demo read back: what was killed, how service availability held up, samples."""

    killed: list[str] = field(default_factory=list)  # tasks not STOPPED when their instance went away
    lowest_healthy: dict[str, int] = field(default_factory=dict)
    samples: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)
    draining_set_at: dict[str, float] = field(default_factory=dict)  # container instance id -> first set DRAINING
    gone_at: dict[str, float] = field(default_factory=dict)  # EC2 instance id -> when it was terminated
    # Service events as DescribeServices returns them, per service, oldest first: (createdAt, message).
    service_events: dict[str, list[tuple[float, str]]] = field(default_factory=lambda: defaultdict(list))


class EcsSimulator:
    def __init__(self, backend: EC2ContainerServiceBackend, cluster: str, clock: SimClock) -> None:
        self.backend = backend
        self.cluster = cluster
        self.clock = clock
        self.now = clock.now()
        self.tasks: dict[str, SimTask] = {}
        self.task_ids: dict[str, SimTask] = {}  # the same tasks by id: the API takes ids or ARNs
        self.by_instance: dict[str, set[str]] = defaultdict(set)
        self.by_service: dict[str, set[str]] = defaultdict(set)  # tasks whose desiredStatus is RUNNING
        self.ec2_ids: dict[str, str] = {}  # container instance id -> EC2 instance id, kept after deregistration
        self.services: dict[str, ServiceSpec] = {}
        self.record = Record()
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._room: list[tuple[int, int, str]] = []  # (-remaining CPU, -remaining memory, instance id)
        self._seq = itertools.count()
        self._dirty = False
        self._families: dict[str, Any] = {}
        self.watched: set[str] = set()  # instance ids sampled for the picture
        self.eni_capacity: dict[str, int] = {}  # container instance id -> awsvpc tasks it takes
        self._awsvpc: dict[str, Any] | None = None  # awsvpc tasks' network configuration, made on first use
        self.providers: dict[str, CapacityProviderSpec] = {}
        self._scaling: set[str] = set()  # providers whose group is launching an instance now
        self.scaled_out: dict[str, list[str]] = {}  # Auto Scaling group -> container instances it grew by
        # EC2 instances whose containers never start (a broken AMI): tasks placed there stay PENDING.
        self.containers_fail_on: set[str] = set()
        self.traffic: Traffic | None = None  # requests to the load-balanced services, when a scenario has them
        self.target_groups: dict[str, str] = {}  # load-balanced service -> its target group's ARN
        self._unresolved: dict[str, tuple[str, float]] = {}  # service -> (last placement event, when written)
        # Told of every change of a task's lastStatus or desiredStatus, as ECS sends a Task State Change event.
        self.on_task_change: list[Callable[[SimTask], None]] = []
        clock.on_advance(self.run_until)

    # ---- time -------------------------------------------------------------------------------------
    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (when, next(self._seq), action))

    def run_until(self, t: float) -> float:
        """Bring the cluster up to `t`, or to an alarm of the clock's set meanwhile (an event delivered to a
        function, which runs then): the time reached."""
        while self._queue and self._queue[0][0] <= min(t, self.clock.next_alarm()):
            when = self._queue[0][0]
            if self.traffic is not None:
                self.traffic.advance(when, self.receiving_requests)  # the targets are as they were until now
            self.now = when
            while self._queue and self._queue[0][0] == when:
                heapq.heappop(self._queue)[2]()
            self.reconcile()
            self.sample()
        t = max(self.now, min(t, self.clock.next_alarm()))
        if self.traffic is not None:
            self.traffic.advance(t, self.receiving_requests)
        self.now = t
        self.reconcile()
        self.sample()
        return t

    def receiving_requests(self, t: float) -> dict[str, list[str]]:
        """Per load-balanced service, its tasks whose targets receive requests at `t`: RUNNING, past their first
        health check, not told to stop, on an instance that is still there."""
        return {
            name: [
                task.arn
                for task in self.service_tasks(name)
                if task.desired == "RUNNING"
                and task.last == "RUNNING"
                and task.healthy_at is not None
                and task.healthy_at <= t
                and task.instance_id in self.instances
            ]
            for name, spec in self.services.items()
            if spec.load_balanced
        }

    # ---- cluster ----------------------------------------------------------------------------------
    @property
    def instances(self) -> dict[str, Any]:
        return self.backend.container_instances.get(self.cluster, {})

    def register_instance(
        self,
        ec2_instance_id: str,
        cpu: int = 2048,
        memory: int = 3840,
        attributes: dict[str, str] | None = None,
        *,
        missing_capabilities: frozenset[str] = frozenset(),
        trunked: bool = False,
        capacity_provider: str | None = None,
    ) -> str:
        """The agent registers: CPU and memory, GPUs where the type has them, ECS's attributes (moto's, with the CPU
        architecture from the instance type), the capabilities a current agent has (less `missing_capabilities`:
        an older or misconfigured agent), custom attributes (ECS_INSTANCE_ATTRIBUTES), the trunk interface."""
        instance = self.backend.register_container_instance(self.cluster, ec2_instance_id)
        for resources in (instance.registered_resources, instance.remaining_resources):
            for resource in resources:
                if resource["name"] == "CPU":
                    resource["integerValue"] = cpu
                elif resource["name"] == "MEMORY":
                    resource["integerValue"] = memory
        instance.running_tasks_count = instance.pending_tasks_count = 0
        instance_id = str(instance.container_instance_arn).rsplit("/", 1)[-1]
        self.ec2_ids[instance_id] = ec2_instance_id
        kind = INSTANCE_TYPES.get(str(instance.attributes.get("ecs.instance-type")), {})
        architectures = kind.get("ProcessorInfo", {}).get("SupportedArchitectures", ["x86_64"])
        instance.attributes["ecs.cpu-architecture"] = "arm64" if "arm64" in architectures else "x86_64"
        instance.attributes.update(dict.fromkeys(c for c in AGENT_CAPABILITIES if c not in missing_capabilities))
        interfaces = kind.get("NetworkInfo", {}).get("MaximumNetworkInterfaces", 2)
        self.eni_capacity[instance_id] = max(0, interfaces - 1)
        if trunked:
            instance.attributes[TRUNK_ATTRIBUTE] = f"eni-trunk-{instance_id[:8]}"
            self.eni_capacity[instance_id] = TRUNKED_TASKS.get(str(instance.attributes["ecs.instance-type"]), 0)
        gpus = sum(g.get("Count", 0) for g in kind.get("GpuInfo", {}).get("Gpus", []))
        if gpus:
            ids = [f"GPU-{instance_id[:8]}-{n}" for n in range(gpus)]
            for resources in (instance.registered_resources, instance.remaining_resources):
                resources.append({"name": "GPU", "type": "STRINGSET", "integerValue": 0, "stringSetValue": list(ids)})
        instance.attributes.update(attributes or {})  # custom attributes, as ECS_INSTANCE_ATTRIBUTES registers them
        instance.version_info["agentVersion"] = AGENT_VERSION
        instance.capacity_provider_name = capacity_provider
        self.by_instance.setdefault(instance_id, set())
        self._offer(instance_id)
        self.log(f"{ec2_instance_id} registered in {self.cluster}")
        self._dirty = True
        self.reconcile()
        return instance_id

    def terminate_instance(self, instance_id: str) -> None:
        """The EC2 instance is gone: whatever still ran there is killed, and ECS deregisters it."""
        instance = self.instances.get(instance_id)
        if instance is None:
            return
        self.record.gone_at[self.ec2_id(instance_id)] = self.clock.now()
        for arn in list(self.by_instance.get(instance_id, ())):
            task = self.tasks[arn]
            if task.last != "STOPPED":
                self.record.killed.append(arn)
                if self.traffic is not None:
                    self.traffic.kill(arn, self.now, KILLED_WITH_INSTANCE)
                self.by_service[task.service or ""].discard(arn)
                task.moto.desired_status = "STOPPED"
                task.moto.stopped_reason = "Host EC2 instance terminated"
                self._changed(task)
                self._stopped(task)
        instance.status = "INACTIVE"
        del self.backend.container_instances[self.cluster][instance_id]
        self.log(f"{instance.ec2_instance_id} terminated and deregistered")
        self._dirty = True

    def instances_changed(self) -> None:
        """Called when the API changed an instance's status (DRAINING): ECS reacts at once."""
        self._dirty = True
        self.reconcile()

    def ec2_id(self, instance_id: str) -> str:
        return self.ec2_ids.get(instance_id, instance_id)

    def add_capacity_provider(self, spec: CapacityProviderSpec) -> None:
        ec2 = ec2_backends[self.backend.account_id][self.backend.region_name]
        arn = f"arn:aws:autoscaling:{ec2.region_name}:{ec2.account_id}:autoScalingGroup:0:autoScalingGroupName/"
        status = "ENABLED" if spec.managed_scaling else "DISABLED"
        details = {"autoScalingGroupArn": arn + spec.group, "managedScaling": {"status": status}}
        self.backend.create_capacity_provider(spec.name, details, None)
        self.providers[spec.name] = spec

    def _scale_out(self, service: ServiceSpec) -> None:
        """A task of `service` could not be placed: its managed-scaling providers' groups grow by one instance."""
        groups = autoscaling_backends[self.backend.account_id][self.backend.region_name]
        for name in service.capacity_providers:
            provider = self.providers.get(name)
            if provider is None or not provider.managed_scaling or name in self._scaling:
                continue
            group = groups.autoscaling_groups[provider.group]
            if group.desired_capacity >= group.max_size:
                continue
            before = {state.instance.id for state in group.instance_states}
            groups.set_desired_capacity(provider.group, group.desired_capacity + 1)
            launched = sorted({state.instance.id for state in group.instance_states} - before)
            self._scaling.add(name)
            self.log(f"capacity provider {name} scales {provider.group} out: {', '.join(launched)}")

            def registered(ids: list[str] = launched, spec: CapacityProviderSpec = provider) -> None:
                self._scaling.discard(spec.name)
                for ec2_id in ids:
                    instance_id = self.register_instance(ec2_id, *spec.instance_size, capacity_provider=spec.name)
                    self.scaled_out.setdefault(spec.group, []).append(instance_id)
                    if self.watched:
                        self.watched.add(instance_id)

            self.at(self.now + provider.boot_seconds, registered)

    # ---- services and tasks -------------------------------------------------------------------------
    def add_service(self, spec: ServiceSpec) -> None:
        family = self.backend.register_task_definition(
            family=spec.name,
            task_role_arn=None,
            execution_role_arn=None,
            container_definitions=[
                {
                    "name": spec.name,
                    "image": f"example/{spec.name}",
                    "cpu": spec.cpu,
                    "memory": spec.memory,
                    "portMappings": [{"containerPort": 8080, "hostPort": spec.host_port}] if spec.host_port else [],
                    "resourceRequirements": [{"type": "GPU", "value": str(spec.gpus)}] if spec.gpus else [],
                }
            ],
            volumes=None,
            network_mode="awsvpc" if spec.awsvpc else "bridge",
            tags=None,
            placement_constraints=None,
            requires_compatibilities=["EC2"],
            cpu=str(spec.cpu),
            memory=str(spec.memory),
            runtime_platform={"cpuArchitecture": spec.cpu_architecture} if spec.cpu_architecture else None,
        )
        # moto keeps no requiresAttributes; ECS derives them from the definition (DescribeTaskDefinition shows them).
        family.requires_attributes = [
            {"name": name, **({"value": value} if value else {})} for name, value in spec.required
        ]
        self._families[spec.name] = family
        self.backend.create_service(
            self.cluster,
            spec.name,
            desired_count=spec.desired if not spec.daemon else 0,
            task_definition_str=family.arn,
            scheduling_strategy="DAEMON" if spec.daemon else "REPLICA",
        )
        self.services[spec.name] = spec
        self._dirty = True
        self.reconcile()

    def run_standalone(self, instance_id: str, name: str, cpu: int, memory: int, seconds: float | None = None) -> str:
        """A task started with RunTask: no service owns it, DRAINING does not move it."""
        if name not in self._families:
            self._families[name] = self.backend.register_task_definition(
                family=name,
                task_role_arn=None,
                execution_role_arn=None,
                container_definitions=[{"name": name, "image": f"example/{name}", "cpu": cpu, "memory": memory}],
                volumes=None,
                network_mode="bridge",
                tags=None,
                placement_constraints=None,
                requires_compatibilities=["EC2"],
                cpu=str(cpu),
                memory=str(memory),
            )
        task = self._launch(instance_id, name, None, cpu, memory, group=f"family:{name}", started_by="batch-job")
        task.moto.started_at = datetime.fromtimestamp(self.now, UTC)
        self._set(task, "RUNNING")  # its event says when it started
        if seconds is not None:
            self.at(self.now + seconds, lambda: self.stop(task.arn, "Essential container in task exited"))
        return task.arn

    def stop(self, arn: str, reason: str) -> SimTask | None:
        """StopTask, or ECS stopping a task: desiredStatus STOPPED now, lastStatus walks to STOPPED."""
        task = self.tasks.get(arn)
        if task is None or task.desired == "STOPPED":
            return task
        task.moto.desired_status = "STOPPED"
        task.moto.stopped_reason = reason
        task.stop_requested_at = self.now
        self._changed(task)
        self.by_service[task.service or ""].discard(arn)
        spec = self.services.get(task.service or "")
        if task.last in ("PROVISIONING", "PENDING"):
            self._set(task, "DEPROVISIONING")
            self.at(self.now + DEPROVISION_SECONDS, lambda: self._stopped(task))
        else:
            delay = spec.deregistration_delay if spec else 0.0
            shutdown = min(spec.shutdown_seconds if spec else 5.0, STOP_TIMEOUT_SECONDS)
            if delay:
                self._set(task, "DEACTIVATING")
                self.at(self.now + delay, lambda: self._stopping(task, shutdown))
            else:
                self._stopping(task, shutdown)
        self._count(task.instance_id)
        return task

    def _stopping(self, task: SimTask, shutdown: float) -> None:
        """SIGTERM: the container finishes what is in flight and exits after its shutdown time, or SIGKILL at the
        stop timeout ends it (and the requests still in flight fail)."""
        self._set(task, "STOPPING")
        exit_after = shutdown
        if self.traffic is not None:
            exit_after = min(
                STOP_TIMEOUT_SECONDS, max(shutdown, self.traffic.busy_until(task.arn, self.now) - self.now)
            )

        def exited() -> None:
            if self.traffic is not None:
                self.traffic.kill(task.arn, self.now, KILLED_AT_STOP_TIMEOUT)
            self._deprovision(task)

        self.at(self.now + exit_after, exited)

    def _deprovision(self, task: SimTask) -> None:
        self._set(task, "DEPROVISIONING")
        self.at(self.now + DEPROVISION_SECONDS, lambda: self._stopped(task))

    def _stopped(self, task: SimTask) -> None:
        if task.last == "STOPPED":
            return
        task.stopped_at = self.now
        self._set(task, "STOPPED")  # its event says when it stopped
        instance = self.instances.get(task.instance_id)
        if instance is not None:
            self._reserve(instance, -task.cpu, -task.memory)
            self._hold_port(instance, task, hold=False)
            self._offer(task.instance_id)
        self._count(task.instance_id)
        self._dirty = True

    def _launch(
        self, instance_id: str, name: str, service: str | None, cpu: int, memory: int, group: str, started_by: str
    ) -> SimTask:
        instance = self.instances[instance_id]
        family = self._families[name]
        moto_task = Task(
            self.backend.clusters[self.cluster],
            family,
            instance.container_instance_arn,
            {"CPU": cpu, "MEMORY": memory, "PORTS": [], "PORTS_UDP": []},
            backend=self.backend,
            group=group,
            launch_type="EC2",
            started_by=started_by,
            networking_configuration=self._network() if family.network_mode == "awsvpc" else None,
        )
        moto_task.cpu, moto_task.memory = str(cpu), str(memory)
        moto_task.last_status = "PENDING"
        self.backend.tasks.setdefault(self.cluster, {})[moto_task.task_arn] = moto_task
        task = SimTask(moto_task, instance_id, cpu, memory, service, created_at=self.now)
        self._hold_port(instance, task, hold=True)
        self.tasks[task.arn] = task
        self.task_ids[task.arn.rsplit("/", 1)[-1]] = task
        self.by_instance[instance_id].add(task.arn)
        self.by_service[service or ""].add(task.arn)
        self._reserve(instance, cpu, memory)
        self._offer(instance_id)
        self._count(instance_id)
        self._changed(task)
        return task

    def _network(self) -> dict[str, Any]:
        """An awsvpc task's network configuration: the default VPC's first subnet and security group (moto gives
        each task an interface there)."""
        if self._awsvpc is None:
            ec2 = ec2_backends[self.backend.account_id][self.backend.region_name]
            vpc = next(v for v in ec2.vpcs.values() if v.is_default)
            subnet = next(s for s in ec2.describe_subnets() if s.vpc_id == vpc.id)
            group = next(g for g in ec2.describe_security_groups() if g.vpc_id == vpc.id)
            self._awsvpc = {"awsvpcConfiguration": {"subnets": [subnet.id], "securityGroups": [group.id]}}
        return self._awsvpc

    def _start_service_task(self, spec: ServiceSpec, instance_id: str) -> None:
        task = self._launch(
            instance_id,
            spec.name,
            spec.name,
            spec.cpu,
            spec.memory,
            group=f"service:{spec.name}",
            started_by=f"ecs-svc/{abs(hash(spec.name)) % 10**19:019d}",
        )

        def running() -> None:
            if self.ec2_id(instance_id) in self.containers_fail_on:
                return  # the container never starts: the task stays PENDING
            if task.desired == "RUNNING":
                task.moto.started_at = datetime.fromtimestamp(self.now, UTC)
                self._set(task, "RUNNING")
                task.healthy_at = self.now + spec.health_check_seconds
                self.at(task.healthy_at, self._touch)

        self.at(self.now + spec.start_seconds, running)

    def _touch(self) -> None:
        self._dirty = True

    def _set(self, task: SimTask, status: str) -> None:
        task.moto.last_status = status
        self._count(task.instance_id)
        self._changed(task)

    def _changed(self, task: SimTask) -> None:
        task.version += 1
        task.moto.version = task.version  # DescribeTasks reports it, as ECS does
        for listener in self.on_task_change:
            listener(task)

    def _count(self, instance_id: str) -> None:
        # runningTasksCount and pendingTasksCount follow desiredStatus, as ECS reports them.
        instance = self.instances.get(instance_id)
        if instance is None:
            return
        running = pending = 0
        for arn in self.by_instance.get(instance_id, ()):
            task = self.tasks[arn]
            if task.desired == "RUNNING":
                if task.last == "RUNNING":
                    running += 1
                elif task.last in ("PROVISIONING", "PENDING"):
                    pending += 1
        instance.running_tasks_count, instance.pending_tasks_count = running, pending

    @staticmethod
    def _reserve(instance: Any, cpu: int, memory: int) -> None:
        for resource in instance.remaining_resources:
            if resource["name"] == "CPU":
                resource["integerValue"] -= cpu
            elif resource["name"] == "MEMORY":
                resource["integerValue"] -= memory

    def _hold_port(self, instance: Any, task: SimTask, hold: bool) -> None:
        """A task's static host port is in use on its instance until it is STOPPED (remainingResources' PORTS)."""
        port = self._port(task)
        if port is None:
            return
        for resource in instance.remaining_resources:
            if resource["name"] == "PORTS":
                ports = set(resource["stringSetValue"])
                ports = ports | {str(port)} if hold else ports - {str(port)}
                resource["stringSetValue"] = sorted(ports, key=int)

    @staticmethod
    def _remaining(instance: Any) -> tuple[int, int]:
        values = {r["name"]: r.get("integerValue", 0) for r in instance.remaining_resources}
        return values["CPU"], values["MEMORY"]

    def _place(self, spec: ServiceSpec) -> str | None:
        """An ACTIVE, connected instance that meets the task's requirements; the emptiest first, which spreads tasks.

        A heap of (remaining CPU, memory) with stale entries skipped keeps this fast on 5,000-instance clusters.
        When nothing fits, the service gets the event ECS writes, naming the closest instance's shortfall.
        """
        skipped = []
        chosen = None
        closest: tuple[str, str] | None = None  # the emptiest eligible instance, and why it does not fit
        while self._room:
            entry = heapq.heappop(self._room)
            neg_cpu, neg_memory, instance_id = entry
            instance = self.instances.get(instance_id)
            if instance is None or instance.status != "ACTIVE" or not instance.agent_connected:
                continue
            if self._remaining(instance) != (-neg_cpu, -neg_memory):
                continue  # stale: a fresher entry for this instance is in the heap
            skipped.append(entry)
            why = self._shortfall(spec, instance_id, -neg_cpu, -neg_memory)
            if why is None:
                chosen = instance_id
                break
            if why and closest is None:
                closest = (instance_id, why)
            if len(skipped) > 64:  # the emptiest instances have no room for this task
                break
        for entry in skipped:
            heapq.heappush(self._room, entry)
        if chosen is None:
            self._placement_event(spec, closest)
            self._scale_out(spec)
        else:
            self._unresolved.pop(spec.name, None)
        return chosen

    def _shortfall(self, spec: ServiceSpec, instance_id: str, cpu: int, memory: int) -> str | None:
        """None if a task of the service fits there; "" if a placement constraint rules the instance out;
        otherwise the requirement it misses, worded as ECS words it in service events."""
        if not self._meets_constraints(spec, instance_id):
            return ""
        instance = self.instances[instance_id]
        if any(
            name not in instance.attributes or (value is not None and instance.attributes[name] != value)
            for name, value in spec.required
        ):
            return MISSING_ATTRIBUTE
        if cpu < spec.cpu:
            return "has insufficient CPU units available"
        if memory < spec.memory:
            return "has insufficient memory available"
        alive = [self.tasks[a] for a in self.by_instance.get(instance_id, ()) if self.tasks[a].last != "STOPPED"]
        if spec.host_port is not None and any(self._port(t) == spec.host_port for t in alive):
            return "is already using a port required by your task"
        if spec.awsvpc and sum(1 for t in alive if self._spec(t).awsvpc) >= self.eni_capacity.get(instance_id, 0):
            return NO_ENI
        if spec.gpus and self._gpus_free(instance_id, alive) < spec.gpus:
            return NO_GPU
        return None

    def _spec(self, task: SimTask) -> ServiceSpec:
        return self.services.get(task.service or "") or ServiceSpec("", 0, 0)

    def _gpus_free(self, instance_id: str, alive: list[SimTask]) -> int:
        registered = next((r for r in self.instances[instance_id].registered_resources if r["name"] == "GPU"), None)
        total = len(registered["stringSetValue"]) if registered else 0
        return total - sum(self._spec(t).gpus for t in alive)

    def _port(self, task: SimTask) -> int | None:
        spec = self.services.get(task.service or "")
        return spec.host_port if spec else None

    def _meets_constraints(self, spec: ServiceSpec, instance_id: str) -> bool:
        instance = self.instances[instance_id]
        if spec.capacity_providers and getattr(instance, "capacity_provider_name", None) not in spec.capacity_providers:
            return False
        alive = [self.tasks[a] for a in self.by_instance.get(instance_id, ()) if self.tasks[a].last != "STOPPED"]
        for constraint in spec.placement_constraints:
            if constraint["type"] == "distinctInstance":
                if any(t.service == spec.name for t in alive):
                    return False
            elif constraint["type"] == "memberOf":
                facts = InstanceFacts(
                    instance.container_instance_arn,
                    attributes=instance.attributes,
                    ec2_instance_id=instance.ec2_instance_id,
                    agent_connected=instance.agent_connected,
                    agent_version=instance.version_info["agentVersion"],
                    registered_at=instance.registered_at.replace(tzinfo=UTC).timestamp(),
                    running_tasks_count=instance.running_tasks_count,
                    task_groups=frozenset(str(t.moto.group) for t in alive),
                )
                if evaluate(_java(constraint["expression"]), facts, whole_match=True, case_sensitive=True) is not True:
                    return False
        return True

    def _placement_event(self, spec: ServiceSpec, closest: tuple[str, str] | None) -> None:
        message = UNABLE_TO_PLACE.format(name=f"({spec.name})")
        if closest is not None:
            message += CLOSEST.format(instance=closest[0], why=closest[1])
        last = self._unresolved.get(spec.name)
        if last is not None and last[0] == message and self.now - last[1] < EVENT_REPEAT_SECONDS:
            return  # ECS omits the duplicate until the cause is resolved or six hours pass
        self._unresolved[spec.name] = (message, self.now)
        self.record.service_events[spec.name].append((self.now, message))

    def _offer(self, instance_id: str) -> None:
        instance = self.instances.get(instance_id)
        if instance is not None:
            cpu, memory = self._remaining(instance)
            heapq.heappush(self._room, (-cpu, -memory, instance_id))

    # ---- the scheduler -------------------------------------------------------------------------------
    def reconcile(self) -> None:
        # Daemon services first: ECS reserves an instance's room for its daemon tasks, the first to launch on it and
        # the last to stop (ECS developer guide, "Daemon scheduling strategy").
        while self._dirty:
            self._dirty = False
            for spec in sorted(self.services.values(), key=lambda s: not s.daemon):
                if spec.daemon:
                    self._reconcile_daemon(spec)
                else:
                    self._reconcile_replicas(spec)

    def service_tasks(self, name: str) -> list[SimTask]:
        return [self.tasks[a] for a in sorted(self.by_service.get(name, ()))]

    def _on_draining(self, task: SimTask) -> bool:
        instance = self.instances.get(task.instance_id)
        return instance is None or instance.status != "ACTIVE"

    def _reconcile_replicas(self, spec: ServiceSpec) -> None:
        alive = self.service_tasks(spec.name)
        for task in [t for t in alive if self._on_draining(t) and t.last in ("PROVISIONING", "PENDING")]:
            self.stop(task.arn, "Container instance is DRAINING")  # pending tasks stop at once
        alive = self.service_tasks(spec.name)
        fresh = [t for t in alive if not self._on_draining(t)]
        healthy = [t for t in alive if t.last == "RUNNING" and t.healthy_at is not None and t.healthy_at <= self.now]
        self.record.lowest_healthy[spec.name] = min(
            self.record.lowest_healthy.get(spec.name, len(healthy)), len(healthy)
        )
        ceiling, floor = spec.ceiling, spec.floor
        launches = max(0, min(spec.desired - len(fresh), ceiling - len(alive)))
        for _ in range(launches):
            instance_id = self._place(spec)
            if instance_id is None:
                break
            self._start_service_task(spec, instance_id)
        draining_running = sorted(
            (t for t in alive if self._on_draining(t) and t.last == "RUNNING"), key=lambda t: t.arn
        )
        can_stop = max(0, len(healthy) - floor)
        # Never stop more than the replacements already placed make redundant, unless the floor allows it.
        for task in draining_running[:can_stop]:
            self.stop(task.arn, "Service task replaced: container instance is DRAINING")

    def _reconcile_daemon(self, spec: ServiceSpec) -> None:
        alive = self.service_tasks(spec.name)
        covered = {t.instance_id for t in alive}
        for instance_id, instance in self.instances.items():
            if (
                instance.status == "ACTIVE"
                and instance_id not in covered
                and self._shortfall(spec, instance_id, *self._remaining(instance)) is None
            ):
                self._start_service_task(spec, instance_id)
        for task in alive:
            if not self._on_draining(task):
                continue
            others = [self.tasks[a] for a in self.by_instance[task.instance_id] if self.tasks[a].service != spec.name]
            if all(o.last == "STOPPED" for o in others if o.service is not None):
                self.stop(task.arn, "Daemon task stopped last: container instance is DRAINING")

    # ---- records -----------------------------------------------------------------------------------
    def log(self, message: str) -> None:
        self.record.events.append((self.now, message))

    def not_stopped(self, instance_id: str) -> int:
        return sum(1 for a in self.by_instance.get(instance_id, ()) if self.tasks[a].last != "STOPPED")

    def sample(self) -> None:
        if not self.watched:
            return
        counts = {self.ec2_id(i): self.not_stopped(i) for i in sorted(self.watched)}
        if self.record.samples and self.record.samples[-1][1] == counts:
            return  # a step plot needs only the changes
        self.record.samples.append((self.now, counts))

    def snapshot(self) -> dict[str, Any]:
        """A consistent picture for a progress display (taken under the clock's lock)."""
        with self.clock.lock:
            rows = []
            for instance_id in sorted(self.by_instance):
                instance = self.instances.get(instance_id)
                tasks = [self.tasks[a] for a in self.by_instance[instance_id]]
                rows.append(
                    {
                        "instance": instance_id,
                        "ec2": self.ec2_id(instance_id),
                        "status": str(instance.status) if instance else "GONE",
                        "running": sum(1 for t in tasks if t.last == "RUNNING" and t.desired == "RUNNING"),
                        "stopping": sum(1 for t in tasks if t.desired == "STOPPED" and t.last != "STOPPED"),
                        "pending": sum(1 for t in tasks if t.last in ("PROVISIONING", "PENDING")),
                    }
                )
            return {"now": self.now, "instances": rows}


@functools.cache
def _java(expression: str) -> Expression:
    """The expression as ECS reads it: Java's POSIX classes in Python's words. One ECS would reject raises."""
    for java, python in _JAVA_CLASSES.items():
        expression = expression.replace(java, python)
    try:
        return parse(expression)
    except QueryError as error:
        raise ValueError(f"ECS would refuse this expression: {expression!r} ({error})") from error
