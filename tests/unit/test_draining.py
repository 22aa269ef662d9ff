"""The drain rule on a fake ECS: counting, planning and checking."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ecs_drain import census, draining
from ecs_drain.budget import CallBudget
from ecs_drain.capacity import PLACEMENT_LISTING_READS, has_room
from ecs_drain.properties import DrainProperties, parse
from ecs_drain.state import (
    DEADLINE,
    DRAINED,
    DRAINING,
    NOTHING_TO_DRAIN,
    WAITING_FOR_CAPACITY,
    DrainState,
    Resources,
    Spare,
    no_resources,
)
from tests.fakes import FakeEcs, clients

A, B, SPARE = "aaaaaaaa", "bbbbbbbb", "cccccccc"  # container instance ids; the fake's EC2 ids are i-<id>


def props(**extra: str) -> DrainProperties:
    return parse({"Cluster": "web", "InstanceIds": [f"i-{A}", f"i-{B}"], **extra})


def planned(ecs: FakeEcs, **extra: str) -> DrainState:
    return draining.plan(props(**extra), clients(ecs), now=1000.0)


def census_of(ecs: FakeEcs, ids: list[str], after: census.Census | None = None) -> census.Census:
    """A count of `ids`, following the count `after` (its watched tasks and listed instances), or the first."""
    return census.count(ecs.client, "web", pending(ids, after), CallBudget(), 0.0)


def pending(ids: list[str], after: census.Census | None = None) -> census.Pending:
    return census.Pending(ids, after.watched, after.listed) if after else census.Pending(ids)


def test_it_counts_tasks_that_are_stopping_but_not_stopped() -> None:
    ecs = FakeEcs()
    ecs.add_instance("a", status="DRAINING")
    ecs.add_task("a", "t1", last="DEACTIVATING", desired="STOPPED")
    ecs.add_task("a", "t2", last="STOPPED", desired="STOPPED")
    census = census_of(ecs, ["a"])
    assert [(b.instance.id, b.active, b.watched) for b in census.busy] == [("a", 0, ["t1"])]
    assert census.drained == []


def test_it_counts_an_instance_as_drained_only_when_every_task_is_stopped() -> None:
    ecs = FakeEcs()
    ecs.add_instance("a", status="DRAINING")
    ecs.add_task("a", "t1", last="STOPPED", desired="STOPPED")
    assert census_of(ecs, ["a"]).drained == ["a"]


def test_it_counts_daemon_and_running_tasks_from_the_instance_counters() -> None:
    ecs = FakeEcs()
    ecs.add_instance("a", status="DRAINING")
    ecs.add_task("a", "d1", group="service:log-agent")
    census = census_of(ecs, ["a"])
    assert census.tasks == 1
    assert ecs.calls["list_tasks"] == 0  # an instance with running tasks needs no task listing


def test_it_counts_deregistered_instances_as_drained() -> None:
    ecs = FakeEcs()
    ecs.add_instance("gone", status="INACTIVE")
    census = census_of(ecs, ["gone", "vanished"])
    assert sorted(census.drained) == ["gone", "vanished"]


def test_it_does_not_count_an_empty_instance_drained_while_it_is_still_active() -> None:
    ecs = FakeEcs()
    ecs.add_instance("a", status="ACTIVE")
    ecs.add_instance("b", status="DRAINING")
    census = census_of(ecs, ["a", "b"])
    assert [b.instance.id for b in census.busy] == ["a"]  # ECS could still place tasks on it
    assert census.drained == ["b"]


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
    assert drain["phase"] == WAITING_FOR_CAPACITY
    assert drain["pendingCount"] == 2
    assert drain["summary"]["tasksAtStart"] == 5
    # Reserved on the targets (5 tasks of 256/512) less one daemon task on each busy target is 768/1536, but the
    # cluster's replica services run only 2 tasks of 256/512: the standalone job is bounded out.
    assert drain["need"] == {"cpu": 512, "memory": 1024, "largestCpu": 256, "largestMemory": 512}
    # Two tasks in all: cheap to list by service (one ListTasks, one DescribeTasks), so they are placed one by one.
    assert ecs.calls["list_tasks"] == ecs.calls["DescribeTasks"] == 1
    assert [(g["service"], g["tasks"], g["cpu"]) for g in drain["groups"]] == [("web", 2, 256)]
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
    assert drain["phase"] == WAITING_FOR_CAPACITY and "groups" not in drain
    assert ecs.calls["list_tasks"] == ecs.calls["DescribeTasks"] == 0


def test_it_plans_nothing_for_targets_that_are_not_registered() -> None:
    drain = planned(FakeEcs())
    assert drain["phase"] == NOTHING_TO_DRAIN
    assert "None of the 2 instances" in drain["message"]


def test_it_sets_targets_draining_once_there_is_room_and_finishes_when_every_task_is_stopped() -> None:
    ecs = FakeEcs()
    ecs.add_instance(A)
    ecs.add_instance(B)
    ecs.add_instance(SPARE, cpu=4096, memory=8192)
    ecs.add_task(A, "web-1")
    drain = planned(ecs)
    drain = draining.check(drain, props(), clients(ecs), now=1001.0)
    assert drain["phase"] == DRAINING
    assert {ecs.instances[c]["status"] for c in (A, B)} == {"DRAINING"}
    assert ecs.instances[SPARE]["status"] == "ACTIVE"
    assert drain["nextCheckInSeconds"] == 15
    assert drain["summary"]["tasksRemaining"] == 1
    ecs.set_task("web-1", "DEACTIVATING")
    drain = draining.check(drain, props(), clients(ecs), now=1016.0)
    assert (drain["phase"], drain["summary"]["tasksRemaining"]) == (DRAINING, 1)
    ecs.set_task("web-1", "STOPPED")
    drain = draining.check(drain, props(), clients(ecs), now=1031.0)
    assert drain["phase"] == DRAINED
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
    assert drain["phase"] == DEADLINE
    assert "i-aaaaaaaa (DRAINING): 1 tasks" in drain["message"]


def test_it_stops_standalone_tasks_once_when_asked() -> None:
    ecs = FakeEcs()
    ecs.add_instance(A)
    ecs.add_task(A, "job", group="family:report")
    drain = planned(ecs, StandaloneTasks="STOP")
    drain = draining.check(drain, props(StandaloneTasks="STOP"), clients(ecs), now=1001.0)
    assert ecs.tasks["job"]["desiredStatus"] == "STOPPED"
    assert drain["summary"]["standaloneStopped"] == 1


def test_it_needs_room_only_for_service_tasks_that_fit_somewhere() -> None:
    need: Resources = {"cpu": 1000, "memory": 1000, "largestCpu": 512, "largestMemory": 512}
    roomy: Spare = {"instances": 2, "cpu": 2000, "memory": 2000, "largestCpu": 1024, "largestMemory": 1024}
    fragmented: Spare = {"instances": 2, "cpu": 2000, "memory": 2000, "largestCpu": 256, "largestMemory": 1024}
    assert has_room(need, roomy)
    assert not has_room(need, fragmented)
    assert has_room(no_resources(), {"instances": 0, "cpu": 0, "memory": 0, "largestCpu": 0, "largestMemory": 0})


def draining_with(**tasks: str) -> FakeEcs:
    """Instance A, DRAINING with nothing meant to run, and these tasks told to stop (id -> lastStatus)."""
    ecs = FakeEcs()
    ecs.add_instance(A, status="DRAINING")
    for task, last in tasks.items():
        ecs.add_task(A, task, last=last, desired="STOPPED")
    return ecs


def test_it_watches_every_stopping_task_and_never_lists_an_instance_twice() -> None:
    ecs = draining_with(t1="DEACTIVATING", t2="STOPPING")
    first = census_of(ecs, [A])
    ecs.set_task("t1", "STOPPED")
    second = census_of(ecs, [A], first)
    assert [b.watched for b in second.busy] == [["t2"]]
    ecs.set_task("t2", "STOPPED")
    third = census_of(ecs, [A], second)
    assert third.drained == [A]
    assert ecs.calls["list_tasks"] == 1  # listed once, when its running tasks were gone


def test_it_carries_listings_the_step_cannot_afford_over_to_the_next_check(sim_time: list[float]) -> None:
    ecs = FakeEcs()
    ids = ["a1", "a2", "a3"]
    for n, instance in enumerate(ids):
        ecs.add_instance(instance, status="DRAINING")
        ecs.add_task(instance, f"t{n}", last="DEACTIVATING", desired="STOPPED")
    ecs.add_instance("other")
    for n in range(101):  # the cluster's tasks told to stop run past one page: the sweep is given up
        ecs.add_task("other", f"old{n:03}", last="STOPPED", desired="STOPPED")
    budget = CallBudget(reads_per_second=10, step_seconds=0.35)
    ecs.budget = budget
    budget.begin_step()
    # Reads 0.1 s apart from the step's start: DescribeContainerInstances at 0 s, the sweep's one page at 0.1 s; a
    # listing needs 0.2 s more (its ListTasks and a share of the DescribeTasks after): after the read at 0.1 s it
    # fits in 0.35 s, after the one at 0.2 s it does not.
    first = census.count(ecs.client, "web", pending(ids), budget, 0.0)
    assert ecs.calls["ListTasks"] == 1  # the sweep's page
    assert {b.instance.id: b.unlisted for b in first.busy} == {"a1": False, "a2": True, "a3": True}
    assert ecs.calls["list_tasks"] == 1
    budget.step_seconds = 1.0  # the next check's allowance has room for its describes and the two left over
    budget.begin_step()
    second = census.count(ecs.client, "web", pending(ids, first), budget, 0.0)
    assert ecs.calls["list_tasks"] == 3  # the two left over, and no instance listed twice
    assert sorted((b.instance.id, b.unlisted, len(b.watched)) for b in second.busy) == [
        ("a1", False, 1),
        ("a2", False, 1),
        ("a3", False, 1),
    ]


def test_it_lists_many_emptied_instances_by_one_sweep_of_the_cluster() -> None:
    ecs = FakeEcs()
    ids = [f"a{n}" for n in range(4)]
    for n, instance in enumerate(ids):
        ecs.add_instance(instance, status="DRAINING")
        ecs.add_task(instance, f"t{n}", last="DEACTIVATING", desired="STOPPED")
    ecs.add_instance("b", status="DRAINING")  # not a target: its stopping task is listed, never watched
    ecs.add_task("b", "elsewhere", last="DEACTIVATING", desired="STOPPED")
    ecs.add_task("a0", "done", last="STOPPED", desired="STOPPED")
    first = census_of(ecs, ids)
    # One page and one DescribeTasks, where a ListTasks per instance would take four and one.
    assert (ecs.calls["ListTasks"], ecs.calls["list_tasks"], ecs.calls["DescribeTasks"]) == (1, 0, 1)
    assert sorted((b.instance.id, b.watched, b.listed) for b in first.busy) == [
        (f"a{n}", [f"t{n}"], True) for n in range(4)
    ]


def test_it_describes_a_listed_instance_again_only_at_its_end() -> None:
    ecs = draining_with(t1="DEACTIVATING")
    first = census_of(ecs, [A])
    described = ecs.calls["DescribeContainerInstances"]
    second = census_of(ecs, [A], first)
    assert ecs.calls["DescribeContainerInstances"] == described  # only its watched task was read
    assert [(b.instance.id, b.watched) for b in second.busy] == [(A, ["t1"])]
    ecs.set_task("t1", "STOPPED")
    ecs.instances[A]["status"] = "ACTIVE"  # set ACTIVE again by someone: not drained, and listed afresh
    ecs.add_task(A, "t2")
    third = census_of(ecs, [A], second)
    assert ecs.calls["DescribeContainerInstances"] == described + 1
    assert [(b.instance.id, b.active, b.listed) for b in third.busy] == [(A, 1, False)]


def test_it_paces_calls_per_category_and_never_bursts_across_steps(sim_time: list[float]) -> None:
    budget = CallBudget(reads_per_second=10, modify_calls_per_second=20)
    budget.begin_step()
    reads = []
    for _ in range(25):
        budget.wait_turn("DescribeTasks")
        reads.append(sim_time[0])
    budget.begin_step()  # the next step, right away: its first read still waits its turn
    budget.wait_turn("ListTasks")
    reads.append(sim_time[0])
    assert max(sum(1 for t in reads if start <= t < start + 1.0) for start in reads) == 10
    assert reads[0] == pytest.approx(1000.0, abs=0.01)  # the schedule was free: the first call goes at once
    assert reads[-1] == pytest.approx(1000.0 + 25 * 0.1001, abs=0.01)  # the next step's first call: the next slot
    before = sim_time[0]
    budget.wait_turn("UpdateContainerInstancesState")
    budget.wait_turn("UpdateContainerInstancesState")
    assert sim_time[0] - before == pytest.approx(0.05, abs=0.005)  # modify calls: 20 per second, on their own


def test_it_reads_no_watched_task_between_reconciles_and_never_one_events_reported_stopped() -> None:
    ecs = draining_with(t1="DEACTIVATING", t2="DEACTIVATING")
    first = census_of(ecs, [A])
    described = ecs.calls["DescribeTasks"]
    homes = {"t1": A, "t2": A}
    between = census.Pending([A], first.watched, first.listed, homes=homes, reconcile=False)
    second = census.count(ecs.client, "web", between, CallBudget(), 0.0)
    assert ecs.calls["DescribeTasks"] == described  # taken to be stopping still: nothing read
    assert [(b.instance.id, b.watched) for b in second.busy] == [(A, ["t1", "t2"])] and not second.reconciled
    reported = census.Pending([A], first.watched, first.listed, reported=frozenset({"t1"}), homes=homes)
    third = census.count(ecs.client, "web", reported, CallBudget(), 0.0)
    assert ecs.calls["DescribeTasks"] == described + 1 and third.reconciled  # t2 alone was read
    assert [b.watched for b in third.busy] == [["t2"]]


def test_it_counts_a_stopped_task_no_event_reported_as_missed_once_past_the_grace() -> None:
    ecs = draining_with(t1="DEACTIVATING")
    first = census_of(ecs, [A])
    ecs.set_task("t1", "STOPPED")
    ecs.tasks["t1"]["stoppedAt"] = datetime.fromtimestamp(1000.0, UTC)
    soon = census.count(ecs.client, "web", pending([A], first), CallBudget(), 1000.0 + census.EVENT_GRACE_SECONDS)
    late = census.count(ecs.client, "web", pending([A], first), CallBudget(), 1001.0 + census.EVENT_GRACE_SECONDS)
    assert (soon.missed, late.missed) == (0, 1)
    assert soon.drained == late.drained == [A]
