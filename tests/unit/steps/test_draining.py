"""The drain's steps on a fake ECS: the plan, then checks until every task is STOPPED or the deadline."""

from __future__ import annotations

from ecs_drain.model.state import (
    Phase,
)
from ecs_drain.steps import draining
from ecs_drain.steps.capacity import PLACEMENT_LISTING_READS, needs_of
from tests.fakes import FakeEcs, clients
from tests.unit.steps.targets_on_fake_ecs import SPARE, A, B, planned, props


def test_it_plans_the_room_the_targets_need_from_what_ecs_reports() -> None:
    ecs = FakeEcs()
    ecs.add_instance(A)
    ecs.add_instance(B)
    ecs.add_task(A, "web-1")
    ecs.add_task(B, "web-2")
    ecs.add_task(A, "agent-1", group="service:log-agent")  # a daemon runs one task on every instance
    ecs.add_task(B, "agent-2", group="service:log-agent")
    ecs.add_task(B, "job-1", group="family:report")
    ecs.daemons = {"log-agent"}
    drain = planned(ecs)
    assert drain["phase"] == Phase.WAITING_FOR_CAPACITY
    assert drain["pendingCount"] == 2
    assert drain["summary"]["tasksAtStart"] == 5
    # Reserved on the targets (5 tasks of 256/512) less one daemon task on each busy target is 768/1536, but the
    # cluster's replica services run only 2 tasks of 256/512: the standalone job is bounded out.
    assert drain["need"] == {"cpu": 512, "memory": 1024, "largestCpu": 256, "largestMemory": 512}
    # Two tasks in all: cheap to list by service (one ListTasks, one DescribeTasks), so they are placed one by one.
    assert ecs.calls["list_tasks"] == ecs.calls["DescribeTasks"] == 1
    assert [(g["service"], g["tasks"], needs_of(g).cpu) for g in drain["groups"]] == [("web", 2, 256)]
    assert drain["deadline"] == 1000.0 + 3300
    assert ecs.calls["UpdateContainerInstancesState"] == 0  # planning changes nothing


def test_it_places_in_aggregate_where_listing_the_services_tasks_would_cost_too_much() -> None:
    ecs = FakeEcs()
    ecs.add_instance(A)
    ecs.add_instance(B)
    # Listing costs two reads a hundred tasks: this many need one read more than a drain of two targets may spend.
    for n in range(PLACEMENT_LISTING_READS * 50 + 1):
        ecs.add_task(A if n % 2 else B, f"web-{n}")
    drain = planned(ecs)
    assert drain["phase"] == Phase.WAITING_FOR_CAPACITY and "groups" not in drain
    assert ecs.calls["list_tasks"] == ecs.calls["DescribeTasks"] == 0


def test_it_plans_nothing_for_targets_that_are_not_registered() -> None:
    drain = planned(FakeEcs())
    assert drain["phase"] == Phase.NOTHING_TO_DRAIN
    assert "None of the 2 instances" in drain["message"]


def test_it_sets_targets_draining_once_there_is_room_and_finishes_when_every_task_is_stopped() -> None:
    ecs = FakeEcs()
    ecs.add_instance(A)
    ecs.add_instance(B)
    ecs.add_instance(SPARE, cpu=4096, memory=8192)
    ecs.add_task(A, "web-1")
    drain = planned(ecs)
    drain = draining.check(drain, props(), clients(ecs), now=1001.0)
    assert drain["phase"] == Phase.DRAINING
    assert {ecs.instances[c]["status"] for c in (A, B)} == {"DRAINING"}
    assert ecs.instances[SPARE]["status"] == "ACTIVE"
    assert drain["nextCheckInSeconds"] == 15
    assert drain["summary"]["tasksRemaining"] == 1
    ecs.set_task("web-1", "DEACTIVATING")
    drain = draining.check(drain, props(), clients(ecs), now=1016.0)
    assert (drain["phase"], drain["summary"]["tasksRemaining"]) == (Phase.DRAINING, 1)
    ecs.set_task("web-1", "STOPPED")
    drain = draining.check(drain, props(), clients(ecs), now=1031.0)
    assert drain["phase"] == Phase.DRAINED
    assert drain["summary"]["seconds"] == 31.0
    assert drain["timeline"]["drainingSetAt"] == 1001.0


def test_it_counts_every_stopping_task_of_an_instance_not_only_the_watched_one() -> None:
    ecs = FakeEcs()
    ecs.add_instance(A, status="DRAINING")
    for task_id in ("1" * 32, "2" * 32):  # as ECS names them: ARNs ending in 32 hex digits
        ecs.add_task(
            A, f"arn:aws:ecs:us-east-1:123456789012:task/web/{task_id}", last="DEACTIVATING", desired="STOPPED"
        )
    drain = planned(ecs, WaitForCapacity="false")
    first = draining.check(drain, props(), clients(ecs), now=1001.0)
    assert first["remaining"][0]["tasks"] == first["remaining"][0]["stopping"] == 2
    listed = ecs.calls["list_tasks"]
    later = draining.check(first, props(), clients(ecs), now=1016.0)  # the watched task still runs: not listed again
    assert ecs.calls["list_tasks"] == listed
    assert (later["summary"]["tasksRemaining"], later["remaining"][0]["stopping"]) == (2, 2)
    assert later["watched"].startswith("h:")  # the watched task is kept as a packed id, not an ARN


def test_it_stops_at_the_deadline_and_names_what_still_runs() -> None:
    ecs = FakeEcs()
    ecs.add_instance(A)
    ecs.add_task(A, "t1", group="family:report")
    drain = planned(ecs, DrainTimeoutSeconds="60")
    drain = draining.check(drain, props(DrainTimeoutSeconds="60"), clients(ecs), now=1001.0)
    assert drain["nextCheckInSeconds"] == 15
    drain = draining.check(drain, props(DrainTimeoutSeconds="60"), clients(ecs), now=1060.0)
    assert drain["phase"] == Phase.DEADLINE
    assert "i-aaaaaaaa (DRAINING): 1 task." in drain["message"]


def test_it_stops_standalone_tasks_once_when_asked() -> None:
    ecs = FakeEcs()
    ecs.add_instance(A)
    ecs.add_task(A, "job", group="family:report")
    drain = planned(ecs, StandaloneTasks="STOP")
    drain = draining.check(drain, props(StandaloneTasks="STOP"), clients(ecs), now=1001.0)
    assert ecs.tasks["job"]["desiredStatus"] == "STOPPED"
    assert drain["summary"]["standaloneStopped"] == 1
