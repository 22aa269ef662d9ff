"""The call schedule every drain shares (a DynamoDB item per category), on moto's DynamoDB and a fake clock."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from mypy_boto3_dynamodb import DynamoDBClient

from ecs_drain.aws.budget import (
    BOOKING_LEAD_SECONDS,
    HORIZON_SECONDS,
    MODIFY,
    READ,
    RUN_SECONDS,
    BudgetUnavailable,
    CallBudget,
    LocalSlots,
    SharedSlots,
)
from ecs_drain.runtime import environment
from tests.fakes import create_budget_table

INTERVAL = 0.1001  # 10 a second, with the spacing margin
LEAD = BOOKING_LEAD_SECONDS  # an idle schedule's first slot: time for the booking's round trip


@pytest.fixture
def now(sim_time: list[float]) -> list[float]:
    """The drains' clock (tests/unit/conftest.py): it moves only when someone sleeps."""
    return sim_time


@pytest.fixture
def table() -> Iterator[tuple[DynamoDBClient, str]]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_budget_table(dynamodb, "budget")
        yield dynamodb, "budget"


def test_it_interleaves_two_drains_call_by_call_first_come_first_served(
    now: list[float], table: tuple[DynamoDBClient, str]
) -> None:
    first, second = SharedSlots(*table), SharedSlots(*table)
    booked = [(drain.take(READ, INTERVAL), name) for _ in range(3) for drain, name in ((first, "a"), (second, "b"))]
    # Nobody slept: all six booked at t=1000, the first a booking's round trip on, each 0.1001 s after the one
    # before, alternating.
    assert [name for _, name in booked] == ["a", "b", "a", "b", "a", "b"]
    assert [slot for slot, _ in booked] == pytest.approx([1000.0 + LEAD + n * INTERVAL for n in range(6)])


def test_it_starts_again_from_now_once_the_schedule_has_been_idle(
    now: list[float], table: tuple[DynamoDBClient, str]
) -> None:
    slots = SharedSlots(*table)
    assert slots.take(READ, INTERVAL) == pytest.approx(1000.0 + LEAD)
    assert slots.take(READ, INTERVAL) == pytest.approx(1000.0 + LEAD + INTERVAL)
    now[0] = 1060.0  # a minute with no call: the unused slots are gone, not saved up for a burst
    assert slots.take(READ, INTERVAL) == pytest.approx(1060.0 + LEAD)
    assert slots.take(READ, INTERVAL) == pytest.approx(1060.0 + LEAD + INTERVAL)


def test_it_keeps_a_schedule_per_category(now: list[float], table: tuple[DynamoDBClient, str]) -> None:
    slots = SharedSlots(*table)
    for _ in range(5):
        slots.take(READ, INTERVAL)
    assert slots.take(MODIFY, 0.05) == pytest.approx(1000.0 + LEAD)  # reads booked ahead do not hold up modify calls


def test_it_waits_instead_of_booking_past_the_horizon(now: list[float], table: tuple[DynamoDBClient, str]) -> None:
    slots = SharedSlots(*table)
    queue = int(HORIZON_SECONDS / INTERVAL) + 1  # 100 slots booked at t=1000 reach 1000.05 + 10.01: past the horizon
    booked = [slots.take(READ, INTERVAL) for _ in range(queue)]
    assert now[0] == 1000.0 and booked[-1] == pytest.approx(1000.0 + LEAD + (queue - 1) * INTERVAL)
    last = slots.take(READ, INTERVAL)
    # The next free slot is 1010.06, 10.01 s past the soonest (1000.05): the caller slept until it was within the
    # horizon (0.01 s plus one interval), then booked it.
    assert now[0] == pytest.approx(1000.0 + queue * INTERVAL - HORIZON_SECONDS + INTERVAL)
    assert last == pytest.approx(1000.0 + LEAD + queue * INTERVAL)


def test_it_refuses_to_call_ecs_without_a_slot_when_the_table_cannot_be_used(
    now: list[float], table: tuple[DynamoDBClient, str]
) -> None:
    dynamodb, _ = table
    slots = SharedSlots(dynamodb, "no-such-table")
    with pytest.raises(BudgetUnavailable, match="refused the booking"):
        slots.take(READ, INTERVAL)


def test_it_paces_an_ecs_client_from_the_table_the_environment_names(
    now: list[float], table: tuple[DynamoDBClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dynamodb, name = table
    monkeypatch.setenv(environment.BUDGET_TABLE, name)
    monkeypatch.setenv(environment.READS_PER_SECOND, "10")
    one, other = CallBudget.from_environment(dynamodb), CallBudget.from_environment(dynamodb)
    assert isinstance(one.slots, SharedSlots)
    times = []
    for budget in (one, other, one, other):
        budget.wait_turn("DescribeContainerInstances")
        times.append(now[0])
    # Two drains in two containers, one schedule: 10 reads a second together, not 10 each.
    assert times == pytest.approx([1000.0 + LEAD + n * INTERVAL for n in range(4)])
    assert (one.reads, other.reads) == (2, 2)


MODIFY_INTERVAL = 0.05005  # 20 a second, with the spacing margin


def test_it_books_a_run_of_calls_together_and_sends_them_at_the_rate(
    now: list[float], table: tuple[DynamoDBClient, str]
) -> None:
    drain, other = CallBudget(slots=SharedSlots(*table)), CallBudget(slots=SharedSlots(*table))
    drain.reserve("UpdateContainerInstancesState", 4)
    drain.wait_turn("UpdateContainerInstancesState")  # the first call books the run's four slots
    sent = [now[0]]
    assert other.slots.take(MODIFY, MODIFY_INTERVAL) == pytest.approx(1000.0 + LEAD + 4 * MODIFY_INTERVAL)
    for _ in range(3):
        drain.wait_turn("UpdateContainerInstancesState")
        sent.append(now[0])
    # One booking for the four: each goes at its slot, 1/20 s apart, with no round trip to the table in between.
    assert sent == pytest.approx([1000.0 + LEAD + n * MODIFY_INTERVAL for n in range(4)])
    drain.wait_turn("UpdateContainerInstancesState")  # the run is over: the next call books behind the other's
    assert now[0] == pytest.approx(1000.0 + LEAD + 5 * MODIFY_INTERVAL)


def test_it_skips_the_slots_of_a_run_it_came_too_late_for(now: list[float]) -> None:
    budget = CallBudget()
    budget.reserve("UpdateContainerInstancesState", 4)
    budget.wait_turn("UpdateContainerInstancesState")
    now[0] += 0.07  # the first call took 70 ms: the second slot (at 0.05) has gone by
    budget.wait_turn("UpdateContainerInstancesState")
    # Sent at the run's third slot, not at once: a late call never takes time another caller may have booked.
    assert now[0] == pytest.approx(1000.0 + 2 * MODIFY_INTERVAL)
    now[0] += 1.0  # the rest of the run has gone by too: the next call books a slot of its own
    budget.wait_turn("UpdateContainerInstancesState")
    assert now[0] == pytest.approx(1001.0 + 2 * MODIFY_INTERVAL)
    assert budget.slots.take(MODIFY, MODIFY_INTERVAL) == pytest.approx(now[0] + MODIFY_INTERVAL)


def test_it_books_a_long_run_two_seconds_at_a_time_and_forgets_it_at_the_next_step(now: list[float]) -> None:
    slots = LocalSlots()
    budget = CallBudget(slots=slots)
    budget.reserve("UpdateContainerInstancesState", 100)
    stretch = int(RUN_SECONDS / MODIFY_INTERVAL)  # 39 slots: other drains' calls come in between
    budget.wait_turn("UpdateContainerInstancesState")
    assert slots.next_free[MODIFY] == pytest.approx(1000.0 + stretch * MODIFY_INTERVAL)
    for _ in range(stretch):
        budget.wait_turn("UpdateContainerInstancesState")
    assert slots.next_free[MODIFY] == pytest.approx(1000.0 + 2 * stretch * MODIFY_INTERVAL)
    budget.begin_step()
    budget.wait_turn("UpdateContainerInstancesState")  # the run was the last step's: this call books one slot
    assert slots.next_free[MODIFY] == pytest.approx(now[0] + MODIFY_INTERVAL)


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
