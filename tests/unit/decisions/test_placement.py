"""The placement model, pinned on hand-computed cases: task by task, as ECS places them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ecs_drain.decisions.placement import Room, TaskNeeds, place
from ecs_drain.model.container_instance import InstanceFacts

if TYPE_CHECKING:
    from mypy_boto3_ecs.type_defs import TaskDefinitionTypeDef


def room(name: str, cpu: int, memory: int, enis_free: int | None = None, **facts: object) -> Room:
    """A connected instance with this much free, no GPUs and no task groups read, unless `facts` say otherwise."""
    known: dict[str, object] = {"agent_connected": True, "gpus_free": 0} | facts
    return Room(InstanceFacts(name, remaining_cpu=cpu, remaining_memory=memory, **known), enis_free=enis_free)  # type: ignore[arg-type]


def rooms(count: int, cpu: int = 4096, memory: int = 8192, **attributes: str | None) -> list[Room]:
    return [room(f"c{n}", cpu, memory, attributes=dict(attributes)) for n in range(count)]


def test_it_refuses_a_third_distinct_instance_task_on_two_instances_with_room_for_all() -> None:
    # 3 x 1024 CPU would fit in 2 x 4096 CPU by size alone, but distinctInstance allows one task per instance.
    web = [TaskNeeds("web", cpu=1024, memory=512, distinct_instance=True)] * 3
    result = place(web, rooms(2))
    assert not result.fits and len(result.unplaced) == 1
    assert result.unplaced[0].why == "distinctInstance: every remaining instance runs a task of the service already"
    assert sorted(len(tasks) for tasks in result.placed.values()) == [1, 1]


def test_it_refuses_a_second_task_of_the_same_static_host_port_on_one_instance() -> None:
    api = [TaskNeeds("api", cpu=256, memory=256, host_ports=frozenset({80}))] * 2
    result = place(api, rooms(1))
    assert [u.why for u in result.unplaced] == ["host port 80 is in use on every remaining instance"]


def test_it_refuses_a_member_of_task_on_instances_without_the_attribute() -> None:
    task = TaskNeeds("web", cpu=256, memory=256, member_of=("attribute:tier == web",))
    result = place([task], rooms(2, zone="a"))
    assert [u.why for u in result.unplaced] == ["no remaining instance satisfies memberOf(attribute:tier == web)"]
    assert place([task], rooms(1, tier="web")).fits  # the same task, where the attribute is there


def test_it_places_largest_first_on_the_emptiest_instance_until_size_runs_out() -> None:
    # 2048 + 2048 + 1024 CPU onto two instances of 2560: the two large ones take one instance each, the small one
    # the emptiest of what is left (512 free each): it does not fit, and the closest miss says why.
    tasks = [TaskNeeds("a", 2048, 256), TaskNeeds("b", 1024, 256), TaskNeeds("c", 2048, 256)]
    result = place(tasks, rooms(2, cpu=2560))
    assert [(u.task.service, u.why) for u in result.unplaced] == [
        ("b", "no remaining instance has 1024 CPU units free")
    ]


def test_it_places_a_regular_expression_member_of_on_the_instances_it_matches() -> None:
    task = TaskNeeds("web", cpu=1, memory=1, member_of=("attribute:ecs.instance-type =~ m5.*",))
    assert place([task], rooms(1, 4096, 8192, **{"ecs.instance-type": "m5.large"})).fits
    refused = place([task], rooms(1, 4096, 8192, **{"ecs.instance-type": "c5.large"}))
    assert [u.why for u in refused.unplaced] == [
        "no remaining instance satisfies memberOf(attribute:ecs.instance-type =~ m5.*)"
    ]


def test_it_leaves_to_ecs_a_task_whose_expression_it_cannot_read_or_judge_and_never_calls_it_unplaced() -> None:
    unreadable = TaskNeeds("web", cpu=1, memory=1, member_of=("attribute:tier ~= web",))
    result = place([unreadable], rooms(2))
    assert result.fits and not result.placed
    assert [u.what for u in result.unjudged] == [
        "memberOf(attribute:tier ~= web) could not be read (unknown operator '~= web' at character 16)"
    ]
    # m5 matches a part of cm5.large, not the whole: ECS does not say which it means, so no verdict.
    partial = TaskNeeds("web", cpu=1, memory=1, member_of=("attribute:ecs.instance-type =~ m5",))
    cm5 = rooms(1, 4096, 8192, **{"ecs.instance-type": "cm5.large"})
    assert [u.task for u in place([partial], cm5).unjudged] == [partial]


def test_it_refuses_a_judged_rule_even_where_another_rule_cannot_be_judged() -> None:
    task = TaskNeeds("web", cpu=8192, memory=1, member_of=("attribute:tier ~= web",))
    result = place([task], rooms(1))  # 4096 CPU free: too small whatever the expression says
    assert not result.fits and [u.why for u in result.unplaced] == ["no remaining instance has 8192 CPU units free"]


def test_it_places_two_awsvpc_tasks_on_a_c5_large_and_three_on_an_m5_xlarge() -> None:
    # c5.large: 3 interfaces, m5.xlarge: 4; the primary counts, so 2 and 3 awsvpc tasks (ECS's own example).
    api = [TaskNeeds("api", cpu=128, memory=128, awsvpc=True)] * 3
    c5 = [room("c", 2048, 4096, enis_free=3 - 1)]
    result = place(api, c5)
    assert len(result.placed["c"]) == 2 and [u.why for u in result.unplaced] == [
        "no remaining instance has a network interface free for another awsvpc task (ECS: RESOURCE:ENI; each takes "
        "one, and the primary interface counts)"
    ]
    assert place(api, [room("m", 4096, 16384, enis_free=4 - 1)]).fits
    unknown = place(api, [room("x", 4096, 16384, enis_free=None)])
    assert unknown.fits and len(unknown.unjudged) == 3


def test_it_places_by_cpu_architecture_required_attributes_gpus_and_capacity_provider() -> None:
    x86 = TaskNeeds("web", cpu=1, memory=1, cpu_architecture="X86_64")
    arm = room("g", 2048, 4096, attributes={"ecs.cpu-architecture": "arm64"})
    assert [u.why for u in place([x86], [arm]).unplaced] == [
        "runtimePlatform cpuArchitecture X86_64: the remaining instances are arm64 (ecs.cpu-architecture)"
    ]
    assert place([x86], [room("i", 2048, 4096, attributes={"ecs.cpu-architecture": "x86_64"})]).fits
    secrets = TaskNeeds("web", cpu=1, memory=1, requires=(("ecs.capability.secrets.asm.environment-variables", None),))
    assert "MISSING_ATTRIBUTE" in place([secrets], [room("old-agent", 2048, 4096)]).unplaced[0].why
    assert place(
        [secrets], [room("n", 2048, 4096, attributes={"ecs.capability.secrets.asm.environment-variables": None})]
    ).fits
    gpu = [TaskNeeds("train", cpu=1, memory=1, gpus=2)] * 2
    result = place(gpu, [room("p", 8192, 16384, gpus_free=3)])  # 3 GPUs: one task of 2, not two
    assert len(result.placed["p"]) == 1 and "RESOURCE:GPU" in result.unplaced[0].why
    spot = TaskNeeds("web", cpu=1, memory=1, capacity_providers=("spot",))
    assert not place([spot], [room("o", 2048, 4096, capacity_provider="on-demand")]).fits
    assert place([spot], [room("s", 2048, 4096, capacity_provider="spot")]).fits


def test_it_places_a_task_group_member_of_where_the_group_runs_and_counts_what_it_places() -> None:
    near = TaskNeeds("cache", cpu=1, memory=1, member_of=("task:group == service:web",))
    result = place(
        [near] * 2,
        [room("a", 2048, 4096, task_groups=frozenset()), room("b", 1024, 4096, task_groups=frozenset({"service:web"}))],
    )
    assert result.placed == {"b": [near, near]}
    unread = place([near], [room("a", 2048, 4096, task_groups=None)])
    assert unread.fits and unread.unjudged


def test_it_keeps_a_tasks_needs_in_the_state_and_reads_them_back_whole() -> None:
    needs = TaskNeeds(
        "web",
        cpu=256,
        memory=512,
        host_ports=frozenset({80, 443}),
        distinct_instance=True,
        member_of=("attribute:tier == web",),
        requires=(("ecs.capability.secrets.asm.environment-variables", None),),
        cpu_architecture="ARM64",
        awsvpc=True,
        gpus=1,
        capacity_providers=("spot",),
        stop_timeout=120,
    )
    kept = json.loads(json.dumps(needs.to_json()))
    assert kept["hostPorts"] == [80, 443] and kept["requires"] == [
        ["ecs.capability.secrets.asm.environment-variables", None]
    ]
    assert "osFamily" not in kept and "service" not in kept  # defaults and the service are not written
    assert TaskNeeds.from_json("web", kept) == needs


def test_it_reads_the_needs_an_earlier_version_kept_beside_the_group() -> None:
    earlier = {"service": "web", "tasks": 2, "cpu": 256, "memory": 512, "hostPorts": [80], "distinctInstance": False,
               "memberOf": [], "heldOn": [], "stopTimeout": 30, "targetGroups": []}  # fmt: skip
    assert TaskNeeds.from_json("web", earlier) == TaskNeeds("web", 256, 512, frozenset({80}), stop_timeout=30)


def test_it_reads_what_a_task_definition_asks_of_an_instance() -> None:
    definition: TaskDefinitionTypeDef = {
        "networkMode": "host",
        "containerDefinitions": [
            {"name": "app", "cpu": 256, "memoryReservation": 512, "portMappings": [{"containerPort": 8080}],
             "stopTimeout": 90, "resourceRequirements": [{"type": "GPU", "value": "2"}]},
            {"name": "sidecar", "cpu": 128, "memory": 128},
        ],
        "placementConstraints": [{"type": "memberOf", "expression": "attribute:tier == web"}],
        "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        "requiresAttributes": [{"name": "ecs.capability.task-eni"}],
    }  # fmt: skip
    needs = TaskNeeds.from_definition(definition).for_service("web", ["distinctInstance", "memberOf(a == b)"], ["spot"])
    assert needs == TaskNeeds(
        "web",
        cpu=384,
        memory=640,
        host_ports=frozenset({8080}),  # host mode: the container port is the host port
        distinct_instance=True,
        member_of=("a == b", "attribute:tier == web"),
        requires=(("ecs.capability.task-eni", None),),
        cpu_architecture="ARM64",
        os_family="LINUX",
        gpus=2,
        capacity_providers=("spot",),
        stop_timeout=90,
    )
