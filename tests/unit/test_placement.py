"""The placement model, pinned on hand-computed cases: task by task, as ECS places them."""

from __future__ import annotations

from ecs_drain.placement import Room, TaskShape, place


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
