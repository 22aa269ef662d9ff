"""The placement model, pinned on hand-computed cases: task by task, as ECS places them."""

from __future__ import annotations

from typing import cast

from ecs_drain.capacity import has_room, place_groups
from ecs_drain.ecs_calls import Instance
from ecs_drain.placement import Room, TaskShape, place
from ecs_drain.state import Resources, Spare, TaskGroup


def rooms(count: int, cpu: int = 4096, memory: int = 8192, **attributes: str) -> list[Room]:
    return [Room(f"c{n}", cpu, memory, attributes=dict(attributes)) for n in range(count)]


def test_it_refuses_a_third_distinct_instance_task_on_two_instances_with_room_for_all() -> None:
    # 3 x 1024 CPU would fit in 2 x 4096 CPU by size alone, but distinctInstance allows one task per instance.
    web = [TaskShape("web", cpu=1024, memory=512, distinct_instance=True)] * 3
    result = place(web, rooms(2))
    assert not result.fits and len(result.unplaced) == 1
    assert result.unplaced[0].why == "distinctInstance: every remaining instance runs a task of the service already"
    assert sorted(len(tasks) for tasks in result.placed.values()) == [1, 1]


def test_it_refuses_a_second_task_of_the_same_static_host_port_on_one_instance() -> None:
    api = [TaskShape("api", cpu=256, memory=256, host_ports=frozenset({80}))] * 2
    result = place(api, rooms(1))
    assert [u.why for u in result.unplaced] == ["host port 80 is in use on every remaining instance"]


def test_it_refuses_a_member_of_task_on_instances_without_the_attribute() -> None:
    task = TaskShape("web", cpu=256, memory=256, member_of=("attribute:tier == web",))
    result = place([task], rooms(2, zone="a"))
    assert [u.why for u in result.unplaced] == ["no remaining instance satisfies memberOf(attribute:tier == web)"]
    assert place([task], rooms(1, tier="web")).fits  # the same task, where the attribute is there


def test_it_places_largest_first_on_the_emptiest_instance_until_size_runs_out() -> None:
    # 2048 + 2048 + 1024 CPU onto two instances of 2560: the two large ones take one instance each, the small one
    # the emptiest of what is left (512 free each): it does not fit, and the closest miss says why.
    tasks = [TaskShape("a", 2048, 256), TaskShape("b", 1024, 256), TaskShape("c", 2048, 256)]
    result = place(tasks, rooms(2, cpu=2560))
    assert [(u.task.service, u.why) for u in result.unplaced] == [
        ("b", "no remaining instance has 1024 CPU units free")
    ]


def test_it_never_takes_a_member_of_expression_it_does_not_understand_as_satisfied() -> None:
    task = TaskShape("web", cpu=1, memory=1, member_of=("attribute:ecs.instance-type =~ t2.*",))
    assert not place([task], rooms(1)).fits


def instance(name: str, cpu: int, memory: int, **attributes: str) -> Instance:
    return Instance(name, f"i-{name}", "ACTIVE", True, 0, cpu, memory, cpu, memory, frozenset(), attributes)


def group(service: str, tasks: int, cpu: int, **more: object) -> TaskGroup:
    shaped: TaskGroup = {
        "service": service,
        "tasks": tasks,
        "cpu": cpu,
        "memory": 256,
        "hostPorts": [],
        "distinctInstance": False,
        "memberOf": [],
        "heldOn": [],
        "stopTimeout": 30,
        "targetGroups": [],
    }
    return cast(TaskGroup, shaped | more)


def test_it_gates_the_drain_on_the_tasks_fitting_one_by_one_not_on_the_sums() -> None:
    # 3 x 1024 CPU fit in the sums (2 x 2048 free) and one by one.
    assert place_groups([group("web", 3, 1024)], [instance("a", 2048, 4096), instance("b", 2048, 4096)]).fits
    # 2 x 1536 CPU onto 2048 + 1024 free: the sums allow it (3072 of 3072), one by one only one fits.
    crowded = place_groups([group("web", 2, 1536)], [instance("a", 2048, 4096), instance("b", 1024, 4096)])
    assert not crowded.fits and [u.task.service for u in crowded.unplaced] == ["web"]
    # distinctInstance counts the tasks the service already runs on the instances that remain.
    held = place_groups([group("spread", 1, 256, distinctInstance=True, heldOn=["a"])], [instance("a", 4096, 8192)])
    assert not held.fits


def test_it_takes_the_placed_verdict_over_the_sums_once_it_has_one() -> None:
    need: Resources = {"cpu": 3072, "memory": 768, "largestCpu": 1536, "largestMemory": 256}
    spare: Spare = {"instances": 2, "cpu": 4096, "memory": 8192, "largestCpu": 2048, "largestMemory": 4096}
    assert has_room(need, spare)
    assert not has_room(need, spare | {"fits": False})
    assert not has_room(need, {**spare, "cpu": 1024, "fits": True})  # the sums are still necessary
