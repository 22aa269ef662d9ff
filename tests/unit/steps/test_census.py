"""The count on a fake ECS: which instances still run something, which tasks are watched until STOPPED."""

from __future__ import annotations

from datetime import UTC, datetime

from ecs_drain.aws.budget import CallBudget
from ecs_drain.steps import census
from tests.fakes import FakeEcs
from tests.unit.steps.targets_on_fake_ecs import A, B, census_of, draining_with, pending


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


def test_it_remembers_what_the_next_count_takes_up_and_when_only_watched_tasks_are_left() -> None:
    ecs = draining_with(t1="DEACTIVATING", t2="STOPPING")
    ecs.add_instance(B, status="DRAINING")
    ecs.add_task(B, "web-b")  # B still runs a task: its listing is to come
    first = census_of(ecs, [A, B])
    assert not first.only_watched_left
    memory = first.memory()
    assert (memory["pendingCount"], memory["emptying"]) == (2, 1)
    again = census.Pending.remembered(memory, {}, None, reconcile=True)
    assert (list(again.ids), list(again.watched), list(again.listed)) == ([A, B], ["t1", "t2"], [A])
    assert again.homes == {"t1": A, "t2": A}
    ecs.set_task("web-b", "STOPPED")
    second = census.count(ecs.client, "web", again, CallBudget(), 0.0)
    assert [b.instance.id for b in second.busy] == [A] and second.only_watched_left  # B emptied and listed: drained
