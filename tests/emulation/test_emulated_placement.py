"""The emulation's placement model on small hand-computed cases: constraints, static host ports, and the service
events ECS writes when nothing can take a task."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulation.ecs_simulator import EVENT_REPEAT_SECONDS, EcsSimulator, ServiceSpec
from tests.emulation.simulated import simulator

POOL: list[str] = []  # the EC2 instances the fixture launched


@pytest.fixture
def sim() -> Iterator[EcsSimulator]:
    with simulator() as (simulated, ec2_ids):
        POOL[:] = ec2_ids
        yield simulated


def register(sim: EcsSimulator, n: int, **attributes: str) -> str:
    return sim.register_instance(POOL[n], attributes=attributes)


def homes(sim: EcsSimulator, service: str) -> list[str]:
    return sorted(t.instance_id for t in sim.service_tasks(service))


def test_it_places_one_task_per_instance_under_distinct_instance_and_says_when_none_is_left(sim: EcsSimulator) -> None:
    a, b = register(sim, 0), register(sim, 1)
    sim.add_service(ServiceSpec("spread", 256, 256, desired=3, placement_constraints=[{"type": "distinctInstance"}]))
    assert homes(sim, "spread") == sorted([a, b])  # the third fits nowhere: both instances hold one
    events = sim.record.service_events["spread"]
    assert [m for _, m in events] == [
        "service (spread) was unable to place a task because no container instance met all of its requirements."
    ]


def test_it_places_on_members_only_and_names_no_closest_instance_when_constraints_rule_all_out(
    sim: EcsSimulator,
) -> None:
    register(sim, 0)
    old = register(sim, 1, generation="old")
    constraint = {"type": "memberOf", "expression": "attribute:generation == old"}
    sim.add_service(ServiceSpec("legacy", 256, 256, desired=2, placement_constraints=[constraint]))
    assert homes(sim, "legacy") == [old, old]
    assert sim.record.service_events["legacy"] == []


def test_it_keeps_a_static_host_port_to_one_task_per_instance_and_names_the_closest_instance(
    sim: EcsSimulator,
) -> None:
    a = register(sim, 0)
    sim.add_service(ServiceSpec("edge", 256, 256, desired=2, host_port=80))
    assert homes(sim, "edge") == [a]
    ((_, message),) = sim.record.service_events["edge"]
    assert message.endswith(
        f"The closest matching container-instance {a} is already using a port required by your task."
    )


def test_it_does_not_repeat_an_unresolved_event_within_six_hours(sim: EcsSimulator) -> None:
    register(sim, 0)
    sim.add_service(ServiceSpec("big", cpu=4096, memory=256, desired=1))
    for _ in range(3):
        sim.instances_changed()  # the scheduler tries again
    assert len(sim.record.service_events["big"]) == 1
    assert "has insufficient CPU units available" in sim.record.service_events["big"][0][1]
    sim.clock.advance(EVENT_REPEAT_SECONDS)
    sim.instances_changed()
    assert len(sim.record.service_events["big"]) == 2


def test_it_shows_a_static_host_port_in_use_and_custom_attributes_as_describe_container_instances_does(
    sim: EcsSimulator,
) -> None:
    a = register(sim, 0, tier="web")
    sim.add_service(ServiceSpec("edge", 256, 256, desired=1, host_port=80))
    instance = sim.instances[a]
    ports = next(r["stringSetValue"] for r in instance.remaining_resources if r["name"] == "PORTS")
    assert "80" in ports and instance.attributes["tier"] == "web"
    (task,) = sim.service_tasks("edge")
    sim.services["edge"].desired = 0  # no replacement takes the port again
    sim.stop(task.arn, "test")
    sim.clock.advance(60)  # deregistration, SIGTERM, deprovisioning: STOPPED
    ports = next(r["stringSetValue"] for r in instance.remaining_resources if r["name"] == "PORTS")
    assert "80" not in ports


def test_it_places_the_daemon_task_on_a_new_instance_before_replica_tasks(sim: EcsSimulator) -> None:
    """ECS reserves an instance's room for its daemon tasks: 1024 CPU takes the 128 daemon, then three of 256."""
    sim.add_service(ServiceSpec("app", 256, 256, desired=4))
    sim.add_service(ServiceSpec("agent", 128, 128, daemon=True))
    a = sim.register_instance(POOL[0], cpu=1024, memory=4096)
    assert homes(sim, "agent") == [a] and homes(sim, "app") == [a, a, a]


def test_it_leaves_tasks_pending_on_an_instance_whose_containers_never_start(sim: EcsSimulator) -> None:
    sim.containers_fail_on.add(POOL[0])
    sim.add_service(ServiceSpec("agent", 128, 128, daemon=True, start_seconds=5))
    register(sim, 0)
    sim.clock.advance(600)
    assert [t.last for t in sim.service_tasks("agent")] == ["PENDING"]
