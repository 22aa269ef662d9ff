"""The placement model, pinned on hand-computed cases: task by task, as ECS places them."""

from __future__ import annotations

from typing import cast

from ecs_drain.aws.ecs_calls import Instance
from ecs_drain.decisions.placement import Room, TaskShape, place
from ecs_drain.model.state import Resources, Spare, TaskGroup
from ecs_drain.steps.capacity import has_room, place_groups


def rooms(count: int, cpu: int = 4096, memory: int = 8192, **attributes: str | None) -> list[Room]:
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


def test_it_places_a_regular_expression_member_of_on_the_instances_it_matches() -> None:
    task = TaskShape("web", cpu=1, memory=1, member_of=("attribute:ecs.instance-type =~ m5.*",))
    assert place([task], rooms(1, 4096, 8192, **{"ecs.instance-type": "m5.large"})).fits
    refused = place([task], rooms(1, 4096, 8192, **{"ecs.instance-type": "c5.large"}))
    assert [u.why for u in refused.unplaced] == [
        "no remaining instance satisfies memberOf(attribute:ecs.instance-type =~ m5.*)"
    ]


def test_it_leaves_to_ecs_a_task_whose_expression_it_cannot_read_or_judge_and_never_calls_it_unplaced() -> None:
    unreadable = TaskShape("web", cpu=1, memory=1, member_of=("attribute:tier ~= web",))
    result = place([unreadable], rooms(2))
    assert result.fits and not result.placed
    assert [u.what for u in result.unjudged] == [
        "memberOf(attribute:tier ~= web) could not be read (unknown operator '~= web' at character 16)"
    ]
    # m5 matches a part of cm5.large, not the whole: ECS does not say which it means, so no verdict.
    partial = TaskShape("web", cpu=1, memory=1, member_of=("attribute:ecs.instance-type =~ m5",))
    cm5 = rooms(1, 4096, 8192, **{"ecs.instance-type": "cm5.large"})
    assert [u.task for u in place([partial], cm5).unjudged] == [partial]


def test_it_refuses_a_judged_rule_even_where_another_rule_cannot_be_judged() -> None:
    task = TaskShape("web", cpu=8192, memory=1, member_of=("attribute:tier ~= web",))
    result = place([task], rooms(1))  # 4096 CPU free: too small whatever the expression says
    assert not result.fits and [u.why for u in result.unplaced] == ["no remaining instance has 8192 CPU units free"]


def test_it_places_two_awsvpc_tasks_on_a_c5_large_and_three_on_an_m5_xlarge() -> None:
    # c5.large: 3 interfaces, m5.xlarge: 4; the primary counts, so 2 and 3 awsvpc tasks (ECS's own example).
    api = [TaskShape("api", cpu=128, memory=128, awsvpc=True)] * 3
    c5 = [Room("c", 2048, 4096, enis_free=3 - 1)]
    result = place(api, c5)
    assert len(result.placed["c"]) == 2 and [u.why for u in result.unplaced] == [
        "no remaining instance has a network interface free for another awsvpc task (ECS: RESOURCE:ENI; each takes "
        "one, and the primary interface counts)"
    ]
    assert place(api, [Room("m", 4096, 16384, enis_free=4 - 1)]).fits
    unknown = place(api, [Room("x", 4096, 16384, enis_free=None)])
    assert unknown.fits and len(unknown.unjudged) == 3


def test_it_places_by_cpu_architecture_required_attributes_gpus_and_capacity_provider() -> None:
    x86 = TaskShape("web", cpu=1, memory=1, cpu_architecture="X86_64")
    arm = Room("g", 2048, 4096, attributes={"ecs.cpu-architecture": "arm64"})
    assert [u.why for u in place([x86], [arm]).unplaced] == [
        "runtimePlatform cpuArchitecture X86_64: the remaining instances are arm64 (ecs.cpu-architecture)"
    ]
    assert place([x86], [Room("i", 2048, 4096, attributes={"ecs.cpu-architecture": "x86_64"})]).fits
    secrets = TaskShape("web", cpu=1, memory=1, requires=(("ecs.capability.secrets.asm.environment-variables", None),))
    assert "MISSING_ATTRIBUTE" in place([secrets], [Room("old-agent", 2048, 4096)]).unplaced[0].why
    assert place(
        [secrets], [Room("n", 2048, 4096, attributes={"ecs.capability.secrets.asm.environment-variables": None})]
    ).fits
    gpu = [TaskShape("train", cpu=1, memory=1, gpus=2)] * 2
    result = place(gpu, [Room("p", 8192, 16384, gpus_free=3)])  # 3 GPUs: one task of 2, not two
    assert len(result.placed["p"]) == 1 and "RESOURCE:GPU" in result.unplaced[0].why
    spot = TaskShape("web", cpu=1, memory=1, capacity_providers=("spot",))
    assert not place([spot], [Room("o", 2048, 4096, capacity_provider="on-demand")]).fits
    assert place([spot], [Room("s", 2048, 4096, capacity_provider="spot")]).fits


def test_it_places_a_task_group_member_of_where_the_group_runs_and_counts_what_it_places() -> None:
    near = TaskShape("cache", cpu=1, memory=1, member_of=("task:group == service:web",))
    result = place(
        [near] * 2, [Room("a", 2048, 4096, task_groups=set()), Room("b", 1024, 4096, task_groups={"service:web"})]
    )
    assert result.placed == {"b": [near, near]}
    unread = place([near], [Room("a", 2048, 4096, task_groups=None)])
    assert unread.fits and unread.unjudged


def instance(name: str, cpu: int, memory: int, **attributes: str) -> Instance:
    return Instance(name, f"i-{name}", "ACTIVE", True, 0, cpu, memory, cpu, memory, frozenset(), dict(attributes))


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
