"""Would these tasks fit there? Task by task, as ECS places them.

The one placement model of the preflight, `ecs-drain check` and the drain's wait for room. An instance takes a task
when it meets, in ECS's order: the service's capacity providers; the task definition's runtimePlatform (CPU
architecture, operating system) and requiresAttributes; every memberOf (cluster_query); distinctInstance; CPU,
memory and static host ports; a free network interface for an awsvpc task; the GPUs it asks for. Each task goes to
the emptiest instance that takes it (the rule the emulation's scheduler follows too), largest tasks first.

Three answers, never a guess: a task is placed; unplaced (every instance refuses it for a rule the model judged, and
the one that came closest says why); or unjudged (no instance took it, and at least one might have, but the model
could not tell: an expression it cannot parse or that reads an undocumented point both ways, an instance type whose
interfaces it has no figure for, GPUs it cannot see). An unjudged task never fails a preflight and never holds a
drain: the caller falls back to what ECS itself shows, and says what was not judged.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..model.container_instance import InstanceFacts
from .cluster_query import Expression, QueryError, comparisons, judge, parse

if TYPE_CHECKING:
    from mypy_boto3_ecs.type_defs import TaskDefinitionTypeDef

# runtimePlatform.cpuArchitecture -> the value of the instance attribute ecs.cpu-architecture.
ARCHITECTURES = {"X86_64": "x86_64", "ARM64": "arm64"}
# Subjects whose truth changes as tasks are placed: such an expression is judged again for every task.
_MOVING_SUBJECTS = frozenset({"task:group", "runningTasksCount"})


@dataclass(frozen=True)
class TaskNeeds:
    """One task to place: what it reserves and what its service and task definition ask of an instance. The one
    shape of a task's needs: read from its definition (`from_definition`), narrowed by its service (`for_service`),
    kept in the drain's state (`to_json`, `from_json`: every field, camel-cased, so a new one needs no codec)."""

    service: str
    cpu: int
    memory: int
    host_ports: frozenset[int] = frozenset()  # static host ports (a host port 0 is dynamic and always free)
    distinct_instance: bool = False
    member_of: tuple[str, ...] = ()  # memberOf expressions, e.g. "attribute:ecs.instance-type =~ m5.*"
    requires: tuple[tuple[str, str | None], ...] = ()  # requiresAttributes: (name, value or None)
    cpu_architecture: str | None = None  # runtimePlatform: X86_64 | ARM64
    os_family: str | None = None  # runtimePlatform: LINUX | WINDOWS_SERVER_2019_FULL | ...
    awsvpc: bool = False  # takes a network interface of its own
    gpus: int = 0
    capacity_providers: tuple[str, ...] = ()  # the service's strategy; empty: any instance
    stop_timeout: int | None = None  # the longest of its containers' stopTimeout, where one is given

    @property
    def group(self) -> str:
        return f"service:{self.service}"

    def parsed(self) -> list[Expression]:
        return [tree for _, tree in self.expressions if not isinstance(tree, QueryError)]

    @cached_property
    def expressions(self) -> tuple[tuple[str, Expression | QueryError], ...]:
        parsed: list[tuple[str, Expression | QueryError]] = []
        for text in self.member_of:
            try:
                parsed.append((text, parse(text)))
            except QueryError as error:
                parsed.append((text, error))
        return tuple(parsed)

    @classmethod
    def from_definition(cls, definition: TaskDefinitionTypeDef) -> TaskNeeds:
        """What DescribeTaskDefinition tells: size, static host ports, memberOf, platform, features, GPUs."""
        cpu, memory = _whole_number(definition.get("cpu", 0)), _whole_number(definition.get("memory", 0))
        containers = definition.get("containerDefinitions", [])
        cpu = cpu or sum(_whole_number(c.get("cpu", 0)) for c in containers)
        memory = memory or sum(_whole_number(c.get("memoryReservation", c.get("memory", 0))) for c in containers)
        # awsvpc tasks get their own network interface: their ports never collide on the host. In host mode the
        # container port is the host port.
        mode = definition.get("networkMode", "bridge")
        mappings = [m for c in containers for m in c.get("portMappings", [])] if mode in ("bridge", "host") else []
        ports = {
            p for m in mappings if (p := m.get("hostPort") or (m.get("containerPort", 0) if mode == "host" else 0))
        }
        constraints = definition.get("placementConstraints", [])
        timeouts = [_whole_number(c["stopTimeout"]) for c in containers if "stopTimeout" in c]
        platform = definition.get("runtimePlatform", {})
        requirements = [r for c in containers for r in c.get("resourceRequirements", [])]
        return cls(
            "",
            cpu,
            memory,
            frozenset(ports),
            member_of=tuple(c["expression"] for c in constraints if c.get("type") == "memberOf"),
            requires=tuple(
                (a["name"], a.get("value")) for a in definition.get("requiresAttributes", []) if a.get("name")
            ),
            cpu_architecture=platform.get("cpuArchitecture"),
            os_family=platform.get("operatingSystemFamily"),
            awsvpc=mode == "awsvpc",
            gpus=sum(_whole_number(r.get("value", 0)) for r in requirements if r.get("type") == "GPU"),
            stop_timeout=max(timeouts) if timeouts else None,
        )

    def for_service(self, service: str, constraints: Sequence[str], providers: Sequence[str]) -> TaskNeeds:
        """A task of this definition run by a service with these placementConstraints (as "distinctInstance",
        "memberOf(expression)") and capacity providers."""
        member_of = tuple(
            c.removeprefix("memberOf(").removesuffix(")") for c in constraints if c.startswith("memberOf(")
        )
        return replace(
            self,
            service=service,
            distinct_instance="distinctInstance" in constraints,
            member_of=member_of + self.member_of,
            capacity_providers=tuple(providers),
        )

    def to_json(self) -> dict[str, object]:
        """Every field but the service that differs from its default, camel-cased (sets and tuples as lists)."""
        return {
            _camel(spec.name): _as_json(value)
            for spec in fields(self)
            if spec.name != "service" and (value := getattr(self, spec.name)) != spec.default
        }

    @classmethod
    def from_json(cls, service: str, data: Mapping[str, object]) -> TaskNeeds:
        """`to_json` read back; a key it does not find keeps its default (a drain started by an earlier version)."""
        values: dict[str, Any] = {"service": service}
        for spec in fields(cls):
            if spec.name != "service" and (key := _camel(spec.name)) in data:
                values[spec.name] = _from_json(data[key], spec.default)
        return cls(**values)


def _whole_number(value: object) -> int:
    """A task definition's figure (a string or a number), or 0 where it is none."""
    try:
        return int(str(value))
    except ValueError:
        return 0


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _as_json(value: object) -> object:
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, tuple):
        return [list(item) if isinstance(item, tuple) else item for item in value]
    return value


def _from_json(value: object, default: object) -> object:
    if isinstance(default, frozenset) and isinstance(value, list):
        return frozenset(value)
    if isinstance(default, tuple) and isinstance(value, list):
        return tuple(tuple(item) if isinstance(item, list) else item for item in value)
    return value


@dataclass(frozen=True)
class Refusal:
    """Why an instance does not take a task; `judged` False: the model could not tell (`why` says what)."""

    why: str
    judged: bool = True


@dataclass
class Room:
    """One instance that remains, as placing tasks fills it: the instance as read (its GPUs and task groups as far
    as known), its tasks per service (distinctInstance), and what is free on it now."""

    facts: InstanceFacts
    services: Counter[str] = field(default_factory=Counter)
    enis_free: int | None = None  # network interfaces free for awsvpc tasks; None: not known
    cpu: int = field(init=False)
    memory: int = field(init=False)
    ports_in_use: set[int] = field(init=False)
    running_tasks: int | None = field(init=False)
    task_groups: set[str] | None = field(init=False)
    gpus_free: int | None = field(init=False)

    def __post_init__(self) -> None:
        self.cpu, self.memory = self.facts.remaining_cpu, self.facts.remaining_memory
        self.ports_in_use = set(self.facts.ports_in_use)
        self.running_tasks = self.facts.running_tasks_count
        self.task_groups = set(self.facts.task_groups) if self.facts.task_groups is not None else None
        self.gpus_free = self.facts.gpus_free

    @property
    def instance(self) -> str:
        return self.facts.id

    @property
    def attributes(self) -> Mapping[str, str | None]:
        return self.facts.attributes

    def now(self) -> InstanceFacts:
        """The instance's facts as the tasks placed so far change them, for the cluster query language."""
        groups = frozenset(self.task_groups) if self.task_groups is not None else None
        return replace(self.facts, running_tasks_count=self.running_tasks, task_groups=groups)

    def refusal(self, task: TaskNeeds) -> Refusal | None:
        """None if the task fits here; else the first judged refusal, or (none judged) the first the model could
        not judge."""
        return _first(self.fixed_refusals(task) + self.moving_refusals(task))

    def fixed_refusals(self, task: TaskNeeds) -> list[Refusal]:
        """What the instance is, not what it holds: providers, platform, attributes, memberOf on those."""
        found: list[Refusal] = []
        if task.capacity_providers and self.facts.capacity_provider not in task.capacity_providers:
            found.append(Refusal(fails_capacity_provider(task.capacity_providers)))
        found += self._platform_refusals(task)
        for name, value in task.requires:
            if name not in self.attributes or (value is not None and self.attributes[name] != value):
                found.append(Refusal(fails_required_attribute(name, value)))
        return found + self._member_of_refusals(task, moving=False)

    def moving_refusals(self, task: TaskNeeds) -> list[Refusal]:
        """What the instance holds, which placing tasks changes: memberOf on its tasks, then resources."""
        return self._member_of_refusals(task, moving=True) + self._resource_refusals(task)

    def _member_of_refusals(self, task: TaskNeeds, moving: bool) -> list[Refusal]:
        found: list[Refusal] = []
        facts = self.now() if task.member_of else None
        for text, tree in task.expressions:
            if isinstance(tree, QueryError):
                if not moving:
                    found.append(Refusal(cannot_parse(text, str(tree)), judged=False))
                continue
            if _moves(tree) != moving or facts is None:
                continue
            verdict = judge(tree, facts)
            if verdict is None:
                found.append(Refusal(cannot_judge_member_of(text), judged=False))
            elif not verdict:
                found.append(Refusal(fails_member_of(text)))
        return found

    def _platform_refusals(self, task: TaskNeeds) -> list[Refusal]:
        found: list[Refusal] = []
        if task.cpu_architecture is not None:
            have = self.attributes.get("ecs.cpu-architecture")
            want = ARCHITECTURES.get(task.cpu_architecture)
            if have is None or want is None:
                found.append(Refusal(cannot_judge_architecture(task.cpu_architecture), judged=False))
            elif have != want:
                found.append(Refusal(fails_architecture(task.cpu_architecture, have)))
        if task.os_family is not None:
            os_type, family = self.attributes.get("ecs.os-type"), self.attributes.get("ecs.os-family")
            if task.os_family == "LINUX" and os_type is not None:
                if os_type != "linux":
                    found.append(Refusal(fails_os(task.os_family, os_type)))
            elif task.os_family != "LINUX" and family is not None:
                if family != task.os_family:
                    found.append(Refusal(fails_os(task.os_family, family)))
            else:
                found.append(Refusal(cannot_judge_os(task.os_family), judged=False))
        return found

    def _resource_refusals(self, task: TaskNeeds) -> list[Refusal]:
        found: list[Refusal] = []
        if task.distinct_instance and self.services[task.service]:
            found.append(Refusal(fails_distinct_instance()))
        if task.cpu > self.cpu:
            found.append(Refusal(fails_cpu(task.cpu)))
        if task.memory > self.memory:
            found.append(Refusal(fails_memory(task.memory)))
        if task.host_ports & self.ports_in_use:
            found.append(Refusal(fails_port(sorted(task.host_ports & self.ports_in_use))))
        if task.awsvpc:
            if self.enis_free is None:
                found.append(Refusal(cannot_judge_enis(self.attributes.get("ecs.instance-type")), False))
            elif self.enis_free < 1:
                found.append(Refusal(fails_eni(self.attributes.get("ecs.instance-type"))))
        if task.gpus:
            if self.gpus_free is None:
                found.append(Refusal(cannot_judge_gpus(task.gpus), judged=False))
            elif self.gpus_free < task.gpus:
                found.append(Refusal(fails_gpu(task.gpus)))
        return found

    def place(self, task: TaskNeeds) -> None:
        self.cpu -= task.cpu
        self.memory -= task.memory
        self.ports_in_use |= task.host_ports
        self.services[task.service] += 1
        if self.task_groups is not None:
            self.task_groups.add(task.group)
        if self.running_tasks is not None:
            self.running_tasks += 1
        if task.awsvpc and self.enis_free is not None:
            self.enis_free -= 1
        if task.gpus and self.gpus_free is not None:
            self.gpus_free -= task.gpus


@dataclass(frozen=True)
class Unplaced:
    task: TaskNeeds
    why: str  # what stopped it on the instance that came closest
    closest: str | None = None  # that instance (its EC2 id where known)


@dataclass(frozen=True)
class Unjudged:
    task: TaskNeeds
    what: str  # what the model could not judge, on an instance that might have taken it


@dataclass
class Placement:
    placed: dict[str, list[TaskNeeds]] = field(default_factory=dict)  # instance -> the tasks it took
    unplaced: list[Unplaced] = field(default_factory=list)
    unjudged: list[Unjudged] = field(default_factory=list)
    scaling: list[Unplaced] = field(default_factory=list)  # fit nowhere now; their capacity provider scales out

    @property
    def fits(self) -> bool:
        """No task is refused by every instance (unjudged ones are left to ECS)."""
        return not self.unplaced


def place(tasks: Sequence[TaskNeeds], rooms: Sequence[Room]) -> Placement:
    """Place every task, largest first, each on the emptiest instance that takes it (the rooms are updated).

    Tasks of one shape are placed together: what an instance is (its providers, platform, attributes) is judged
    once per shape, and the emptiest instance comes off a heap, so a 1,000-instance cluster costs milliseconds."""
    result = Placement()
    rank = {room.instance: n for n, room in enumerate(sorted(rooms, key=lambda r: r.instance))}
    shapes = Counter(tasks)
    # Tasks whose memberOf reads task groups come last: the groups they ask for may be among those placed here.
    order = sorted(shapes, key=lambda t: (any(_moves(e) for e in t.parsed()), -t.cpu, -t.memory, t.service))
    for shape in order:
        _place_shape(shape, shapes[shape], rooms, rank, result)
    return result


def _place_shape(shape: TaskNeeds, count: int, rooms: Sequence[Room], rank: dict[str, int], result: Placement) -> None:
    candidates: list[Room] = []
    misses: list[tuple[Room, Refusal]] = []  # the instances that cannot take it, with why
    for room in rooms:
        fixed = _first(room.fixed_refusals(shape))
        if fixed is None:
            candidates.append(room)
        else:  # a rule not judged: one of what it holds may still refuse it for certain
            misses.append((room, fixed if fixed.judged else room.refusal(shape) or fixed))
    heap = [(-r.cpu, -r.memory, -rank[r.instance], n) for n, r in enumerate(candidates)]
    heapq.heapify(heap)
    for _ in range(count):
        chosen = None
        while heap and chosen is None:
            _, _, _, n = heapq.heappop(heap)
            room = candidates[n]
            refusal = _first(room.moving_refusals(shape))
            if refusal is None:
                chosen = n
            else:  # the instance only fills up with this shape's tasks: it stays refused
                misses.append((room, refusal))
        if chosen is None:
            _not_placed(shape, misses, result)
            continue
        room = candidates[chosen]
        room.place(shape)
        result.placed.setdefault(room.instance, []).append(shape)
        heapq.heappush(heap, (-room.cpu, -room.memory, -rank[room.instance], chosen))


def _not_placed(shape: TaskNeeds, misses: Sequence[tuple[Room, Refusal]], result: Placement) -> None:
    unjudged = [refusal for _, refusal in misses if not refusal.judged]
    if unjudged:
        result.unjudged.append(Unjudged(shape, unjudged[0].why))
        return
    if not misses:
        result.unplaced.append(Unplaced(shape, fails_no_instance()))
        return
    # What stopped it on the emptiest instance, as ECS names "the closest matching container-instance".
    room, refusal = max(misses, key=lambda m: (m[0].cpu, m[0].memory, m[0].instance))
    result.unplaced.append(Unplaced(shape, refusal.why, room.facts.ec2_instance_id or room.instance))


def _first(refusals: Sequence[Refusal]) -> Refusal | None:
    judged = [r for r in refusals if r.judged]
    return judged[0] if judged else (refusals[0] if refusals else None)


def _moves(tree: Expression) -> bool:
    return any(c.subject in _MOVING_SUBJECTS for c in comparisons(tree))


# ---- why an instance refuses a task: the sentences of the rules above ---------------------------------------------
def fails_member_of(expression: str) -> str:
    return f"no remaining instance satisfies memberOf({expression})"


def fails_distinct_instance() -> str:
    return "distinctInstance: every remaining instance runs a task of the service already"


def fails_cpu(cpu: int) -> str:
    return f"no remaining instance has {cpu} CPU units free"


def fails_memory(memory: int) -> str:
    return f"no remaining instance has {memory} MiB free"


def fails_port(ports: Sequence[int]) -> str:
    return f"host port {', '.join(map(str, ports))} is in use on every remaining instance"


def fails_no_instance() -> str:
    return "no instance remains"


def fails_capacity_provider(providers: Sequence[str]) -> str:
    return f"no remaining instance belongs to the service's capacity providers ({', '.join(providers)})"


def fails_required_attribute(name: str, value: str | None) -> str:
    wanted = f"{name} = {value}" if value is not None else name
    return (
        f"no remaining instance has the attribute {wanted} the task definition requires (requiresAttributes; ECS: "
        "MISSING_ATTRIBUTE): the new instances' ECS agent does not register it"
    )


def fails_architecture(wanted: str, have: str) -> str:
    return f"runtimePlatform cpuArchitecture {wanted}: the remaining instances are {have} (ecs.cpu-architecture)"


def fails_os(wanted: str, have: str) -> str:
    return f"runtimePlatform operatingSystemFamily {wanted}: the remaining instances run {have}"


def fails_eni(instance_type: str | None) -> str:
    kind = f" ({instance_type})" if instance_type else ""
    return (
        f"no remaining instance{kind} has a network interface free for another awsvpc task (ECS: RESOURCE:ENI; each "
        "takes one, and the primary interface counts)"
    )


def fails_gpu(gpus: int) -> str:
    return f"no remaining instance has {gpus} GPUs free (ECS: RESOURCE:GPU)"


def cannot_parse(expression: str, why: str) -> str:
    return f"memberOf({expression}) could not be read ({why})"


def cannot_judge_member_of(expression: str) -> str:
    return (
        f"memberOf({expression}) could not be judged (it reads a fact not known here, or a point ECS does not "
        "document: whether =~ matches the whole value, whether case counts)"
    )


def cannot_judge_architecture(wanted: str) -> str:
    return (
        f"runtimePlatform cpuArchitecture {wanted} could not be judged (an instance registers no ecs.cpu-architecture)"
    )


def cannot_judge_os(wanted: str) -> str:
    return f"runtimePlatform operatingSystemFamily {wanted} could not be judged (an instance registers no OS attribute)"


def cannot_judge_enis(instance_type: str | None) -> str:
    return f"the network interfaces of instance type {instance_type or '(none registered)'} are not known here"


def cannot_judge_gpus(gpus: int) -> str:
    return f"whether an instance has {gpus} GPUs free could not be read"
