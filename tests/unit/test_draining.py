from __future__ import annotations

import json
import uuid

from ecs_drain import draining
from tests.unit.fake_ecs import FakeEcs


def test_it_counts_tasks_that_are_stopping_but_not_stopped() -> None:
    ecs = FakeEcs()
    ecs.add_instance("a", status="DRAINING")
    ecs.add_task("a", "t1", last="DEACTIVATING", desired="STOPPED")
    ecs.add_task("a", "t2", last="STOPPED", desired="STOPPED")
    census = draining.count(ecs, "web", ["a"])  # type: ignore[arg-type]
    assert [(b.instance.id, b.active, b.stopping) for b in census.busy] == [("a", 0, 1)]
    assert census.drained == []


def test_it_counts_an_instance_as_drained_only_when_every_task_is_stopped() -> None:
    ecs = FakeEcs()
    ecs.add_instance("a", status="DRAINING")
    ecs.add_task("a", "t1", last="STOPPED", desired="STOPPED")
    assert draining.count(ecs, "web", ["a"]).drained == ["a"]  # type: ignore[arg-type]


def test_it_counts_daemon_and_running_tasks_from_the_instance_counters() -> None:
    ecs = FakeEcs()
    ecs.add_instance("a", status="DRAINING")
    ecs.add_task("a", "d1", group="service:log-agent")
    census = draining.count(ecs, "web", ["a"])  # type: ignore[arg-type]
    assert census.tasks == 1
    assert ecs.calls["list_tasks"] == 0  # an instance with running tasks needs no task listing


def test_it_counts_deregistered_instances_as_drained() -> None:
    ecs = FakeEcs()
    ecs.add_instance("gone", status="INACTIVE")
    census = draining.count(ecs, "web", ["gone", "vanished"])  # type: ignore[arg-type]
    assert sorted(census.drained) == ["gone", "vanished"]


def test_it_sets_draining_ten_at_a_time_and_reports_per_instance_failures() -> None:
    ecs = FakeEcs()
    ids = [f"c{n:02d}" for n in range(25)]
    for cid in ids:
        ecs.add_instance(cid)
    ecs.refuse = {"c07"}
    problems = draining.set_draining(ecs, "web", ids)  # type: ignore[arg-type]
    assert ecs.calls["UpdateContainerInstancesState"] == 3
    assert problems == ["c07: ServerException"]
    assert sum(1 for i in ecs.instances.values() if i["status"] == "DRAINING") == 24


def test_it_stops_only_standalone_tasks() -> None:
    ecs = FakeEcs()
    ecs.add_instance("a", status="DRAINING")
    ecs.add_task("a", "svc", group="service:web")
    ecs.add_task("a", "job", group="family:nightly-report")
    assert draining.stop_standalone_tasks(ecs, "web", "a") == 1  # type: ignore[arg-type]
    assert ecs.tasks["job"]["desiredStatus"] == "STOPPED"
    assert ecs.tasks["svc"]["desiredStatus"] == "RUNNING"


def test_it_keeps_the_state_of_1000_targets_well_under_64_kb() -> None:
    ids = [str(uuid.uuid4()).replace("-", "") for _ in range(1000)]
    packed = draining.pack_ids(ids)
    assert draining.unpack_ids(packed) == sorted(ids)
    assert len(json.dumps({"pending": packed, "standaloneStopped": packed})) < 64_000


def test_it_needs_room_only_for_service_tasks_that_fit_somewhere() -> None:
    need = {"cpu": 1000, "memory": 1000, "largestCpu": 512, "largestMemory": 512}
    roomy = {"instances": 2, "cpu": 2000, "memory": 2000, "largestCpu": 1024, "largestMemory": 1024}
    fragmented = {**roomy, "largestCpu": 256}
    assert draining.has_room(need, roomy)
    assert not draining.has_room(need, fragmented)
    assert draining.has_room({"cpu": 0, "memory": 0, "largestCpu": 0, "largestMemory": 0}, {**roomy, "cpu": 0})


def test_it_packs_ecs_ids_raw_and_anything_else_compressed() -> None:
    for ids in (
        [uuid.uuid4().hex for _ in range(5)],
        [str(uuid.uuid4()) for _ in range(5)],
        ["legacy-id-1", "0123", str(uuid.uuid4())],
        [],
    ):
        assert draining.unpack_ids(draining.pack_ids(ids)) == sorted(ids)
    assert len(draining.pack_ids([uuid.uuid4().hex for _ in range(1000)])) < 22_000


def test_it_does_not_count_an_empty_instance_drained_while_it_is_still_active() -> None:
    ecs = FakeEcs()
    ecs.add_instance("a", status="ACTIVE")
    ecs.add_instance("b", status="DRAINING")
    census = draining.count(ecs, "web", ["a", "b"])  # type: ignore[arg-type]
    assert [b.instance.id for b in census.busy] == ["a"]  # ECS could still place tasks on it
    assert census.drained == ["b"]
