"""The sweep of a cluster's stopping tasks that drains share (a watch-table item), on moto's DynamoDB and a clock."""

from __future__ import annotations

import random
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from mypy_boto3_dynamodb import DynamoDBClient

from ecs_drain.aws.budget import CallBudget
from ecs_drain.aws.sweeps import ABANDONED_SECONDS, POLL_SECONDS, Claimed, Later, SharedSweeps, Sweep
from ecs_drain.runtime import clock
from ecs_drain.steps import census as census_module
from ecs_drain.steps.census import Pending, count
from tests.fakes import ARN, FakeEcs, create_watch_table


@pytest.fixture
def sweeps() -> Iterator[SharedSweeps]:
    with mock_aws():
        dynamodb: DynamoDBClient = boto3.client("dynamodb", region_name="us-east-1")
        create_watch_table(dynamodb, "watch")
        yield SharedSweeps(dynamodb, "watch")


STOPPING = {"t1": ("c1", "RUNNING"), "t2": ("c9", "DEACTIVATING")}


def test_it_gives_the_next_sweep_to_the_first_drain_and_what_it_found_to_one_that_looked_before_it_began(
    sim_time: list[float], sweeps: SharedSweeps
) -> None:
    first = sweeps.claim("web", seen_at=999.0, wait_seconds=30)
    assert first == Claimed(1000.0)
    sweeps.publish("web", 1000.0, 3, STOPPING)
    assert sweeps.claim("web", seen_at=999.5, wait_seconds=30) == Sweep(1000.0, 3, STOPPING)
    assert sim_time[0] == 1000.0  # published already: nothing to wait for


def test_it_never_serves_a_sweep_begun_before_the_drain_saw_its_instances(
    sim_time: list[float], sweeps: SharedSweeps
) -> None:
    sweeps.claim("web", seen_at=999.0, wait_seconds=30)
    sweeps.publish("web", 1000.0, 3, STOPPING)
    sim_time[0] = 1005.0
    # Seen empty at 1004: a task told to stop on them after 1000 is not in that sweep; this drain makes the next.
    assert sweeps.claim("web", seen_at=1004.0, wait_seconds=30) == Claimed(1005.0)
    assert sweeps.claim("other-cluster", seen_at=999.0, wait_seconds=30) == Claimed(1005.0)


def test_it_waits_for_a_sweep_under_way_and_leaves_the_instances_for_a_later_check_once_the_step_cannot_wait(
    sim_time: list[float], sweeps: SharedSweeps
) -> None:
    sweeps.claim("web", seen_at=999.0, wait_seconds=30)  # another drain's, which never publishes (it crashed)
    assert sweeps.claim("web", seen_at=999.5, wait_seconds=5) == Later()
    assert 1005.0 - POLL_SECONDS <= sim_time[0] <= 1005.0
    # Nor does one that looked after it began sweep beside it: sweeps made at once slow each other.
    assert sweeps.claim("web", seen_at=1006.0, wait_seconds=0) == Later()


def test_it_claims_the_next_sweep_once_the_one_under_way_ends_where_that_one_began_before_it_looked(
    sim_time: list[float], sweeps: SharedSweeps
) -> None:
    sweeps.claim("web", seen_at=999.0, wait_seconds=30)  # another drain's sweep, from 1000 to 1003
    clock.use(lambda: sim_time[0], lambda seconds: finish_at(1003.0, sim_time, seconds, sweeps))
    assert sweeps.claim("web", seen_at=1001.0, wait_seconds=30) == Claimed(1003.0)
    # Once claimed, the drains that looked before it began wait for it rather than sweep beside it.
    assert sweeps.claim("web", seen_at=1002.0, wait_seconds=2) == Later()


def finish_at(end: float, now: list[float], seconds: float, sweeps: SharedSweeps) -> None:
    """Simulated time, in which the sweep claimed at 1000 publishes at `end`."""
    if now[0] < end <= now[0] + seconds:
        sweeps.publish("web", 1000.0, 3, STOPPING)
    now[0] += seconds


def test_it_claims_again_a_sweep_that_gave_up_with_its_length_known(
    sim_time: list[float], sweeps: SharedSweeps
) -> None:
    sweeps.claim("web", seen_at=999.0, wait_seconds=30)
    sweeps.publish("web", 1000.0, 4, None)  # given up after 4 pages
    sim_time[0] = 1001.0
    assert sweeps.claim("web", seen_at=999.5, wait_seconds=30) == Claimed(1001.0, pages_at_least=5)
    assert sweeps.claim("web", seen_at=999.5, wait_seconds=0) == Later()  # the second claim is under way


def test_it_lets_each_drain_sweep_on_its_own_where_the_sweep_was_too_large_to_share(
    sim_time: list[float], sweeps: SharedSweeps
) -> None:
    sweeps.claim("web", seen_at=999.0, wait_seconds=30)
    ids = random.Random(1)
    huge = {f"{ids.getrandbits(128):032x}": (f"{ids.getrandbits(128):032x}", "RUNNING") for _ in range(20_000)}
    sweeps.publish("web", 1000.0, 200, huge)
    assert sweeps.claim("web", seen_at=999.5, wait_seconds=30) is None
    assert sweeps.claim("web", seen_at=1000.5, wait_seconds=30) == Claimed(1000.0)  # a later one may fit


def test_it_keeps_a_later_sweep_when_an_earlier_one_is_published_after_it(
    sim_time: list[float], sweeps: SharedSweeps
) -> None:
    sweeps.publish("web", 1002.0, 2, {"t3": ("c2", "RUNNING")})
    sweeps.publish("web", 1001.0, 3, STOPPING)
    assert sweeps.claim("web", seen_at=1000.0, wait_seconds=30) == Sweep(1002.0, 2, {"t3": ("c2", "RUNNING")})


def drained_targets(ecs: FakeEcs) -> Pending:
    """Two DRAINING targets with nothing meant to run; one still has a task stopping."""
    for cid in ("c1", "c2"):
        ecs.add_instance(cid, status="DRAINING")
    ecs.add_task("c1", f"{ARN}:task/web/t1", last="RUNNING", desired="STOPPED")
    return Pending(["c1", "c2"])


def test_it_lists_its_instances_from_another_drains_sweep_with_no_read_of_its_own(
    sim_time: list[float], sweeps: SharedSweeps
) -> None:
    ecs = FakeEcs()
    pending = drained_targets(ecs)
    sweeps.claim("web", seen_at=999.0, wait_seconds=30)  # another drain began its sweep as this one looked
    sweeps.publish("web", 1000.0, 1, {"t1": ("c1", "RUNNING")})
    census = count(ecs.client, "web", pending, CallBudget(), 1000.0, sweeps)
    assert [(b.instance.id, b.watched) for b in census.busy] == [("c1", ["t1"])]
    assert census.drained == ["c2"]
    assert ecs.calls["ListTasks"] == ecs.calls["DescribeTasks"] == 0


def test_it_sweeps_on_its_own_and_shares_it_where_no_sweep_began_after_it_looked(
    sim_time: list[float], sweeps: SharedSweeps
) -> None:
    ecs = FakeEcs()
    pending = drained_targets(ecs)
    sweeps.publish("web", 990.0, 1, {})  # too early for what this count sees
    census = count(ecs.client, "web", pending, CallBudget(), 1000.0, sweeps)
    assert [(b.instance.id, b.watched) for b in census.busy] == [("c1", ["t1"])]
    assert ecs.calls["ListTasks"] == 1
    assert sweeps.claim("web", seen_at=1000.0, wait_seconds=0) == Sweep(1000.0, 1, {"t1": ("c1", "RUNNING")})


def test_it_leaves_its_instances_for_a_later_check_and_calls_none_drained_when_the_claimed_sweep_never_comes(
    sim_time: list[float], sweeps: SharedSweeps
) -> None:
    ecs = FakeEcs()
    pending = drained_targets(ecs)
    sweeps.claim("web", seen_at=999.0, wait_seconds=30)  # another drain's claim at 1000; its step then crashed
    census = count(ecs.client, "web", pending, CallBudget(step_seconds=10), 1000.0, sweeps)
    assert census.drained == [] and sorted(census.unlisted_ids) == ["c1", "c2"]
    # Its sweep's length unknown, it waited half its step's allowance, leaving the other half to sweep in.
    assert 1000.0 + 5 - POLL_SECONDS <= sim_time[0] <= 1005.0
    assert ecs.calls["ListTasks"] == 0 and not census.out_of_time  # the next check comes at the poll
    # Once the claim is older than any sweep takes, a check claims over it and sweeps on its own.
    sim_time[0] = 1000.0 + ABANDONED_SECONDS
    later = Pending(["c1", "c2"], unlisted=census.unlisted_ids, counted_at=census.counted_at)
    census = count(ecs.client, "web", later, CallBudget(), sim_time[0], sweeps)
    assert [(b.instance.id, b.watched) for b in census.busy] == [("c1", ["t1"])]
    assert census.drained == ["c2"]
    assert ecs.calls["ListTasks"] == 1


def test_it_lists_one_by_one_and_hands_the_sweep_on_where_its_known_length_does_not_fit_the_step(
    sim_time: list[float], sweeps: SharedSweeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(census_module, "SHARED_SWEEP_SECONDS", 0.0)  # the claimer may spend its step's allowance
    ecs = FakeEcs()
    drained_targets(ecs)
    for cid in ("c3", "c4", "c5", "c6", "c7", "c8"):
        ecs.add_instance(cid, status="DRAINING")
    pending = Pending([f"c{n}" for n in range(1, 9)], sweep_pages=3)  # 3 pages: cheaper than 8 ListTasks
    budget = CallBudget(step_seconds=0.55)  # 5 reads: after the description, 2 pages at most (2 reads each)
    census = count(ecs.client, "web", pending, budget, 1000.0, sweeps)
    assert ecs.calls["ListTasks"] == 0  # no page of a sweep the step cannot finish
    assert ecs.calls["list_tasks"] == 8  # one ListTasks an instance instead (the fake paces no call)
    assert [(b.instance.id, b.watched) for b in census.busy] == [("c1", ["t1"])]
    # Another drain with more time makes the sweep, its length known.
    assert sweeps.claim("web", seen_at=999.0, wait_seconds=0) == Claimed(sim_time[0], pages_at_least=3)


def test_it_gives_the_claimer_of_a_shared_sweep_more_than_its_steps_allowance(
    sim_time: list[float], sweeps: SharedSweeps
) -> None:
    ecs = FakeEcs()
    drained_targets(ecs)
    for cid in ("c3", "c4", "c5", "c6", "c7", "c8"):
        ecs.add_instance(cid, status="DRAINING")
    pending = Pending([f"c{n}" for n in range(1, 9)], sweep_pages=3)
    budget = CallBudget(step_seconds=0.55)  # its own allowance affords 2 pages; the sweep serves every drain
    census = count(ecs.client, "web", pending, budget, 1000.0, sweeps)
    assert ecs.calls["list_tasks"] == 0 and ecs.calls["ListTasks"] >= 1  # swept, not listed one by one
    assert [(b.instance.id, b.watched) for b in census.busy] == [("c1", ["t1"])]
    assert sorted(census.drained) == ["c2", "c3", "c4", "c5", "c6", "c7", "c8"]
