"""Would these tasks fit there? Task by task, as ECS places them: CPU, memory, static host ports, `distinctInstance`
and `memberOf` on instance attributes.

The one placement model for checking room ahead of a drain (the preflight of issue 19 builds on it; the drain's
capacity gate compares aggregates today). Each task goes to the emptiest instance that takes it, the rule the
emulation's scheduler follows too; a task nothing takes is reported with what stopped it. A `memberOf` expression this
model does not understand is never taken as satisfied: the safe reading is "does not fit".
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import reason

_MEMBER_OF = re.compile(r"^\s*attribute:(?P<name>[\w.\-]+)\s*(?P<op>==|!=)\s*(?P<value>[\w.\-]+)\s*$")


@dataclass(frozen=True)
class TaskShape:
    """One task to place: what it reserves and what its service's placement constraints ask."""

    service: str
    cpu: int
    memory: int
    host_ports: frozenset[int] = frozenset()  # static host ports (a host port 0 is dynamic and always free)
    distinct_instance: bool = False
    member_of: tuple[str, ...] = ()  # memberOf expressions, e.g. "attribute:tier == web"


@dataclass
class Room:
    """One instance that remains: what is free on it, its attributes, and the tasks it runs per service."""

    instance: str
    cpu: int
    memory: int
    ports_in_use: set[int] = field(default_factory=set)
    attributes: dict[str, str] = field(default_factory=dict)
    services: Counter[str] = field(default_factory=Counter)

    def takes(self, task: TaskShape) -> str | None:
        """None if the task fits here; else what stops it."""
        for expression in task.member_of:
            if not _member_of(expression, self.attributes):
                return reason.fails_member_of(expression)
        if task.distinct_instance and self.services[task.service]:
            return reason.fails_distinct_instance()
        if task.cpu > self.cpu:
            return reason.fails_cpu(task.cpu)
        if task.memory > self.memory:
            return reason.fails_memory(task.memory)
        if task.host_ports & self.ports_in_use:
            return reason.fails_port(sorted(task.host_ports & self.ports_in_use))
        return None

    def place(self, task: TaskShape) -> None:
        self.cpu -= task.cpu
        self.memory -= task.memory
        self.ports_in_use |= task.host_ports
        self.services[task.service] += 1


@dataclass(frozen=True)
class Unplaced:
    task: TaskShape
    why: str  # what stopped it on the instance that came closest


@dataclass
class Placement:
    placed: dict[str, list[TaskShape]] = field(default_factory=dict)  # instance -> the tasks it took
    unplaced: list[Unplaced] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return not self.unplaced


def place(tasks: Sequence[TaskShape], rooms: Sequence[Room]) -> Placement:
    """Place every task, largest first, each on the emptiest instance that takes it (the rooms are updated)."""
    result = Placement()
    for task in sorted(tasks, key=lambda t: (-t.cpu, -t.memory, t.service)):
        takers = [r for r in rooms if r.takes(task) is None]
        if not takers:
            result.unplaced.append(Unplaced(task, _closest_miss(task, rooms)))
            continue
        room = max(takers, key=lambda r: (r.cpu, r.memory, r.instance))
        room.place(task)
        result.placed.setdefault(room.instance, []).append(task)
    return result


def _closest_miss(task: TaskShape, rooms: Sequence[Room]) -> str:
    if not rooms:
        return reason.fails_no_instance()
    emptiest = max(rooms, key=lambda r: (r.cpu, r.memory, r.instance))
    return emptiest.takes(task) or reason.fails_no_instance()


def _member_of(expression: str, attributes: dict[str, str]) -> bool:
    match = _MEMBER_OF.match(expression)
    if match is None:
        return False  # not understood: never taken as satisfied
    value = attributes.get(match.group("name"))
    return value == match.group("value") if match.group("op") == "==" else value != match.group("value")
